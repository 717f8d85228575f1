#pragma once
// The chain's last two links on one worker: cache, then forward. A query the zone does not answer
// is answered from the cache shared by every worker, or sent to the upstreams and answered when
// they answer, or with SERVFAIL (or a stale answer, serve-stale) at its deadline. One fetch per
// question is in flight over all workers (Fetches); a popular answer near its end is fetched
// again behind the hit (prefetch). An ExternalName chase or a search path walk that leaves our
// zones goes the same way, one outside name at a time.
//
// Everything outside is given: the time (Clock), the upstreams (Upstreams), the zone's side of a
// chase (ChaseSteps) and the way back to the client (Replies). The front end gives libuv's clock,
// c-ares channels and its sockets; the unit tests give virtual time and scripted upstreams.
// Used from its worker's thread only.

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "plugins/cache/cache.h"
#include "plugins/forward/forward.h"
#include "plugins/metrics/query_stats.h"

namespace clusterdns {

struct IpAddress;

// The worker's time, in ms, and its one deadline timer.
class Clock {
public:
    virtual ~Clock() = default;
    virtual uint64_t now_ms() = 0;
    // on_deadline() is to be called at `at_ms` (or soon after); 0: not at all. A later call
    // replaces the earlier.
    virtual void wake_at(uint64_t at_ms) = 0;
};

// Where the answer to a query goes, as the front end knows its client. Copied while the query
// waits.
struct Client {
    Transport transport = Transport::Udp;
    int fd = -1;  // UDP: the socket and the peer
    sockaddr_storage peer{};
    socklen_t peer_size = 0;
    uint32_t connection = 0;  // TCP: the connection slot and its client
    uint32_t generation = 0;
    uint64_t received_ns = 0;  // when the query arrived, for the metrics
    bool background = false;   // a prefetch: nobody waits, the answer only refreshes the cache
    // The query's name was rewritten (plugins/rewrite) from this one: the front end writes the
    // response back to it.
    bool rewritten = false;
    Name asked;
};

// The way back to the client.
class Replies {
public:
    virtual ~Replies() = default;
    // Where to write the response to `to`; empty when the client is gone.
    virtual std::span<uint8_t> buffer(const Client& to) = 0;
    // Sends the `size` bytes written to buffer(to) (0: none could be written), answering
    // `query`.
    virtual void send(const Client& to, std::span<const uint8_t> query, size_t size, Responder by,
                      uint16_t qtype) = 0;
    // A client gets SERVFAIL: why, for the error log.
    virtual void failed(std::span<const uint8_t> asked, std::string_view why) = 0;
    // The fetch of `key` ended; the other workers in `workers` (a bit each) have clients waiting
    // for it: each is to call fetched() on its own thread.
    virtual void fetch_ended(uint64_t workers, uint64_t key, bool failed) = 0;
};

// The zone's side of a chase (server/handler.h over the worker's current zone).
class ChaseSteps {
public:
    virtual ~ChaseSteps() = default;
    // The query for the outside name at `step`, written to `out`; 0: no such step.
    virtual size_t query(const Query& client_query, const IpAddress* client,
                         std::span<uint8_t> out, size_t step) = 0;
    // Whether the zone answers `step` itself.
    virtual bool ends_in_zone(const Query& client_query, const IpAddress* client,
                              size_t step) = 0;
    // The client's answer: the zone's chain, then `upstream`'s answer to `step`'s query.
    virtual size_t respond(const Query& client_query, const IpAddress* client,
                           std::span<const uint8_t> upstream, std::span<uint8_t> out,
                           Transport transport, size_t step) = 0;
};

// Like CoreDNS's loop plugin: while `probing`, how often a query for `name` was forwarded.
struct LoopProbe {
    std::atomic<bool> probing{false};
    Name name;  // set before probing is
    std::atomic<unsigned> seen{0};
};

class ForwardStage {
public:
    struct Parts {
        unsigned worker = 0;  // its place among the workers, for Fetches
        Clock* clock = nullptr;
        Replies* replies = nullptr;
        ChaseSteps* chase = nullptr;
        Fetches* fetches = nullptr;
        LoopProbe* loop_probe = nullptr;  // may be null
        WorkerStats* stats = nullptr;
    };
    // Where it forwards to, and how; replaced while serving (configure()).
    struct Route {
        Upstreams* upstreams = nullptr;  // null: only stub domains are forwarded
        struct Stub {
            Name domain;
            Upstreams* upstreams;
        };
        std::vector<Stub> stubs;  // most labels first: the first that holds a name takes it
        // Names at or below these (and no stub's) are not forwarded: SERVFAIL, as CoreDNS's
        // forward `except` leaves them to a next plugin there is none of.
        std::vector<Name> except;
        std::shared_ptr<SharedCache> cache;  // capacity 0: off, and no fetch is shared
        size_t max_in_flight = 1000;  // clients waiting for an upstream; beyond, REFUSED
        uint64_t deadline_ms = 5000;
    };

    explicit ForwardStage(const Parts& parts);
    ~ForwardStage();  // after shut_down()
    ForwardStage(const ForwardStage&) = delete;
    ForwardStage& operator=(const ForwardStage&) = delete;

    void configure(Route route);
    bool enabled() const noexcept { return route_.upstreams != nullptr || !route_.stubs.empty(); }

    // A query the zone left to the upstreams, parsed into `parsed`: a cache hit or an error is
    // written to `out` and returned as an answer; else the client is answered later through
    // Replies. `outside`, for a chase: the name where an ExternalName or a search path step
    // leaves our zones. `address` is the client's, for the search path a chase repeats.
    struct Handled {
        size_t size = 0;  // 0: answered later, or not at all
        Responder by = Responder::Server;
    };
    Handled take(const Client& client, const IpAddress* address, std::span<const uint8_t> packet,
                 const Query& parsed, std::span<uint8_t> out,
                 const Name* outside = nullptr) noexcept;

    // The clock's wake_at time has come: clients past their deadline get SERVFAIL.
    void on_deadline() noexcept;
    // Another worker's fetch of `key` ended (Replies::fetch_ended): this worker's clients
    // waiting for it go on.
    void fetched(uint64_t key, bool failed) noexcept;
    // Clients still waiting hear SERVFAIL (a stale answer if one is kept) now; from here on
    // nothing is sent, and upstream answers still due only free their queries. Call before the
    // upstreams are closed.
    void shut_down() noexcept;

    // Clients waiting for an upstream now.
    size_t waiting() const noexcept { return waiting_; }

    struct Pending;

private:
    void settle() noexcept;
    void answered(Pending& p) noexcept;
    void reply(Pending& p, std::span<const uint8_t> response, Responder by,
               std::string_view why = {}) noexcept;
    void resume(Pending& p, bool failed) noexcept;
    void wake_parked(uint64_t key, bool failed) noexcept;
    void finish_fetch(Pending& p, bool failed) noexcept;
    Upstreams* upstreams_for(WireName name) const noexcept;
    bool excepted(WireName name) const noexcept;
    // The cache keeps answers (capacity 0: off, and no fetch is shared).
    bool caching() const noexcept { return route_.cache->options().capacity != 0; }
    static void on_answer(void* context, std::span<const uint8_t> response,
                          Upstreams::Failure failure) noexcept;

    Parts parts_;
    Route route_;
    std::deque<Pending*> pending_;  // in the order taken, which is the order of their deadlines
    std::vector<Pending*> parked_;  // waiting for another query's fetch of their question
    size_t waiting_ = 0;            // clients holding a place of max_in_flight
    bool stopping_ = false;
    uint8_t cached_[kMaxMessageSize];  // an answer taken from the cache for a chase or a stale
};

}  // namespace clusterdns
