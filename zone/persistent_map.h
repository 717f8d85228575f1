#pragma once
// A hash map whose versions share structure. Copying a map is O(1); changing one copies only the
// nodes on the path of that key (two inner nodes and one small bucket) and shares the rest, so
// the next version of a zone of 100,000 Services costs a few KiB per change instead of a rebuild,
// and the version workers still read stays intact beside it.
//
// Nodes and values are reference-counted and immutable once shared. A node only this map holds
// (count 1, reached through nodes only this map holds) is changed in place: a batch of changes
// between two published versions copies each path once. Counts change only when maps are copied,
// changed or destroyed (the control side); lookups never touch them and never allocate.

#include <atomic>
#include <cstdint>
#include <algorithm>
#include <new>
#include <span>
#include <type_traits>

namespace clusterdns {

// Base of anything a PersistentMap holds: the count of maps and nodes that hold it.
struct Counted {
    Counted() = default;
    Counted(const Counted&) noexcept {}  // a copy is a new object: nobody holds it yet
    Counted& operator=(const Counted&) noexcept { return *this; }
    mutable std::atomic<uint32_t> refs{0};
};

template <class T>
void hold_ref(const T* p) noexcept {
    if (p != nullptr) {
        p->refs.fetch_add(1, std::memory_order_relaxed);
    }
}

// Frees what nobody holds any more: with T::destroy for a value sized at run time (one block
// for the record and its arrays), else with delete.
template <class T>
void destroy_value(const T* p) noexcept {
    if constexpr (requires { T::destroy(p); }) {
        T::destroy(p);
    } else {
        delete p;
    }
}

template <class T>
void release_ref(const T* p) noexcept {
    if (p != nullptr && p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        destroy_value(p);
    }
}

// Spreads a hash's entropy into its top 14 bits, which pick the path.
constexpr uint64_t mix_hash(uint64_t h) noexcept {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

template <class V>  // V derives from Counted
class PersistentMap {
public:
    PersistentMap() = default;
    PersistentMap(const PersistentMap& other) noexcept : root_(other.root_), size_(other.size_) {
        hold(root_);
    }
    PersistentMap& operator=(const PersistentMap& other) noexcept {
        hold(other.root_);
        release(root_);
        root_ = other.root_;
        size_ = other.size_;
        return *this;
    }
    ~PersistentMap() { release(root_); }

    size_t size() const noexcept { return size_; }

    // The value with this hash that `match` accepts, or nullptr.
    template <class Match>
    const V* find(uint64_t hash, Match&& match) const noexcept {
        const Root* root = static_cast<const Root*>(root_);
        if (root == nullptr) {
            return nullptr;
        }
        const auto* middle = static_cast<const Middle*>(root->children[root_index(hash)]);
        if (middle == nullptr) {
            return nullptr;
        }
        const auto* bucket = static_cast<const Bucket*>(middle->children[middle_index(hash)]);
        if (bucket == nullptr) {
            return nullptr;
        }
        const Tag tag = tag_of(hash);
        const Tag* tags = bucket->tags();
        for (uint32_t i = 0; i < bucket->count; ++i) {
            if (tags[i] == tag && match(*bucket->values()[i])) {
                return bucket->values()[i];
            }
        }
        return nullptr;
    }

    // Visits every value with this hash (a map used as an index may hold several), and perhaps
    // a few others: only 16 bits of a hash are kept, so the visitor checks what it is given.
    template <class Visit>
    void for_each_with_hash(uint64_t hash, Visit&& visit) const {
        const auto* root = static_cast<const Root*>(root_);
        const auto* middle =
            root == nullptr ? nullptr : static_cast<const Middle*>(root->children[root_index(hash)]);
        const auto* bucket = middle == nullptr
                                 ? nullptr
                                 : static_cast<const Bucket*>(middle->children[middle_index(hash)]);
        if (bucket == nullptr) {
            return;
        }
        const Tag tag = tag_of(hash);
        for (uint32_t i = 0; i < bucket->count; ++i) {
            if (bucket->tags()[i] == tag) {
                visit(*bucket->values()[i]);
            }
        }
    }

    // The value `match` accepts, to change in place, when only this map can reach it (a value
    // added since the map was last copied); else nullptr, and the caller replaces it with set().
    // A batch of changes to one counter thus allocates once, not once per change.
    template <class Match>
    V* find_writable(uint64_t hash, Match&& match) {
        const V* found = find(hash, match);
        if (found == nullptr || found->refs.load(std::memory_order_acquire) != 1) {
            return nullptr;
        }
        writable_bucket_slot(hash);  // copies a shared path: the value is then this map's alone
        return found->refs.load(std::memory_order_acquire) == 1 ? const_cast<V*>(found) : nullptr;
    }

    // Puts `value` in place of the value `match` accepts, or adds it. The map takes a reference.
    template <class Match>
    void set(uint64_t hash, Match&& match, const V* value) {
        const Node*& slot = writable_bucket_slot(hash);
        Bucket* bucket = const_cast<Bucket*>(static_cast<const Bucket*>(slot));
        hold_value(value);
        const Tag tag = tag_of(hash);
        for (uint32_t i = 0; i < bucket->count; ++i) {
            if (bucket->tags()[i] == tag && match(*bucket->values()[i])) {
                release_value(bucket->values()[i]);
                bucket->values()[i] = value;
                return;
            }
        }
        if (bucket->count == bucket->capacity) {
            bucket = Bucket::grow(bucket);
            slot = bucket;
        }
        bucket->tags()[bucket->count] = tag;
        bucket->values()[bucket->count++] = value;
        ++size_;
    }

    // Removes the value `match` accepts; false if there was none.
    template <class Match>
    bool erase(uint64_t hash, Match&& match) {
        if (find(hash, match) == nullptr) {
            return false;  // nothing to copy a path for
        }
        auto* bucket =
            const_cast<Bucket*>(static_cast<const Bucket*>(writable_bucket_slot(hash)));
        const Tag tag = tag_of(hash);
        for (uint32_t i = 0; i < bucket->count; ++i) {
            if (bucket->tags()[i] == tag && match(*bucket->values()[i])) {
                release_value(bucket->values()[i]);
                --bucket->count;
                bucket->tags()[i] = bucket->tags()[bucket->count];
                bucket->values()[i] = bucket->values()[bucket->count];
                --size_;
                return true;
            }
        }
        return false;
    }

    // Visits every value, in no particular order.
    template <class Visit>
    void for_each(Visit&& visit) const {
        const auto* root = static_cast<const Root*>(root_);
        for (int i = 0; root != nullptr && i < kRootFanout; ++i) {
            const auto* middle = static_cast<const Middle*>(root->children[i]);
            for (int j = 0; middle != nullptr && j < kMiddleFanout; ++j) {
                if (const auto* bucket = static_cast<const Bucket*>(middle->children[j])) {
                    for (const V* value : bucket->span()) {
                        visit(*value);
                    }
                }
            }
        }
    }

    // Bytes held by the nodes (not the values): for the benchmarks.
    size_t node_bytes() const noexcept {
        size_t bytes = 0;
        const auto* root = static_cast<const Root*>(root_);
        if (root != nullptr) {
            bytes += sizeof(Root);
            for (const Node* m : root->children) {
                if (m != nullptr) {
                    bytes += sizeof(Middle);
                    for (const Node* b : static_cast<const Middle*>(m)->children) {
                        if (b != nullptr) {
                            bytes += Bucket::bytes(static_cast<const Bucket*>(b)->capacity);
                        }
                    }
                }
            }
        }
        return bytes;
    }

private:
    // The top 8 bits of a hash pick a middle node, the next 6 its bucket: 16,384 buckets hold a
    // few entries each at 100,000 keys, where 65,536 mostly held one and cost a block apiece.
    static constexpr int kRootFanout = 256;
    static constexpr int kMiddleFanout = 64;
    static size_t root_index(uint64_t hash) noexcept { return hash >> 56; }
    static size_t middle_index(uint64_t hash) noexcept { return (hash >> 50) & (kMiddleFanout - 1); }

    // A bucket keeps 16 bits of each hash (not those that chose the bucket) beside its value:
    // 10 bytes an entry, and a lookup compares the tags before it reads any value. Among the
    // dozen or so entries of a bucket, another key's tag matches in one lookup of a few thousand.
    using Tag = uint16_t;
    static Tag tag_of(uint64_t hash) noexcept { return static_cast<Tag>(hash); }
    enum class Kind : uint8_t { Root, Middle, Bucket };
    struct Node : Counted {
        Kind kind;
        explicit Node(Kind k) : kind(k) {}
    };
    // A middle node has only the children its 6 bits can pick: 512 bytes, not the root's 2 KiB
    // (a map of 100,000 keys fills all 256 of them).
    template <int Fanout, Kind K>
    struct Inner : Node {
        Inner() : Node(K) {}
        const Node* children[Fanout] = {};
    };
    using Root = Inner<kRootFanout, Kind::Root>;
    using Middle = Inner<kMiddleFanout, Kind::Middle>;
    // The tags, then the values, follow the header in the same allocation: one block per bucket.
    struct Bucket : Node {
        uint32_t count = 0;
        uint32_t capacity;
        explicit Bucket(uint32_t room) : Node(Kind::Bucket), capacity(room) {}

        static size_t values_at(uint32_t room) noexcept {
            return sizeof(Bucket) + (room * sizeof(Tag) + 7) / 8 * 8;
        }
        static size_t bytes(uint32_t room) noexcept {
            return values_at(room) + room * sizeof(const V*);
        }
        Tag* tags() noexcept { return reinterpret_cast<Tag*>(this + 1); }
        const Tag* tags() const noexcept {
            return reinterpret_cast<const Tag*>(this + 1);
        }
        const V** values() noexcept {
            return reinterpret_cast<const V**>(reinterpret_cast<char*>(this) + values_at(capacity));
        }
        const V* const* values() const noexcept {
            return reinterpret_cast<const V* const*>(reinterpret_cast<const char*>(this) +
                                                     values_at(capacity));
        }
        std::span<const V* const> span() const noexcept { return {values(), count}; }

        static Bucket* make(uint32_t room) {
            static_assert(sizeof(Bucket) % alignof(const V*) == 0);
            return new (::operator new(bytes(room))) Bucket(room);
        }
        static void destroy(const Bucket* b) noexcept {
            b->~Bucket();
            ::operator delete(const_cast<Bucket*>(b));
        }
        // A copy of `from` with room for `room` entries; the values are not held again.
        static Bucket* copy(const Bucket& from, uint32_t room) {
            Bucket* b = make(room);
            std::copy(from.tags(), from.tags() + from.count, b->tags());
            std::copy(from.values(), from.values() + from.count, b->values());
            b->count = from.count;
            return b;
        }
        // Room for `count` entries, and for as many more as fit in the block malloc hands out
        // for that size anyway (glibc's: 8 bytes of header, in steps of 16).
        static uint32_t room_for(uint32_t count) noexcept {
            const size_t block = (bytes(count) + 8 + 15) / 16 * 16 - 8;
            uint32_t room = count;
            while (bytes(room + 1) <= block) {
                ++room;
            }
            return room;
        }
        // Moves a full bucket this map alone holds into one an eighth bigger, to the end of its
        // block: a loaded map's buckets keep little room they will not use (a quarter more each
        // time left about 9% of the bucket bytes of 100,000 Services unused), and growing one
        // copies a few dozen bytes.
        static Bucket* grow(Bucket* full) {
            Bucket* b = copy(*full, room_for(full->capacity + full->capacity / 8 + 1));
            b->refs.store(1, std::memory_order_relaxed);
            full->count = 0;  // the entries moved: destroying it must not release them
            destroy(full);
            return b;
        }
    };

    static void hold(const Counted* c) noexcept {
        if (c != nullptr) {
            c->refs.fetch_add(1, std::memory_order_relaxed);
        }
    }
    static void hold_value(const V* v) noexcept { hold(v); }
    static void release_value(const V* v) noexcept {
        release_ref(v);
    }
    static void release(const Node* n) noexcept {
        if (n == nullptr || n->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
            return;
        }
        if (n->kind == Kind::Bucket) {
            const auto* b = static_cast<const Bucket*>(n);
            for (const V* value : b->span()) {
                release_value(value);
            }
            Bucket::destroy(b);
            return;
        }
        if (n->kind == Kind::Root) {
            release_children(static_cast<const Root*>(n));
        } else {
            release_children(static_cast<const Middle*>(n));
        }
    }
    template <class Parent>
    static void release_children(const Parent* inner) noexcept {
        for (const auto* child : inner->children) {
            release(child);
        }
        delete inner;
    }

    // Makes *slot a node only this map holds, copying a shared one (whose children then gain a
    // holder), and returns it.
    template <class Parent>
    static Parent& writable_inner(const Node*& slot) {
        if (slot == nullptr) {
            auto* fresh = new Parent();
            fresh->refs.store(1, std::memory_order_relaxed);
            slot = fresh;
            return *fresh;
        }
        if (slot->refs.load(std::memory_order_acquire) == 1) {
            return *const_cast<Parent*>(static_cast<const Parent*>(slot));
        }
        auto* copy = new Parent(*static_cast<const Parent*>(slot));
        copy->refs.store(1, std::memory_order_relaxed);
        for (const Node* child : copy->children) {
            hold(child);
        }
        release(slot);
        slot = copy;
        return *copy;
    }

    // The same for the bucket of `hash`; returns its slot, as adding may move the bucket.
    const Node*& writable_bucket_slot(uint64_t hash) {
        Root& root = writable_inner<Root>(root_);
        Middle& middle = writable_inner<Middle>(root.children[root_index(hash)]);
        const Node*& slot = middle.children[middle_index(hash)];
        if (slot == nullptr) {
            Bucket* fresh = Bucket::make(Bucket::room_for(1));
            fresh->refs.store(1, std::memory_order_relaxed);
            slot = fresh;
        } else if (slot->refs.load(std::memory_order_acquire) != 1) {
            const auto& shared = *static_cast<const Bucket*>(slot);
            Bucket* copy = Bucket::copy(shared, Bucket::room_for(shared.count + 1));
            copy->refs.store(1, std::memory_order_relaxed);
            for (const V* value : copy->span()) {
                hold_value(value);
            }
            release(slot);
            slot = copy;
        }
        return slot;
    }

    const Node* root_ = nullptr;
    size_t size_ = 0;
};

}  // namespace clusterdns
