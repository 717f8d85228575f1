#pragma once
// Counters for Prometheus: each written by one thread only (a worker), read by the scrape. A
// counter is a relaxed atomic load and store, no read-modify-write: no lock and no bus lock on
// the query path. Histograms keep a count per bucket (not cumulative) and the sum; the exposition
// accumulates them.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace clusterdns {

class Counter {
public:
    void add(uint64_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }  // a gauge
    uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// Bucket upper bounds, in the unit observed. CoreDNS's plugin.TimeBuckets (0.25 ms doubling to
// 8.192 s) in nanoseconds, and plugin.SizeBuckets in bytes.
inline constexpr std::array<uint64_t, 16> kTimeBucketsNs = {
    250'000,     500'000,     1'000'000,   2'000'000,     4'000'000,     8'000'000,
    16'000'000,  32'000'000,  64'000'000,  128'000'000,   256'000'000,   512'000'000,
    1'024'000'000, 2'048'000'000, 4'096'000'000, 8'192'000'000};
inline constexpr std::array<uint64_t, 14> kSizeBuckets = {
    0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000};

template <size_t N>
struct Histogram {
    std::array<Counter, N + 1> counts;  // the last: above every bound (+Inf)
    Counter sum;

    void observe(uint64_t value, const std::array<uint64_t, N>& bounds) noexcept {
        size_t i = 0;
        while (i < N && value > bounds[i]) {
            ++i;
        }
        counts[i].add();
        sum.add(value);
    }
};

using TimeHistogram = Histogram<kTimeBucketsNs.size()>;
using SizeHistogram = Histogram<kSizeBuckets.size()>;

// The 16 RCODEs a header carries (their names: rcode_name, dns/types.h).
inline constexpr size_t kRcodes = 16;

}  // namespace clusterdns
