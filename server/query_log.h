#pragma once
// CoreDNS's `log` and `errors` plugins: a line on stderr per query answered (when the query log
// is on) and per query that failed (always), each written with one write(2) from a buffer on the
// stack. At most kLogLinesPerSecond lines of each are written a second, over all workers: a flood
// of queries cannot fill a disk; what is left out is counted and said with the first line of a
// later second.

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "base/rate_limit.h"

namespace clusterdns {

inline constexpr uint32_t kLogLinesPerSecond = 200;

// Shared by the workers, lock-free; only touched when a line is due.
class LogLimiter {
public:
    // Whether a line may be written now; when a new second begins, first writes how many were
    // left out before (`what`: "query log", "error log").
    bool allow(std::string_view what) noexcept;

private:
    LineLimiter lines_{kLogLinesPerSecond};
};

// `[INFO] 10.0.0.1:53122 - 4321 "A IN name. udp 41 false 512" NOERROR qr,aa,rd 106 0.000181s`:
// client, id, type, class, name, protocol, query size, DO bit, buffer size, rcode, response
// flags, response size, duration.
void log_query(const sockaddr* peer, std::span<const uint8_t> query,
               std::span<const uint8_t> response, bool tcp, uint64_t elapsed_ns) noexcept;

// `[ERROR] plugin/errors: 2 name. A: why`.
void log_error(std::span<const uint8_t> query, std::string_view why) noexcept;

}  // namespace clusterdns
