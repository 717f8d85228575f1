#pragma once
// clusterdns as a library: a cluster DNS server you can start inside a test as a fake resolver.
//
//     clusterdns::Server server({.listen = {"127.0.0.1:0"}});
//     server.load_manifests("testdata/cluster/");      // or apply_yaml(...), add_service(...)
//     server.start();                                  // serves on background threads
//     uint16_t port = server.port();                   // point your resolver here
//     server.add_service({.ns = "prod", .name = "db", .cluster_ips = {"10.96.0.7"}});
//     server.stop();                                   // also done by the destructor
//
// Every method may be called from any thread. Zone changes are visible to queries when the call
// returns. Methods that take input throw std::runtime_error with a message naming what is wrong.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clusterdns {

class Snapshot;

// Settings; the command line and the --config file set the same fields (README.md lists them).
struct Options {
    std::vector<std::string> manifests;                // files or directories
    // Where the Pods of workloads in manifests (Deployments, StatefulSets, ...) get addresses:
    // one per CIDR, deterministic (zone/workloads.h).
    std::vector<std::string> pod_cidrs = {"10.244.0.0/16"};
    // Where the Services of manifests without clusterIP get theirs, as the API server allocates
    // them (zone/allocate.h): one range per family, the first the primary one; an entry may
    // hold both, comma-separated, as kube-apiserver's --service-cluster-ip-range.
    std::vector<std::string> service_cidrs = {"10.96.0.0/12"};
    // External zones (CoreDNS's k8s_external, k8s_gateway): Ingress hosts and LoadBalancer
    // Services of the manifests (<svc>.<ns>.<zone>) answer there with their published addresses,
    // else with `external_addresses`.
    std::vector<std::string> external_zones;
    std::vector<std::string> external_addresses;
    std::vector<std::string> listen = {"0.0.0.0:53"};  // ADDR:PORT or [IPv6]:PORT; port 0: any
    std::string zone = "cluster.local";
    uint32_t ttl_seconds = 30;
    unsigned workers = 0;  // 0: one per CPU
    unsigned tcp_idle_timeout_seconds = 10;  // a TCP connection between messages
    unsigned tcp_io_timeout_seconds = 5;     // to receive a message, or to take some of an answer
    unsigned max_tcp_connections = 1024;

    // Forwarding (plugins/forward): names outside our zones go to `upstreams` ("ADDR[:PORT]"),
    // or, when it is empty, to the nameservers of `resolv_conf`; {"none"}: they are REFUSED.
    // An upstream that is this server itself is left out.
    std::vector<std::string> upstreams;
    std::string resolv_conf = "/etc/resolv.conf";
    std::string policy = "random";  // random, round_robin or sequential
    unsigned max_concurrent = 1000;  // forwarded queries in flight; beyond, REFUSED
    unsigned serve_stale = 0;  // seconds an expired answer may serve when upstreams fail; 0: off
    unsigned prefetch = 0;  // an answer asked this often is fetched again before it expires; 0: off
    // "DOMAIN=ADDR[:PORT][,ADDR...]": names at or below DOMAIN go there (kube-dns's stubDomains).
    std::vector<std::string> stub_domains;

    // The kubernetes source (plugins/kubernetes/README.md): list and watch the API server of
    // `kubeconfig` (files joined by ':', as $KUBECONFIG) and `context`, or with in_cluster the
    // one a pod's service account reaches. Off when neither is set. For an object both define,
    // the API's version wins over the manifests'.
    std::string kubeconfig;
    std::string context;  // empty: the kubeconfig's current-context
    bool in_cluster = false;
    std::vector<std::string> namespaces;  // API objects of these namespaces only (empty: all)
    std::string label_selector;           // API Services matching this selector only
    enum class Pods { Disabled, Insecure, Verified };
    Pods pods = Pods::Insecure;       // Verified: Pods are watched too
    bool endpoint_pod_names = false;  // an endpoint without hostname is named by its Pod
    // CoreDNS's noendpoints: EndpointSlices are neither watched nor read, so headless Services
    // and endpoint names have no records (less memory where only ClusterIPs are asked for).
    bool no_endpoints = false;
    // Server-side search path for Pods (plugins/autopath): Pods are watched too, for their
    // addresses.
    bool autopath = false;
    // The host's search domains autopath tries after the cluster's, in order, before the name
    // as it is (CoreDNS takes them from its resolv.conf; here they are given). Each is asked
    // upstream; NXDOMAIN goes on to the next.
    std::vector<std::string> autopath_search;
    unsigned startup_timeout_seconds = 5;    // serve without the first full sync after this
    unsigned api_watch_timeout_seconds = 0;  // 0: 5-10 minutes, as client-go (tests: shorter)

    // Node-local mode (NodeLocal DNSCache): no zone of its own; every name goes to the stub
    // domains or the upstreams, through the cache.
    bool node_local = false;

    // HTTP endpoints, each "ADDR:PORT" (":PORT": every address) or "none". "default" is
    // CoreDNS's port (:8080, :8181, :9153), left out with a warning when something holds it;
    // an address given that cannot be bound is an error. The command line starts from "default".
    std::string health = "none";   // GET /health: 200 while the process serves
    std::string ready = "none";    // GET /ready: 200 once serving with every source synced
    std::string metrics = "none";  // GET /metrics: Prometheus text with CoreDNS's names
    // GET /debug/explain beside /metrics. Off: the metrics port is open to every pod, and its
    // suggestions would list Service names DNS never enumerates.
    bool debug_explain = false;
    // After SIGTERM: /ready says 503 and queries are still answered this long, then exit.
    unsigned lameduck_seconds = 5;
    bool query_log = false;  // a line per query on stderr (CoreDNS's log format), rate-limited

    // loadbalance (CoreDNS's plugin; kubeadm's Corefile ends with it): the A and AAAA records of
    // every answer rotate from one response to the next, so clients that take the first spread.
    bool loadbalance = true;

    // The cache in front of the upstreams (CoreDNS's cache plugin): off, nothing is kept. An
    // answer is kept between the MINTTL and the TTL below (its own TTL decides in between).
    bool cache = true;
    uint32_t cache_success_ttl = 3600;
    uint32_t cache_success_min_ttl = 5;
    uint32_t cache_denial_ttl = 1800;  // NXDOMAIN and NODATA
    uint32_t cache_denial_min_ttl = 5;
    unsigned cache_capacity = 10000;  // entries, for all workers together

    // forward's options beyond the upstreams (CoreDNS's names): names at or below these (and no
    // stub domain's) are not forwarded (SERVFAIL, as CoreDNS's forward leaves them to a next
    // plugin there is none of); force_tcp asks every upstream (stub domains' too) over TCP;
    // prefer_udp asks over UDP even a query that came over TCP (else it goes over TCP, as it
    // came); an upstream that fails max_fails queries in a row (0: never) is health-checked
    // every health_check_ms until it answers.
    std::vector<std::string> forward_except;
    bool force_tcp = false;
    bool prefer_udp = false;
    unsigned health_check_ms = 500;
    unsigned max_fails = 2;

    // hosts (CoreDNS's plugin, plugins/hosts/README.md): names answered from /etc/hosts-style
    // lines, before the cluster's zone; on when `hosts` or `hosts_file` is set. Lines are
    // "ADDRESS NAME [NAME...]"; `hosts_file` is read too (unreadable at start-up: an error) and,
    // every hosts_reload_seconds (0: never), read again when it changed. A name of `hosts_zones`
    // (empty: every name) that has no line is SERVFAIL unless fallthrough is set and it is under
    // `hosts_fallthrough` ("." or an empty list: every name goes on to the next link).
    std::vector<std::string> hosts;
    std::string hosts_file;
    uint32_t hosts_ttl = 3600;
    unsigned hosts_reload_seconds = 5;
    std::vector<std::string> hosts_zones;
    bool hosts_fallthrough_set = false;  // CoreDNS's `fallthrough` given, with its zones below
    std::vector<std::string> hosts_fallthrough;
    bool hosts_no_reverse = false;  // no PTR records from the lines

    // rewrite (CoreDNS's `rewrite name` rules, each written as in a Corefile after `rewrite`,
    // e.g. "name suffix .corp.example .svc.cluster.local answer auto"): a question's name is
    // rewritten before the chain and the response is written back to the name asked.
    std::vector<std::string> rewrite;

    // A Corefile (CoreDNS's configuration) read instead of the options above: its server blocks
    // and plugins set them (README.md, "Migrating from CoreDNS"). Flags still override it. Read
    // by parse_command_line(); Server takes the options it made, not the file.
    std::string corefile;
    // kube-dns's ConfigMap, as mounted: a directory holding `stubDomains` and
    // `upstreamNameservers` (JSON), read at start-up and each reload: its stub domains beside
    // stub_domains (a domain both name: stub_domains'), its upstreams when `upstreams` is empty.
    std::string kube_dns_config;
    // Per server block of a Corefile, the main one first, for the metrics' `server` and `zone`
    // labels: a query counts under the longest of the blocks' zones holding its name; the rest,
    // under the first's. Taken at start().
    struct ServerBlock {
        std::string server;               // "dns://:53"
        std::vector<std::string> zones;   // "consul.local."
    };
    std::vector<ServerBlock> server_blocks;
};

struct PortSpec {
    std::string name;              // empty: no SRV record of its own
    std::string protocol = "TCP";  // TCP, UDP or SCTP
    uint16_t port = 0;
};

struct ServiceSpec {
    std::string ns = "default";
    std::string name;
    // {"None"} for headless; empty: allocated from Options::service_cidrs (none with
    // external_name).
    std::vector<std::string> cluster_ips;
    std::string external_name;             // set: an ExternalName Service
    std::vector<PortSpec> ports;
};

class Server {
public:
    // Loads the manifests and, with the kubernetes source, waits for its first full sync (at most
    // startup_timeout_seconds; then it goes on with what it has and the rest follows).
    explicit Server(Options options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Adds the objects of a manifest file or directory, or of YAML text (several documents or a
    // kind: List). All or nothing: on error nothing is added.
    void load_manifests(const std::string& path);
    void apply_yaml(std::string_view yaml);
    // Adds or replaces one Service.
    void add_service(const ServiceSpec& service);
    // Removes a Service; false if there was none.
    bool remove_service(std::string_view ns, std::string_view name);

    // Binds the listen addresses and starts answering on background threads.
    void start();
    // Stops answering and closes the sockets. Idempotent.
    void stop();
    // From now on /ready answers 503 (shutting down); queries are still answered until stop().
    void drain();
    // Applies `options` (from a changed config file or SIGHUP): checked whole first; on error
    // nothing changes. The zone (manifests re-read, its settings), forwarding, cache and logging
    // change without dropping a query; what needs new sockets or a new API connection (listen,
    // workers, TCP limits, HTTP endpoints, the kubernetes source) is refused by name.
    void reload(const Options& options);
    // Counts a reload refused before it got here (a config file that does not parse), for
    // coredns_reload_failed_total; reload() counts its own.
    void reload_failed();
    // Re-reads the manifests of the options, all or nothing: on error the zone stays as it was.
    // What the files no longer hold goes, objects added with apply_yaml() or add_service() too.
    void reload_manifests();

    // Where it listens, as "ADDR:PORT" ("[::1]:PORT" for IPv6), in the order of Options::listen.
    std::vector<std::string> listen_addresses() const;
    // The port of the first listen address.
    uint16_t port() const;

    // Queries received since start(), over all workers.
    struct Stats {
        uint64_t udp_queries = 0;
        uint64_t tcp_queries = 0;
        uint64_t dropped = 0;    // got no answer: not a query, or no room to send
        uint64_t truncated = 0;  // answered with TC=1
    };
    Stats stats() const;

    // What the zone is made of now: objects by kind, and the zone they make.
    struct ZoneSummary {
        size_t namespaces = 0;  // declared by a Namespace object
        size_t services = 0;
        size_t endpoint_sets = 0;  // EndpointSlices and legacy Endpoints subsets
        size_t pods = 0;
        size_t zone_services = 0;   // in the zone being served
        size_t zone_endpoints = 0;  // published: ready, or all with publishNotReadyAddresses
        // ClusterIPs allocated from Options::service_cidrs, for Services that gave none.
        size_t allocated_cluster_ips = 0;
    };
    ZoneSummary zone_summary() const;

    // Every record the zone holds now, exactly as it answers them (`clusterdns records`): the
    // apex records of each served zone first, then by name. Names and data in presentation form.
    struct Record {
        std::string name;  // "api.prod.svc.cluster.local."
        std::string type;  // "A", "SRV", ...
        uint32_t ttl = 0;
        std::string data;  // as dig prints it
        std::string zone;  // the zone it is in: "cluster.local.", "in-addr.arpa.", "ip6.arpa."
        // An A or AAAA record of a ClusterIP allocated here (its Service gave none), or the PTR
        // record of one.
        bool allocated = false;
    };
    std::vector<Record> records() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
    // The zone as it is served now (or would be, before start()): for the tools in server/.
    friend std::shared_ptr<const Snapshot> snapshot_of(const Server& server);
};

const char* version();

// ---- The `clusterdns` command's parts (cli/): its command line, reload, and its tools ----

// The server's command line: the flags README.md lists, and the --config file one names.
struct CommandLine {
    Options options;
    bool help = false;
    bool version = false;
    bool check_only = false;  // --check-config: the config and its manifests are checked, no more
    std::string config_path;  // --config or --check-config: watched for changes
    // The Corefile (--corefile or the config's corefile:) and the files it imported: watched too.
    std::vector<std::string> corefile_files;
};

// Parses argv (argv[0] the program) and the --config file it names; flags override the file,
// and the settings are checked together. Throws naming the flag, or the file and key.
CommandLine parse_command_line(int argc, const char* const* argv);

// What --help prints.
const char* usage();

// --check-config: loads the manifests of `options` into a scratch set as start-up would
// (Services without clusterIP get addresses, so a range too small fails too); serves nothing.
// Returns how many objects they hold; throws naming the manifest it cannot use.
size_t check_config(const Options& options);

// Reload (CoreDNS's reload plugin): the config file and the manifests a command line names are
// watched, and on a change, or reload(), the command line is read again and applied with
// Server::reload(). A config that does not parse or check is refused whole; the server keeps
// the one it has. Each reload is logged on stderr.
class Reloader {
public:
    // Watches from now on, before the server loads: a change made while it loads is kept for
    // serve(). argv is read again at every reload: it must outlive the Reloader. When watching
    // cannot start it says so on stderr; reload() still works.
    Reloader(int argc, const char* const* argv, const CommandLine& command_line);
    ~Reloader();  // stop()
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

    // `server` serves: from now on a change reloads it (one made while it loaded, now), and
    // standard input ("-" in Options::manifests), read at start-up, is not read again: a reload
    // keeps the objects it held.
    void serve(Server& server);
    // Reads the command line again and applies it (SIGHUP); `why` goes in the log line.
    void reload(std::string_view why);
    // No more reloads, nor watching: call it before the server goes. Idempotent.
    void stop();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

// `clusterdns check`: what DNS and routing will make of the manifests of `options` (with its
// pod_cidrs and service_cidrs), in the terms of the common errors users hit (a selector that
// matches no Pod, an Ingress that routes nowhere, a NetworkPolicy that blocks DNS). Every
// problem is a finding, each file, document and object the server would refuse included.
struct Finding {
    std::string severity;  // "error" or "warning"
    std::string file;      // empty: no one file (what workloads make)
    size_t document = 0;   // 1-based; 0: the file as a whole
    uint32_t line = 0;     // 1-based; 0 when unknown
    std::string kind;
    std::string ns;
    std::string name;
    std::string field;
    std::string message;
    std::string fix;
};
// Grouped by file in the order the files were read (what no one file holds, last), and within a
// file in document order. Throws, naming the flag, for manifest paths or CIDRs it cannot use.
std::vector<Finding> check_manifests(const Options& options);

// `clusterdns explain`: the answer the server gives for `name` from the manifests of `options`
// and why (which Service, EndpointSlice, endpoint or workload made each record; for NXDOMAIN the
// reason). With `from_namespace`, the queries a Pod of that namespace sends for `name` (search
// path and ndots:5, as glibc's resolver walks them). Throws naming a manifest it cannot use.
struct Explanation {
    std::string text;      // lines, each ending in a newline
    bool answers = false;  // the name has records (with from_namespace: one of the queries)
};
Explanation explain(const Options& options, const std::string& name,
                    const std::string& type = "A", const std::string& from_namespace = "");

// For the tools' own flags: whether explain knows a record type ("A", "SRV", uppercase), and
// whether `name` can name a namespace (a DNS-1123 label).
bool is_record_type(std::string_view type);
bool is_namespace_name(std::string_view name);
// Throws, saying why, when `text` is not a CIDR such as "10.244.0.0/16".
void check_cidr(std::string_view text);
// A value as clusterdns's messages show it: in double quotes, control characters escaped, a long
// one cut ("1111..." (5000 bytes)).
std::string quoted_text(std::string_view text);

}  // namespace clusterdns
