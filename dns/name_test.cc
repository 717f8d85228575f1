#include "dns/name.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

std::vector<uint8_t> wire(std::string_view text) {
    auto name = Name::from_text(text);
    REQUIRE(name.has_value());
    return {name->wire().begin(), name->wire().end()};
}

Name name(std::string_view text) {
    auto n = Name::from_text(text);
    REQUIRE(n.has_value());
    return *n;
}

// A message: 12 bytes of header padding, then `body`; reads the name at `at`.
struct ReadResult {
    bool ok;
    std::string text;
    size_t pos;
};
ReadResult read_at(const std::vector<uint8_t>& msg, size_t at) {
    WireReader r(msg, at);
    const Name n = Name::read(r);
    return {r.ok(), n.to_text(), r.pos()};
}

std::vector<uint8_t> header() {
    return std::vector<uint8_t>(12, 0);
}

void append(std::vector<uint8_t>& out, std::initializer_list<uint8_t> bytes) {
    out.insert(out.end(), bytes);
}

}  // namespace

TEST_CASE("name: read an uncompressed name") {
    std::vector<uint8_t> msg = header();
    const auto w = wire("svc1.testns.svc.cluster.local");
    msg.insert(msg.end(), w.begin(), w.end());
    append(msg, {0, 1});  // what follows: QTYPE
    const ReadResult r = read_at(msg, 12);
    CHECK(r.ok);
    CHECK(r.text == "svc1.testns.svc.cluster.local.");
    CHECK(r.pos == 12 + w.size());
}

TEST_CASE("name: read follows a backward compression pointer and resumes after it") {
    std::vector<uint8_t> msg = header();
    const auto w = wire("cluster.local");
    msg.insert(msg.end(), w.begin(), w.end());  // at 12
    const size_t at = msg.size();
    append(msg, {3, 's', 'v', 'c', 0xC0, 12, 0xAA});
    const ReadResult r = read_at(msg, at);
    CHECK(r.ok);
    CHECK(r.text == "svc.cluster.local.");
    CHECK(r.pos == at + 6);  // after the pointer, not after the target

    SUBCASE("a chain of pointers, each further back") {
        const size_t second = msg.size();
        append(msg, {2, 'a', 'b', 0xC0, static_cast<uint8_t>(at)});
        const ReadResult c = read_at(msg, second);
        CHECK(c.ok);
        CHECK(c.text == "ab.svc.cluster.local.");
        CHECK(c.pos == second + 5);
    }
}

TEST_CASE("name: read rejects forward pointers and pointer loops") {
    SUBCASE("forward pointer") {
        std::vector<uint8_t> msg = header();
        append(msg, {0xC0, 14, 3, 'c', 'o', 'm', 0});
        CHECK_FALSE(read_at(msg, 12).ok);
    }
    SUBCASE("pointer to itself") {
        std::vector<uint8_t> msg = header();
        append(msg, {0xC0, 12});
        CHECK_FALSE(read_at(msg, 12).ok);
    }
    SUBCASE("two pointers pointing at each other") {
        std::vector<uint8_t> msg = header();
        append(msg, {0xC0, 14, 0xC0, 12});
        CHECK_FALSE(read_at(msg, 14).ok);
        CHECK_FALSE(read_at(msg, 12).ok);
    }
    SUBCASE("a label then a pointer back to that label") {
        std::vector<uint8_t> msg = header();
        append(msg, {1, 'a', 0xC0, 12});
        CHECK_FALSE(read_at(msg, 12).ok);
    }
    SUBCASE("pointer past the end") {
        std::vector<uint8_t> msg = header();
        append(msg, {0xC0});
        CHECK_FALSE(read_at(msg, 12).ok);
    }
}

TEST_CASE("name: read rejects names over 255 octets") {
    std::vector<uint8_t> msg = header();
    // 4 labels of 63 = 256 octets with the length octets, plus the root: too long.
    for (int i = 0; i < 4; ++i) {
        msg.push_back(63);
        msg.insert(msg.end(), 63, 'x');
    }
    msg.push_back(0);
    CHECK_FALSE(read_at(msg, 12).ok);

    SUBCASE("also when the length comes from following a pointer") {
        std::vector<uint8_t> m = header();
        for (int i = 0; i < 3; ++i) {
            m.push_back(63);
            m.insert(m.end(), 63, 'x');
        }
        m.push_back(0);  // 193 octets at 12
        const size_t at = m.size();
        m.push_back(63);
        m.insert(m.end(), 63, 'y');
        append(m, {0xC0, 12});  // 64 + 193 = 257
        CHECK(read_at(m, 12).ok);
        CHECK_FALSE(read_at(m, at).ok);
    }
    SUBCASE("exactly 255 octets is fine") {
        std::vector<uint8_t> m = header();
        for (int i = 0; i < 3; ++i) {
            m.push_back(63);
            m.insert(m.end(), 63, 'x');
        }
        m.push_back(61);
        m.insert(m.end(), 61, 'z');
        m.push_back(0);
        const ReadResult r = read_at(m, 12);
        CHECK(r.ok);
        CHECK(r.pos == 12 + 255);
    }
}

TEST_CASE("name: read rejects the obsolete label types 0x40 and 0x80") {
    for (const uint8_t type : {uint8_t{0x40}, uint8_t{0x80}, uint8_t{0x41}}) {
        CAPTURE(type);
        std::vector<uint8_t> msg = header();
        append(msg, {type, 'a', 0});
        CHECK_FALSE(read_at(msg, 12).ok);
    }
}

TEST_CASE("name: read rejects a name running off the end") {
    std::vector<uint8_t> msg = header();
    append(msg, {3, 'c', 'o', 'm'});
    CHECK_FALSE(read_at(msg, 12).ok);
    std::vector<uint8_t> m2 = header();
    append(m2, {5, 'a'});
    CHECK_FALSE(read_at(m2, 12).ok);
}

TEST_CASE("name: from_text parses presentation form") {
    CHECK(name("a.b.c").to_text() == "a.b.c.");
    CHECK(name("a.b.c.").wire().size() == 7);
    CHECK(name(".").is_root());
    CHECK(name(".").to_text() == ".");
    CHECK(name("Svc.Cluster.Local").to_text() == "Svc.Cluster.Local.");  // case kept
    CHECK(name("cluster.local").label_count() == 2);

    CHECK_FALSE(Name::from_text("").has_value());
    CHECK_FALSE(Name::from_text("a..b").has_value());
    CHECK_FALSE(Name::from_text(".a").has_value());
    CHECK_FALSE(Name::from_text("a\\.b").has_value());
    CHECK_FALSE(Name::from_text(std::string(64, 'x') + ".local").has_value());
    CHECK(Name::from_text(std::string(63, 'x') + ".local").has_value());
    std::string long_name;
    for (int i = 0; i < 4; ++i) {
        long_name += std::string(63, 'x') + ".";
    }
    CHECK_FALSE(Name::from_text(long_name).has_value());
    // Three 63-octet labels and one of 61: 3 * 64 + 62 + the root = 255 octets, the longest legal.
    const std::string max_name = std::string(63, 'x') + "." + std::string(63, 'x') + "." +
                                 std::string(63, 'x') + "." + std::string(61, 'x');
    CHECK(Name::from_text(max_name).has_value());
    CHECK_FALSE(Name::from_text(max_name + "x").has_value());
}

TEST_CASE("name: to_lower lowercases ASCII letters only") {
    Name n = name("SvC1.TESTns.svc.Cluster.LOCAL");
    n.to_lower();
    CHECK(n.to_text() == "svc1.testns.svc.cluster.local.");
    // Bytes beyond ASCII are not letters (RFC 4343): left alone.
    std::vector<uint8_t> w = {2, 0xC4, 'A', 0};
    Name raw;
    REQUIRE(Name::from_wire(w, raw));
    raw.to_lower();
    CHECK(raw.wire()[1] == 0xC4);
    CHECK(raw.wire()[2] == 'a');
}

TEST_CASE("name: comparison and hashing ignore case") {
    const auto a = wire("Svc1.TestNS.svc.Cluster.Local");
    const auto b = wire("svc1.testns.svc.cluster.local");
    const auto zone = wire("CLUSTER.local");
    CHECK(name_equal(a, b));
    CHECK(name_hash(a) == name_hash(b));
    CHECK(name_in_zone(a, zone));
    CHECK(name_in_zone(zone, wire("cluster.LOCAL")));
    CHECK(name_equal(name_parent(a, 3), zone));
    CHECK(name_equal(name_parent(a), wire("TESTNS.SVC.cluster.local")));
    CHECK(name_parent(a, 99).size() == 1);  // the root

    CHECK_FALSE(name_equal(a, wire("svc2.testns.svc.cluster.local")));
    CHECK_FALSE(name_in_zone(wire("local"), zone));
    CHECK_FALSE(name_in_zone(wire("xcluster.local"), zone));
    CHECK_FALSE(name_in_zone(wire("cluster.local.org"), zone));
    CHECK(name_in_zone(wire("anything"), wire(".")));
    CHECK(name_label_count(a) == 5);
    CHECK(name_first_label(a) == "Svc1");
}

TEST_CASE("name: prepend adds a label in front") {
    Name n = name("svc.cluster.local");
    REQUIRE(n.prepend("testns"));
    CHECK(n.to_text() == "testns.svc.cluster.local.");
    CHECK(n.label_count() == 4);
    CHECK_FALSE(n.prepend(""));
    CHECK_FALSE(n.prepend(std::string(64, 'x')));
    CHECK(n.to_text() == "testns.svc.cluster.local.");  // unchanged by the failures

    SUBCASE("up to 255 octets, not beyond") {
        Name m;
        REQUIRE(m.prepend(std::string(63, 'a')));
        REQUIRE(m.prepend(std::string(63, 'b')));
        REQUIRE(m.prepend(std::string(63, 'c')));
        CHECK(m.size() == 193);
        CHECK_FALSE(m.prepend(std::string(62, 'd')));  // 193 + 63 = 256
        REQUIRE(m.prepend(std::string(61, 'd')));      // 193 + 62 = 255
        CHECK(m.size() == 255);
        CHECK_FALSE(m.prepend("e"));
    }
}

TEST_CASE("name: from_wire accepts only one complete uncompressed name") {
    Name n;
    const auto w = wire("a.b");
    CHECK(Name::from_wire(w, n));
    CHECK(n.to_text() == "a.b.");
    std::vector<uint8_t> trailing = w;
    trailing.push_back(0);
    CHECK_FALSE(Name::from_wire(trailing, n));
    const std::vector<uint8_t> unterminated = {1, 'a'};
    CHECK_FALSE(Name::from_wire(unterminated, n));
    const std::vector<uint8_t> pointer = {1, 'a', 0xC0, 12};
    CHECK_FALSE(Name::from_wire(pointer, n));
}

}  // namespace clusterdns
