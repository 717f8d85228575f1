#pragma once
// The network front end: one libuv loop per worker thread, each with its own SO_REUSEPORT UDP and
// TCP sockets on every listen address, so the kernel spreads queries across workers. UDP is read
// and answered in batches (recvmmsg, sendmmsg); TCP is length-framed, pipelined, capped and timed.
// Everything a query needs is allocated when a worker starts; the query path allocates nothing and
// takes no lock.
//
// Zone snapshots are published by message: publish() drops the new one in each worker's mailbox
// and wakes it; the worker swaps its own pointer between queries and hands the old one back, and
// the old snapshot is freed here, on the publishing thread, once every worker has let go of it.

#include <memory>
#include <string>
#include <vector>

#include "plugins/cache/cache.h"
#include "plugins/forward/forward.h"
#include "base/result.h"
#include "server/handler.h"

namespace clusterdns {

class HostsTable;
class RewriteRules;
class Snapshot;
class ZoneSlots;

struct ListenAddress {
    std::string host;  // IPv4 or IPv6 literal, no brackets
    uint16_t port = 0;

    std::string to_text() const;  // "1.2.3.4:53", "[::1]:53"
};

// Parses "ADDR:PORT" or "[IPv6]:PORT".
Result<ListenAddress> parse_listen_address(std::string_view text);

// What the workers do with names outside the zones; reconfigure() changes it while serving.
struct Forwarding {
    // Names outside our zones go to these upstreams; none: they are REFUSED.
    ForwardOptions forward;
    CacheOptions cache;  // in front of the upstreams, one for all workers
    unsigned max_concurrent = 1000;  // over all workers; beyond it REFUSED
    bool query_log = false;          // a line per query on stderr, rate-limited
    bool loadbalance = true;         // every answer's A/AAAA order turned (plugins/loadbalance)
    // Question names rewritten before the chain, responses written back (plugins/rewrite); null:
    // none.
    std::shared_ptr<const RewriteRules> rewrite;
};

struct FrontendOptions {
    std::vector<ListenAddress> listen;
    // The metrics' zones of a Corefile's server blocks; null: one. Outlives the frontend.
    const ZoneSlots* zone_slots = nullptr;
    unsigned workers = 1;
    unsigned tcp_idle_timeout_seconds = 10;  // between messages
    unsigned tcp_io_timeout_seconds = 5;     // for a whole message, and for a stalled answer
    unsigned max_tcp_connections = 1024;     // over all workers; at the cap the oldest idle goes
    Forwarding forwarding;
    std::shared_ptr<const HostsTable> hosts;  // the hosts plugin's table; null: off
};

class Frontend {
public:
    // Binds every socket (port 0 becomes one free port, the same for UDP and TCP), then starts the
    // workers. Fails with a message naming the address if a socket cannot be bound (a fixed port
    // someone holds, even another clusterdns: "address already in use"), or naming
    // max_tcp_connections if RLIMIT_NOFILE cannot be raised to hold that many connections.
    static Result<std::unique_ptr<Frontend>> start(const FrontendOptions& options,
                                                   std::shared_ptr<const Snapshot> zone);
    ~Frontend();  // stops

    // The addresses bound, in the order of options.listen, with the ports chosen.
    const std::vector<ListenAddress>& bound() const;

    // Hands a new zone to every worker and returns once none can still read the old one.
    void publish(std::shared_ptr<const Snapshot> zone);
    // The same for the hosts plugin's table (null: off).
    void publish_hosts(std::shared_ptr<const HostsTable> hosts);

    // Every worker takes up `forwarding` between two queries: new channels to the upstreams and
    // a new cache. Queries already with the old upstreams are answered from them (the old
    // channels close once the last could still be waiting). Fails if a worker cannot set up a
    // channel (c-ares out of resources); that worker keeps its old ones.
    Status reconfigure(const Forwarding& forwarding);

    // Stops every worker and closes every socket; idempotent.
    void stop();

    // Like CoreDNS's loop plugin: asks itself a random name outside its zones, which is
    // forwarded; if the upstreams lead back here the same name arrives again and again. Waits up
    // to `wait_ms` for the answer and returns how often the name arrived (1 without a loop).
    unsigned loop_probe(unsigned wait_ms);

    // Counters summed over the workers.
    struct Totals {
        uint64_t udp_queries = 0;
        uint64_t tcp_queries = 0;
        uint64_t dropped = 0;
        uint64_t truncated = 0;
    };
    Totals totals() const;

    // Every worker's counters, and every channel to the upstreams (each worker's, stub domains'
    // included): for the metrics, read while the workers count. Valid until stop().
    std::vector<const WorkerStats*> worker_stats() const;
    std::vector<const UpstreamChannel*> upstream_channels() const;
    // How many answers the cache holds, for coredns_cache_entries.
    SharedCache::Sizes cache_sizes() const;

    class Impl;

private:
    explicit Frontend(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace clusterdns
