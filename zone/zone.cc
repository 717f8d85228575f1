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
        const uint64_t entry = table_[slot];
        if (entry == 0) {
            return nullptr;
        }
        if ((entry >> 32) == (hash >> 32)) {
            const Node* node = node_at((entry & 0xFFFFFFFF) - 1);
            if (name_equal(this->name(*node), name)) {
                return node;
            }
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
        const Node* node = node_at(apex.block);
        if (name_equal(name.subspan(at), this->name(*node))) {
            return node;
        }
    }
    return nullptr;
}

size_t Zone::memory_bytes() const noexcept {
    return (blocks_.capacity() + table_.capacity()) * sizeof(uint64_t);
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

void ZoneBuilder::add_apex(WireName origin) {
    apexes_.push_back(intern(origin));
}

void ZoneBuilder::add(WireName owner, RrType type, uint32_t ttl_seconds,
                      std::span<const uint8_t> rdata) {
    records_.push_back({intern(owner), type, static_cast<uint16_t>(rdata.size()), ttl_seconds,
                        static_cast<uint32_t>(rdata_.size())});
    rdata_.insert(rdata_.end(), rdata.begin(), rdata.end());
}

void ZoneBuilder::add_name(WireName owner) {
    intern(owner);
}

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
                         return a.owner != b.owner
                                    ? a.owner < b.owner
                                    : static_cast<uint16_t>(a.type) < static_cast<uint16_t>(b.type);
                     });
    auto rdata_of = [&](const PendingRecord& r) {
        return std::span<const uint8_t>(rdata_.data() + r.rdata_offset, r.rdata_size);
    };

    // First pass: drop duplicate RDATA within each RRset and size every block.
    struct Layout {
        size_t first_record;  // in records_, now grouped by owner
        size_t end_record;
        size_t rrsets = 0;
        size_t refs = 0;  // RDATA kept after duplicates are dropped
        size_t bytes = 0;
    };
    std::vector<Layout> layouts(owners_.size());
    std::vector<bool> duplicate(records_.size(), false);
    // Duplicates by sorting each RRset's records by (RDATA, position) and marking every record
    // equal to the one before it: n log n, where comparing each with every earlier record made
    // a headless Service of 50,000 endpoints take 40 s to load. The first of equals stays.
    std::vector<uint32_t> by_rdata;
    auto mark_duplicates = [&](size_t first, size_t last) {
        by_rdata.resize(last - first);
        for (size_t i = first; i < last; ++i) {
            by_rdata[i - first] = static_cast<uint32_t>(i);
        }
        std::sort(by_rdata.begin(), by_rdata.end(), [&](uint32_t a, uint32_t b) {
            const auto x = rdata_of(records_[a]);
            const auto y = rdata_of(records_[b]);
            const auto order =
                std::lexicographical_compare_three_way(x.begin(), x.end(), y.begin(), y.end());
            return order != 0 ? order < 0 : a < b;
        });
        for (size_t i = 1; i < by_rdata.size(); ++i) {
            const auto x = rdata_of(records_[by_rdata[i - 1]]);
            const auto y = rdata_of(records_[by_rdata[i]]);
            duplicate[by_rdata[i]] = std::equal(x.begin(), x.end(), y.begin(), y.end());
        }
    };
    size_t total_words = 0;
    for (size_t owner = 0, next = 0; owner < owners_.size(); ++owner) {
        Layout& l = layouts[owner];
        l.first_record = next;
        size_t data = 0;
        while (next < records_.size() && records_[next].owner == owner) {
            const size_t set_start = next;
            while (next < records_.size() && records_[next].owner == owner &&
                   records_[next].type == records_[set_start].type) {
                ++next;
            }
            mark_duplicates(set_start, next);
            for (size_t r = set_start; r < next; ++r) {
                if (!duplicate[r]) {
                    ++l.refs;
                    data += records_[r].rdata_size;
                }
            }
            ++l.rrsets;
        }
        l.end_record = next;
        l.bytes =
            sizeof(Zone::Node) + Zone::padded(owner_name(static_cast<uint32_t>(owner)).size()) +
            l.rrsets * sizeof(Zone::RRset) + l.refs * sizeof(Zone::RdataRef) + Zone::padded(data);
        total_words += l.bytes / 8;
    }

    // Second pass: write the blocks into one exactly sized array.
    auto zone = std::make_shared<Zone>();
    zone->blocks_.assign(total_words, 0);
    std::vector<uint64_t> block_of(owners_.size());
    uint8_t* const base = reinterpret_cast<uint8_t*>(zone->blocks_.data());
    size_t word = 0;
    for (size_t owner = 0; owner < owners_.size(); ++owner) {
        const Layout& l = layouts[owner];
        const WireName name = owner_name(static_cast<uint32_t>(owner));
        block_of[owner] = word;
        uint8_t* block = base + word * 8;
        new (block)
            Zone::Node{static_cast<uint16_t>(l.rrsets), static_cast<uint8_t>(name.size()), {}};
        std::memcpy(block + sizeof(Zone::Node), name.data(), name.size());
        auto* rrset =
            reinterpret_cast<Zone::RRset*>(block + sizeof(Zone::Node) + Zone::padded(name.size()));
        auto* ref = reinterpret_cast<Zone::RdataRef*>(rrset + l.rrsets);
        uint8_t* data = reinterpret_cast<uint8_t*>(ref + l.refs);
        for (size_t r = l.first_record; r < l.end_record; ++rrset) {
            const PendingRecord& first = records_[r];
            auto* set =
                new (rrset) Zone::RRset{first.type, 0, first.ttl_seconds, 0,
                                        static_cast<uint32_t>(reinterpret_cast<uint8_t*>(ref) -
                                                              reinterpret_cast<uint8_t*>(rrset))};
            for (; r < l.end_record && records_[r].type == first.type; ++r) {
                if (duplicate[r]) {
                    continue;
                }
                const auto rdata = rdata_of(records_[r]);
                new (ref)
                    Zone::RdataRef{static_cast<uint32_t>(data - reinterpret_cast<uint8_t*>(ref)),
                                   static_cast<uint16_t>(rdata.size()), 0};
                std::memcpy(data, rdata.data(), rdata.size());
                data += rdata.size();
                ++ref;
                ++set->rdata_count;
            }
        }
        word += l.bytes / 8;
    }
    zone->node_count_ = owners_.size();
    for (const Layout& l : layouts) {
        zone->record_count_ += l.refs;
    }

    // Load factor from 1/3 to 2/3: short linear probes, 8 bytes a slot.
    zone->table_.assign(std::bit_ceil(std::max<size_t>(16, owners_.size() * 3 / 2)), 0);
    const size_t mask = zone->table_.size() - 1;
    for (size_t owner = 0; owner < owners_.size(); ++owner) {
        const uint64_t hash = name_hash(owner_name(static_cast<uint32_t>(owner)));
        size_t slot = hash & mask;
        while (zone->table_[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        zone->table_[slot] = (hash & 0xFFFFFFFF00000000ull) | (block_of[owner] + 1);
    }
    for (const uint32_t apex : apexes_) {
        zone->apexes_.push_back(
            {block_of[apex], static_cast<uint32_t>(name_label_count(owner_name(apex)))});
    }
    return zone;
}

}  // namespace clusterdns
