#include "zone/zone.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace clusterdns {

const Zone::Node* Zone::find(WireName name) const noexcept {
    if (table_.empty()) {
        return nullptr;
    }
    const uint64_t hash = name_hash(name);
    const size_t mask = table_.size() - 1;
    for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const uint32_t entry = table_[slot];
        if (entry == 0) {
            return nullptr;
        }
        const Node& node = nodes_[entry - 1];
        if (node.hash == hash && name_equal(this->name(node), name)) {
            return &node;
        }
    }
}

const Zone::RRset* Zone::rrset(const Node& node, RrType type) const noexcept {
    for (const RRset& set : rrsets(node)) {
        if (set.type == type) {
            return &set;
        }
    }
    return nullptr;
}

const Zone::Node* Zone::apex_for(WireName name) const noexcept {
    // Where each label starts, so every apex costs one comparison of the name's last labels.
    uint8_t starts[kMaxNameWire / 2];
    size_t count = 0;
    for (size_t pos = 0; pos < name.size() && name[pos] != 0; pos += 1 + name[pos]) {
        starts[count++] = static_cast<uint8_t>(pos);
    }
    for (const Apex& apex : apexes_) {
        if (apex.labels > count) {
            continue;
        }
        const size_t at = apex.labels == 0 ? name.size() - 1 : starts[count - apex.labels];
        if (name_equal(name.subspan(at), this->name(nodes_[apex.node]))) {
            return &nodes_[apex.node];
        }
    }
    return nullptr;
}

size_t Zone::memory_bytes() const noexcept {
    return nodes_.capacity() * sizeof(Node) + names_.capacity() +
           rrsets_.capacity() * sizeof(RRset) + rdatas_.capacity() * sizeof(Rdata) +
           rdata_bytes_.capacity() + table_.capacity() * sizeof(uint32_t);
}

uint32_t ZoneBuilder::intern(WireName owner) {
    const std::string_view key(reinterpret_cast<const char*>(owner.data()), owner.size());
    const auto it = owner_index_.find(key);
    if (it != owner_index_.end()) {
        return it->second;
    }
    char* bytes = static_cast<char*>(owner_bytes_.allocate(owner.size(), 1));
    std::memcpy(bytes, owner.data(), owner.size());
    const auto index = static_cast<uint32_t>(owners_.size());
    owners_.emplace_back(bytes, owner.size());
    owner_index_.emplace(owners_.back(), index);
    return index;
}

void ZoneBuilder::add_apex(WireName origin) { apexes_.push_back(intern(origin)); }

void ZoneBuilder::add(WireName owner, RrType type, uint32_t ttl_seconds,
                      std::span<const uint8_t> rdata) {
    records_.push_back({intern(owner), type, static_cast<uint16_t>(rdata.size()), ttl_seconds,
                        static_cast<uint32_t>(rdata_.size())});
    rdata_.insert(rdata_.end(), rdata.begin(), rdata.end());
}

void ZoneBuilder::add_name(WireName owner) { intern(owner); }

std::shared_ptr<const Zone> ZoneBuilder::build() {
    // Deepest apex first, so apex_for() finds the closest enclosing zone.
    std::sort(apexes_.begin(), apexes_.end(), [&](uint32_t a, uint32_t b) {
        return name_label_count(owner_name(a)) > name_label_count(owner_name(b));
    });

    // Empty non-terminals: every ancestor of an owner, up to its apex, exists.
    const size_t explicit_owners = owners_.size();
    for (uint32_t i = 0; i < explicit_owners; ++i) {
        const WireName wire = owner_name(i);
        const auto apex = std::find_if(apexes_.begin(), apexes_.end(), [&](uint32_t a) {
            return name_in_zone(wire, owner_name(a));
        });
        if (apex == apexes_.end()) {
            continue;
        }
        const size_t depth = name_label_count(wire) - name_label_count(owner_name(*apex));
        for (size_t skip = 1; skip < depth; ++skip) {
            intern(name_parent(wire, skip));
        }
    }

    owner_index_ = {};  // every owner is known now; free the index before the zone grows

    // Group records by owner, then type; insertion order within an RRset is kept.
    std::stable_sort(records_.begin(), records_.end(),
                     [](const PendingRecord& a, const PendingRecord& b) {
                         return a.owner != b.owner ? a.owner < b.owner
                                                   : static_cast<uint16_t>(a.type) <
                                                         static_cast<uint16_t>(b.type);
                     });
    auto rdata_of = [&](const PendingRecord& r) {
        return std::span<const uint8_t>(rdata_.data() + r.rdata_offset, r.rdata_size);
    };

    // Sized up front: growing by doubling would briefly need twice the zone.
    auto zone = std::make_shared<Zone>();
    zone->nodes_.reserve(owners_.size());
    zone->rrsets_.reserve(records_.size());
    zone->rdatas_.reserve(records_.size());
    zone->rdata_bytes_.reserve(rdata_.size());
    size_t name_bytes = 0;
    for (const std::string_view owner : owners_) {
        name_bytes += owner.size();
    }
    zone->names_.reserve(name_bytes);
    size_t next = 0;  // first record not yet placed
    for (uint32_t owner = 0; owner < owners_.size(); ++owner) {
        const WireName name = owner_name(owner);
        Zone::Node node{};
        node.hash = name_hash(name);
        node.name_offset = static_cast<uint32_t>(zone->names_.size());
        node.name_size = static_cast<uint8_t>(name.size());
        node.first_rrset = static_cast<uint32_t>(zone->rrsets_.size());
        zone->names_.insert(zone->names_.end(), name.begin(), name.end());
        while (next < records_.size() && records_[next].owner == owner) {
            const PendingRecord& first = records_[next];
            const auto first_rdata = static_cast<uint32_t>(zone->rdatas_.size());
            for (; next < records_.size() && records_[next].owner == owner &&
                   records_[next].type == first.type;
                 ++next) {
                const std::span<const uint8_t> rdata = rdata_of(records_[next]);
                const bool duplicate = std::any_of(
                    zone->rdatas_.begin() + first_rdata, zone->rdatas_.end(),
                    [&](const Zone::Rdata& seen) {
                        return seen.size == rdata.size() &&
                               std::equal(rdata.begin(), rdata.end(),
                                          zone->rdata_bytes_.begin() + seen.offset);
                    });
                if (!duplicate) {
                    zone->rdatas_.push_back({static_cast<uint32_t>(zone->rdata_bytes_.size()),
                                             static_cast<uint16_t>(rdata.size())});
                    zone->rdata_bytes_.insert(zone->rdata_bytes_.end(), rdata.begin(),
                                              rdata.end());
                }
            }
            zone->rrsets_.push_back(
                {first.type, first.ttl_seconds, first_rdata,
                 static_cast<uint32_t>(zone->rdatas_.size() - first_rdata)});
            ++node.rrset_count;
        }
        zone->nodes_.push_back(node);
    }

    // The arrays stay as they are for the zone's life: give back what growth over-allocated.
    zone->names_.shrink_to_fit();
    zone->rrsets_.shrink_to_fit();
    zone->rdatas_.shrink_to_fit();
    zone->rdata_bytes_.shrink_to_fit();

    // Load factor at most 1/2 keeps probe sequences short.
    zone->table_.assign(std::bit_ceil(std::max<size_t>(16, zone->nodes_.size() * 2)), 0);
    const size_t mask = zone->table_.size() - 1;
    for (size_t i = 0; i < zone->nodes_.size(); ++i) {
        size_t slot = zone->nodes_[i].hash & mask;
        while (zone->table_[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        zone->table_[slot] = static_cast<uint32_t>(i + 1);
    }
    for (const uint32_t apex : apexes_) {  // owner index == node index
        zone->apexes_.push_back(
            {apex, static_cast<uint32_t>(name_label_count(owner_name(apex)))});
    }
    return zone;
}

}  // namespace clusterdns
