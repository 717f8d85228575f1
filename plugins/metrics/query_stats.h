#pragma once
// What one worker counts of the queries it answers, for the metrics CoreDNS's `metrics`, `cache`,
// and `forward` plugins export. Written by that worker only; the scrape sums the
// workers (plugins/metrics/exposition.h). Counting is a few relaxed stores: no lock, no allocation.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "plugins/metrics/counters.h"
#include "plugins/metrics/zone_slots.h"

namespace clusterdns {

// Who wrote a response: the `plugin` label of coredns_dns_responses_total, a link of the chain
// (plugins/chain.h) or the server itself (an error before any link, an empty label).
enum class Responder : uint8_t { Server, Kubernetes, Forward, Cache, Hosts };
inline constexpr size_t kResponders = 5;
std::string_view responder_name(Responder r) noexcept;

// Query types with a series of their own (CoreDNS's monitored types); the rest are "other".
inline constexpr size_t kQueryTypes = 21;
size_t type_slot(uint16_t qtype) noexcept;
std::string_view type_slot_name(size_t slot) noexcept;

struct alignas(64) WorkerStats {
    Counter requests[2][2][kQueryTypes];  // [UDP, TCP][IPv4, IPv6][type]
    Counter responses[kResponders][kRcodes];
    TimeHistogram duration[kQueryTypes];
    SizeHistogram request_size[2];  // [UDP, TCP]
    SizeHistogram response_size[2];
    Counter dropped;    // got no answer: not a query, or no room to send
    Counter truncated;  // answered with TC=1

    // plugins/cache
    Counter cache_hits[2];  // [success, denial]
    Counter cache_misses;
    Counter cache_prefetches;
    Counter cache_served_stale;
    Counter cache_evictions;
    // plugins/forward, beside the counters of each upstream (plugins/forward/forward.h)
    Counter forward_rejects;  // over max_concurrent

    // A Corefile's server blocks (zone_slots.h; null: one): the queries and responses of a zone
    // other than the main block's, counted again under its slot (slot 0 is the totals above
    // less these).
    const ZoneSlots* zone_slots = nullptr;
    Counter zone_requests[kZoneSlots][2][2][kQueryTypes];
    Counter zone_responses[kZoneSlots][kResponders][kRcodes];

    // A query as it arrives; `qtype` 0 when it has no question. (CLUSTERDNS_NO_COUNTERS: a
    // build for bench/operations.py that measures what counting costs.)
    void count_request(bool tcp, bool v6, uint16_t qtype, size_t size,
                       std::span<const uint8_t> query = {}) noexcept {
#ifdef CLUSTERDNS_NO_COUNTERS
        return;
#endif
        requests[tcp][v6][type_slot(qtype)].add();
        request_size[tcp].observe(size, kSizeBuckets);
        if (zone_slots != nullptr) {
            if (const size_t slot = zone_slots->slot_of(query); slot != 0) {
                zone_requests[slot][tcp][v6][type_slot(qtype)].add();
            }
        }
    }
    // The response sent for it, `elapsed_ns` after it arrived.
    void count_response(bool tcp, Responder by, std::span<const uint8_t> response, uint16_t qtype,
                        uint64_t elapsed_ns) noexcept {
#ifdef CLUSTERDNS_NO_COUNTERS
        return;
#endif
        const size_t rcode = response.size() > 3 ? response[3] & 0x0F : 2;
        responses[static_cast<size_t>(by)][rcode].add();
        if (zone_slots != nullptr) {
            if (const size_t slot = zone_slots->slot_of(response); slot != 0) {
                zone_responses[slot][static_cast<size_t>(by)][rcode].add();
            }
        }
        duration[type_slot(qtype)].observe(elapsed_ns, kTimeBucketsNs);
        response_size[tcp].observe(response.size(), kSizeBuckets);
    }
};

}  // namespace clusterdns
