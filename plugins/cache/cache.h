#pragma once
// The cache in front of the upstreams: forwarded answers kept for their TTL, served with the TTLs
// counted down. One cache per worker, used from that worker's thread only, so a hit takes no lock;
// a hit copies the stored message into the response buffer and allocates nothing.
//
// Keyed on the question (name case-insensitively, type, class) and on what changes the answer:
// the DO and CD bits and whether the query had EDNS. Positive answers are kept between
// `min_ttl` and `max_ttl` seconds, negative ones (NXDOMAIN, NODATA) for the SOA's negative TTL
// (RFC 2308) between `min_ttl` and `max_denial_ttl`. SERVFAIL, truncated and unparseable answers
// are not kept. Full, it drops an entry to make room (the oldest of a few sampled).

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "server/codec/message.h"

namespace clusterdns {

struct CacheOptions {
    size_t capacity = 10000;      // entries per worker
    uint32_t min_ttl = 5;         // CoreDNS's minimum: an answer is kept at least this long
    uint32_t max_ttl = 3600;      // success
    uint32_t max_denial_ttl = 1800;
    // Serve-stale (RFC 8767): an expired answer is kept this many seconds more and served, with
    // TTL 30, when no upstream answers. 0: off (CoreDNS's default).
    uint32_t serve_stale = 0;
    // Prefetch (CoreDNS's `prefetch AMOUNT`): an answer asked this many times since it was kept
    // is fetched again when a hit finds a tenth or less of its time left, so popular names never
    // expire under their clients. 0: off.
    uint32_t prefetch = 0;
};

class AnswerCache {
public:
    explicit AnswerCache(CacheOptions options = {}) : options_(options) {}

    // Writes the cached answer to `q` into `out` with the query's ID and the TTLs counted down
    // to `now_ms`; returns its size, or 0 on a miss (or if it does not fit `limit`).
    // With `refresh`, set when this hit should fetch the answer again (prefetch).
    size_t lookup(const Query& q, uint64_t now_ms, std::span<uint8_t> out, size_t limit,
                  bool* refresh = nullptr) noexcept;

    // The same for an answer expired less than serve_stale seconds ago, its TTLs set to 30 s
    // (RFC 8767 4): for when the upstreams failed.
    size_t lookup_stale(const Query& q, uint64_t now_ms, std::span<uint8_t> out,
                        size_t limit) noexcept;

    // Keeps `response`, the upstream's answer to `q`, if it may be kept.
    void store(const Query& q, std::span<const uint8_t> response, uint64_t now_ms);

    size_t size() const noexcept { return entries_.size(); }
    size_t denials() const noexcept { return denials_; }  // of size(): NXDOMAIN and NODATA
    uint64_t evictions() const noexcept { return evictions_; }  // dropped to make room

private:
    struct Entry {
        std::vector<uint8_t> key;
        std::vector<uint8_t> message;
        std::vector<uint16_t> ttl_offsets;  // where each RR's TTL is (not the OPT's)
        std::vector<uint32_t> ttls;         // as the upstream gave them
        uint64_t stored_ms = 0;
        uint64_t expires_ms = 0;
        uint32_t hits = 0;        // since it was kept
        bool refreshing = false;  // a prefetch was asked for
        bool negative = false;    // NXDOMAIN or NODATA
    };
    static size_t key_of(const Query& q, uint8_t (&key)[kMaxNameWire + 5]) noexcept;
    Entry* find(const Query& q) noexcept;
    static size_t copy_out(const Entry& e, const Query& q, std::span<uint8_t> out,
                           size_t limit, uint32_t elapsed, bool stale) noexcept;
    static uint64_t hash_of(std::span<const uint8_t> key) noexcept;
    void make_room(uint64_t now_ms);

    CacheOptions options_;
    std::unordered_map<uint64_t, Entry> entries_;
    size_t denials_ = 0;
    uint64_t evictions_ = 0;
};

}  // namespace clusterdns
