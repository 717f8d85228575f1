#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "plugins/metrics/exposition.h"
#include "dns/types.h"
#include "clusterdns/clusterdns.h"

#ifndef CLUSTERDNS_REVISION
#define CLUSTERDNS_REVISION "unknown"
#endif

namespace clusterdns {

const std::array<uint64_t, 20> kProgrammingBucketsNs = [] {
    std::array<uint64_t, 20> out{};
    for (size_t i = 0; i < out.size(); ++i) {
        out[i] = uint64_t{1'000'000} << i;
    }
    return out;
}();

namespace {

constexpr double kNs = 1e-9;
constexpr const char* kServiceKinds[3] = {"cluster_ip", "headless_with_selector",
                                          "headless_without_selector"};

// Sums one counter over the workers.
template <class Get>
uint64_t sum(const std::vector<const WorkerStats*>& workers, Get get) {
    uint64_t total = 0;
    for (const WorkerStats* w : workers) {
        total += get(*w).value();
    }
    return total;
}

// A histogram summed over several copies of it.
template <size_t N>
struct Summed {
    std::array<uint64_t, N + 1> counts{};
    uint64_t sum = 0;

    void add(const Histogram<N>& h) {
        for (size_t i = 0; i <= N; ++i) {
            counts[i] += h.counts[i].value();
        }
        sum += h.sum.value();
    }
    uint64_t count() const {
        uint64_t n = 0;
        for (const uint64_t c : counts) {
            n += c;
        }
        return n;
    }
};

template <size_t N, class Get>
Summed<N> sum_histograms(const std::vector<const WorkerStats*>& workers, Get get) {
    Summed<N> out;
    for (const WorkerStats* w : workers) {
        out.add(get(*w));
    }
    return out;
}

template <size_t N>
void write(Exposition& e, std::string_view name, const std::string& labels,
           const std::array<uint64_t, N>& bounds, const Summed<N>& h, double scale) {
    e.histogram(name, labels, bounds, h.counts, h.sum, scale);
}

std::string labels(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs) {
    std::string out;
    for (const auto& [name, value] : pairs) {
        if (!out.empty()) {
            out += ',';
        }
        out += Exposition::label(name, value);
    }
    return out;
}

void dns_metrics(Exposition& e, const MetricsSources& in) {
    const auto& ws = in.workers;
    const std::string_view server = in.server;
    const char* const protos[2] = {"udp", "tcp"};
    // Per zone of a Corefile's blocks (zone_slots.h): slot 0 is the totals less the others'.
    const size_t slots = in.zone_slots != nullptr ? in.zone_slots->size() : 1;
    auto server_of = [&](size_t slot) -> std::string_view {
        return in.zone_slots != nullptr ? std::string_view(in.zone_slots->server(slot)) : server;
    };
    auto zone_of = [&](size_t slot) -> std::string_view {
        return in.zone_slots != nullptr ? std::string_view(in.zone_slots->zone(slot)) : ".";
    };
    e.family("coredns_dns_requests_total", "counter",
             "Counter of DNS requests made per zone, protocol and family.");
    for (size_t slot = 0; slot < slots; ++slot) {
        for (size_t proto = 0; proto < 2; ++proto) {
            for (size_t family = 0; family < 2; ++family) {
                for (size_t type = 0; type < kQueryTypes; ++type) {
                    auto count = [&](size_t s) {
                        return sum(ws, [&](const WorkerStats& w) -> const Counter& {
                            return s == 0 ? w.requests[proto][family][type]
                                          : w.zone_requests[s][proto][family][type];
                        });
                    };
                    uint64_t n = count(slot);
                    for (size_t other = 1; slot == 0 && other < slots; ++other) {
                        n -= std::min(n, count(other));
                    }
                    if (n != 0) {
                        e.sample("coredns_dns_requests_total",
                                 labels({{"server", server_of(slot)}, {"zone", zone_of(slot)},
                                         {"view", ""}, {"proto", protos[proto]},
                                         {"family", family == 0 ? "1" : "2"},
                                         {"type", type_slot_name(type)}}),
                                 static_cast<double>(n));
                    }
                }
            }
        }
    }
    e.family("coredns_dns_responses_total", "counter",
             "Counter of response status codes.");
    for (size_t slot = 0; slot < slots; ++slot) {
        for (size_t by = 0; by < kResponders; ++by) {
            for (size_t rcode = 0; rcode < kRcodes; ++rcode) {
                auto count = [&](size_t s) {
                    return sum(ws, [&](const WorkerStats& w) -> const Counter& {
                        return s == 0 ? w.responses[by][rcode] : w.zone_responses[s][by][rcode];
                    });
                };
                uint64_t n = count(slot);
                for (size_t other = 1; slot == 0 && other < slots; ++other) {
                    n -= std::min(n, count(other));
                }
                if (n != 0) {
                    e.sample("coredns_dns_responses_total",
                             labels({{"server", server_of(slot)}, {"zone", zone_of(slot)},
                                     {"view", ""},
                                     {"rcode", rcode_name(static_cast<uint8_t>(rcode))},
                                     {"plugin", responder_name(static_cast<Responder>(by))}}),
                             static_cast<double>(n));
                }
            }
        }
    }
    e.family("coredns_dns_request_duration_seconds", "histogram",
             "Histogram of the time (in seconds) each request took per zone.");
    for (size_t type = 0; type < kQueryTypes; ++type) {
        const auto h = sum_histograms<kTimeBucketsNs.size()>(
            ws, [&](const WorkerStats& w) -> const TimeHistogram& { return w.duration[type]; });
        if (h.count() != 0) {
            write(e, "coredns_dns_request_duration_seconds",
                  labels({{"server", server}, {"zone", "."}, {"view", ""},
                          {"type", type_slot_name(type)}}),
                  kTimeBucketsNs, h, kNs);
        }
    }
    for (const bool response : {false, true}) {
        const char* name =
            response ? "coredns_dns_response_size_bytes" : "coredns_dns_request_size_bytes";
        e.family(name, "histogram",
                 response ? "Size of the returned response in bytes."
                          : "Size of the request in bytes.");
        for (size_t proto = 0; proto < 2; ++proto) {
            const auto h = sum_histograms<kSizeBuckets.size()>(
                ws, [&](const WorkerStats& w) -> const SizeHistogram& {
                    return response ? w.response_size[proto] : w.request_size[proto];
                });
            if (h.count() != 0) {
                write(e, name,
                      labels({{"server", server}, {"zone", "."}, {"view", ""},
                              {"proto", protos[proto]}}),
                      kSizeBuckets, h, 1.0);
            }
        }
    }
    e.family("coredns_dns_panics_total", "counter", "A metrics that counts the number of panics.");
    e.sample("coredns_dns_panics_total", "", 0);
}

void cache_metrics(Exposition& e, const MetricsSources& in) {
    const auto& ws = in.workers;
    const std::string common = labels({{"server", in.server}, {"zones", "."}, {"view", ""}});
    const char* const types[2] = {"success", "denial"};
    e.family("coredns_cache_entries", "gauge", "The number of elements in the cache.");
    for (size_t t = 0; t < 2; ++t) {
        e.sample("coredns_cache_entries",
                 labels({{"server", in.server}, {"type", types[t]}, {"zones", "."}, {"view", ""}}),
                 static_cast<double>(in.cache_entries[t]));
    }
    uint64_t hits = 0;
    e.family("coredns_cache_hits_total", "counter", "The count of cache hits.");
    for (size_t t = 0; t < 2; ++t) {
        const uint64_t n =
            sum(ws, [&](const WorkerStats& w) -> const Counter& { return w.cache_hits[t]; });
        hits += n;
        e.sample("coredns_cache_hits_total",
                 labels({{"server", in.server}, {"type", types[t]}, {"zones", "."}, {"view", ""}}),
                 static_cast<double>(n));
    }
    const uint64_t misses =
        sum(ws, [](const WorkerStats& w) -> const Counter& { return w.cache_misses; });
    e.family("coredns_cache_misses_total", "counter", "The count of cache misses.");
    e.sample("coredns_cache_misses_total", common, static_cast<double>(misses));
    e.family("coredns_cache_requests_total", "counter", "The count of cache requests.");
    e.sample("coredns_cache_requests_total", common, static_cast<double>(hits + misses));
    const std::pair<const char*, Counter WorkerStats::*> simple[] = {
        {"coredns_cache_prefetch_total", &WorkerStats::cache_prefetches},
        {"coredns_cache_served_stale_total", &WorkerStats::cache_served_stale},
        {"coredns_cache_evictions_total", &WorkerStats::cache_evictions}};
    const char* const helps[] = {"The number of times the cache has prefetched a cached item.",
                                 "The number of requests served from stale cache entries.",
                                 "The count of cache evictions."};
    for (size_t i = 0; i < std::size(simple); ++i) {
        e.family(simple[i].first, "counter", helps[i]);
        e.sample(simple[i].first, common,
                 static_cast<double>(sum(ws, [&](const WorkerStats& w) -> const Counter& {
                     return w.*simple[i].second;
                 })));
    }
}

void forward_metrics(Exposition& e, const MetricsSources& in) {
    struct Upstream {
        uint64_t requests = 0;
        uint64_t responses[kRcodes] = {};
        Summed<kTimeBucketsNs.size()> duration[kRcodes];
        uint64_t healthcheck_failures = 0;
    };
    std::map<std::string, Upstream> upstreams;  // by address: every worker has each
    uint64_t broken = 0;
    for (const UpstreamChannel* channel : in.channels) {
        broken += channel->all_down().value();
        for (size_t i = 0; i < channel->upstream_count(); ++i) {
            const UpstreamStats& s = channel->upstream_stats(i);
            // CoreDNS's `to` is the address, over UDP or TCP alike (force_tcp, tcp://).
            std::string_view address = channel->upstream_address(i);
            if (address.starts_with(kTcpScheme)) {
                address.remove_prefix(kTcpScheme.size());
            }
            Upstream& u = upstreams[std::string(address)];
            u.requests += s.requests.value();
            for (size_t rcode = 0; rcode < kRcodes; ++rcode) {
                u.responses[rcode] += s.responses[rcode].value();
                u.duration[rcode].add(s.duration[rcode]);
            }
            u.healthcheck_failures += s.healthcheck_failures.value();
        }
    }
    // The forward plugin's names, which alert rules still use, and the proxy names CoreDNS
    // moved the duration and health checks to.
    e.family("coredns_forward_requests_total", "counter", "Counter of requests made per upstream.");
    for (const auto& [to, u] : upstreams) {
        e.sample("coredns_forward_requests_total", labels({{"to", to}}),
                 static_cast<double>(u.requests));
    }
    e.family("coredns_forward_responses_total", "counter",
             "Counter of responses received per upstream.");
    for (const auto& [to, u] : upstreams) {
        for (size_t rcode = 0; rcode < kRcodes; ++rcode) {
            if (u.responses[rcode] != 0) {
                e.sample("coredns_forward_responses_total",
                         labels({{"rcode", rcode_name(static_cast<uint8_t>(rcode))}, {"to", to}}),
                         static_cast<double>(u.responses[rcode]));
            }
        }
    }
    for (const bool proxy : {false, true}) {
        const char* name = proxy ? "coredns_proxy_request_duration_seconds"
                                 : "coredns_forward_request_duration_seconds";
        e.family(name, "histogram", "Histogram of the time each request took.");
        for (const auto& [to, u] : upstreams) {
            for (size_t rcode = 0; rcode < kRcodes; ++rcode) {
                if (u.duration[rcode].count() == 0) {
                    continue;
                }
                const std::string l =
                    proxy ? labels({{"proxy_name", "forward"}, {"rcode", rcode_name(static_cast<uint8_t>(rcode))},
                                    {"to", to}})
                          : labels({{"rcode", rcode_name(static_cast<uint8_t>(rcode))}, {"to", to}});
                write(e, name, l, kTimeBucketsNs, u.duration[rcode], kNs);
            }
        }
    }
    for (const bool proxy : {false, true}) {
        const char* name = proxy ? "coredns_proxy_healthcheck_failures_total"
                                 : "coredns_forward_healthcheck_failures_total";
        e.family(name, "counter", "Counter of the number of failed healthchecks.");
        for (const auto& [to, u] : upstreams) {
            e.sample(name, proxy ? labels({{"proxy_name", "forward"}, {"to", to}})
                                 : labels({{"to", to}}),
                     static_cast<double>(u.healthcheck_failures));
        }
    }
    e.family("coredns_forward_healthcheck_broken_total", "counter",
             "Counter of the number of complete failures of the healthchecks.");
    e.sample("coredns_forward_healthcheck_broken_total", "", static_cast<double>(broken));
    e.family("coredns_forward_max_concurrent_rejects_total", "counter",
             "Counter of the number of queries rejected because the concurrent queries were at "
             "maximum.");
    e.sample("coredns_forward_max_concurrent_rejects_total", "",
             static_cast<double>(
                 sum(in.workers, [](const WorkerStats& w) -> const Counter& { return w.forward_rejects; })));
}

void source_metrics(Exposition& e, const MetricsSources& in) {
    if (in.source == nullptr) {
        return;
    }
    e.family("coredns_kubernetes_dns_programming_duration_seconds", "histogram",
             "Histogram of the time (in seconds) it took to program a dns instance.");
    for (size_t kind = 0; kind < 3; ++kind) {
        Summed<20> h;
        h.add(in.source->programming[kind]);
        write(e, "coredns_kubernetes_dns_programming_duration_seconds",
              labels({{"service_kind", kServiceKinds[kind]}}), kProgrammingBucketsNs, h, kNs);
    }
    e.family("coredns_reload_failed_total", "counter",
             "Counter of the number of failed reload attempts.");
    e.sample("coredns_reload_failed_total", "",
             static_cast<double>(in.source->reload_failures.value()));
}

// What every Prometheus client exports of its process, read from /proc.
void process_metrics(Exposition& e) {
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    std::ifstream uptime_file("/proc/uptime");
    double uptime = 0;
    uptime_file >> uptime;
    if (f.size() > 21) {
        // Fields from the state on: utime 11, stime 12, starttime 19, vsize 20, rss 21.
        const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
        const double started = static_cast<double>(time(nullptr)) - uptime +
                               std::stod(f[19]) / ticks;
        e.family("process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
        e.sample("process_cpu_seconds_total", "", cpu);
        e.family("process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.");
        e.sample("process_start_time_seconds", "", static_cast<double>(static_cast<int64_t>(started)));
        e.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        e.sample("process_virtual_memory_bytes", "", std::stod(f[20]));
        e.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        e.sample("process_resident_memory_bytes", "", std::stod(f[21]) * page);
    }
    std::error_code ec;
    size_t fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++fds;
    }
    e.family("process_open_fds", "gauge", "Number of open file descriptors.");
    e.sample("process_open_fds", "", static_cast<double>(fds));
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    e.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    e.sample("process_max_fds", "", static_cast<double>(limit.rlim_cur));
}

}  // namespace

std::string metrics_page(const MetricsSources& in) {
    Exposition e;
    e.family("coredns_build_info", "gauge",
             "A metric with a constant '1' value labeled by version, revision, and goversion "
             "from which CoreDNS was built.");
    e.sample("coredns_build_info",
             labels({{"version", version()}, {"revision", CLUSTERDNS_REVISION},
                     {"goversion", fmt::format("c++ {}", __VERSION__)}}),
             1);
    e.family("coredns_plugin_enabled", "gauge", "A metric that indicates whether a plugin is enabled on per server and zone basis.");
    for (const std::string& plugin : in.plugins) {
        e.sample("coredns_plugin_enabled",
                 labels({{"server", in.server}, {"zone", "."}, {"view", ""}, {"name", plugin}}), 1);
    }
    dns_metrics(e, in);
    cache_metrics(e, in);
    forward_metrics(e, in);
    source_metrics(e, in);
    process_metrics(e);
    return e.text();
}

}  // namespace clusterdns
