#pragma once
// The cache in front of the upstreams: forwarded answers kept for their TTL, served with the TTLs
// counted down. AnswerCache is used from one thread at a time; SharedCache (below) holds its
// shards for all workers. A hit copies the stored message into the response buffer and allocates
// nothing.
//
// Keyed on the question (name case-insensitively, type, class) and on what changes the answer:
// the DO and CD bits and whether the query had EDNS. Positive answers are kept between
// `min_ttl` and `max_ttl` seconds, negative ones (NXDOMAIN, NODATA) for the SOA's negative TTL
// (RFC 2308) between `min_denial_ttl` and `max_denial_ttl` (as CoreDNS, the maximum wins over a
// larger minimum); the TTLs served are capped the same way. Capacity 0 keeps nothing.
// SERVFAIL, truncated and unparseable answers, answers to RD=0 queries and answers scoped to a
// client subnet are not kept; the OPT's options never are.
//
// Full, it makes room as S3-FIFO does (Yang et al., SOSP 2023): a new answer enters a small
// probation queue (a tenth of the entries); one asked again by the time it leaves moves to the
// main queue, the others are dropped and only their hashes remembered (the ghost), so that a name
// asked again soon after goes straight to the main queue. The main queue is a CLOCK: an entry
// used since it was last looked at goes round again. A flood of names asked once passes through
// probation without touching the main queue. A hit only counts a use (no queue moves), which is
// what lets a cache shared by several workers serve hits under a shared lock, or none.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "dns/message.h"

namespace clusterdns {

struct CacheOptions {
    size_t capacity = 10000;      // entries, for all workers together; 0: the cache is off
    uint32_t min_ttl = 5;         // CoreDNS's minimum: an answer is kept at least this long
    uint32_t max_ttl = 3600;      // success
    uint32_t min_denial_ttl = 5;  // the same for NXDOMAIN and NODATA
    uint32_t max_denial_ttl = 1800;
    // Serve-stale (RFC 8767): an expired answer is kept this many seconds more and served, with
    // TTL 30, when no upstream answers. 0: off (CoreDNS's default).
    uint32_t serve_stale = 0;
    // Prefetch (CoreDNS's `prefetch AMOUNT`): an answer asked this many times since it was kept
    // is fetched again when a hit finds a tenth or less of its time left, so popular names never
    // expire under their clients. 0: off.
    uint32_t prefetch = 0;

    bool operator==(const CacheOptions&) const = default;
};

// Caps the TTLs of `message`, a response relayed as the upstream gave it, as the cache caps
// those it serves (max_ttl, max_denial_ttl for NXDOMAIN and NODATA): as CoreDNS's cache does
// with the reply that fills it, so no client keeps an answer longer than the cache would. The
// OPT record is left alone; a message that does not parse is left as it is past that point.
void cap_ttls(std::span<uint8_t> message, const CacheOptions& options) noexcept;

class AnswerCache {
public:
    explicit AnswerCache(CacheOptions options = {}) noexcept;

    // What an answer is kept under: the question (name lowercased, type, class) and the DO, CD
    // and EDNS bits, with its hash. Made once per query; queries with the same key share an
    // answer.
    struct Key {
        explicit Key(const Query& q) noexcept;
        uint8_t bytes[kMaxNameWire + 5];
        size_t size = 0;
        uint64_t hash = 0;
    };

    // Writes the cached answer to `q` into `out` with the query's ID and the TTLs counted down
    // to `now_ms`; returns its size, or 0 on a miss (or if it does not fit `limit`).
    // With `refresh`, set when this hit should fetch the answer again (prefetch).
    size_t lookup(const Query& q, uint64_t now_ms, std::span<uint8_t> out, size_t limit,
                  bool* refresh = nullptr) noexcept {
        return lookup(q, Key(q), now_ms, out, limit, refresh);
    }
    size_t lookup(const Query& q, const Key& key, uint64_t now_ms, std::span<uint8_t> out,
                  size_t limit, bool* refresh = nullptr) noexcept;

    // The same for an answer expired less than serve_stale seconds ago, its TTLs set to 30 s
    // (RFC 8767 4): for when the upstreams failed.
    size_t lookup_stale(const Query& q, const Key& key, uint64_t now_ms, std::span<uint8_t> out,
                        size_t limit) noexcept;
    size_t lookup_stale(const Query& q, uint64_t now_ms, std::span<uint8_t> out,
                        size_t limit) noexcept {
        return lookup_stale(q, Key(q), now_ms, out, limit);
    }

    // Keeps `response`, the upstream's answer to `q`, if it may be kept.
    void store(const Query& q, const Key& key, std::span<const uint8_t> response, uint64_t now_ms);
    void store(const Query& q, std::span<const uint8_t> response, uint64_t now_ms) {
        store(q, Key(q), response, now_ms);
    }


    size_t size() const noexcept { return entries_.size(); }  // no slot is ever left empty
    size_t denials() const noexcept { return denials_; }  // of size(): NXDOMAIN and NODATA
    uint64_t evictions() const noexcept { return evictions_; }  // dropped to make room

private:
    using Slot = uint32_t;  // an entry's place in entries_
    static constexpr Slot kNoSlot = UINT32_MAX;

    struct Entry {
        uint64_t hash = 0;  // of the key
        std::vector<uint8_t> key;
        std::vector<uint8_t> message;
        std::vector<uint16_t> ttl_offsets;  // where each RR's TTL is (not the OPT's)
        std::vector<uint32_t> ttls;         // as the upstream gave them, capped
        uint64_t stored_ms = 0;
        uint64_t expires_ms = 0;
        uint32_t hits = 0;        // since it was kept (prefetch)
        Slot next = kNoSlot;      // the next newer entry of its queue
        uint8_t uses = 0;         // since it entered its queue or last went round: 0-3
        bool refreshing = false;  // a prefetch was asked for
        bool negative = false;    // NXDOMAIN or NODATA
    };
    // A FIFO of entries linked through Entry::next, taken from its oldest end.
    struct Queue {
        Slot oldest = kNoSlot;
        Slot newest = kNoSlot;
        size_t size = 0;
    };
    // The index: open addressing with linear probing, at most half full.
    struct Bucket {
        uint32_t tag = 0;  // the low half of the hash, checked before the entry is touched
        Slot slot = kNoSlot;
    };
    // A hash dropped from probation: direct-mapped, so a collision forgets one (that name then
    // goes through probation again).
    struct Ghost {
        uint64_t hash = 0;
        uint64_t dropped = 0;  // ghost_dropped_ when it was added; 0: empty
    };

    static uint64_t hash_of(std::span<const uint8_t> key) noexcept;
    Entry* find(const Key& key) noexcept;
    size_t home_of(uint64_t hash) const noexcept { return hash >> index_shift_; }
    Slot find_slot(uint64_t hash) const noexcept;
    void index_insert(Slot slot) noexcept;  // of the entry's hash
    void index_erase(Slot slot) noexcept;
    void remember_dropped(uint64_t hash) noexcept;
    bool dropped_lately(uint64_t hash) const noexcept;
    void push(Queue& queue, Slot slot) noexcept;
    Slot pop(Queue& queue) noexcept;
    bool dead(const Entry& e, uint64_t now_ms) const noexcept;
    Slot make_room(uint64_t now_ms) noexcept;
    static size_t copy_out(const Entry& e, const Query& q, std::span<uint8_t> out,
                           size_t limit, uint32_t elapsed, bool stale) noexcept;

    CacheOptions options_;
    std::vector<Entry> entries_;  // grows to the capacity, then a dropped entry's slot is reused
    std::vector<Bucket> index_;   // sized at the first store: a cache never used costs nothing
    unsigned index_shift_ = 64;
    Queue probation_;
    Queue main_;
    size_t probation_target_ = 1;
    std::vector<Ghost> ghost_;
    uint64_t ghost_dropped_ = 0;  // hashes added to the ghost so far
    size_t denials_ = 0;
    uint64_t evictions_ = 0;
};

// One cache for every worker, as CoreDNS, unbound and dnsmasq keep one per process: a name is
// fetched once, not once per worker, its TTL counts down from one insertion for every client,
// and serve-stale finds it whichever worker asks. Shards of AnswerCache by key, each behind a
// lock held only while one answer is copied in or out (a hit still allocates nothing); the
// capacity is split between them.
class SharedCache {
public:
    explicit SharedCache(CacheOptions options);

    const CacheOptions& options() const noexcept { return options_; }
    // As AnswerCache's, each under its shard's lock.
    size_t lookup(const Query& q, uint64_t now_ms, std::span<uint8_t> out, size_t limit,
                  bool* refresh = nullptr) noexcept {
        return lookup(q, AnswerCache::Key(q), now_ms, out, limit, refresh);
    }
    size_t lookup(const Query& q, const AnswerCache::Key& key, uint64_t now_ms,
                  std::span<uint8_t> out, size_t limit, bool* refresh = nullptr) noexcept;
    size_t lookup_stale(const Query& q, uint64_t now_ms, std::span<uint8_t> out,
                        size_t limit) noexcept;
    // Returns how many answers were dropped to make room for it.
    uint64_t store(const Query& q, std::span<const uint8_t> response, uint64_t now_ms);

    struct Sizes {
        size_t entries = 0;
        size_t denials = 0;  // of entries: NXDOMAIN and NODATA
    };
    Sizes sizes() const noexcept;  // summed over the shards, for the metrics

private:
    static constexpr size_t kShards = 16;
    struct Shard {
        mutable std::mutex mutex;
        AnswerCache cache;
    };
    Shard& shard_for(const AnswerCache::Key& key) noexcept;

    CacheOptions options_;
    std::unique_ptr<Shard[]> shards_;
};

// CoreDNS's singleflight, over all workers: the questions being fetched from the upstreams, each
// with a bit for every worker whose clients wait for it (the fetching one's too). A miss that
// finds its question here waits for that fetch instead of asking again, so a name a thousand
// clients ask at once is fetched once. Workers past the 64th fetch alone.
class Fetches {
public:
    static constexpr unsigned kMaxWorkers = 64;

    // `worker` waits for the fetch of `key` if one is in flight: true. Else, with `begin`, its
    // fetch is the one (false).
    bool join(uint64_t key, unsigned worker, bool begin);
    // The fetch of `key` ended: the workers that wait for it, a bit each.
    uint64_t end(uint64_t key);

private:
    std::mutex mutex_;
    std::unordered_map<uint64_t, uint64_t> waiting_;
};

}  // namespace clusterdns
