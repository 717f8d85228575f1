#include "zone/zone.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

Name name(std::string_view text) {
    auto n = Name::from_text(text);
    REQUIRE(n.has_value());
    n->to_lower();
    return *n;
}

std::vector<uint8_t> wire(std::string_view text) {
    const Name n = name(text);
    return {n.wire().begin(), n.wire().end()};
}

const Zone::Node* find(const Zone& zone, std::string_view text) {
    return zone.find(wire(text));
}

std::string apex_of(const Zone& zone, std::string_view text) {
    const Zone::Node* apex = zone.apex_for(wire(text));
    return apex == nullptr ? "none" : name_to_text(zone.name(*apex));
}

constexpr uint8_t kA1[] = {10, 0, 0, 1};
constexpr uint8_t kA2[] = {10, 0, 0, 2};

}  // namespace

TEST_CASE("zone: ancestors up to the apex become empty non-terminal nodes") {
    ZoneBuilder b;
    b.add_apex(name("cluster.local"));
    b.add(name("a.b.c.cluster.local"), RrType::A, 30, kA1);
    const auto zone = b.build();

    const Zone::Node* leaf = find(*zone, "a.b.c.cluster.local");
    REQUIRE(leaf != nullptr);
    CHECK(zone->rrsets(*leaf).size() == 1);
    for (const char* ent : {"b.c.cluster.local", "c.cluster.local"}) {
        CAPTURE(ent);
        const Zone::Node* node = find(*zone, ent);
        REQUIRE(node != nullptr);
        CHECK(zone->rrsets(*node).empty());
    }
    CHECK(find(*zone, "cluster.local") != nullptr);
    CHECK(find(*zone, "local") == nullptr);  // above the apex: not ours
    CHECK(find(*zone, "x.c.cluster.local") == nullptr);
    CHECK(find(*zone, "z.a.b.c.cluster.local") == nullptr);
    CHECK(zone->node_count() == 4);
}

TEST_CASE("zone: owners outside every apex get no empty non-terminals") {
    ZoneBuilder b;
    b.add_apex(name("cluster.local"));
    b.add(name("a.b.example.org"), RrType::A, 30, kA1);
    const auto zone = b.build();
    CHECK(find(*zone, "a.b.example.org") != nullptr);
    CHECK(find(*zone, "b.example.org") == nullptr);
    CHECK(apex_of(*zone, "a.b.example.org") == "none");
}

TEST_CASE("zone: duplicate RDATA within an RRset is stored once") {
    ZoneBuilder b;
    b.add_apex(name("cluster.local"));
    const Name owner = name("svc.cluster.local");
    b.add(owner, RrType::A, 30, kA1);
    b.add(owner, RrType::A, 30, kA2);
    b.add(owner, RrType::A, 30, kA1);
    b.add(owner, RrType::Txt, 60, kA1);  // same bytes, another type: its own RRset
    const auto zone = b.build();
    const Zone::Node* node = find(*zone, "svc.cluster.local");
    REQUIRE(node != nullptr);
    const Zone::RRset* a = zone->rrset(*node, RrType::A);
    REQUIRE(a != nullptr);
    CHECK(a->rdata_count == 2);
    CHECK(a->ttl_seconds == 30);
    const auto first = zone->rdata(*a, 0);
    const auto second = zone->rdata(*a, 1);
    CHECK(std::vector<uint8_t>(first.begin(), first.end()) == std::vector<uint8_t>{10, 0, 0, 1});
    CHECK(std::vector<uint8_t>(second.begin(), second.end()) == std::vector<uint8_t>{10, 0, 0, 2});
    const Zone::RRset* txt = zone->rrset(*node, RrType::Txt);
    REQUIRE(txt != nullptr);
    CHECK(txt->rdata_count == 1);
    CHECK(txt->ttl_seconds == 60);
    CHECK(zone->rrset(*node, RrType::Aaaa) == nullptr);
}

TEST_CASE("zone: duplicates in a large RRset are dropped, first occurrences keep their order") {
    ZoneBuilder b;
    b.add_apex(name("cluster.local"));
    const Name owner = name("big.cluster.local");
    // 3,000 addresses in a scrambled order, each added twice or three times, the repeats spread
    // over the whole RRset; and RDATA that is a prefix of another is no duplicate of it.
    std::vector<std::vector<uint8_t>> expected;
    auto address = [](uint32_t i) {
        return std::vector<uint8_t>{10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                                    static_cast<uint8_t>(i)};
    };
    for (uint32_t round = 0; round < 3; ++round) {
        for (uint32_t i = 0; i < 3000; ++i) {
            const uint32_t value = (i * 7919) % 3000;  // 7919 is prime: a permutation
            if (round == 2 && value % 2 == 0) {
                continue;
            }
            b.add(owner, RrType::A, 30, address(value));
            if (round == 0) {
                expected.push_back(address(value));
            }
        }
    }
    const std::vector<uint8_t> shorter = {10, 0, 0};
    b.add(owner, RrType::A, 30, shorter);
    b.add(owner, RrType::A, 30, shorter);
    expected.push_back(shorter);
    const auto zone = b.build();
    const Zone::Node* node = find(*zone, "big.cluster.local");
    REQUIRE(node != nullptr);
    const Zone::RRset* a = zone->rrset(*node, RrType::A);
    REQUIRE(a != nullptr);
    REQUIRE(a->rdata_count == expected.size());
    for (uint32_t i = 0; i < a->rdata_count; ++i) {
        CAPTURE(i);
        const auto rdata = zone->rdata(*a, i);
        CHECK(std::vector<uint8_t>(rdata.begin(), rdata.end()) == expected[i]);
    }
}

TEST_CASE("zone: apex_for picks the deepest enclosing apex") {
    ZoneBuilder b;
    // Added shallowest first, so the builder has to sort them.
    b.add_apex(name("local"));
    b.add_apex(name("in-addr.arpa"));
    b.add_apex(name("cluster.local"));
    b.add_apex(name("10.in-addr.arpa"));
    const auto zone = b.build();
    CHECK(apex_of(*zone, "svc1.testns.svc.cluster.local") == "cluster.local.");
    CHECK(apex_of(*zone, "cluster.local") == "cluster.local.");
    CHECK(apex_of(*zone, "Cluster.LOCAL") == "cluster.local.");
    CHECK(apex_of(*zone, "other.local") == "local.");
    CHECK(apex_of(*zone, "xcluster.local") == "local.");
    CHECK(apex_of(*zone, "1.0.0.10.in-addr.arpa") == "10.in-addr.arpa.");
    CHECK(apex_of(*zone, "1.0.0.11.in-addr.arpa") == "in-addr.arpa.");
    CHECK(apex_of(*zone, "example.com") == "none");
    CHECK(apex_of(*zone, "arpa") == "none");
}

TEST_CASE("zone: find is case-insensitive and finds every node of a large zone") {
    ZoneBuilder b;
    b.add_apex(name("cluster.local"));
    for (int i = 0; i < 2000; ++i) {
        b.add(name("svc" + std::to_string(i) + ".ns.svc.cluster.local"), RrType::A, 30, kA1);
    }
    const auto zone = b.build();
    CHECK(zone->node_count() == 2000 + 3);  // + ns.svc, svc, the apex
    for (int i = 0; i < 2000; ++i) {
        const std::string text = "svc" + std::to_string(i) + ".ns.svc.cluster.local";
        const Zone::Node* node = find(*zone, text);
        REQUIRE(node != nullptr);
        CHECK(name_to_text(zone->name(*node)) == text + ".");
    }
    auto upper = Name::from_text("SVC17.NS.Svc.Cluster.Local");
    REQUIRE(upper.has_value());
    CHECK(zone->find(upper->wire()) != nullptr);
    CHECK(find(*zone, "svc2000.ns.svc.cluster.local") == nullptr);
    CHECK(zone->memory_bytes() > 0);
}

TEST_CASE("zone: an empty builder gives an empty zone") {
    ZoneBuilder b;
    const auto zone = b.build();
    CHECK(zone->node_count() == 0);
    CHECK(find(*zone, "cluster.local") == nullptr);
    CHECK(apex_of(*zone, "cluster.local") == "none");
}

}  // namespace clusterdns
