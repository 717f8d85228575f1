#pragma once
// The /metrics page: the server's counters under CoreDNS's metric names and labels, so existing
// dashboards and alert rules keep working, plus the process metrics of Prometheus clients.

#include <string>
#include <vector>

#include "plugins/forward/forward.h"
#include "plugins/metrics/query_stats.h"

namespace clusterdns {

// Counters of the kubernetes source, kept by the server (its own thread).
struct SourceStats {
    // coredns_kubernetes_dns_programming_duration_seconds: from an EndpointSlice's change (its
    // endpoints.kubernetes.io/last-change-trigger-time) to the zone that serves it, by kind of
    // Service: cluster_ip, headless_with_selector, headless_without_selector.
    Histogram<20> programming[3];
    Counter reload_failures;
};

// CoreDNS's kubernetes plugin buckets: 1 ms doubling to about 524 s, in nanoseconds.
extern const std::array<uint64_t, 20> kProgrammingBucketsNs;

struct MetricsSources {
    std::string server;  // the `server` label: "dns://:53"
    // A Corefile's blocks: requests and responses are labelled by the zone they were for.
    const ZoneSlots* zone_slots = nullptr;
    std::vector<const WorkerStats*> workers;
    std::vector<const UpstreamChannel*> channels;
    std::vector<std::string> plugins;  // enabled, for coredns_plugin_enabled
    const SourceStats* source = nullptr;
    size_t cache_entries[2] = {};  // [success, denial]: the cache is one for all workers
};

std::string metrics_page(const MetricsSources& in);

}  // namespace clusterdns
