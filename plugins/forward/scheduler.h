#pragma once
// The forwarding policy of one channel, apart from how a query travels and how time passes:
// which upstream a query goes to, when it also goes to the next, when it has failed, and which
// upstreams are left aside and health-checked. It reads no clock and sets no timer: its owner
// passes the time in (`now_ms`, the loop's) and wakes it at next_wakeup_ms(), and a transport
// sends its attempts and reports what became of them. In the server the owner is UpstreamChannel
// (c-ares is the transport, a libuv timer the wake-up); tests drive it on virtual time
// (forward_test.cc).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>

#include "plugins/forward/forward.h"

namespace clusterdns {

class UpstreamTransport;

// Not thread-safe: used from its owner's thread only, as the owner's loop runs.
class UpstreamScheduler {
public:
    using Failure = Upstreams::Failure;
    struct Call;  // one forwarded query

    // One attempt of a query at one upstream: the transport hands it back with its outcome.
    struct Attempt {
        Call* call;
        size_t upstream;
        bool tcp;         // the query came over TCP (the transport decides what that means)
        unsigned serial;  // the query's first attempt is 1
    };

    // No wake-up is due.
    static constexpr uint64_t kNever = UINT64_MAX;

    // One upstream per options.upstreams entry (1 to 64; their text is not read); `seed` drives
    // the random policy. `transport` must outlive the scheduler.
    UpstreamScheduler(const ForwardOptions& options, UpstreamTransport& transport, uint32_t seed);
    // Every attempt must have been reported (close() first, then the transport's failures).
    ~UpstreamScheduler();
    UpstreamScheduler(const UpstreamScheduler&) = delete;
    UpstreamScheduler& operator=(const UpstreamScheduler&) = delete;

    // Upstreams::forward at `now_ms`: copies the query and sends its first attempt; `done` is
    // called once, from within when nothing can be sent (closed) or every attempt fails at once.
    void forward(std::span<const uint8_t> query, Upstreams::Done done, void* context,
                 uint64_t now_ms, bool tcp = false);

    // The transport's report of one attempt, once each: `failure` None with the answer, or why it
    // failed (Timeout: the attempt's life ended unanswered), with the response if one came all
    // the same (counted by its rcode). `round_trip_ns`: from sending to the response.
    void completed(Attempt attempt, Failure failure, std::span<const uint8_t> response,
                   uint64_t round_trip_ns, uint64_t now_ms);
    // The transport's report that an upstream answered a health check (whatever its rcode).
    void checked(size_t upstream);

    // When on_time() must next be called (loop time, ms), or kNever.
    uint64_t next_wakeup_ms() const noexcept;
    // Sends the attempts and health checks due at `now_ms`.
    void on_time(uint64_t now_ms);

    // No attempt goes out any more, and forward() fails at once: queries waiting for a next
    // attempt are called back with Failure::Other now, the others when the transport reports
    // their last attempt (with any failure).
    void close();

    size_t upstream_count() const noexcept { return upstream_count_; }
    const UpstreamStats& stats(size_t upstream) const noexcept;
    bool healthy(size_t upstream) const noexcept;
    // Queries that found every upstream down (and tried one anyway).
    const Counter& all_down() const noexcept { return all_down_; }

private:
    struct Upstream;

    bool send_next(Call& call, uint64_t now_ms);
    void send(Call& call, size_t upstream, uint64_t now_ms);
    double attempt_ms(const Upstream& u) const noexcept;
    void measured(Upstream& u, uint64_t round_trip_ns) noexcept;
    void failed(size_t upstream, uint64_t now_ms);
    void unqueue(Call& call);
    void finish(Call& call, std::span<const uint8_t> response, Failure failure);
    void check_health(uint64_t now_ms);

    ForwardOptions options_;
    UpstreamTransport& transport_;
    std::unique_ptr<Upstream[]> upstreams_;  // counters in place: the scrape reads them
    size_t upstream_count_ = 0;
    uint64_t all_ = 0;                        // a bit per upstream
    uint64_t healthy_ = 0;                    // those not left aside
    std::multimap<uint64_t, Call*> retries_;  // by when the next attempt goes out
    uint64_t health_due_ms_ = kNever;         // the next round of health checks
    bool open_ = true;
    size_t next_turn_ = 0;  // round_robin
    Counter all_down_;
    std::minstd_rand random_;
};

// How the scheduler's attempts travel.
class UpstreamTransport {
public:
    virtual ~UpstreamTransport() = default;
    // Sends `query` to `upstream`; what becomes of it is reported once by completed() with
    // `attempt`, possibly from within this call.
    virtual void send(size_t upstream, std::span<const uint8_t> query,
                      UpstreamScheduler::Attempt attempt) = 0;
    // Sends the health check `query` to `upstream`; checked() when the upstream answers it.
    virtual void check(size_t upstream, std::span<const uint8_t> query) = 0;
};

}  // namespace clusterdns
