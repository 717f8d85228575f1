#include "server/config.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "plugins/forward/upstreams.h"
#include "plugins/hosts/hosts.h"
#include "plugins/kubernetes/setup.h"
#include "plugins/manifests/manifests.h"
#include "plugins/rewrite/rewrite.h"
#include "dns/name.h"
#include "server/corefile.h"
#include "server/frontend.h"
#include "server/http.h"
#include "zone/schema.h"
#include "zone/allocate.h"
#include "zone/workloads.h"
#include "zone/objects.h"

namespace clusterdns {

const char* const kUsage =
    R"(usage: clusterdns --manifests PATH [--manifests PATH ...] --listen ADDR:PORT [--listen ...]
                  [--zone cluster.local] [--ttl 30] [--workers N] [--config FILE]
                  [--tcp-idle-timeout 10] [--tcp-io-timeout 5] [--max-tcp-connections 1024]
                  [--kubeconfig FILE] [--context NAME] [--namespaces NS ...]
                  [--label-selector SELECTOR] [--pods insecure] [--endpoint-pod-names false]
                  [--startup-timeout 5] [--upstream ADDR[:PORT] ...] [--help] [--version]

Serves the cluster DNS zone (Kubernetes DNS-Based Service Discovery) built from Kubernetes
manifests, or watched on the Kubernetes API, over UDP and TCP.

  --manifests PATH   a manifest file, or a directory of *.yaml, *.yml and *.json files, or -
                     for standard input (read once: a reload keeps what it held)
  --listen ADDR:PORT address to serve UDP and TCP on ([::1]:53 for IPv6; port 0: any free port)
  --zone NAME        the cluster domain (default cluster.local)
  --ttl SECONDS      TTL of the records (default 30)
  --workers N        worker threads, each with its own sockets (default: one per CPU)
  --config FILE      YAML file with the same settings; flags override it
  --tcp-idle-timeout SECONDS      close idle TCP connections after this (default 10)
  --tcp-io-timeout SECONDS        give up on a TCP message or answer stalled this long (default 5)
  --max-tcp-connections N         open TCP connections at most (default 1024)
  --kubeconfig FILE  list and watch the API server of this kubeconfig (also $KUBECONFIG; inside
                     a pod with no source given, the service account's in-cluster config)
  --context NAME     the kubeconfig context (default: its current-context)
  --namespaces NS    expose only these namespaces of the API (repeatable)
  --label-selector S expose only the API's Services that match S
  --pods MODE        disabled, insecure or verified (verified watches Pods)
  --endpoint-pod-names true   name an endpoint without hostname by its Pod
  --no-endpoints true         neither watch nor read EndpointSlices (CoreDNS's noendpoints)
  --startup-timeout SECONDS   serve without the first full API sync after this (default 5)
  --upstream ADDR[:PORT]      forward names outside the zones here (repeatable; default: the
                              nameservers of /etc/resolv.conf; "none": answer them REFUSED)
  --stub-domain DOMAIN=ADDR[:PORT][,ADDR...]   names below DOMAIN go to these (repeatable)
  --kube-dns-config DIR       kube-dns's ConfigMap as mounted (stubDomains, upstreamNameservers)
  --forward-except DOMAIN     names below DOMAIN are not forwarded: SERVFAIL (repeatable)
  --force-tcp true            ask every upstream over TCP (--prefer-udp true: TCP clients' too
                              over UDP); --health-check-ms 500, --max-fails 2 as CoreDNS's
  --cache false               no cache; --cache-success-ttl 3600, --cache-success-min-ttl 5,
                              --cache-denial-ttl 1800, --cache-denial-min-ttl 5,
                              --cache-capacity 10000 as CoreDNS's cache
  --autopath true             walk a Pod's search path on the server (watches Pods)
  --rewrite RULE              a CoreDNS `rewrite name` rule, as after `rewrite` (repeatable)
  --hosts "ADDR NAME..."      an /etc/hosts line answered before the zone (repeatable);
                              --hosts-file FILE, --hosts-ttl 3600, --hosts-reload 5,
                              --hosts-zone, --hosts-fallthrough ZONE, --hosts-no-reverse true
  --node-local true           serve no zone: a node-local cache in front of the cluster DNS
  --health ADDR:PORT          GET /health (default :8080; "none": off)
  --ready ADDR:PORT           GET /ready, 200 once serving with every source synced (default :8181)
  --metrics ADDR:PORT         GET /metrics, Prometheus text with CoreDNS's names (default :9153)
  --debug-explain true        GET /debug/explain on the metrics listener (off: 404)
  --lameduck SECONDS          after SIGTERM, not ready but answering this long (default 5)
  --log true                  log every query on stderr (CoreDNS's log format, rate-limited)
  --loadbalance false         answers keep their order (default: A/AAAA rotate per answer)
  --check-config FILE         check a config file and the manifests it names, then exit
  --corefile FILE             run a CoreDNS Corefile (README.md, "Migrating from CoreDNS"); the
                              config file and flags override it (--check-config FILE with the
                              same FILE checks the Corefile alone)

The config file is re-read when it changes (or on SIGHUP), and so are the manifests.

  --pod-cidr CIDR             addresses of the Pods workloads in manifests make (repeatable)
  --service-cidr CIDR[,CIDR]  where Services of manifests without clusterIP get theirs, one
                              range per family (default 10.96.0.0/12, as kubeadm)
  --external-zone ZONE        answer Ingress hosts and LoadBalancer Services there (repeatable)
  --external-address ADDR     what those answer when the manifests publish no address

Once the zone is loaded and the sockets are bound, prints one line to standard output:
  clusterdns: listening on ADDR:PORT [ADDR:PORT ...]

Commands that read the manifests as the server does (each has --help):
  clusterdns records --manifests PATH [-o table|json|zone] [--out DIR]
  clusterdns check --manifests PATH [-o table|json] [--strict]
  clusterdns explain NAME --manifests PATH [--type A] [--from NAMESPACE/POD]
)";

namespace {

Result<unsigned> parse_unsigned(std::string_view what, std::string_view text, unsigned min,
                                unsigned max) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
        return Error{
            fmt::format("{}: {} is not a number from {} to {}", what, quoted(text), min, max)};
    }
    return value;
}

// The settings both sources share: one table, so a key and its flag cannot drift apart.
struct Setting {
    enum class Kind { Text, Number, List };  // a number refuses a quoted "30" in the file
    const char* key;                         // in the config file
    const char* flag;                        // on the command line
    Kind kind;
    Status (*apply)(Options&, std::string_view what, std::string_view value);
    std::vector<std::string> Options::*list = nullptr;  // List: the field it fills
};

using Kind = Setting::Kind;

Status set_number(unsigned& field, std::string_view what, std::string_view value, unsigned min,
                  unsigned max) {
    auto n = parse_unsigned(what, value, min, max);
    if (!n) {
        return n.error();
    }
    field = *n;
    return {};
}

Status set_bool(bool& field, std::string_view what, std::string_view value) {
    if (value != "true" && value != "false") {
        return Error{fmt::format("{}: expected true or false, got {}", what, quoted(value))};
    }
    field = value == "true";
    return {};
}

Status set_http(std::string& field, std::string_view what, std::string_view value) {
    if (value != "none" && value != "default") {
        if (Status s = check_http_address(value); !s) {
            return Error{fmt::format("{}: {}", what, s.error().message)};
        }
    }
    field = std::string(value);
    return {};
}

const Setting kSettings[] = {
    {"manifests", "--manifests", Kind::List,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.manifests.emplace_back(v);
         return {};
     },
     &Options::manifests},
    {"pod_cidrs", "--pod-cidr", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto prefix = parse_prefix(v); !prefix) {
             return Error{fmt::format("{}: {}", what, prefix.error().message)};
         }
         o.pod_cidrs.emplace_back(v);
         return {};
     },
     &Options::pod_cidrs},
    {"service_cidrs", "--service-cidr", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto ranges = parse_service_cidrs({std::string(v)}); !ranges) {
             return Error{fmt::format("{}: {}", what, ranges.error().message)};
         }
         o.service_cidrs.emplace_back(v);
         return {};
     },
     &Options::service_cidrs},
    {"external_zones", "--external-zone", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto name = Name::from_text(v); !name || v.empty() || v == ".") {
             return Error{fmt::format("{}: {} is not a domain name", what, quoted(v))};
         }
         o.external_zones.emplace_back(v);
         return {};
     },
     &Options::external_zones},
    {"external_addresses", "--external-address", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (!parse_ip(v)) {
             return Error{fmt::format("{}: {} is not an IP address", what, quoted(v))};
         }
         o.external_addresses.emplace_back(v);
         return {};
     },
     &Options::external_addresses},
    {"listen", "--listen", Kind::List,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.listen.emplace_back(v);
         return {};
     },
     &Options::listen},
    {"zone", "--zone", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (Status s = validate_zone_name(v); !s) {
             return Error{fmt::format("{}: {}", what, s.error().message)};
         }
         o.zone = std::string(v);
         return {};
     }},
    {"ttl", "--ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         unsigned ttl = 0;
         auto s = set_number(ttl, what, v, 0, 3600);  // CoreDNS's kubernetes plugin range
         o.ttl_seconds = ttl;
         return s;
     }},
    {"workers", "--workers", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.workers, what, v, 1, 256);
     }},
    {"tcp_idle_timeout", "--tcp-idle-timeout", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.tcp_idle_timeout_seconds, what, v, 1, 3600);
     }},
    {"tcp_io_timeout", "--tcp-io-timeout", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.tcp_io_timeout_seconds, what, v, 1, 3600);
     }},
    {"max_tcp_connections", "--max-tcp-connections", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.max_tcp_connections, what, v, 1, kMaxTcpConnections);
     }},
    // Forwarding (plugins/forward/README.md).
    {"upstream", "--upstream", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (v == "none") {
             o.upstreams.emplace_back(v);
             return {};
         }
         auto upstream = parse_upstream(v);
         if (!upstream) {
             return Error{fmt::format("{}: {}", what, upstream.error().message)};
         }
         o.upstreams.push_back(std::move(*upstream));
         return {};
     },
     &Options::upstreams},
    {"resolv_conf", "--resolv-conf", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.resolv_conf = std::string(v);
         return {};
     }},
    {"policy", "--policy", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (v != "random" && v != "round_robin" && v != "sequential") {
             return Error{fmt::format("{}: {} is not random, round_robin or sequential", what,
                                      quoted(v))};
         }
         o.policy = std::string(v);
         return {};
     }},
    {"stub_domains", "--stub-domain", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto stub = parse_stub_domain(v); !stub) {
             return Error{fmt::format("{}: {}", what, stub.error().message)};
         }
         o.stub_domains.emplace_back(v);
         return {};
     },
     &Options::stub_domains},
    {"prefetch", "--prefetch", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.prefetch, what, v, 0, 1000000);
     }},
    {"serve_stale", "--serve-stale", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.serve_stale, what, v, 0, 86400 * 7);
     }},
    {"max_concurrent", "--max-concurrent", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.max_concurrent, what, v, 1, 1000000);
     }},
    {"forward_except", "--forward-except", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto name = Name::from_text(v); !name || v.empty()) {
             return Error{fmt::format("{}: {} is not a domain name", what, quoted(v))};
         }
         o.forward_except.emplace_back(v);
         return {};
     },
     &Options::forward_except},
    {"force_tcp", "--force-tcp", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.force_tcp, what, v);
     }},
    {"prefer_udp", "--prefer-udp", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.prefer_udp, what, v);
     }},
    {"health_check_ms", "--health-check-ms", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.health_check_ms, what, v, 10, 3'600'000);
     }},
    {"max_fails", "--max-fails", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.max_fails, what, v, 0, 1000);
     }},
    {"kube_dns_config", "--kube-dns-config", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.kube_dns_config = std::string(v);
         return {};
     }},
    // The cache in front of the upstreams (plugins/cache/README.md). TTLs as CoreDNS's: a
    // maximum is at least 1, a minimum may be 0.
    {"cache", "--cache", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.cache, what, v);
     }},
    {"cache_success_ttl", "--cache-success-ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.cache_success_ttl, what, v, 1, INT32_MAX);
     }},
    {"cache_success_min_ttl", "--cache-success-min-ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.cache_success_min_ttl, what, v, 0, INT32_MAX);
     }},
    {"cache_denial_ttl", "--cache-denial-ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.cache_denial_ttl, what, v, 1, INT32_MAX);
     }},
    {"cache_denial_min_ttl", "--cache-denial-min-ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.cache_denial_min_ttl, what, v, 0, INT32_MAX);
     }},
    {"cache_capacity", "--cache-capacity", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.cache_capacity, what, v, 1, 10'000'000);
     }},
    // The kubernetes source (plugins/kubernetes/README.md).
    {"kubeconfig", "--kubeconfig", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.kubeconfig = std::string(v);
         return {};
     }},
    {"context", "--context", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.context = std::string(v);
         return {};
     }},
    {"namespaces", "--namespaces", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (Status s = check_dns1123_label("namespace", v); !s) {
             return Error{fmt::format("{}: {}", what, s.error().message)};
         }
         o.namespaces.emplace_back(v);
         return {};
     },
     &Options::namespaces},
    {"label_selector", "--label-selector", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.label_selector = std::string(v);
         return {};
     }},
    {"pods", "--pods", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (v == "disabled") {
             o.pods = Options::Pods::Disabled;
         } else if (v == "insecure") {
             o.pods = Options::Pods::Insecure;
         } else if (v == "verified") {
             o.pods = Options::Pods::Verified;
         } else {
             return Error{fmt::format("{}: {} is not disabled, insecure or verified", what,
                                      quoted(v))};
         }
         return {};
     }},
    {"endpoint_pod_names", "--endpoint-pod-names", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.endpoint_pod_names, what, v);
     }},
    {"no_endpoints", "--no-endpoints", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.no_endpoints, what, v);
     }},
    {"autopath", "--autopath", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.autopath, what, v);
     }},
    {"autopath_search", "--autopath-search", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto name = Name::from_text(v); !name || v.empty() || v == ".") {
             return Error{fmt::format("{}: {} is not a domain name", what, quoted(v))};
         }
         o.autopath_search.emplace_back(v);
         return {};
     },
     &Options::autopath_search},
    {"startup_timeout", "--startup-timeout", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.startup_timeout_seconds, what, v, 0, 3600);
     }},
    {"node_local", "--node-local", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.node_local, what, v);
     }},
    // The hosts plugin (plugins/hosts/README.md).
    {"hosts", "--hosts", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (Status s = check_hosts_line(v); !s) {
             return Error{fmt::format("{}: {}", what, s.error().message)};
         }
         o.hosts.emplace_back(v);
         return {};
     },
     &Options::hosts},
    {"hosts_file", "--hosts-file", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.hosts_file = std::string(v);
         return {};
     }},
    {"hosts_ttl", "--hosts-ttl", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         unsigned ttl = o.hosts_ttl;
         Status s = set_number(ttl, what, v, 1, 65535);  // CoreDNS's range
         o.hosts_ttl = ttl;
         return s;
     }},
    {"hosts_reload", "--hosts-reload", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.hosts_reload_seconds, what, v, 0, 86400);
     }},
    {"hosts_zones", "--hosts-zone", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (!Name::from_text(v)) {
             return Error{fmt::format("{}: {} is not a domain name", what, quoted(v))};
         }
         o.hosts_zones.emplace_back(v);
         return {};
     },
     &Options::hosts_zones},
    {"hosts_fallthrough", "--hosts-fallthrough", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (!v.empty() && !Name::from_text(v)) {
             return Error{fmt::format("{}: {} is not a domain name", what, quoted(v))};
         }
         o.hosts_fallthrough_set = true;
         o.hosts_fallthrough.emplace_back(v.empty() ? "." : v);  // "": every name, as "."
         return {};
     },
     &Options::hosts_fallthrough},
    {"hosts_no_reverse", "--hosts-no-reverse", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.hosts_no_reverse, what, v);
     }},
    {"loadbalance", "--loadbalance", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.loadbalance, what, v);
     }},
    // Question names rewritten (plugins/rewrite/README.md): a rule each, as after `rewrite`.
    {"rewrite", "--rewrite", Kind::List,
     [](Options& o, std::string_view what, std::string_view v) -> Status {
         if (auto rule = parse_rewrite_rule(v); !rule) {
             return Error{fmt::format("{}: {}", what, rule.error().message)};
         }
         o.rewrite.emplace_back(v);
         return {};
     },
     &Options::rewrite},
    {"corefile", "--corefile", Kind::Text,
     [](Options& o, std::string_view, std::string_view v) -> Status {
         o.corefile = std::string(v);
         return {};
     }},
    // Operations: the HTTP endpoints, shutdown and logging.
    {"health", "--health", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_http(o.health, what, v);
     }},
    {"ready", "--ready", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_http(o.ready, what, v);
     }},
    {"metrics", "--metrics", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_http(o.metrics, what, v);
     }},
    {"debug_explain", "--debug-explain", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.debug_explain, what, v);
     }},
    {"lameduck", "--lameduck", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.lameduck_seconds, what, v, 0, 300);
     }},
    {"log", "--log", Kind::Text,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_bool(o.query_log, what, v);
     }},
    // For tests: watches that end after this many seconds instead of client-go's 5-10 minutes.
    {"api_watch_timeout", "--api-watch-timeout", Kind::Number,
     [](Options& o, std::string_view what, std::string_view v) {
         return set_number(o.api_watch_timeout_seconds, what, v, 1, 3600);
     }},
};

const Setting* find_setting(std::string_view name, bool flag) {
    for (const Setting& s : kSettings) {
        if ((flag ? s.flag : s.key) == name) {
            return &s;
        }
    }
    return nullptr;
}

bool is_corefile_flag(const std::pair<const Setting*, std::string>& flag) {
    return std::string_view(flag.first->key) == "corefile";
}

// Every address must parse, and a fixed address twice would only fail later as "in use" by
// ourselves (port 0 twice is two free ports, which is fine).
Status check_listen_addresses(const std::vector<std::string>& listen) {
    std::vector<ListenAddress> seen;
    for (const std::string& text : listen) {
        auto address = parse_listen_address(text);
        if (!address) {
            return Error{fmt::format("listen: {}", address.error().message)};
        }
        for (const ListenAddress& earlier : seen) {
            if (address->port != 0 && earlier.port == address->port &&
                parse_ip(earlier.host) == parse_ip(address->host)) {
                return Error{fmt::format("listen: {} is given twice", quoted(text))};
            }
        }
        seen.push_back(*address);
    }
    return {};
}

// Like kubectl: $KUBECONFIG (else ~/.kube/config) when --context is given without a kubeconfig;
// with no source given at all, $KUBECONFIG, else inside a pod (KUBERNETES_SERVICE_HOST set) the
// in-cluster config. A kubeconfig we cannot use is a bad command line: it is read now.
Status choose_kubernetes_source(Options& o) {
    const char* env = std::getenv("KUBECONFIG");
    // A node-local cache has no source of its own, in a pod or not.
    const bool no_source = o.manifests.empty() && o.kubeconfig.empty() && !o.node_local;
    if (o.kubeconfig.empty() && (no_source || !o.context.empty()) && env != nullptr && *env) {
        o.kubeconfig = env;
    } else if (o.kubeconfig.empty() && !o.context.empty()) {
        const char* home = std::getenv("HOME");
        o.kubeconfig = fmt::format("{}/.kube/config", home != nullptr ? home : "");
    } else if (no_source && std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
        o.in_cluster = true;
    }
    if (o.kubeconfig.empty() && !o.in_cluster) {
        return {};
    }
    auto config = parse(KubernetesConfig{.kubeconfig = o.kubeconfig,
                                         .context = o.context,
                                         .in_cluster = o.in_cluster});
    if (!config) {
        return config.error();
    }
    return {};
}

}  // namespace

bool is_setting(std::string_view key) {
    return find_setting(key, false) != nullptr;
}

Status apply_setting(Options& options, std::string_view key, std::string_view value) {
    const Setting* setting = find_setting(key, false);
    if (setting == nullptr) {
        return Error{fmt::format("no setting {}", quoted(key))};
    }
    return setting->apply(options, key, value);
}

Status load_config_file(const std::string& path, Options& options) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        // yaml-cpp would throw from its stream (and leak its buffer doing so).
        return Error{fmt::format("{}: cannot read: a directory, not a file", path)};
    }
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        return Error{fmt::format("{}: cannot read", path)};
    } catch (const YAML::Exception& e) {
        return Error{fmt::format("{}:{}:{}: invalid YAML: {}", path, e.mark.line + 1,
                                 e.mark.column + 1, e.msg)};
    } catch (const std::exception& e) {  // the stream itself failed
        return Error{fmt::format("{}: cannot read: {}", path, e.what())};
    }
    if (root.IsNull()) {
        return {};
    }
    if (!root.IsMap()) {
        return Error{fmt::format("{}: expected a mapping of settings", path)};
    }
    std::map<std::string, int> key_lines;  // a key given twice is an error, as in kubectl
    for (const auto& entry : root) {
        const std::string key = entry.first.as<std::string>("");
        const int line = entry.first.Mark().line + 1;
        if (const auto [it, added] = key_lines.emplace(key, line); !added) {
            return Error{fmt::format("{}:{}: duplicate key {} (first on line {})", path, line,
                                     quoted(key), it->second)};
        }
        const Setting* setting = find_setting(key, false);
        if (setting == nullptr) {
            return Error{fmt::format("{}: unknown key {}", path, quoted(key))};
        }
        const std::string what = fmt::format("{}: {}", path, key);
        // yaml-cpp tags a quoted scalar "!": "30" is a string, and a number setting wants 30.
        if (setting->kind == Kind::Number && entry.second.IsScalar() && entry.second.Tag() == "!") {
            return Error{fmt::format("{}: expected a number, got the string {}", what,
                                     quoted(entry.second.Scalar()))};
        }
        std::vector<std::string> values;
        const bool is_list = setting->kind == Kind::List;
        if (entry.second.IsSequence() && is_list) {
            for (const auto& item : entry.second) {
                if (!item.IsScalar()) {
                    return Error{fmt::format("{}: expected a list of strings", what)};
                }
                values.push_back(item.Scalar());
            }
        } else if (entry.second.IsScalar()) {
            values.push_back(entry.second.Scalar());
        } else {
            return Error{
                fmt::format("{}: expected {}", what, is_list ? "a string or a list" : "a value")};
        }
        if (is_list) {
            (options.*setting->list).clear();  // the file's list replaces the default
        }
        for (const std::string& value : values) {
            if (Status s = setting->apply(options, what, value); !s) {
                return s;
            }
        }
    }
    return {};
}

Status validate(const Options& o) {
    if (o.listen.empty()) {
        return Error{"listen: no address to serve on (give --listen ADDR:PORT)"};
    }
    if (Status s = check_listen_addresses(o.listen); !s) {
        return s;
    }
    if (Status s = check_manifest_paths(o.manifests); !s) {
        return s;
    }
    if (o.node_local && (!o.manifests.empty() || !o.kubeconfig.empty() || o.in_cluster)) {
        return Error{"node_local: a node-local cache serves no zone of its own; give it no "
                     "manifests or kubeconfig, and stub_domains for the cluster's zones"};
    }
    if (auto ranges = parse_service_cidrs(o.service_cidrs); !ranges) {
        return Error{fmt::format("service_cidrs: {}", ranges.error().message)};
    }
    if (auto rewrite = RewriteRules::parse(o.rewrite); !rewrite) {
        return Error{fmt::format("rewrite: {}", rewrite.error().message)};
    }
    if (o.force_tcp && o.prefer_udp) {
        return Error{"force_tcp and prefer_udp: give one or the other, as CoreDNS's forward"};
    }
    if (!o.cache && (o.prefetch != 0 || o.serve_stale != 0)) {
        return Error{fmt::format("{}: keeps answers in the cache, which is off (cache: false)",
                                 o.prefetch != 0 ? "prefetch" : "serve_stale")};
    }
    if (!o.kube_dns_config.empty()) {
        if (auto kube_dns = read_kube_dns_config(o.kube_dns_config); !kube_dns) {
            return kube_dns.error();
        }
    }
    return {};
}

namespace {

Result<CommandLine> read_command_line(int argc, const char* const* argv) {
    CommandLine out;
    out.options.health = out.options.ready = out.options.metrics = "default";
    std::optional<std::string> config_path;
    std::vector<std::pair<const Setting*, std::string>> flags;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            out.help = true;
            continue;
        }
        if (arg == "--version") {
            out.version = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> value;
        if (const size_t eq = arg.find('=');
            arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        const Setting* setting = find_setting(name, true);
        if (setting == nullptr && name != "--config" && name != "--check-config") {
            return Error{fmt::format("unknown argument {} (see --help)", quoted(arg))};
        }
        if (!value) {
            if (i + 1 >= argc) {
                return Error{fmt::format("{} needs a value", name)};
            }
            value = argv[++i];
            if (value->starts_with("--")) {
                return Error{
                    fmt::format("{} needs a value, got the flag {}", name, quoted(*value))};
            }
        }
        if (name == "--config" || name == "--check-config") {
            config_path = std::string(*value);
            out.config_path = *config_path;
            out.check_only = name == "--check-config";
        } else {
            flags.emplace_back(setting, std::string(*value));
        }
    }
    if (out.help || out.version) {
        return out;
    }
    // A Corefile (--corefile, or the config file's corefile:) is read first: the config file's
    // other keys, then the flags, override what it says. --check-config naming the --corefile's
    // file checks the Corefile alone.
    std::string corefile;
    if (const auto flag = std::find_if(flags.rbegin(), flags.rend(), is_corefile_flag);
        flag != flags.rend()) {
        corefile = flag->second;
    }
    const bool config_is_corefile = config_path && !corefile.empty() && *config_path == corefile;
    if (config_path && corefile.empty()) {
        Options probe;
        if (Status s = load_config_file(*config_path, probe); !s) {
            return s.error();
        }
        corefile = probe.corefile;
    }
    CorefileTranslation translation;
    if (!corefile.empty()) {
        auto applied = apply_corefile(corefile, out.options);
        if (!applied) {
            return applied.error();
        }
        translation = std::move(*applied);
        out.corefile_files = translation.files;
    }
    if (config_path && !config_is_corefile) {
        if (Status s = load_config_file(*config_path, out.options); !s) {
            return s.error();
        }
    }
    // A list flag replaces the file's list rather than adding to it.
    for (const Setting& s : kSettings) {
        if (s.kind == Kind::List &&
            std::any_of(flags.begin(), flags.end(), [&](const auto& f) { return f.first == &s; })) {
            (out.options.*s.list).clear();
        }
    }
    for (const auto& [setting, value] : flags) {
        if (Status s = setting->apply(out.options, setting->flag, value); !s) {
            return s.error();
        }
    }
    if (!corefile.empty() && !out.options.manifests.empty()) {
        // The manifests serve the kubernetes block, instead of the API it names.
        if (!translation.kubernetes) {
            return Error{fmt::format("{}: no server block holds kubernetes, so the manifests "
                                     "would serve no zone",
                                     corefile)};
        }
        const bool kubeconfig_flag = std::any_of(flags.begin(), flags.end(), [](const auto& f) {
            return std::string_view(f.first->key) == "kubeconfig";
        });
        if (translation.api_source && !kubeconfig_flag) {
            out.options.in_cluster = false;
            out.options.kubeconfig.clear();
            out.options.context.clear();
        }
    }
    if (Status s = validate(out.options); !s) {
        return s.error();
    }
    if (Status s = choose_kubernetes_source(out.options); !s) {
        return s.error();
    }
    return out;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
    auto command_line = read_command_line(argc, argv);
    if (!command_line) {
        throw std::runtime_error(command_line.error().message);
    }
    return std::move(*command_line);
}

const char* usage() {
    return kUsage;
}

std::string quoted_text(std::string_view text) {
    return quoted(text);
}

}  // namespace clusterdns
