#pragma once
// An immutable, read-only DNS zone. Each name's node is one contiguous block: a header, the name,
// its RRsets, references to their RDATA (uncompressed wire form) and the RDATA itself, so an answer
// touches one hash slot and one block, a cache miss or two at 100,000 Services. Built once by
// ZoneBuilder, then shared by every worker through a shared_ptr<const Zone>; lookups never
// allocate or lock.
//
// A live zone (API watch) will layer a small overlay of changed names over this base and fold it
// in from time to time, so one event does not rebuild 100,000 Services.

#include <cstdint>
#include <memory>
#include <memory_resource>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/codec/name.h"
#include "server/codec/types.h"

namespace clusterdns {

class Zone {
public:
    // Block layout, 8-byte aligned: Node, the name (padded to 8), RRset[rrset_count], then for
    // each RRset its RdataRef[rdata_count], then the RDATA bytes. Offsets are relative to the
    // struct holding them, so a block reads without the zone.
    struct Node {
        uint16_t rrset_count;
        uint8_t name_size;
        uint8_t reserved[5];
    };
    struct RRset {
        RrType type;
        uint16_t reserved;
        uint32_t ttl_seconds;
        uint32_t rdata_count;
        uint32_t refs_offset;  // from this RRset to its first RdataRef
    };
    struct RdataRef {
        uint32_t data_offset;  // from this RdataRef to its bytes
        uint16_t size;
        uint16_t reserved;
    };

    // The node owning `name` (lowercase wire form), or nullptr.
    const Node* find(WireName name) const noexcept;
    const RRset* rrset(const Node& node, RrType type) const noexcept;
    static std::span<const RRset> rrsets(const Node& node) noexcept {
        return {reinterpret_cast<const RRset*>(reinterpret_cast<const uint8_t*>(&node) +
                                               sizeof(Node) + padded(node.name_size)),
                node.rrset_count};
    }
    static std::span<const uint8_t> rdata(const RRset& set, size_t i) noexcept {
        const auto* ref = reinterpret_cast<const RdataRef*>(reinterpret_cast<const uint8_t*>(&set) +
                                                            set.refs_offset + i * sizeof(RdataRef));
        return {reinterpret_cast<const uint8_t*>(ref) + ref->data_offset, ref->size};
    }
    static WireName name(const Node& node) noexcept {
        return {reinterpret_cast<const uint8_t*>(&node) + sizeof(Node), node.name_size};
    }

    // The served zone (apex) that holds `name`, or nullptr when the name is not ours. The deepest
    // apex wins, so a name in cluster.local never resolves to a parent apex.
    const Node* apex_for(WireName name) const noexcept;

    size_t node_count() const noexcept { return node_count_; }
    size_t record_count() const noexcept { return record_count_; }
    size_t memory_bytes() const noexcept;

private:
    friend class ZoneBuilder;
    static constexpr size_t padded(size_t n) noexcept { return (n + 7) & ~size_t{7}; }
    const Node* node_at(uint64_t word) const noexcept {
        return reinterpret_cast<const Node*>(blocks_.data() + word);
    }

    struct Apex {
        uint64_t block;  // word index in blocks_
        uint32_t labels;
    };

    std::vector<uint64_t> blocks_;  // every node's block, back to back
    // Open addressing, load factor at most 1/2: the upper 32 bits of the name's hash, then the
    // block's word index + 1 (0 is an empty slot). The hash bits spare a block visit on a miss.
    std::vector<uint64_t> table_;
    std::vector<Apex> apexes_;  // deepest first
    size_t node_count_ = 0;
    size_t record_count_ = 0;
};

// Collects RRs (owner names in lowercase wire form) and builds a Zone. Duplicate RDATA within an
// RRset is dropped; every ancestor of an owner up to its apex becomes a node (an empty
// non-terminal answers NODATA, not NXDOMAIN). Owners and RDATA go into flat arrays as they come,
// so a build of 100,000 Services stays within a few hundred bytes per record.
class ZoneBuilder {
public:
    void add_apex(WireName origin);
    void add(WireName owner, RrType type, uint32_t ttl_seconds, std::span<const uint8_t> rdata);
    void add_name(WireName owner);
    void add_apex(const Name& origin) { add_apex(origin.wire()); }
    void add(const Name& owner, RrType type, uint32_t ttl_seconds, std::span<const uint8_t> rdata) {
        add(owner.wire(), type, ttl_seconds, rdata);
    }
    void add_name(const Name& owner) { add_name(owner.wire()); }
    std::shared_ptr<const Zone> build();

private:
    struct PendingRecord {
        uint32_t owner;
        RrType type;
        uint16_t rdata_size;
        uint32_t ttl_seconds;
        uint32_t rdata_offset;
    };
    uint32_t intern(WireName owner);
    WireName owner_name(uint32_t index) const {
        return {reinterpret_cast<const uint8_t*>(owners_[index].data()), owners_[index].size()};
    }

    std::pmr::monotonic_buffer_resource owner_bytes_{1 << 20};
    std::vector<std::string_view> owners_;  // views into owner_bytes_
    std::unordered_map<std::string_view, uint32_t> owner_index_;
    std::vector<PendingRecord> records_;
    std::vector<uint8_t> rdata_;
    std::vector<uint32_t> apexes_;
};

}  // namespace clusterdns
