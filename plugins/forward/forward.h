#pragma once
// Forwarding: the queries the zone does not answer go to upstream DNS servers through c-ares,
// a channel per upstream and worker, driven by that worker's libuv loop (no thread, no lock).
// c-ares sends the client's query as it came (EDNS and the DO bit included), checks that the
// answer matches the question and falls back to TCP when an answer comes back truncated; its
// UpstreamScheduler (scheduler.h) picks the upstream (policy), goes on to the next when one
// fails, and keeps failing upstreams aside until a health check finds them answering again.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/metrics/counters.h"
#include "base/result.h"

struct uv_loop_s;

namespace clusterdns {

// Which upstream a query goes to first, among the healthy ones: `sequential` always the first,
// `random` any, `round_robin` each in turn.
enum class UpstreamPolicy : uint8_t { Random, RoundRobin, Sequential };

// Names at or below `domain` go to its own upstreams (kube-dns's stubDomains).
struct StubDomain {
    std::string domain;  // lowercase, no final dot
    std::vector<std::string> upstreams;
};

// An upstream written "tcp://ADDR:PORT" is asked over TCP only (CoreDNS's force_tcp), as a
// node-local cache asks the cluster's DNS service.
inline constexpr std::string_view kTcpScheme = "tcp://";

struct ForwardOptions {
    std::vector<std::string> upstreams;  // "ADDR:PORT", "[V6]:PORT", or either after tcp://
    std::vector<StubDomain> stub_domains;
    // Names at or below these (domain names as written) and no stub domain's are not sent to
    // `upstreams` (CoreDNS's except): SERVFAIL, as CoreDNS with no next plugin.
    std::vector<std::string> except;
    UpstreamPolicy policy = UpstreamPolicy::Random;
    // A query is asked until it is answered or this long has passed (CoreDNS's forward gives a
    // query 5 s across its attempts); an answer after it is still delivered, for the cache.
    uint32_t deadline_ms = 5000;
    // How long the first attempt at an upstream waits before the query also goes to the next
    // (or, each asked, again); from then on the upstream's measured round trips (RFC 6298's
    // smoothed estimate, at least 250 ms) decide, doubling per attempt. A refusal, SERVFAIL or
    // REFUSED goes on to the next upstream at once, and with none left fails at once.
    uint32_t try_timeout_ms = 400;
    // As CoreDNS's health_check and max_fails: an upstream that failed this many queries in a row
    // is left aside (tried only when all are) and asked ". NS" every interval until it answers.
    // 0: an upstream is never left aside (CoreDNS's max_fails 0).
    uint32_t health_check_ms = 500;
    uint32_t max_fails = 2;
    // A query that came over TCP is asked over TCP, as CoreDNS's forward asks it, unless this is
    // set (CoreDNS's prefer_udp): then over UDP too, TCP only when the answer comes truncated.
    bool prefer_udp = false;
};

// What one channel asked an upstream and what it answered, for coredns_forward_*: written on the
// channel's loop, read by the scrape, which sums the workers'.
struct UpstreamStats {
    Counter requests;  // attempts sent
    Counter responses[kRcodes];
    TimeHistogram duration[kRcodes];  // from sending to the answer, by its rcode
    Counter healthcheck_failures;
};

// Where the forwarding stage (plugins/forward/stage.h) sends a query: a channel to upstreams,
// or a test's stand-in.
class Upstreams {
public:
    // Why a forwarded query got no answer.
    enum class Failure : uint8_t { None, Timeout, Refused, Other };
    // Called once per forward() (from within it when nothing can be sent): the response (its ID
    // is not the query's), or empty with the failure.
    using Done = void (*)(void* context, std::span<const uint8_t> response, Failure failure);

    virtual ~Upstreams() = default;
    // `tcp`: the client asked over TCP (asked so upstream too, unless prefer_udp).
    virtual void forward(std::span<const uint8_t> query, Done done, void* context, bool tcp) = 0;
};

// One worker's channel to the upstreams. Not thread-safe: used from its loop's thread only.
class UpstreamChannel final : public Upstreams {
public:
    static Result<std::unique_ptr<UpstreamChannel>> start(uv_loop_s* loop,
                                                          const ForwardOptions& options);
    ~UpstreamChannel() override;  // pending queries are called back with Failure::Other
    UpstreamChannel(const UpstreamChannel&) = delete;
    UpstreamChannel& operator=(const UpstreamChannel&) = delete;

    void forward(std::span<const uint8_t> query, Done done, void* context, bool tcp) override;
    // Closes its handles; the loop must run once more to finish closing them.
    void close();

    // The upstreams in the order of the options, and their counters (readable from any thread).
    size_t upstream_count() const noexcept;
    const std::string& upstream_address(size_t i) const noexcept;
    const UpstreamStats& upstream_stats(size_t i) const noexcept;
    // Queries that found every upstream down (and tried one anyway).
    const Counter& all_down() const noexcept;

private:
    struct Impl;
    explicit UpstreamChannel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace clusterdns
