#pragma once
// A budget of lines a second for a log that input can flood (the query and error logs, the API
// source's warnings about what an API server sends): lock-free, shared by any threads, and only
// touched when a line is due. What it refuses is counted and handed to the first line of a later
// second, to be said there.

#include <time.h>

#include <atomic>
#include <cstdint>

namespace clusterdns {

class LineLimiter {
public:
    explicit LineLimiter(uint32_t per_second) noexcept : per_second_(per_second) {}

    // Whether a line may be written now. The first call of a new second sets `left_out` to the
    // number refused before (to be said first); otherwise it is left alone.
    bool allow(uint64_t& left_out) noexcept {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // a few ns: no system call
        const auto second = static_cast<uint64_t>(now.tv_sec);
        uint64_t current = second_.load(std::memory_order_relaxed);
        if (second != current && second_.compare_exchange_strong(current, second)) {
            written_.store(0, std::memory_order_relaxed);
            left_out = suppressed_.exchange(0);
        }
        if (written_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
            suppressed_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }

private:
    const uint32_t per_second_;
    std::atomic<uint64_t> second_{0};
    std::atomic<uint32_t> written_{0};
    std::atomic<uint64_t> suppressed_{0};
};

}  // namespace clusterdns
