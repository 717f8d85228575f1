#include "plugins/metrics/zone_slots.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

// A query's header and question name in wire form (what slot_of reads).
std::vector<uint8_t> message(const std::string& name) {
    std::vector<uint8_t> m(12, 0);
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        dot = dot == std::string::npos ? name.size() : dot;
        m.push_back(static_cast<uint8_t>(dot - start));
        m.insert(m.end(), name.begin() + static_cast<long>(start),
                 name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    m.push_back(0);
    m.insert(m.end(), {0, 1, 0, 1});
    return m;
}

TEST_CASE("zone slots: a query counts under the longest zone of the blocks holding its name") {
    const ZoneSlots slots({{"dns://:53", {"."}},
                           {"dns://:53", {"consul.local.", "b.consul.local"}},
                           {"dns://:53", {"Example.COM."}}},
                          "dns://127.0.0.1:53");
    REQUIRE(slots.size() == 4);
    CHECK(slots.zone(0) == ".");
    CHECK(slots.server(0) == "dns://:53");
    CHECK(slots.zone(1) == "consul.local.");
    CHECK(slots.zone(2) == "b.consul.local.");
    CHECK(slots.zone(3) == "Example.COM.");
    CHECK(slots.slot_of(message("web.consul.local")) == 1);
    CHECK(slots.slot_of(message("consul.local")) == 1);
    CHECK(slots.slot_of(message("x.b.consul.local")) == 2);
    CHECK(slots.slot_of(message("WWW.example.com")) == 3);
    CHECK(slots.slot_of(message("kubernetes.default.svc.cluster.local")) == 0);
    CHECK(slots.slot_of(message("notconsul.local")) == 0);  // a label boundary, not a suffix
    CHECK(slots.slot_of(message("")) == 0);
    // Unreadable names are slot 0's.
    auto cut = message("web.consul.local");
    cut.resize(20);
    CHECK(slots.slot_of(cut) == 0);
    auto pointer = message("web.consul.local");
    pointer[12] = 0xC0;
    CHECK(slots.slot_of(pointer) == 0);
    CHECK(slots.slot_of({}) == 0);
}

TEST_CASE("zone slots: without blocks, one slot with the listen address's label") {
    const ZoneSlots none({}, "dns://127.0.0.1:5353");
    CHECK(none.size() == 1);
    CHECK(none.server(0) == "dns://127.0.0.1:5353");
    CHECK(none.slot_of(message("web.consul.local")) == 0);
    // Past kZoneSlots zones, the rest count under slot 0.
    std::vector<ZoneSlots::Block> many = {{"dns://:53", {"."}}};
    for (int i = 0; i < 20; ++i) {
        many.push_back({"dns://:53", {"z" + std::to_string(i) + ".test"}});
    }
    const ZoneSlots capped(many, "");
    CHECK(capped.size() == kZoneSlots);
    CHECK(capped.slot_of(message("a.z0.test")) == 1);
    CHECK(capped.slot_of(message("a.z19.test")) == 0);
}

}  // namespace
}  // namespace clusterdns
