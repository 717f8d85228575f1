#pragma once
// Forwarding: the queries the zone does not answer go to upstream DNS servers through c-ares,
// one channel per worker, driven by that worker's libuv loop (no thread, no lock). c-ares sends
// the client's query as it came (EDNS and the DO bit included), checks that the answer matches the
// question, retries the next upstream and falls back to TCP when an answer comes back truncated.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/codec/result.h"

struct uv_loop_s;

namespace clusterdns {

// Which upstream a query goes to first: `sequential` always the first that works, `random` (and
// `round_robin`, which c-ares does not distinguish) a different one each time.
enum class UpstreamPolicy : uint8_t { Random, RoundRobin, Sequential };

// Names at or below `domain` go to its own upstreams (kube-dns's stubDomains).
struct StubDomain {
    std::string domain;  // lowercase, no final dot
    std::vector<std::string> upstreams;
};

struct ForwardOptions {
    std::vector<std::string> upstreams;  // "ADDR:PORT" or "[V6]:PORT"
    std::vector<StubDomain> stub_domains;
    UpstreamPolicy policy = UpstreamPolicy::Random;
    // One attempt at one upstream, doubled for the second round: c-ares gives up after about
    // 2.1 s, when the front end has answered SERVFAIL (its 2 s deadline) anyway.
    uint32_t try_timeout_ms = 700;
    uint32_t tries = 2;  // rounds over the upstreams
};

// One worker's channel to the upstreams. Not thread-safe: used from its loop's thread only.
class UpstreamChannel {
public:
    // Why a forwarded query got no answer.
    enum class Failure : uint8_t { None, Timeout, Refused, Other };
    // Called once per forward() on the loop's thread: the upstream's response (its ID is
    // c-ares's own), or empty with the failure.
    using Done = void (*)(void* context, std::span<const uint8_t> response, Failure failure);

    static Result<std::unique_ptr<UpstreamChannel>> start(uv_loop_s* loop,
                                                          const ForwardOptions& options);
    ~UpstreamChannel();  // pending queries are called back with Failure::Other
    UpstreamChannel(const UpstreamChannel&) = delete;
    UpstreamChannel& operator=(const UpstreamChannel&) = delete;

    void forward(std::span<const uint8_t> query, Done done, void* context);
    // Closes its handles; the loop must run once more to finish closing them.
    void close();

private:
    struct Impl;
    explicit UpstreamChannel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace clusterdns
