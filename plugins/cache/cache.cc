#include "plugins/cache/cache.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "dns/name.h"
#include "dns/wire.h"

namespace clusterdns {

namespace {

constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kTypeOpt = 41;

// What caching needs of a response: where its TTLs are, the smallest TTL of the answer and
// authority sections, and the SOA's negative TTL. False if it does not parse.
struct Scan {
    std::vector<uint16_t> offsets;
    std::vector<uint32_t> ttls;
    uint32_t min_ttl = UINT32_MAX;
    uint32_t negative_ttl = UINT32_MAX;  // min(SOA TTL, SOA MINIMUM) of the authority section
    uint16_t answers = 0;
    size_t opt_options = 0;        // where the OPT's options start (after its RDLENGTH); 0: none
    bool opt_last = false;         // the OPT is the message's last record
    uint8_t subnet_scope = 0;      // the largest SCOPE PREFIX-LENGTH of a client subnet option
};

constexpr uint16_t kOptionClientSubnet = 8;  // RFC 7871

// Reads the options of the OPT record's RDATA at `at` for their client subnet scope; false if
// they do not fill it exactly.
bool scan_options(std::span<const uint8_t> message, size_t at, size_t end, Scan& out) {
    WireReader r(message, at);
    while (r.pos() < end) {
        const uint16_t code = r.u16();
        const uint16_t length = r.u16();
        const size_t data = r.pos();
        if (!r.ok()) {
            return false;
        }
        if (code == kOptionClientSubnet && length >= 4) {
            r.skip(3);  // FAMILY, SOURCE PREFIX-LENGTH
            out.subnet_scope = std::max(out.subnet_scope, r.u8());
        }
        r = WireReader(message, data);
        r.skip(length);
    }
    return r.ok() && r.pos() == end;
}

bool scan(std::span<const uint8_t> message, Scan& out) {
    WireReader r(message);
    r.skip(4);
    const uint16_t questions = r.u16();
    out.answers = r.u16();
    const uint16_t authority = r.u16();
    const uint16_t additional = r.u16();
    for (uint16_t i = 0; i < questions && r.ok(); ++i) {
        Name::read(r);
        r.skip(4);
    }
    const uint32_t records = uint32_t{out.answers} + authority + additional;
    for (uint32_t i = 0; i < records && r.ok(); ++i) {
        Name::read(r);
        const uint16_t type = r.u16();
        r.skip(2);
        const size_t at = r.pos();
        uint32_t ttl = r.u32();
        if (ttl > INT32_MAX) {
            ttl = 0;  // RFC 2181 8: a TTL with the top bit set is read as zero
        }
        const uint16_t length = r.u16();
        const size_t rdata = r.pos();
        if (!r.ok() || at > UINT16_MAX) {
            return false;
        }
        if (type == kTypeOpt && length != 0) {
            out.opt_options = rdata;
            out.opt_last = i + 1 == records;
            if (!scan_options(message, rdata, rdata + length, out)) {
                return false;
            }
        }
        if (type != kTypeOpt) {
            out.offsets.push_back(static_cast<uint16_t>(at));
            out.ttls.push_back(ttl);
            if (i < uint32_t{out.answers} + authority) {
                out.min_ttl = std::min(out.min_ttl, ttl);
            }
        }
        if (type == kTypeSoa && i >= out.answers && i < uint32_t{out.answers} + authority) {
            Name::read(r);
            Name::read(r);
            r.skip(16);
            out.negative_ttl = std::min(ttl, r.u32());
        }
        r = WireReader(message, rdata);
        r.skip(length);
    }
    return r.ok();
}

void put32(uint8_t* p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

}  // namespace

void cap_ttls(std::span<uint8_t> message, const CacheOptions& options) noexcept {
    if (message.size() < 12) {
        return;
    }
    WireReader r(message);
    r.skip(4);
    const uint16_t questions = r.u16();
    const uint16_t answers = r.u16();
    const uint32_t records = uint32_t{answers} + r.u16() + r.u16();
    const bool negative = (message[3] & 0x0F) == 3 || answers == 0;
    const uint32_t cap = negative ? options.max_denial_ttl : options.max_ttl;
    for (uint16_t i = 0; i < questions && r.ok(); ++i) {
        Name::read(r);
        r.skip(4);
    }
    for (uint32_t i = 0; i < records && r.ok(); ++i) {
        Name::read(r);
        const uint16_t type = r.u16();
        r.skip(2);
        const size_t at = r.pos();
        const uint32_t ttl = r.u32();
        const uint16_t length = r.u16();
        r.skip(length);
        if (r.ok() && type != kTypeOpt && (ttl > INT32_MAX ? 0 : ttl) > cap) {
            put32(message.data() + at, cap);
        }
    }
}

AnswerCache::Key::Key(const Query& q) noexcept {
    const WireName name = q.qname_lower.wire();
    std::memcpy(bytes, name.data(), name.size());
    size = name.size();
    bytes[size++] = static_cast<uint8_t>(static_cast<uint16_t>(q.qtype) >> 8);
    bytes[size++] = static_cast<uint8_t>(q.qtype);
    bytes[size++] = static_cast<uint8_t>(q.qclass >> 8);
    bytes[size++] = static_cast<uint8_t>(q.qclass);
    bytes[size++] = static_cast<uint8_t>((q.dnssec_ok ? 1 : 0) | (q.cd() ? 2 : 0) |
                                         (q.has_edns ? 4 : 0));
    hash = hash_of({bytes, size});
}

uint64_t AnswerCache::hash_of(std::span<const uint8_t> key) noexcept {
    // Eight bytes a step (a name is 20-40 bytes: a byte a step was most of a hit's cost), each
    // word multiplied in and the state rotated, then a final mix.
    uint64_t h = 0xCBF29CE484222325ull ^ key.size();
    size_t i = 0;
    for (; i + 8 <= key.size(); i += 8) {
        uint64_t word = 0;
        std::memcpy(&word, key.data() + i, 8);
        h = std::rotl((h ^ word) * 0x9E3779B97F4A7C15ull, 29);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, key.data() + i, key.size() - i);
    h = (h ^ tail) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    return h * 0xD6E8FEB86659FD93ull;
}

AnswerCache::AnswerCache(CacheOptions options) noexcept
    : options_(options), probation_target_(std::max<size_t>(1, options.capacity / 10)) {
}

AnswerCache::Slot AnswerCache::find_slot(uint64_t hash) const noexcept {
    if (index_.empty()) {
        return kNoSlot;
    }
    const size_t mask = index_.size() - 1;
    const auto tag = static_cast<uint32_t>(hash);
    for (size_t i = home_of(hash);; i = (i + 1) & mask) {
        const Bucket& b = index_[i];
        if (b.slot == kNoSlot || (b.tag == tag && entries_[b.slot].hash == hash)) {
            return b.slot;
        }
    }
}

void AnswerCache::index_insert(Slot slot) noexcept {
    const uint64_t hash = entries_[slot].hash;
    const size_t mask = index_.size() - 1;
    size_t i = home_of(hash);
    while (index_[i].slot != kNoSlot) {
        i = (i + 1) & mask;
    }
    index_[i] = {.tag = static_cast<uint32_t>(hash), .slot = slot};
}

void AnswerCache::index_erase(Slot slot) noexcept {
    const size_t mask = index_.size() - 1;
    size_t hole = home_of(entries_[slot].hash);
    while (index_[hole].slot != slot) {
        hole = (hole + 1) & mask;
    }
    // Backward shift: each later bucket of the run moves into the hole unless that would put it
    // before its home, so a probe never meets a gap before what it looks for.
    for (size_t i = (hole + 1) & mask; index_[i].slot != kNoSlot; i = (i + 1) & mask) {
        const size_t home = home_of(entries_[index_[i].slot].hash);
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            index_[hole] = index_[i];
            hole = i;
        }
    }
    index_[hole] = Bucket{};
}

AnswerCache::Entry* AnswerCache::find(const Key& key) noexcept {
    const Slot slot = find_slot(key.hash);
    if (slot == kNoSlot) {
        return nullptr;
    }
    Entry& e = entries_[slot];
    if (e.key.size() != key.size || std::memcmp(e.key.data(), key.bytes, key.size) != 0) {
        return nullptr;
    }
    return &e;
}

void AnswerCache::push(Queue& queue, Slot slot) noexcept {
    entries_[slot].next = kNoSlot;
    if (queue.newest == kNoSlot) {
        queue.oldest = slot;
    } else {
        entries_[queue.newest].next = slot;
    }
    queue.newest = slot;
    ++queue.size;
}

AnswerCache::Slot AnswerCache::pop(Queue& queue) noexcept {
    const Slot slot = queue.oldest;
    queue.oldest = entries_[slot].next;
    if (queue.oldest == kNoSlot) {
        queue.newest = kNoSlot;
    }
    --queue.size;
    return slot;
}

void AnswerCache::remember_dropped(uint64_t hash) noexcept {
    ghost_[hash & (ghost_.size() - 1)] = {.hash = hash, .dropped = ++ghost_dropped_};
}

// Among the last hashes dropped from probation, as many as the main queue has entries.
bool AnswerCache::dropped_lately(uint64_t hash) const noexcept {
    const Ghost& g = ghost_[hash & (ghost_.size() - 1)];
    return g.dropped != 0 && g.hash == hash &&
           ghost_dropped_ - g.dropped < options_.capacity - probation_target_;
}

// Past serving, even stale: the first to go, whatever its uses.
bool AnswerCache::dead(const Entry& e, uint64_t now_ms) const noexcept {
    return e.expires_ms + uint64_t{options_.serve_stale} * 1000 <= now_ms;
}

size_t AnswerCache::copy_out(const Entry& e, const Query& q, std::span<uint8_t> out,
                             size_t limit, uint32_t elapsed, bool stale) noexcept {
    if (e.message.size() > std::min(limit, out.size())) {
        return 0;
    }
    std::memcpy(out.data(), e.message.data(), e.message.size());
    out[0] = static_cast<uint8_t>(q.id >> 8);
    out[1] = static_cast<uint8_t>(q.id);
    out[2] = static_cast<uint8_t>((out[2] & ~0x01) | (q.rd() ? 0x01 : 0));  // RD is the query's
    // The question as the client wrote it: the case of its name is the client's.
    std::memcpy(out.data() + 12, q.qname.wire().data(), q.qname.wire().size());
    constexpr uint32_t kStaleTtl = 30;  // RFC 8767 4
    for (size_t i = 0; i < e.ttl_offsets.size(); ++i) {
        put32(out.data() + e.ttl_offsets[i],
              stale ? kStaleTtl : e.ttls[i] > elapsed ? e.ttls[i] - elapsed : 0);
    }
    return e.message.size();
}

size_t AnswerCache::lookup(const Query& q, const Key& key, uint64_t now_ms,
                           std::span<uint8_t> out, size_t limit, bool* refresh) noexcept {
    Entry* e = find(key);
    if (e == nullptr) {
        return 0;
    }
    // A use, even of an expired answer: the name is wanted, and its new answer replaces this one.
    e->uses = static_cast<uint8_t>(std::min(e->uses + 1, 3));
    if (e->expires_ms <= now_ms) {
        return 0;
    }
    ++e->hits;
    // A prefetch would forward this client's query, and an RD=0 query's answer is not kept.
    if (refresh != nullptr && q.rd() && options_.prefetch != 0 && e->hits >= options_.prefetch &&
        !e->refreshing && (e->expires_ms - now_ms) * 10 <= e->expires_ms - e->stored_ms) {
        e->refreshing = true;
        *refresh = true;
    }
    return copy_out(*e, q, out, limit, static_cast<uint32_t>((now_ms - e->stored_ms) / 1000),
                    false);
}

size_t AnswerCache::lookup_stale(const Query& q, const Key& key, uint64_t now_ms,
                                 std::span<uint8_t> out, size_t limit) noexcept {
    const Entry* e = find(key);
    if (e == nullptr || options_.serve_stale == 0 ||
        e->expires_ms + uint64_t{options_.serve_stale} * 1000 <= now_ms) {
        return 0;
    }
    return copy_out(*e, q, out, limit, 0, e->expires_ms <= now_ms);
}

void AnswerCache::store(const Query& q, const Key& key, std::span<const uint8_t> response,
                        uint64_t now_ms) {
    // An RD=0 query's answer is what the upstream had without recursing (a referral, or
    // nothing), not the answer an RD=1 client wants: not kept, as unbound keeps it out of its
    // message cache. An RD=0 query is still answered from what RD=1 queries brought (unbound's
    // answer from cache without recursion, RFC 1034 4.3.1), so RD is not part of the key.
    if (response.size() < 12 || options_.capacity == 0 || !q.rd()) {
        return;
    }
    const uint8_t rcode = response[3] & 0x0F;
    const bool truncated = (response[2] & 0x02) != 0;
    if (truncated || (rcode != 0 && rcode != 3)) {
        return;  // only NOERROR and NXDOMAIN answers are kept
    }
    Scan s;
    if (!well_formed_response(response, &q) || !scan(response, s) ||
        ((response[2] >> 3) & 0x0F) != static_cast<uint8_t>(q.opcode)) {
        return;  // not an answer to this query: relayed as SERVFAIL, never kept
    }
    // The OPT record belongs to one exchange and is never cached (RFC 6891 6.1.1): its options
    // (the client subnet the asker sent, a cookie, padding) are cut from the kept copy, so one
    // client's options are never served to another. An answer scoped to the asker's subnet
    // (SCOPE PREFIX-LENGTH > 0) is good for that subnet only (RFC 7871 7.3.1): not kept. Options
    // are cut from the end only: a record after them would have to move.
    if (s.subnet_scope > 0 || (s.opt_options != 0 && !s.opt_last)) {
        return;
    }
    const bool negative = rcode == 3 || s.answers == 0;
    uint32_t ttl = negative ? std::min(s.negative_ttl, s.min_ttl) : s.min_ttl;
    const uint32_t floor = negative ? options_.min_denial_ttl : options_.min_ttl;
    if (ttl == UINT32_MAX) {
        ttl = floor;  // a negative answer without SOA: the shortest stay
    }
    const uint32_t cap = negative ? options_.max_denial_ttl : options_.max_ttl;
    // The cap wins over a larger floor, as in CoreDNS (`success 100 10 30` keeps for 10 s).
    ttl = std::min(std::max(ttl, floor), cap);
    // What the clients are told is capped as well: else they would keep for a day what we keep
    // for an hour, and a TTL near 2^31 would be counted down from there.
    for (uint32_t& record_ttl : s.ttls) {
        record_ttl = std::min(record_ttl, cap);
    }
    const uint64_t hash = key.hash;
    if (index_.empty()) {
        // The index at most half full; the ghost has room for the main queue's share and more.
        index_.resize(std::bit_ceil(std::max<size_t>(16, options_.capacity * 2)));
        index_shift_ = static_cast<unsigned>(64 - std::countr_zero(index_.size()));
        ghost_.resize(std::bit_ceil(std::max<size_t>(16, options_.capacity)));
    }
    // The same hash is the same entry: another key under it (a collision) takes its place.
    Slot slot = find_slot(hash);
    if (slot == kNoSlot) {
        if (entries_.size() < options_.capacity) {
            slot = static_cast<Slot>(entries_.size());
            entries_.emplace_back();
        } else {
            slot = make_room(now_ms);
        }
        Entry& fresh = entries_[slot];
        fresh.hash = hash;
        fresh.uses = 0;
        fresh.negative = false;
        index_insert(slot);
        push(dropped_lately(hash) ? main_ : probation_, slot);
    }
    Entry& e = entries_[slot];
    denials_ += negative;
    denials_ -= e.negative;  // replaced
    e.negative = negative;
    e.key.assign(key.bytes, key.bytes + key.size);
    if (s.opt_options != 0) {
        e.message.assign(response.begin(),
                         response.begin() + static_cast<ptrdiff_t>(s.opt_options));
        e.message[s.opt_options - 2] = 0;  // RDLENGTH
        e.message[s.opt_options - 1] = 0;
    } else {
        e.message.assign(response.begin(), response.end());
    }
    e.ttl_offsets = std::move(s.offsets);
    e.ttls = std::move(s.ttls);
    e.stored_ms = now_ms;
    e.expires_ms = now_ms + uint64_t{ttl} * 1000;
    e.hits = 0;
    e.refreshing = false;
}

AnswerCache::Slot AnswerCache::make_room(uint64_t now_ms) noexcept {
    // Ends: every turn either drops an entry, moves one from probation to the main queue (which
    // probation then no longer holds), or takes a use from one (each has at most 3).
    while (true) {
        if (probation_.size >= probation_target_ || main_.size == 0) {
            const Slot slot = pop(probation_);
            Entry& e = entries_[slot];
            if (e.uses > 0 && !dead(e, now_ms)) {
                e.uses = 0;
                push(main_, slot);  // asked again while on probation
                continue;
            }
            remember_dropped(e.hash);
            index_erase(slot);
            denials_ -= e.negative;
            ++evictions_;
            return slot;
        }
        const Slot slot = pop(main_);
        Entry& e = entries_[slot];
        if (e.uses > 0 && !dead(e, now_ms)) {
            --e.uses;
            push(main_, slot);  // used since it last came round: once more
            continue;
        }
        index_erase(slot);
        denials_ -= e.negative;
        ++evictions_;
        return slot;
    }
}

SharedCache::SharedCache(CacheOptions options) : options_(options) {
    CacheOptions each = options;
    each.capacity = (options.capacity + kShards - 1) / kShards;
    shards_ = std::unique_ptr<Shard[]>(new Shard[kShards]);
    for (size_t i = 0; i < kShards; ++i) {
        shards_[i].cache = AnswerCache(each);
    }
}

SharedCache::Shard& SharedCache::shard_for(const AnswerCache::Key& key) noexcept {
    // Not the top bits: AnswerCache's index takes its home bucket from those.
    return shards_[key.hash % kShards];
}

size_t SharedCache::lookup(const Query& q, const AnswerCache::Key& key, uint64_t now_ms,
                           std::span<uint8_t> out, size_t limit, bool* refresh) noexcept {
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    return shard.cache.lookup(q, key, now_ms, out, limit, refresh);
}

size_t SharedCache::lookup_stale(const Query& q, uint64_t now_ms, std::span<uint8_t> out,
                                 size_t limit) noexcept {
    const AnswerCache::Key key(q);
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    return shard.cache.lookup_stale(q, key, now_ms, out, limit);
}

uint64_t SharedCache::store(const Query& q, std::span<const uint8_t> response, uint64_t now_ms) {
    const AnswerCache::Key key(q);
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    const uint64_t before = shard.cache.evictions();
    shard.cache.store(q, key, response, now_ms);
    return shard.cache.evictions() - before;
}

SharedCache::Sizes SharedCache::sizes() const noexcept {
    Sizes out;
    for (size_t i = 0; i < kShards; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        out.entries += shards_[i].cache.size();
        out.denials += shards_[i].cache.denials();
    }
    return out;
}

bool Fetches::join(uint64_t key, unsigned worker, bool begin) {
    const uint64_t bit = uint64_t{1} << worker;
    std::lock_guard lock(mutex_);
    if (const auto it = waiting_.find(key); it != waiting_.end()) {
        it->second |= bit;
        return true;
    }
    if (begin) {
        waiting_.emplace(key, bit);
    }
    return false;
}

uint64_t Fetches::end(uint64_t key) {
    std::lock_guard lock(mutex_);
    const auto it = waiting_.find(key);
    if (it == waiting_.end()) {
        return 0;
    }
    const uint64_t workers = it->second;
    waiting_.erase(it);
    return workers;
}

}  // namespace clusterdns
