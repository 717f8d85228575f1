#include "zone/zone.h"

#include <algorithm>
#include <bit>

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
    for (const uint32_t index : apexes_) {
        if (name_in_zone(name, this->name(nodes_[index]))) {
            return &nodes_[index];
        }
    }
    return nullptr;
}

size_t Zone::memory_bytes() const noexcept {
    return nodes_.capacity() * sizeof(Node) + names_.capacity() +
           rrsets_.capacity() * sizeof(RRset) + rdatas_.capacity() * sizeof(Rdata) +
           rdata_bytes_.capacity() + table_.capacity() * sizeof(uint32_t);
}

namespace {

std::string key_of(WireName name) {
    return std::string(reinterpret_cast<const char*>(name.data()), name.size());
}

WireName wire_of(const std::string& key) {
    return {reinterpret_cast<const uint8_t*>(key.data()), key.size()};
}

}  // namespace

ZoneBuilder::PendingNode& ZoneBuilder::node(const Name& owner) {
    return nodes_[key_of(owner.wire())];
}

void ZoneBuilder::add_apex(const Name& origin) {
    apexes_.push_back(key_of(origin.wire()));
    node(origin);
}

void ZoneBuilder::add(const Name& owner, RrType type, uint32_t ttl_seconds,
                      std::span<const uint8_t> rdata) {
    PendingNode& n = node(owner);
    auto it = std::find_if(n.rrsets.begin(), n.rrsets.end(),
                           [type](const PendingRRset& s) { return s.type == type; });
    if (it == n.rrsets.end()) {
        n.rrsets.push_back({type, ttl_seconds, {}});
        it = n.rrsets.end() - 1;
    }
    std::string data(reinterpret_cast<const char*>(rdata.data()), rdata.size());
    if (std::find(it->rdata.begin(), it->rdata.end(), data) == it->rdata.end()) {
        it->rdata.push_back(std::move(data));
    }
}

void ZoneBuilder::add_name(const Name& owner) { node(owner); }

std::shared_ptr<const Zone> ZoneBuilder::build() {
    // Deepest apex first, so apex_for() finds the closest enclosing zone.
    std::sort(apexes_.begin(), apexes_.end(), [](const std::string& a, const std::string& b) {
        return name_label_count(wire_of(a)) > name_label_count(wire_of(b));
    });

    // Empty non-terminals: every ancestor of an owner, up to its apex, exists.
    std::vector<std::string> owners;
    owners.reserve(nodes_.size());
    for (const auto& [owner, pending] : nodes_) {
        owners.push_back(owner);
    }
    for (const std::string& owner : owners) {
        const WireName wire = wire_of(owner);
        const auto apex = std::find_if(apexes_.begin(), apexes_.end(), [&](const std::string& a) {
            return name_in_zone(wire, wire_of(a));
        });
        if (apex == apexes_.end()) {
            continue;
        }
        const size_t depth = name_label_count(wire) - name_label_count(wire_of(*apex));
        for (size_t skip = 1; skip < depth; ++skip) {
            nodes_.try_emplace(key_of(name_parent(wire, skip)));
        }
    }

    // Sorted owners give a deterministic layout.
    owners.clear();
    for (const auto& [owner, pending] : nodes_) {
        owners.push_back(owner);
    }
    std::sort(owners.begin(), owners.end());

    auto zone = std::make_shared<Zone>();
    zone->nodes_.reserve(owners.size());
    for (const std::string& owner : owners) {
        PendingNode& pending = nodes_[owner];
        Zone::Node node{};
        node.hash = name_hash(wire_of(owner));
        node.name_offset = static_cast<uint32_t>(zone->names_.size());
        node.name_size = static_cast<uint8_t>(owner.size());
        node.first_rrset = static_cast<uint32_t>(zone->rrsets_.size());
        node.rrset_count = static_cast<uint16_t>(pending.rrsets.size());
        zone->names_.insert(zone->names_.end(), owner.begin(), owner.end());
        for (const PendingRRset& set : pending.rrsets) {
            zone->rrsets_.push_back({set.type, set.ttl_seconds,
                                     static_cast<uint32_t>(zone->rdatas_.size()),
                                     static_cast<uint32_t>(set.rdata.size())});
            for (const std::string& rdata : set.rdata) {
                zone->rdatas_.push_back({static_cast<uint32_t>(zone->rdata_bytes_.size()),
                                         static_cast<uint16_t>(rdata.size())});
                zone->rdata_bytes_.insert(zone->rdata_bytes_.end(), rdata.begin(), rdata.end());
            }
        }
        zone->nodes_.push_back(node);
    }

    // Load factor at most 1/2 keeps probe sequences short.
    zone->table_.assign(std::bit_ceil(std::max<size_t>(16, owners.size() * 2)), 0);
    const size_t mask = zone->table_.size() - 1;
    for (size_t i = 0; i < zone->nodes_.size(); ++i) {
        size_t slot = zone->nodes_[i].hash & mask;
        while (zone->table_[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        zone->table_[slot] = static_cast<uint32_t>(i + 1);
    }
    for (const std::string& apex : apexes_) {
        const Zone::Node* node = zone->find(wire_of(apex));
        zone->apexes_.push_back(static_cast<uint32_t>(node - zone->nodes_.data()));
    }
    nodes_.clear();
    apexes_.clear();
    return zone;
}

}  // namespace clusterdns
