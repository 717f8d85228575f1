#include "clusterdns/clusterdns.h"

#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/threads.h"
#include "plugins/chain.h"
#include "plugins/forward/upstreams.h"
#include "plugins/hosts/hosts.h"
#include "plugins/kubernetes/kubernetes.h"
#include "plugins/manifests/manifests.h"
#include "plugins/rewrite/rewrite.h"
#include "server/config.h"
#include "server/explain.h"
#include "server/frontend.h"
#include "server/http.h"
#include "server/metrics.h"
#include "plugins/metrics/zone_slots.h"
#include "zone/allocate.h"
#include "zone/schema.h"
#include "zone/external.h"
#include "zone/listing.h"
#include "zone/store.h"
#include "zone/workloads.h"

namespace clusterdns {
namespace {

[[noreturn]] void fail(const Error& error) {
    throw std::runtime_error(error.message);
}

// This host's own addresses of one family, as its interfaces hold them.
std::vector<IpAddress> host_addresses(bool v6) {
    std::vector<IpAddress> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return out;
    }
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) {
            continue;
        }
        IpAddress found;
        if (i->ifa_addr->sa_family == AF_INET && !v6) {
            const auto* sa = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            std::memcpy(found.bytes.data(), &sa->sin_addr, 4);
            out.push_back(found);
        } else if (i->ifa_addr->sa_family == AF_INET6 && v6) {
            const auto* sa = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            found.v6 = true;
            std::memcpy(found.bytes.data(), &sa->sin6_addr, 16);
            out.push_back(found);
        }
    }
    freeifaddrs(list);
    return out;
}

// The addresses ns.dns.<zone> answers with: where we listen, or every interface address for a
// wildcard listen address (as CoreDNS does).
std::vector<IpAddress> ns_addresses(const std::vector<ListenAddress>& listen) {
    std::vector<IpAddress> out;
    for (const ListenAddress& address : listen) {
        const auto ip = parse_ip(address.host);
        if (!ip) {
            continue;
        }
        if (*ip != IpAddress{.v6 = ip->v6}) {
            out.push_back(*ip);
            continue;
        }
        const std::vector<IpAddress> all = host_addresses(ip->v6);
        out.insert(out.end(), all.begin(), all.end());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

KubernetesConfig kubernetes_config(const Options& o) {
    return {.kubeconfig = o.kubeconfig,
            .context = o.context,
            .in_cluster = o.in_cluster,
            .namespaces = o.namespaces,
            .label_selector = o.label_selector,
            .watch_pods = o.pods == Options::Pods::Verified || o.autopath,
            .watch_endpoints = !o.no_endpoints,
            .watch_timeout_seconds = o.api_watch_timeout_seconds};
}

// Whether `upstream` ("ADDR:PORT") is one of our own listening sockets: forwarding there would
// loop. A wildcard listener receives on every address of this host (127.0.0.0/8 and ::1
// included), so an upstream is us only if it is one of those on a port we serve; a cluster DNS
// Service's address or a VPC resolver on port 53 is not. Loops through other servers are the
// loop probe's to find.
bool is_self(std::string_view upstream, const std::vector<ListenAddress>& listen) {
    if (upstream.starts_with(kTcpScheme)) {
        upstream.remove_prefix(kTcpScheme.size());
    }
    auto address = parse_listen_address(upstream);
    if (!address) {
        return false;
    }
    const auto ip = parse_ip(address->host);
    if (!ip) {
        return false;
    }
    const auto on_this_host = [&] {
        const bool loopback = ip->v6 ? *ip == *parse_ip("::1") : ip->bytes[0] == 127;
        const std::vector<IpAddress> own = host_addresses(ip->v6);
        return loopback || std::find(own.begin(), own.end(), *ip) != own.end();
    };
    for (const ListenAddress& l : listen) {
        const auto ours = parse_ip(l.host);
        if (l.port != address->port || !ours) {
            continue;
        }
        // An IPv6 wildcard socket is IPV6_V6ONLY (frontend.cc): it does not take IPv4.
        const bool wildcard = *ours == IpAddress{.v6 = ours->v6};
        if (*ip == *ours || (wildcard && ip->v6 == ours->v6 && on_this_host())) {
            return true;
        }
    }
    return false;
}

// Where names outside our zones go: the configured upstreams, else resolv.conf's nameservers,
// never this server itself; none with "none", or when the default resolv.conf has no usable one.
Result<ForwardOptions> forward_options(const Options& o, const std::vector<ListenAddress>& listen) {
    ForwardOptions forward;
    forward.policy = o.policy == "sequential"    ? UpstreamPolicy::Sequential
                     : o.policy == "round_robin" ? UpstreamPolicy::RoundRobin
                                                 : UpstreamPolicy::Random;
    forward.health_check_ms = o.health_check_ms;
    forward.max_fails = o.max_fails;
    forward.prefer_udp = o.prefer_udp;
    forward.except = o.forward_except;
    // force_tcp: every upstream, stub domains' too, asked as a tcp:// one is.
    const auto over_tcp_if_forced = [&](std::string& upstream) {
        if (o.force_tcp && !upstream.starts_with(kTcpScheme)) {
            upstream.insert(0, kTcpScheme);
        }
    };
    // kube-dns's ConfigMap, read again at every reload: its stub domains after those given
    // (a domain given wins), its upstreams when none are given.
    KubeDnsConfig kube_dns;
    if (!o.kube_dns_config.empty()) {
        auto read = read_kube_dns_config(o.kube_dns_config);
        if (!read) {
            return read.error();
        }
        kube_dns = std::move(*read);
    }
    std::vector<StubDomain> stubs;
    for (const std::string& text : o.stub_domains) {
        auto stub = parse_stub_domain(text);  // checked when the options were read
        if (!stub) {
            return stub.error();
        }
        stubs.push_back(std::move(*stub));
    }
    for (StubDomain& stub : kube_dns.stub_domains) {
        if (std::none_of(stubs.begin(), stubs.end(),
                         [&](const StubDomain& given) { return given.domain == stub.domain; })) {
            stubs.push_back(std::move(stub));
        }
    }
    for (StubDomain& stub : stubs) {
        for (std::string& upstream : stub.upstreams) {
            over_tcp_if_forced(upstream);
            if (is_self(upstream, listen)) {
                return Error{fmt::format("stub domain {}: upstream {} is this server itself: "
                                         "queries would loop",
                                         stub.domain, upstream)};
            }
        }
        forward.stub_domains.push_back(std::move(stub));
    }
    if (std::find(o.upstreams.begin(), o.upstreams.end(), "none") != o.upstreams.end()) {
        return forward;
    }
    std::vector<std::string> candidates = o.upstreams.empty() ? kube_dns.upstreams : o.upstreams;
    const bool from_resolv_conf = candidates.empty();
    if (from_resolv_conf) {
        auto servers = resolv_conf_upstreams(o.resolv_conf);
        if (!servers) {
            if (o.resolv_conf != Options{}.resolv_conf) {
                return Error{fmt::format("resolv_conf: {}", servers.error().message)};
            }
            fmt::print(stderr,
                       "[WARNING] plugin/forward: not forwarding ({}): names outside the zones "
                       "are REFUSED\n",
                       servers.error().message);
            return forward;
        }
        candidates = std::move(*servers);
    }
    for (std::string& upstream : candidates) {
        over_tcp_if_forced(upstream);
        if (!is_self(upstream, listen)) {
            forward.upstreams.push_back(upstream);
        } else if (!from_resolv_conf) {
            return Error{fmt::format("upstream {} is this server itself: queries would loop",
                                     upstream)};
        } else {
            fmt::print(stderr,
                       "[WARNING] plugin/forward: {}: nameserver {} is this server itself; left "
                       "out\n",
                       o.resolv_conf, upstream);
        }
    }
    return forward;
}

// Everything the workers need to forward, from the options.
Result<Forwarding> forwarding_of(const Options& o, const std::vector<ListenAddress>& listen) {
    auto forward = forward_options(o, listen);
    if (!forward) {
        return forward.error();
    }
    auto rewrite = RewriteRules::parse(o.rewrite);  // checked with the options
    if (!rewrite) {
        return Error{fmt::format("rewrite: {}", rewrite.error().message)};
    }
    return Forwarding{.forward = std::move(*forward),
                      .cache = {.capacity = o.cache ? o.cache_capacity : 0,
                                .min_ttl = o.cache_success_min_ttl,
                                .max_ttl = o.cache_success_ttl,
                                .min_denial_ttl = o.cache_denial_min_ttl,
                                .max_denial_ttl = o.cache_denial_ttl,
                                .serve_stale = o.serve_stale,
                                .prefetch = o.prefetch},
                      .max_concurrent = o.max_concurrent,
                      .query_log = o.query_log,
                      .loadbalance = o.loadbalance,
                      .rewrite = o.rewrite.empty() ? nullptr : std::move(*rewrite)};
}

HostsConfig hosts_config(const Options& o) {
    return {.lines = o.hosts,
            .file = o.hosts_file,
            .ttl_seconds = o.hosts_ttl,
            .reload_seconds = o.hosts_reload_seconds,
            .zones = o.hosts_zones,
            .fallthrough = o.hosts_fallthrough_set,
            .fallthrough_zones = o.hosts_fallthrough,
            .no_reverse = o.hosts_no_reverse};
}

// The plugins that are on, for coredns_plugin_enabled: the links of the chain (plugins/chain.h),
// in its order, then those beside it. At start-up and after each reload.
std::vector<std::string> enabled_plugins(const Options& o, const ForwardOptions& forward) {
    const bool forwards = !forward.upstreams.empty() || !forward.stub_domains.empty();
    std::vector<std::string> plugins;
    for (const Link link : kChain) {
        const bool on = link == Link::Rewrite      ? !o.rewrite.empty()
                        : link == Link::Autopath   ? o.autopath
                        : link == Link::Hosts      ? hosts_enabled(hosts_config(o))
                        : link == Link::Kubernetes ? !o.node_local
                        : link == Link::Cache      ? forwards && o.cache
                                                   : forwards;
        if (on) {
            plugins.emplace_back(link_name(link));
        }
    }
    if (forwards) {
        plugins.emplace_back("loop");
    }
    plugins.insert(plugins.end(), {"errors", "reload"});
    if (o.query_log) {
        plugins.emplace_back("log");
    }
    if (o.loadbalance) {
        plugins.emplace_back("loadbalance");
    }
    return plugins;
}

SnapshotConfig::Pods pods_mode(Options::Pods pods) {
    using Pods = SnapshotConfig::Pods;
    return pods == Options::Pods::Verified   ? Pods::Verified
           : pods == Options::Pods::Disabled ? Pods::Disabled
                                             : Pods::Insecure;
}

// The `server` label of the metrics, as CoreDNS writes its server blocks: "dns://:53".
std::string server_label(const std::vector<ListenAddress>& listen) {
    if (listen.empty()) {
        return "dns://";
    }
    const ListenAddress& first = listen.front();
    const bool wildcard = first.host == "0.0.0.0" || first.host == "::";
    return wildcard ? fmt::format("dns://:{}", first.port) : "dns://" + first.to_text();
}

// What a reload cannot change without new sockets, a new API connection or a new store: the
// first such setting that differs, or null.
const char* needs_restart(const Options& a, const Options& b) {
    const std::pair<const char*, bool> fields[] = {
        {"listen", a.listen != b.listen},
        {"workers", a.workers != b.workers},
        {"tcp_idle_timeout", a.tcp_idle_timeout_seconds != b.tcp_idle_timeout_seconds},
        {"tcp_io_timeout", a.tcp_io_timeout_seconds != b.tcp_io_timeout_seconds},
        {"max_tcp_connections", a.max_tcp_connections != b.max_tcp_connections},
        {"zone", a.zone != b.zone},
        {"node_local", a.node_local != b.node_local},
        {"kubeconfig", a.kubeconfig != b.kubeconfig || a.in_cluster != b.in_cluster},
        {"context", a.context != b.context},
        {"namespaces", a.namespaces != b.namespaces},
        {"label_selector", a.label_selector != b.label_selector},
        {"no_endpoints", a.no_endpoints != b.no_endpoints},
        {"api_watch_timeout", a.api_watch_timeout_seconds != b.api_watch_timeout_seconds},
        {"health", a.health != b.health},
        {"ready", a.ready != b.ready},
        {"metrics", a.metrics != b.metrics},
        {"debug_explain", a.debug_explain != b.debug_explain},
    };
    for (const auto& [name, differs] : fields) {
        if (differs) {
            return name;
        }
    }
    // With the API, Pods are watched or not by these: the watch would have to change.
    const bool api = !a.kubeconfig.empty() || a.in_cluster;
    if (api && (a.autopath != b.autopath || (a.pods == Options::Pods::Verified) !=
                                                (b.pods == Options::Pods::Verified))) {
        return a.autopath != b.autopath ? "autopath" : "pods";
    }
    return nullptr;
}

}  // namespace

// One store holds the objects of every source; the kubernetes source writes to it as Source::Api
// (its version of an object wins), manifests and the embedding API as Source::Manifests.
class Server::Impl : public KubernetesStore {
public:
    explicit Impl(Options o) : options(std::move(o)) {}
    ~Impl() { http.clear(); }  // its handlers use the rest

    void update(const std::function<void(ObjectSink&)>& edit) override {
        std::lock_guard lock(mutex);
        Store::Writer api = store.writer(Source::Api);
        edit(api);
        if (frontend) {
            publish();
        }
    }

    void look(const std::function<void(const ObjectSink&)>& look) override {
        std::lock_guard lock(mutex);
        look(store.writer(Source::Api));
    }

    void synced() override {
        {
            std::lock_guard lock(mutex);
            api_synced = true;
            api_ready = true;
            if (!store.config().complete) {
                SnapshotConfig config = store.config();
                config.complete = true;  // what the zone lacks now is NXDOMAIN, not SERVFAIL
                store.set_config(std::move(config));
                if (frontend) {
                    publish();
                }
            }
            malloc_trim(0);  // the first list's parse trees and pages are gone: give them back
        }
        synced_changed.notify_all();
    }

    void failed(std::string_view) override {
        api_ready = false;  // the source starts again; ready once it has listed everything anew
    }

    void programmed(std::string_view ns, std::string_view service,
                    std::chrono::nanoseconds latency) override {
        std::lock_guard lock(mutex);
        const ServiceView* view = current ? current->service(ns, service) : nullptr;
        if (view == nullptr || latency.count() < 0) {
            return;
        }
        // Slices with a trigger time come from the EndpointSlice controller, which serves only
        // Services with a selector: a headless one is "headless_with_selector".
        const size_t kind = view->headless() ? 1 : 0;
        source_stats.programming[kind].observe(static_cast<uint64_t>(latency.count()),
                                               kProgrammingBucketsNs);
    }

    // New forwarding for the workers; the scrape waits, as it reads their channels. Caller
    // holds `mutex`.
    Status reconfigure(const Forwarding& forwarding) {
        std::lock_guard scrape_lock(serving_mutex);
        return frontend->reconfigure(forwarding);
    }

    // What the zone takes from the options, in one place for start-up, every reload and the
    // undoing of a failed one; nothing is changed when the options cannot be used. Caller holds
    // `mutex` (or is the constructor).
    Status take_settings(const Options& o) {
        std::vector<IpPrefix> prefixes;
        for (const std::string& text : o.pod_cidrs) {
            auto prefix = parse_prefix(text);
            if (!prefix) {
                return Error{fmt::format("pod_cidrs: {}", prefix.error().message)};
            }
            prefixes.push_back(*prefix);
        }
        auto ranges = parse_service_cidrs(o.service_cidrs);
        if (!ranges) {
            return Error{fmt::format("service_cidrs: {}", ranges.error().message)};
        }
        pod_cidrs = std::move(prefixes);
        service_cidrs = std::move(*ranges);
        SnapshotConfig config = store.config();
        config.ttl_seconds = o.ttl_seconds;
        config.endpoint_pod_names = o.endpoint_pod_names;
        config.endpoints = !o.no_endpoints;
        config.autopath = o.autopath;
        config.autopath_search = lowercase_names(o.autopath_search);
        config.pods = pods_mode(o.pods);
        store.set_config(std::move(config));
        return {};
    }

    // Takes what changed in the store to a new snapshot and hands it to the workers. Caller holds
    // `mutex`.
    void publish() {
        SnapshotConfig config = store.config();
        config.serial = static_cast<uint32_t>(std::time(nullptr));
        store.set_config(std::move(config));
        current = store.snapshot();
        if (frontend) {
            frontend->publish(current);
        }
    }

    // Applies a change from the manifests or the embedding API, all or nothing: a failure
    // half-way restores the store as it was.
    template <class Change>
    void change(Change&& apply) {
        std::lock_guard lock(mutex);
        if (Status s = load(apply, false); !s) {
            fail(s.error());
        }
    }

    // Reads every manifest again into the store, all or nothing: what the files no longer hold
    // goes. Caller holds `mutex`.
    Status reread_manifests() {
        return load(
            [&](ObjectSink& objects) -> Status {
                for (const std::string& path : options.manifests) {
                    if (Status s = clusterdns::load_manifests(path, objects); !s) {
                        return s;
                    }
                }
                return {};
            },
            true);
    }

    // One load into the store as Source::Manifests, all or nothing: `apply` writes its objects,
    // Services without clusterIP get addresses as the API server would allocate them
    // (zone/allocate.h), then the workloads among them make their Pods and endpoints
    // (zone/workloads.h), the external zones follow and the zone is published. With `whole`, the
    // load is all the manifests hold: what it did not name goes, and the addresses are those the
    // manifests alone make; otherwise it changes the zone, whose Services keep their addresses.
    // Caller holds `mutex`.
    template <class Apply>
    Status load(Apply&& apply, bool whole) {
        const Store::Checkpoint saved = store.checkpoint();
        Store::Writer manifests = store.writer(Source::Manifests);
        NameSet listed[5];
        ListingSink listing(manifests, {&listed[0], &listed[1], &listed[2], &listed[3], &listed[4]});
        Status s;
        std::map<std::string, Exposed> exposed_now;
        {
            WorkloadSink workloads(whole ? static_cast<ObjectSink&>(listing) : manifests,
                                   pod_cidrs);  // gone before the heap is trimmed
            ClusterIpAllocator addresses(workloads, service_cidrs);
            if (!whole) {
                store.for_each_service([&](const ServiceFields& f) {
                    addresses.existing(f.ns(), f.name(), f.cluster_ips(), f.allocated_ips);
                });
            }
            s = apply(addresses);
            if (s) {
                s = addresses.finish();
            }
            if (s) {
                s = workloads.synthesize();
                exposed_now = workloads.exposed();
            }
        }
        if (!s) {
            store.restore(saved);
            return s;
        }
        if (whole) {
            exposed.clear();
        }
        for (auto& [key, e] : exposed_now) {
            if (e.hosts.empty() && e.service.empty()) {
                exposed.erase(key);
            } else {
                exposed[key] = std::move(e);
            }
        }
        update_external();
        for (size_t kind = 0; whole && kind < 5; ++kind) {
            listed[kind].seal();
            manifests.keep_only(static_cast<ObjectKind>(kind), listed[kind]);
        }
        if (frontend) {
            publish();
        }
        // Loading leaves much freed heap behind (parse trees, replaced records): hand it back to
        // the system so the resident size is the store's.
        malloc_trim(0);
        return {};
    }

    // The external zones from what the manifests expose now. Caller holds `mutex`.
    void update_external() {
        SnapshotConfig config = store.config();
        std::vector<IpAddress> fallback;
        for (const std::string& text : options.external_addresses) {
            if (const auto ip = parse_ip(text)) {  // checked with the options
                fallback.push_back(*ip);
            }
        }
        config.external = options.external_zones.empty()
                              ? nullptr
                              : build_external_zones(options.external_zones, exposed, fallback);
        store.set_config(std::move(config));
    }

    // Serving, not in the lameduck, and the API source (if any) has listed every resource.
    // Like CoreDNS's loop plugin: a random name asked of ourselves comes back through the
    // upstreams if they lead here. Once is enough to tell (a resolver in between may pass it on
    // only once or twice before giving up, as dnsmasq does); waiting for an upstream that is slow
    // or away would only hold things up.
    Status no_loop(const ForwardOptions& forward) {
        if (forward.upstreams.empty()) {
            return {};
        }
        if (const unsigned seen = frontend->loop_probe(500); seen > 1) {
            return Error{fmt::format(
                "plugin/forward: loop detected: a query forwarded to the upstreams ({}) came "
                "back {} times; point them at a resolver that does not forward to this server",
                fmt::join(forward.upstreams, ", "), seen - 1)};
        }
        return {};
    }

    bool ready() const { return serving.load() && !draining.load() && api_ready.load(); }

    // Why /ready answers 503.
    std::string not_ready_reason() const {
        if (draining.load()) {
            return "shutting down";
        }
        if (!serving.load()) {
            return "starting";
        }
        const KubernetesSource* api = source_view.load();
        return fmt::format("waiting for the kubernetes API: {}",
                           api != nullptr ? api->waiting_for() : std::string("starting"));
    }

    std::string metrics_text() {
        std::lock_guard lock(serving_mutex);
        MetricsSources in{.server = server_label(listen), .source = &source_stats};
        if (zone_slots.size() > 1) {
            in.zone_slots = &zone_slots;
            in.server = zone_slots.server(0);
        }
        if (frontend) {
            in.workers = frontend->worker_stats();
            in.channels = frontend->upstream_channels();
            const SharedCache::Sizes cache = frontend->cache_sizes();
            in.cache_entries[0] = cache.entries - cache.denials;
            in.cache_entries[1] = cache.denials;
        }
        in.plugins = plugins;
        in.plugins.insert(in.plugins.end(), http_plugins.begin(), http_plugins.end());
        return metrics_page(in);
    }

    // Starts the HTTP endpoints: those at the same address share a listener. A default port
    // someone holds is left out with a warning; a configured one is an error.
    void start_http() {
        struct HttpEndpoint {
            const char* plugin;
            const std::string& address;
            const char* fallback;
            HttpRoute route;
        };
        static const std::string kOff = "none";
        const HttpEndpoint endpoints[] = {
            {"health", options.health, ":8080",
             {"/health", [](const HttpRequest&) { return HttpResponse{.body = "OK"}; }}},
            {"ready", options.ready, ":8181",
             {"/ready",
              [this](const HttpRequest&) {
                  return ready() ? HttpResponse{.body = "OK"}
                                 : HttpResponse{.status = 503, .body = not_ready_reason()};
              }}},
            {"prometheus", options.metrics, ":9153",
             {"/metrics",
              [this](const HttpRequest&) {
                  return HttpResponse{.body = metrics_text(),
                                      .content_type = "text/plain; version=0.0.4; charset=utf-8"};
              }}},
            // `clusterdns explain` for the zone being served, beside the metrics, when asked
            // for: the metrics port is open to every pod, and explain's suggestions name
            // Services that DNS never lists.
            {"explain", options.debug_explain ? options.metrics : kOff, ":9153",
             {"/debug/explain", [this](const HttpRequest& request) {
                  const auto arg = [&](const char* key, const char* fallback) {
                      const auto it = request.args.find(key);
                      return it == request.args.end() ? std::string(fallback) : it->second;
                  };
                  const std::string name = arg("name", "");
                  if (name.empty()) {
                      return HttpResponse{.status = 400, .body = "give ?name=NAME[&type=A][&from=NS]\n"};
                  }
                  std::string type = arg("type", "A");
                  std::transform(type.begin(), type.end(), type.begin(),
                                 [](unsigned char c) { return std::toupper(c); });
                  const std::string from = arg("from", "");
                  if (Status valid = check_explain_arguments(name, type, from); !valid) {
                      return HttpResponse{.status = 400, .body = valid.error().message + "\n"};
                  }
                  std::shared_ptr<const Snapshot> zone;
                  {
                      std::lock_guard lock(mutex);
                      zone = current;
                  }
                  if (!zone) {
                      return HttpResponse{.status = 503, .body = "no zone yet\n"};
                  }
                  return HttpResponse{.body = explain_text(*zone, name, type, from)};
              }}}};
        struct Group {
            std::string address;
            bool optional = true;  // every endpoint on it is at its default address
            std::vector<HttpRoute> routes;
            std::vector<const char*> plugins;
        };
        std::vector<Group> groups;
        for (const HttpEndpoint& e : endpoints) {
            if (e.address == "none") {
                continue;
            }
            const bool fallback = e.address == "default";
            const std::string address = fallback ? e.fallback : e.address;
            auto it = std::find_if(groups.begin(), groups.end(),
                                   [&](const Group& g) { return g.address == address; });
            if (it == groups.end()) {
                it = groups.insert(groups.end(), Group{.address = address});
            }
            it->optional = it->optional && fallback;
            it->routes.push_back(e.route);
            it->plugins.push_back(e.plugin);
        }
        for (Group& g : groups) {
            auto listener = HttpListener::start(g.address, g.routes);
            if (!listener && g.optional) {
                fmt::print(stderr, "[WARNING] plugin/{}: not serving {}: {}\n", g.plugins.front(),
                           g.routes.front().path, listener.error().message);
                continue;
            }
            if (!listener) {
                fail(Error{fmt::format("plugin/{}: {}", g.plugins.front(),
                                       listener.error().message)});
            }
            for (size_t i = 0; i < g.routes.size(); ++i) {
                fmt::print(stderr, "[INFO] plugin/{}: serving http://{}{}\n", g.plugins[i],
                           (*listener)->bound(), g.routes[i].path);
                http_plugins.emplace_back(g.plugins[i]);
            }
            http.push_back(std::move(*listener));
        }
    }

    Options options;
    std::vector<IpPrefix> pod_cidrs;  // for the Pods of workloads read from manifests
    std::vector<IpPrefix> service_cidrs;  // for the Services of manifests without clusterIP
    std::map<std::string, Exposed> exposed;  // to external zones, by kind/ns/name
    std::mutex mutex;  // control side only; queries never take it
    // What a scrape reads besides counters: the frontend (its existence and its channels),
    // `listen` and `plugins`. Written with `mutex` held too (taken after it); read by the scrape
    // alone, so a publish, which holds `mutex` for as long as a big zone takes, never holds up
    // /metrics.
    std::mutex serving_mutex;
    Store store;
    std::vector<ListenAddress> listen;
    // A Corefile's server blocks as at start (the metrics' server and zone labels): before
    // `frontend`, whose workers read it, so it goes after them.
    ZoneSlots zone_slots;
    std::vector<std::string> upstreams;  // the workers forward to these now
    std::shared_ptr<const Snapshot> current;
    std::unique_ptr<Frontend> frontend;
    std::vector<std::unique_ptr<HttpListener>> http;
    std::vector<std::string> plugins;  // enabled, for coredns_plugin_enabled
    std::vector<std::string> http_plugins;
    std::atomic<bool> serving{false};
    std::atomic<bool> draining{false};
    SourceStats source_stats;
    bool api_synced = false;
    std::condition_variable synced_changed;
    // False from the API source's start until it has listed every resource, and again while it
    // restarts after a failure: /ready is 503 meanwhile, whatever startup_timeout let through.
    std::atomic<bool> api_ready{true};
    std::atomic<const KubernetesSource*> source_view{nullptr};  // `source`, for /ready

    // The hosts plugin: its lines and file (null: off), and the timer that reads the file again
    // every reload_seconds and hands a changed table to the workers. `hosts_mutex` guards the
    // source and is never held while taking `mutex`.
    void start_hosts_timer() {
        hosts_timer = start_quiet_thread([this] {
            std::unique_lock lock(hosts_mutex);
            while (!hosts_stopping) {
                const unsigned period = hosts != nullptr ? hosts->config().reload_seconds : 0;
                if (period == 0 || hosts->config().file.empty()) {
                    hosts_wake.wait(lock);  // until a reload brings a file to watch
                    continue;
                }
                if (hosts_wake.wait_for(lock, std::chrono::seconds(period)) ==
                        std::cv_status::no_timeout ||
                    hosts_stopping) {
                    continue;  // woken: the source may have changed, or we stop
                }
                if (auto table = hosts->reread()) {
                    frontend->publish_hosts(std::move(table));
                }
            }
        });
    }

    void stop_hosts_timer() {
        {
            std::lock_guard lock(hosts_mutex);
            hosts_stopping = true;
        }
        hosts_wake.notify_all();
        if (hosts_timer.joinable()) {
            hosts_timer.join();
        }
    }

    std::mutex hosts_mutex;
    std::unique_ptr<HostsSource> hosts;
    std::condition_variable hosts_wake;
    bool hosts_stopping = false;
    std::thread hosts_timer;  // runs while `frontend` does
    std::unique_ptr<KubernetesSource> source;  // last: stopped before the rest goes
};

Server::Server(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
    const Options& o = impl_->options;
    if (Status valid = validate_zone_name(o.zone); !valid) {
        fail(valid.error());
    }
    auto origin = Name::from_text(o.zone);
    if (!origin) {
        fail(Error{fmt::format("zone {} is not a domain name", quoted(o.zone))});
    }
    origin->to_lower();
    if (Status valid = validate(o); !valid) {
        fail(valid.error());
    }
    if (const HostsConfig hosts = hosts_config(o); hosts_enabled(hosts)) {
        auto source = HostsSource::open(hosts);  // a file it cannot read stops the start
        if (!source) {
            fail(source.error());
        }
        impl_->hosts = std::move(*source);
    }
    // Health answers (and ready says 503) from now on, while the sources load and sync.
    impl_->start_http();
    impl_->store.set_config({.origin = *origin,
                             .namespaces = o.namespaces,
                             .node_local = o.node_local,
                             // With the API, names wait for its first sync (SERVFAIL till then).
                             .complete = o.kubeconfig.empty() && !o.in_cluster});
    for (const std::string& text : impl_->options.listen) {
        auto address = parse_listen_address(text);
        if (!address) {
            fail(Error{fmt::format("--listen {}", address.error().message)});
        }
        impl_->listen.push_back(*address);
    }
    for (const std::string& text : o.external_addresses) {
        if (!parse_ip(text)) {
            fail(Error{fmt::format("external_addresses: {} is not an IP address", quoted(text))});
        }
    }
    if (Status s = impl_->take_settings(o); !s) {
        fail(s.error());
    }
    // Every path in one load: a Service in one file selects the Pods of a workload in another.
    impl_->change([&](ObjectSink& objects) -> Status {
        for (const std::string& path : o.manifests) {
            if (Status s = clusterdns::load_manifests(path, objects); !s) {
                return s;
            }
        }
        return {};
    });
    if (o.kubeconfig.empty() && !o.in_cluster) {
        return;
    }
    auto config = parse(kubernetes_config(o));
    if (!config) {
        fail(config.error());
    }
    impl_->api_ready = false;
    auto source = KubernetesSource::start(std::move(*config), *impl_);
    if (!source) {
        fail(source.error());
    }
    std::unique_lock lock(impl_->mutex);
    impl_->source = std::move(*source);
    impl_->source_view = impl_->source.get();
    if (!impl_->synced_changed.wait_for(lock, std::chrono::seconds(o.startup_timeout_seconds),
                                        [&] { return impl_->api_synced; })) {
        fmt::print(stderr,
                   "[WARNING] plugin/kubernetes: not synced after the startup timeout ({} s): "
                   "waiting for {}; serving what there is (not ready), the rest follows\n",
                   o.startup_timeout_seconds, impl_->source->waiting_for());
    }
}

Server::~Server() {
    stop();
}

void Server::load_manifests(const std::string& path) {
    impl_->change([&](ObjectSink& objects) { return clusterdns::load_manifests(path, objects); });
}

void Server::apply_yaml(std::string_view yaml) {
    impl_->change([&](ObjectSink& objects) { return load_manifest_text(yaml, "yaml", objects); });
}

void Server::add_service(const ServiceSpec& spec) {
    impl_->change([&](ObjectSink& objects) -> Status {
        Service service;
        service.ns = spec.ns;
        service.name = spec.name;
        const auto where = [&](const std::string& message) {
            return Error{fmt::format("Service {}/{}: {}", spec.ns, spec.name, message)};
        };
        if (!spec.external_name.empty()) {
            service.type = ServiceType::ExternalName;
            service.external_name = spec.external_name;
        }
        for (const std::string& text : spec.cluster_ips) {
            if (text == "None") {
                service.headless = true;
            } else if (const auto ip = parse_ip(text)) {
                service.cluster_ips.push_back(*ip);
            } else {
                return where(fmt::format("cluster_ips: {} is not an IP address", quoted(text)));
            }
        }
        for (const PortSpec& p : spec.ports) {
            auto protocol = parse_protocol("ports.protocol", p.protocol);
            if (!protocol) {
                return where(protocol.error().message);
            }
            service.ports.push_back({p.name, *protocol, p.port});
        }
        if (Status s = validate(service); !s) {
            return where(s.error().message);
        }
        try {
            objects.upsert(std::move(service));
        } catch (const ObjectRefused& e) {
            return where(e.message);
        }
        return {};
    });
}

bool Server::remove_service(std::string_view ns, std::string_view name) {
    bool removed = false;
    impl_->change([&](ObjectSink& objects) -> Status {
        removed = objects.erase(ObjectKind::Service, ns, name);
        return {};
    });
    return removed;
}

void Server::start() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->frontend) {
        return;
    }
    auto forwarding = forwarding_of(impl_->options, impl_->listen);
    if (!forwarding) {
        fail(forwarding.error());
    }
    FrontendOptions options{.listen = impl_->listen,
                            .workers = impl_->options.workers != 0
                                           ? impl_->options.workers
                                           : std::max(1u, std::thread::hardware_concurrency()),
                            .tcp_idle_timeout_seconds = impl_->options.tcp_idle_timeout_seconds,
                            .tcp_io_timeout_seconds = impl_->options.tcp_io_timeout_seconds,
                            .max_tcp_connections = impl_->options.max_tcp_connections,
                            .forwarding = std::move(*forwarding),
                            .hosts = impl_->hosts ? impl_->hosts->table() : nullptr};
    std::vector<ZoneSlots::Block> blocks;
    for (const Options::ServerBlock& block : impl_->options.server_blocks) {
        blocks.push_back({block.server, block.zones});
    }
    impl_->zone_slots = ZoneSlots(blocks, server_label(impl_->listen));
    if (impl_->zone_slots.size() > 1) {
        options.zone_slots = &impl_->zone_slots;
    }
    SnapshotConfig config = impl_->store.config();
    config.ns_addresses = ns_addresses(impl_->listen);
    impl_->store.set_config(std::move(config));
    impl_->publish();  // the zone is complete before the first query can arrive
    malloc_trim(0);    // what deriving the first snapshot needed only for a while
    auto frontend = Frontend::start(options, impl_->current);
    if (!frontend) {
        fail(frontend.error());
    }
    {
        std::lock_guard scrape_lock(impl_->serving_mutex);
        impl_->frontend = std::move(*frontend);
    }
    const ForwardOptions& forward = options.forwarding.forward;
    impl_->upstreams = forward.upstreams;
    if (!forward.upstreams.empty()) {
        // The upstreams must not lead back here: every forwarded query would circle for ever.
        // A loop brings the probe back within milliseconds; waiting for an answer from an
        // upstream that is slow or away would only delay the start.
        if (Status s = impl_->no_loop(forward); !s) {
            std::lock_guard scrape_lock(impl_->serving_mutex);
            impl_->frontend.reset();
            fail(s.error());
        }
    }
    std::vector<std::string> plugins = enabled_plugins(impl_->options, forward);
    {
        std::lock_guard scrape_lock(impl_->serving_mutex);
        // ns.dns.<zone> names the ports we actually bound to; addresses are known now.
        impl_->listen = impl_->frontend->bound();
        impl_->plugins = std::move(plugins);
    }
    impl_->start_hosts_timer();
    impl_->serving = true;
}

void Server::drain() {
    impl_->draining = true;
}

void Server::reload(const Options& next) {
    // Counted when it throws; a reload that does not throw clears `failed`.
    struct Failure {
        Counter& failures;
        bool failed = true;
        ~Failure() {
            if (failed) {
                failures.add();
            }
        }
    } failure{impl_->source_stats.reload_failures};
    if (Status valid = validate(next); !valid) {
        fail(valid.error());
    }
    std::unique_lock lock(impl_->mutex);
    Options& current = impl_->options;
    if (const char* setting = needs_restart(current, next)) {
        fail(Error{fmt::format("{} changed: that takes a restart; nothing was applied", setting)});
    }
    auto forwarding = forwarding_of(next, impl_->listen);
    if (!forwarding) {
        fail(forwarding.error());
    }
    // The hosts plugin's new lines and file, read before anything is applied: a file it cannot
    // read refuses the reload.
    const HostsConfig next_hosts = hosts_config(next);
    const bool hosts_changed = !(hosts_config(current) == next_hosts);
    std::unique_ptr<HostsSource> hosts;
    if (hosts_changed && hosts_enabled(next_hosts)) {
        auto source = HostsSource::open(next_hosts);
        if (!source) {
            fail(source.error());
        }
        hosts = std::move(*source);
    }
    const Options previous = current;
    if (Status s = impl_->take_settings(next); !s) {
        fail(s.error());
    }
    current = next;
    if (Status s = impl_->reread_manifests(); !s) {
        current = previous;  // the store is as it was; so are its settings
        (void)impl_->take_settings(previous);
        fail(s.error());
    }
    if (hosts_changed) {
        std::lock_guard hosts_lock(impl_->hosts_mutex);
        impl_->hosts = std::move(hosts);
        if (impl_->frontend) {
            impl_->frontend->publish_hosts(impl_->hosts ? impl_->hosts->table() : nullptr);
        }
        impl_->hosts_wake.notify_all();  // the timer follows the new file and period
    }
    if (!impl_->frontend) {
        failure.failed = false;
        return;
    }
    if (Status s = impl_->reconfigure(*forwarding); !s) {
        fail(s.error());
    }
    const std::vector<std::string> previous_upstreams =
        std::exchange(impl_->upstreams, forwarding->forward.upstreams);
    {
        std::lock_guard scrape_lock(impl_->serving_mutex);
        impl_->plugins = enabled_plugins(current, forwarding->forward);
    }
    // New upstreams may lead back here (B edited to forward to A, which forwards to B): probed
    // as at start-up, without the lock (the probe takes up to half a second), and on a loop the
    // upstreams go back to what they were.
    const bool upstreams_changed = previous.upstreams != next.upstreams ||
                                   previous.resolv_conf != next.resolv_conf ||
                                   next.upstreams.empty();
    lock.unlock();
    if (upstreams_changed) {
        if (Status s = impl_->no_loop(forwarding->forward); !s) {
            lock.lock();
            current.upstreams = previous.upstreams;
            current.resolv_conf = previous.resolv_conf;
            // The upstreams the workers had (read again, a file's, kube-dns's, would be these).
            Forwarding restored = *forwarding;
            restored.forward.upstreams = previous_upstreams;
            (void)impl_->reconfigure(restored);
            impl_->upstreams = previous_upstreams;
            fail(Error{fmt::format("{}; the upstreams stay {}", s.error().message,
                                   previous.upstreams.empty() && previous.kube_dns_config.empty()
                                       ? previous.resolv_conf + "'s"
                                       : fmt::format("{}", fmt::join(previous_upstreams, ", ")))});
        }
    }
    failure.failed = false;
}

void Server::reload_failed() {
    impl_->source_stats.reload_failures.add();
}

void Server::reload_manifests() {
    std::lock_guard lock(impl_->mutex);
    if (Status s = impl_->reread_manifests(); !s) {
        fail(s.error());
    }
}

void Server::stop() {
    impl_->stop_hosts_timer();  // it publishes to the frontend
    std::vector<std::unique_ptr<HttpListener>> http;
    {
        std::lock_guard lock(impl_->mutex);
        http = std::move(impl_->http);
        impl_->serving = false;
    }
    http.clear();  // waits for requests being answered, which may take the mutex (metrics)
    std::lock_guard lock(impl_->mutex);
    std::lock_guard scrape_lock(impl_->serving_mutex);
    impl_->frontend.reset();
}

std::vector<std::string> Server::listen_addresses() const {
    std::lock_guard lock(impl_->mutex);
    std::vector<std::string> out;
    for (const ListenAddress& address : impl_->listen) {
        out.push_back(address.to_text());
    }
    return out;
}

uint16_t Server::port() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->listen.empty() ? 0 : impl_->listen.front().port;
}

Server::Stats Server::stats() const {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->frontend) {
        return {};
    }
    const Frontend::Totals t = impl_->frontend->totals();
    return {t.udp_queries, t.tcp_queries, t.dropped, t.truncated};
}

Server::ZoneSummary Server::zone_summary() const {
    std::lock_guard lock(impl_->mutex);
    const Store::Counts counts = impl_->store.counts();
    ZoneSummary out{.namespaces = counts.namespaces,
                    .services = counts.services,
                    .endpoint_sets = counts.endpoint_sets,
                    .pods = counts.pods};
    if (impl_->current) {
        out.zone_services = impl_->current->service_count();
        out.zone_endpoints = impl_->current->endpoint_count();
    }
    impl_->store.for_each_service([&](const ServiceFields& f) {
        out.allocated_cluster_ips += static_cast<size_t>(std::popcount(f.allocated_ips));
    });
    return out;
}

std::shared_ptr<const Snapshot> snapshot_of(const Server& server) {
    std::lock_guard lock(server.impl_->mutex);
    if (!server.impl_->frontend) {
        // Not started: the zone as it would be served now (with the changes since the last
        // call), ns.dns.<zone> answering where it would listen (start() sets the same), so
        // zone files written from it have their glue.
        SnapshotConfig config = server.impl_->store.config();
        config.ns_addresses = ns_addresses(server.impl_->listen);
        server.impl_->store.set_config(std::move(config));
        server.impl_->publish();
    }
    return server.impl_->current;
}

std::vector<Server::Record> Server::records() const {
    std::vector<Record> out;
    for (ZoneRecord& r : list_records(*snapshot_of(*this))) {
        out.push_back({std::move(r.name), std::move(r.type), r.ttl, std::move(r.data),
                       std::move(r.zone), r.allocated});
    }
    return out;
}

const char* version() {
    return "0.1.0";
}

}  // namespace clusterdns
