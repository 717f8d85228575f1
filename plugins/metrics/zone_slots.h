#pragma once
// The zones of a Corefile's server blocks (Options::server_blocks), for the `server` and `zone`
// labels of the query metrics: CoreDNS counts a query under the zone of the block that served
// it, and dashboards split by it. Slot 0 is the main block (its first zone) and takes every name
// no other block's zone holds. Read on the query path: no allocation, no lock.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace clusterdns {

// Zones beyond these count under slot 0.
inline constexpr size_t kZoneSlots = 8;

class ZoneSlots {
public:
    struct Block {
        std::string server;              // "dns://:53"
        std::vector<std::string> zones;  // "consul.local." ("." and "" alike: the root)
    };
    ZoneSlots() = default;
    // `blocks` as Options::server_blocks holds them, the main one first; none: one slot,
    // `server` and ".".
    ZoneSlots(const std::vector<Block>& blocks, const std::string& server);

    size_t size() const { return labels_.size(); }
    const std::string& server(size_t slot) const { return labels_[slot].server; }
    const std::string& zone(size_t slot) const { return labels_[slot].zone; }

    // The slot of the longest zone holding the question name of `message` (a query or a
    // response, in wire form); 0 when no other zone holds it or the name is unreadable.
    size_t slot_of(std::span<const uint8_t> message) const noexcept;

private:
    struct Label {
        std::string server;
        std::string zone;
    };
    std::vector<Label> labels_ = {{"dns://:53", "."}};
    std::vector<std::vector<uint8_t>> wire_;  // of labels_[i].zone, lowercase; [0] unused
};

}  // namespace clusterdns
