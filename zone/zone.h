#pragma once
// An immutable, read-only DNS zone: owner names hashed into one open-addressing table, RRsets and
// RDATA (uncompressed wire form) in a few flat arrays. Built once by ZoneBuilder, then shared by
// every worker through a shared_ptr<const Zone>; lookups never allocate or lock.
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
    struct RRset {
        RrType type;
        uint32_t ttl_seconds;
        uint32_t first_rdata;
        uint32_t rdata_count;
    };
    struct Node {
        uint64_t hash;
        uint32_t name_offset;
        uint32_t first_rrset;
        uint16_t rrset_count;
        uint8_t name_size;
    };

    // The node owning `name` (lowercase wire form), or nullptr.
    const Node* find(WireName name) const noexcept;
    const RRset* rrset(const Node& node, RrType type) const noexcept;
    std::span<const RRset> rrsets(const Node& node) const noexcept {
        return {rrsets_.data() + node.first_rrset, node.rrset_count};
    }
    std::span<const uint8_t> rdata(const RRset& set, size_t i) const noexcept {
        const Rdata& r = rdatas_[set.first_rdata + i];
        return {rdata_bytes_.data() + r.offset, r.size};
    }
    WireName name(const Node& node) const noexcept {
        return {names_.data() + node.name_offset, node.name_size};
    }

    // The served zone (apex) that holds `name`, or nullptr when the name is not ours. The deepest
    // apex wins, so a name in cluster.local never resolves to a parent apex.
    const Node* apex_for(WireName name) const noexcept;

    size_t node_count() const noexcept { return nodes_.size(); }
    size_t memory_bytes() const noexcept;

private:
    friend class ZoneBuilder;
    struct Rdata {
        uint32_t offset;
        uint16_t size;
    };

    std::vector<Node> nodes_;
    std::vector<uint8_t> names_;
    std::vector<RRset> rrsets_;
    std::vector<Rdata> rdatas_;
    std::vector<uint8_t> rdata_bytes_;
    struct Apex {
        uint32_t node;
        uint32_t labels;
    };

    std::vector<uint32_t> table_;  // node index + 1; 0 is an empty slot
    std::vector<Apex> apexes_;     // deepest first
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
    void add(const Name& owner, RrType type, uint32_t ttl_seconds,
             std::span<const uint8_t> rdata) {
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
