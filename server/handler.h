#pragma once
// One query in, one response out: parse, answer from the zone, map errors to RCODEs. The front
// end's only entry into the codec and the zone; allocation-free.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "server/codec/types.h"

namespace clusterdns {

class Snapshot;

enum class Transport : uint8_t { Udp, Tcp };

// Per-worker counters: written by one worker with relaxed atomics, summed by a reader. Aligned so
// two workers never share a cache line.
struct alignas(64) WorkerStats {
    std::atomic<uint64_t> requests_udp{0};
    std::atomic<uint64_t> requests_tcp{0};
    std::atomic<uint64_t> dropped{0};  // not answered: malformed beyond reply, or no buffer
    std::atomic<uint64_t> truncated{0};

    void count(std::atomic<uint64_t>& counter) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// Writes the response to `packet` into `out` and returns its size, or 0 when nothing is to be
// sent. A null snapshot (not loaded yet) answers SERVFAIL.
size_t handle_query(const Snapshot* snapshot, std::span<const uint8_t> packet,
                    std::span<uint8_t> out, Transport transport, WorkerStats& stats) noexcept;

}  // namespace clusterdns
