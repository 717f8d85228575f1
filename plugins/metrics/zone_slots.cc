#include "plugins/metrics/zone_slots.h"

#include <algorithm>

namespace clusterdns {
namespace {

uint8_t lower(uint8_t c) {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

std::string with_dot(std::string zone) {
    if (zone.empty() || zone.back() != '.') {
        zone += '.';
    }
    return zone;
}

std::vector<uint8_t> wire_of(const std::string& zone) {
    std::vector<uint8_t> wire;
    size_t start = 0;
    while (start < zone.size()) {
        const size_t dot = std::min(zone.find('.', start), zone.size());
        if (dot > start) {
            wire.push_back(static_cast<uint8_t>(std::min<size_t>(dot - start, 63)));
            for (size_t i = start; i < dot && i < start + 63; ++i) {
                wire.push_back(lower(static_cast<uint8_t>(zone[i])));
            }
        }
        start = dot + 1;
    }
    wire.push_back(0);
    return wire;
}

}  // namespace

ZoneSlots::ZoneSlots(const std::vector<Block>& blocks, const std::string& server) {
    if (blocks.empty()) {
        labels_ = {{server, "."}};
        wire_ = {{}};
        return;
    }
    labels_.clear();
    const Block& main = blocks.front();
    labels_.push_back({main.server, with_dot(main.zones.empty() ? "." : main.zones.front())});
    wire_ = {{}};
    for (size_t b = 0; b < blocks.size(); ++b) {
        for (size_t z = 0; z < blocks[b].zones.size(); ++z) {
            const std::string zone = with_dot(blocks[b].zones[z]);
            if ((b == 0 && z == 0) || zone == "." || labels_.size() == kZoneSlots) {
                continue;  // the root, and zones past the slots, are slot 0's
            }
            labels_.push_back({blocks[b].server, zone});
            wire_.push_back(wire_of(zone));
        }
    }
}

size_t ZoneSlots::slot_of(std::span<const uint8_t> message) const noexcept {
    if (labels_.size() < 2 || message.size() < 13) {
        return 0;
    }
    // The question name's label starts, and its length (to the root label, included).
    constexpr size_t kHeader = 12;
    uint16_t starts[128];
    size_t labels = 0;
    size_t at = kHeader;
    while (at < message.size() && message[at] != 0) {
        const uint8_t length = message[at];
        if (length > 63 || labels == std::size(starts) || at + 1 + length >= message.size()) {
            return 0;  // a pointer, or not a name
        }
        starts[labels++] = static_cast<uint16_t>(at);
        at += 1 + length;
    }
    if (at >= message.size()) {
        return 0;
    }
    const size_t end = at + 1;  // past the root label
    size_t best = 0;
    size_t best_length = 0;
    for (size_t slot = 1; slot < labels_.size(); ++slot) {
        const std::vector<uint8_t>& zone = wire_[slot];
        if (zone.size() <= best_length || zone.size() > end - kHeader) {
            continue;
        }
        const size_t from = end - zone.size();
        // It must start at a label.
        if (std::find(starts, starts + labels, from) == starts + labels && zone.size() > 1) {
            continue;
        }
        bool same = true;
        for (size_t i = 0; i < zone.size() && same; ++i) {
            same = lower(message[from + i]) == zone[i];
        }
        if (same) {
            best = slot;
            best_length = zone.size();
        }
    }
    return best;
}

}  // namespace clusterdns
