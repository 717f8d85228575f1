#pragma once
// Turns Kubernetes objects into DNS records, following the Kubernetes DNS-Based Service Discovery
// specification (kubernetes/dns docs/specification.md, schema 1.1.0) and, where it leaves a
// choice, CoreDNS's kubernetes plugin (plugin/kubernetes/README.md).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zone/objects.h"
#include "zone/schema.h"
#include "zone/zone.h"

namespace clusterdns {

struct ZoneOptions {
    std::string origin = "cluster.local";
    uint32_t ttl_seconds = 30;
    uint32_t serial = 0;                  // SOA serial: Unix time of the last change
    std::vector<IpAddress> ns_addresses;  // glue for ns.dns.<origin>: where we listen
    // An endpoint without hostname is named by its Pod (targetRef), as CoreDNS's
    // endpoint_pod_names, when that is a DNS label; else by its dashed address.
    bool endpoint_pod_names = false;
};

// Builds the zone: the cluster domain plus the in-addr.arpa and ip6.arpa reverse zones. Fails
// only on an invalid origin (see validate_zone_name). A name of an object that would be too long
// (a Service name under a long zone) is left out.
Result<std::shared_ptr<const Zone>> build_zone(const Cluster& cluster, const ZoneOptions& options);

}  // namespace clusterdns
