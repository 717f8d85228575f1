#pragma once
// A hash map for what the query path looks up by name: a flat table of 64-byte groups of four
// slots, so a lookup reads the one line its hash picks (the next on overflow) and then the value.
// PersistentMap (zone/persistent_map.h) reads its root, a middle node and a bucket before the
// value. A slot keeps 32 bits of its
// value's hash, the value, and where a lookup reads next (V::companion(), if V has one: a
// Service's object), so that line is fetched beside the value, not after it. A lookup that
// finds its Service (bench/store/store_bench) takes 122-129 ns at 10,000 real-shape Services,
// 347-374 at 100,000, where PersistentMap took 215-221 and about 500-580.
//
// Versions share structure as PersistentMap's do: the table is cut into pages of 16 groups,
// reached through chunks of 64 page pointers, and pages and chunks are reference-counted and
// immutable once shared. A copy holds every chunk (33 to 49 at 100,000 values); a change copies
// the chunk and the page it writes, holding what they point at, unless only this map holds them.
// A version thus costs about 200 counts changed, and a batch of changes between two published
// versions copies each page once. A lookup reads the chunk (small and hot), the group, then the
// value; it never allocates and never touches a count. Values are held as PersistentMap holds
// them.
//
// Open addressing, probing group after group: a value was put in the first group from its home
// group with a free slot, so a lookup stops at the first group with a never-used slot. A value
// removed leaves a tombstone, unless its group has a never-used slot (no value was ever put past
// such a group: a full group never regains one). The table is rebuilt, bigger and without its
// tombstones, once three quarters of its slots are used, and smaller once it holds fewer than
// an eighth.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "zone/persistent_map.h"

namespace clusterdns {

template <class V>  // V derives from Counted
class FlatMap {
public:
    FlatMap() = default;
    FlatMap(const FlatMap& other)
        : chunks_(other.chunks_), groups_(other.groups_), size_(other.size_), used_(other.used_) {
        for (const Chunk* chunk : chunks_) {
            chunk->refs.fetch_add(1, std::memory_order_relaxed);
        }
    }
    FlatMap(FlatMap&& other) noexcept { swap(other); }
    FlatMap& operator=(const FlatMap& other) {
        FlatMap copy(other);
        swap(copy);
        return *this;
    }
    FlatMap& operator=(FlatMap&& other) noexcept {
        FlatMap gone(std::move(other));
        swap(gone);
        return *this;
    }
    ~FlatMap() {
        for (const Chunk* chunk : chunks_) {
            release_chunk(chunk);
        }
    }

    size_t size() const noexcept { return size_; }

    // The value with this hash that `match` accepts, or nullptr.
    template <class Match>
    const V* find(uint64_t hash, Match&& match) const noexcept {
        const uint32_t tag = tag_of(hash);
        size_t g = home(tag);
        for (size_t probes = 0; probes < groups_; ++probes) {
            const Group& group = group_at(g);
            bool open = false;
            for (size_t i = 0; i < kSlots; ++i) {
                if (group.tags[i] == tag) {
                    prefetch_companion(group, i);
                    if (match(*group.values[i])) {
                        return group.values[i];
                    }
                }
                open = open || group.tags[i] == kNeverUsed;
            }
            if (open) {
                return nullptr;
            }
            g = next(g);
        }
        return nullptr;
    }

    // Visits every value with this hash (a map used as an index may hold several), and perhaps
    // a few others: only 32 bits of a hash are kept, so the visitor checks what it is given.
    template <class Visit>
    void for_each_with_hash(uint64_t hash, Visit&& visit) const {
        const uint32_t tag = tag_of(hash);
        size_t g = home(tag);
        for (size_t probes = 0; probes < groups_; ++probes) {
            const Group& group = group_at(g);
            bool open = false;
            for (size_t i = 0; i < kSlots; ++i) {
                if (group.tags[i] == tag) {
                    visit(*group.values[i]);
                }
                open = open || group.tags[i] == kNeverUsed;
            }
            if (open) {
                return;
            }
            g = next(g);
        }
    }

    // Puts `value` in place of the value `match` accepts, or adds it. The map takes a reference.
    template <class Match>
    void set(uint64_t hash, Match&& match, const V* value) {
        if (const std::optional<Place> at = locate(hash, match)) {
            Group& group = writable_group(at->group);
            hold_ref(value);
            release_ref(group.values[at->slot]);
            put(group, at->slot, tag_of(hash), value);
            return;
        }
        if ((used_ + 1) * 4 > slot_count() * 3) {
            rebuild(size_ + 1);
        }
        const Place at = free_place(tag_of(hash));
        Group& group = writable_group(at.group);
        hold_ref(value);
        used_ += group.tags[at.slot] == kNeverUsed;
        put(group, at.slot, tag_of(hash), value);
        ++size_;
    }

    // Makes room for `count` values in all: a load of 100,000 builds its table once, not at
    // every doubling (each of which held the old table beside the new one).
    void reserve(size_t count) {
        if (count * 4 > slot_count() * 3) {
            rebuild(std::max(count, size_));
        }
    }

    // Removes the value `match` accepts; false if there was none.
    template <class Match>
    bool erase(uint64_t hash, Match&& match) {
        const std::optional<Place> at = locate(hash, match);
        if (!at) {
            return false;
        }
        Group& group = writable_group(at->group);
        const bool open =
            std::find(std::begin(group.tags), std::end(group.tags), kNeverUsed) !=
            std::end(group.tags);
        release_ref(group.values[at->slot]);
        group.tags[at->slot] = open ? kNeverUsed : kTombstone;
        group.values[at->slot] = nullptr;
        used_ -= open;
        --size_;
        if (size_ * 8 < slot_count() && groups_ > kGroupsPerPage) {
            rebuild(size_);  // most of it went (a namespace deleted): give the memory back
        }
        return true;
    }

    // Visits every value, in no particular order.
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (const Chunk* chunk : chunks_) {
            for (const Page* page : chunk->pages) {
                if (page != nullptr) {
                    page->for_each_value([&](const V* value) { visit(*value); });
                }
            }
        }
    }

    // Bytes held by the table (not the values): for the benchmarks.
    size_t node_bytes() const noexcept {
        return groups_ / kGroupsPerPage * sizeof(Page) + chunks_.size() * sizeof(Chunk) +
               chunks_.capacity() * sizeof(const Chunk*);
    }

private:
    static constexpr size_t kSlots = 4;
    static constexpr size_t kGroupsPerPage = 16;
    static constexpr size_t kPagesPerChunk = 64;
    static constexpr size_t kGroupsPerChunk = kGroupsPerPage * kPagesPerChunk;
    // A slot's tag: 0 never used, 1 a tombstone, else 32 bits of its value's hash.
    static constexpr uint32_t kNeverUsed = 0;
    static constexpr uint32_t kTombstone = 1;
    static constexpr uint32_t kFirstTag = 2;

    struct Group {
        uint32_t tags[kSlots] = {};
        int32_t companions[kSlots] = {};  // from the value, in bytes; 0: none
        const V* values[kSlots] = {};
    };
    static_assert(sizeof(Group) == 64);
    struct Page : Counted {
        alignas(64) Group groups[kGroupsPerPage];

        template <class Visit>
        void for_each_value(Visit&& visit) const {
            for (const Group& group : groups) {
                for (size_t i = 0; i < kSlots; ++i) {
                    if (group.tags[i] >= kFirstTag) {
                        visit(group.values[i]);
                    }
                }
            }
        }
    };
    struct Chunk : Counted {
        const Page* pages[kPagesPerChunk] = {};  // the last chunk's may end early: nullptr
    };
    struct Place {
        size_t group;
        size_t slot;
    };

    // The upper half of a hash (the lower picks PersistentMap's buckets and tags): a tag and,
    // scaled to the group count, the home group, so a rebuild finds homes again from the tags.
    static uint32_t tag_of(uint64_t hash) noexcept {
        const auto tag = static_cast<uint32_t>(hash >> 32);
        return tag < kFirstTag ? tag + kFirstTag : tag;
    }
    size_t home(uint32_t tag) const noexcept {
        return static_cast<size_t>((uint64_t{tag} * groups_) >> 32);
    }
    size_t next(size_t g) const noexcept { return g + 1 == groups_ ? 0 : g + 1; }
    size_t slot_count() const noexcept { return groups_ * kSlots; }
    const Group& group_at(size_t g) const noexcept {
        return chunks_[g / kGroupsPerChunk]
            ->pages[g / kGroupsPerPage % kPagesPerChunk]
            ->groups[g % kGroupsPerPage];
    }

    // Writes a slot: its tag, its value, and where its companion lies from the value (0 when V
    // has none, or when it is too far to say in 32 bits: then only the value is fetched early).
    static void put(Group& group, size_t slot, uint32_t tag, const V* value) noexcept {
        group.tags[slot] = tag;
        group.values[slot] = value;
        group.companions[slot] = 0;
        if constexpr (requires { value->companion(); }) {
            const auto distance = reinterpret_cast<intptr_t>(value->companion()) -
                                  reinterpret_cast<intptr_t>(value);
            if (distance == static_cast<int32_t>(distance)) {
                group.companions[slot] = static_cast<int32_t>(distance);
            }
        }
    }
    // Asks for the first two lines of the slot's companion while its value is read: a hint,
    // never a read.
    static void prefetch_companion(const Group& group, size_t slot) noexcept {
        const uintptr_t at = reinterpret_cast<uintptr_t>(group.values[slot]) +
                             static_cast<uintptr_t>(static_cast<intptr_t>(group.companions[slot]));
        __builtin_prefetch(reinterpret_cast<const void*>(at));
        __builtin_prefetch(reinterpret_cast<const void*>(at + 64));
    }

    template <class Match>
    std::optional<Place> locate(uint64_t hash, Match& match) const noexcept {
        const uint32_t tag = tag_of(hash);
        size_t g = home(tag);
        for (size_t probes = 0; probes < groups_; ++probes) {
            const Group& group = group_at(g);
            bool open = false;
            for (size_t i = 0; i < kSlots; ++i) {
                if (group.tags[i] == tag && match(*group.values[i])) {
                    return Place{g, i};
                }
                open = open || group.tags[i] == kNeverUsed;
            }
            if (open) {
                return std::nullopt;
            }
            g = next(g);
        }
        return std::nullopt;
    }

    // The first slot from the home group of `tag` that holds no value (the table is never full).
    Place free_place(uint32_t tag) const noexcept {
        for (size_t g = home(tag);; g = next(g)) {
            const Group& group = group_at(g);
            for (size_t i = 0; i < kSlots; ++i) {
                if (group.tags[i] < kFirstTag) {
                    return {g, i};
                }
            }
        }
    }

    // The group, in a chunk and a page only this map holds: a shared one is copied first, and
    // what it points at gains the copy as a holder.
    Group& writable_group(size_t g) {
        const Chunk*& chunk = chunks_[g / kGroupsPerChunk];
        if (chunk->refs.load(std::memory_order_acquire) != 1) {
            auto* copy = new Chunk(*chunk);
            copy->refs.store(1, std::memory_order_relaxed);
            for (const Page* page : copy->pages) {
                hold_ref(page);
            }
            release_chunk(chunk);
            chunk = copy;
        }
        const Page*& page = const_cast<Chunk*>(chunk)->pages[g / kGroupsPerPage % kPagesPerChunk];
        if (page->refs.load(std::memory_order_acquire) != 1) {
            auto* copy = new Page(*page);
            copy->refs.store(1, std::memory_order_relaxed);
            copy->for_each_value([](const V* value) { hold_ref(value); });
            release_page(page);
            page = copy;
        }
        return const_cast<Page*>(page)->groups[g % kGroupsPerPage];
    }

    // A table for `count` values, half its slots used, holding what this one holds.
    void rebuild(size_t count) {
        const size_t wanted = (count * 2 + kSlots - 1) / kSlots;
        const size_t page_count = std::max<size_t>(1, (wanted + kGroupsPerPage - 1) / kGroupsPerPage);
        FlatMap fresh;
        fresh.chunks_.reserve((page_count + kPagesPerChunk - 1) / kPagesPerChunk);
        for (size_t p = 0; p < page_count; ++p) {
            if (p % kPagesPerChunk == 0) {
                auto* chunk = new Chunk();
                chunk->refs.store(1, std::memory_order_relaxed);
                fresh.chunks_.push_back(chunk);
            }
            auto* page = new Page();
            page->refs.store(1, std::memory_order_relaxed);
            const_cast<Chunk*>(fresh.chunks_.back())->pages[p % kPagesPerChunk] = page;
        }
        fresh.groups_ = page_count * kGroupsPerPage;
        for_each_slot([&](uint32_t tag, const V* value) {
            const Place at = fresh.free_place(tag);
            Group& to = fresh.writable_group(at.group);  // the fresh map's alone: never copied
            hold_ref(value);
            put(to, at.slot, tag, value);
            ++fresh.size_;
            ++fresh.used_;
        });
        swap(fresh);
    }

    // Visits the tag and value of every slot that holds one.
    template <class Visit>
    void for_each_slot(Visit&& visit) const {
        for (const Chunk* chunk : chunks_) {
            for (const Page* page : chunk->pages) {
                for (size_t g = 0; page != nullptr && g < kGroupsPerPage; ++g) {
                    const Group& group = page->groups[g];
                    for (size_t i = 0; i < kSlots; ++i) {
                        if (group.tags[i] >= kFirstTag) {
                            visit(group.tags[i], group.values[i]);
                        }
                    }
                }
            }
        }
    }

    static void release_page(const Page* page) noexcept {
        if (page != nullptr && page->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            page->for_each_value([](const V* value) { release_ref(value); });
            delete page;
        }
    }
    static void release_chunk(const Chunk* chunk) noexcept {
        if (chunk->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            for (const Page* page : chunk->pages) {
                release_page(page);
            }
            delete chunk;
        }
    }

    void swap(FlatMap& other) noexcept {
        std::swap(chunks_, other.chunks_);
        std::swap(groups_, other.groups_);
        std::swap(size_, other.size_);
        std::swap(used_, other.used_);
    }

    std::vector<const Chunk*> chunks_;
    size_t groups_ = 0;
    size_t size_ = 0;
    size_t used_ = 0;  // slots with a value or a tombstone
};

}  // namespace clusterdns
