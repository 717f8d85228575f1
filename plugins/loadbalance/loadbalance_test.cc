#include "plugins/loadbalance/loadbalance.h"

#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "dns/message.h"
#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

using test::decode;
using test::texts;

struct Rr {
    Section section;
    std::string owner;
    RrType type;
    std::vector<uint8_t> rdata;
    uint32_t ttl = 30;
};

std::vector<uint8_t> wire_of(const std::string& text) {
    const auto name = Name::from_text(text);
    REQUIRE(name);
    return {name->wire().begin(), name->wire().end()};
}

// A response to `qname` A with `rrs`, written by the codec (owners and CNAME targets
// compressed).
std::vector<uint8_t> response(const std::string& qname, const std::vector<Rr>& rrs,
                              Rcode rcode = Rcode::NoError) {
    const std::vector<uint8_t> packet = test::make_query({.name = qname});
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, out.size());
    w.begin(q);
    w.set_rcode(rcode);
    for (const Rr& rr : rrs) {
        const auto owner = Name::from_text(rr.owner);
        REQUIRE(owner);
        REQUIRE(w.add(rr.section, owner->wire(), rr.type, rr.ttl, rr.rdata));
    }
    out.resize(w.finish());
    return out;
}

Rr a(const std::string& owner, uint8_t last, uint32_t ttl = 30) {
    return {Section::Answer, owner, RrType::A, {10, 0, 0, last}, ttl};
}

Rr aaaa(const std::string& owner, uint8_t last) {
    std::vector<uint8_t> v6(16, 0);
    v6[0] = 0xfd;
    v6[15] = last;
    return {Section::Answer, owner, RrType::Aaaa, v6};
}

std::vector<std::string> answer(std::span<const uint8_t> message) {
    const test::Decoded d = decode(message);
    REQUIRE(d.ok);
    return texts(d.answer);
}

// The answer section after `turns` rotations of the same response.
std::vector<std::vector<std::string>> rotations(const std::vector<uint8_t>& message, int times) {
    std::vector<std::vector<std::string>> out;
    uint64_t turns = 0;
    for (int i = 0; i < times; ++i) {
        std::vector<uint8_t> copy = message;
        rotate_addresses(copy, turns);
        out.push_back(answer(copy));
    }
    return out;
}

// Whether `got` is `original` rotated (the same cyclic order).
bool is_rotation(const std::vector<std::string>& original, const std::vector<std::string>& got) {
    if (original.size() != got.size()) {
        return false;
    }
    for (size_t start = 0; start < original.size(); ++start) {
        bool same = true;
        for (size_t i = 0; i < original.size() && same; ++i) {
            same = got[i] == original[(start + i) % original.size()];
        }
        if (same) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("loadbalance: a run of A records rotates, every address first as often") {
    std::vector<Rr> rrs;
    for (uint8_t i = 1; i <= 8; ++i) {
        rrs.push_back(a("web.default.svc.cluster.local", i));
    }
    const std::vector<uint8_t> message = response("web.default.svc.cluster.local", rrs);
    const std::vector<std::string> original = answer(message);
    std::map<std::string, int> first;
    for (const auto& got : rotations(message, 800)) {
        CHECK(is_rotation(original, got));
        ++first[got.front()];
    }
    REQUIRE(first.size() == 8);
    for (const auto& [address, times] : first) {
        INFO(address);
        CHECK(times >= 60);
        CHECK(times <= 140);
    }
}

TEST_CASE("loadbalance: a run of two is not stuck when turns alternate with another run") {
    // A client's A and AAAA questions, one after the other on one worker: each takes a turn.
    const std::vector<uint8_t> v4 =
        response("db.default.svc.cluster.local",
                 {a("db.default.svc.cluster.local", 1), a("db.default.svc.cluster.local", 2)});
    const std::vector<uint8_t> v6 = response(
        "db.default.svc.cluster.local",
        {aaaa("db.default.svc.cluster.local", 1), aaaa("db.default.svc.cluster.local", 2)});
    uint64_t turns = 0;
    std::map<std::string, int> first;
    for (int i = 0; i < 200; ++i) {
        std::vector<uint8_t> copy = v4;
        rotate_addresses(copy, turns);
        ++first[answer(copy).front()];
        copy = v6;
        rotate_addresses(copy, turns);
    }
    REQUIRE(first.size() == 2);
    CHECK(first.begin()->second >= 60);
    CHECK(first.begin()->second <= 140);
}

TEST_CASE("loadbalance: CNAMEs stay first and in order; each owner's run rotates apart") {
    const std::vector<uint8_t> target = wire_of("lb.example.com");
    const std::vector<uint8_t> next = wire_of("www.example.net");
    const std::vector<uint8_t> message = response(
        "www.example.com", {{Section::Answer, "www.example.com", RrType::Cname, target},
                            {Section::Answer, "lb.example.com", RrType::Cname, next},
                            a("www.example.net", 1),
                            a("www.example.net", 2),
                            a("www.example.net", 3),
                            aaaa("www.example.net", 1),
                            aaaa("www.example.net", 2),
                            a("other.example.net", 7),
                            a("other.example.net", 8),
                            {Section::Additional, "www.example.net", RrType::A, {10, 9, 9, 1}},
                            {Section::Additional, "www.example.net", RrType::A, {10, 9, 9, 2}}});
    const test::Decoded before = decode(message);
    REQUIRE(before.ok);
    const std::vector<std::string> original = texts(before.answer);
    const auto part = [](const std::vector<std::string>& all, size_t from, size_t n) {
        return std::vector<std::string>(all.begin() + static_cast<long>(from),
                                        all.begin() + static_cast<long>(from + n));
    };
    std::map<std::string, int> first_v4, first_v6, first_other;
    uint64_t turns = 0;
    for (int i = 0; i < 300; ++i) {
        std::vector<uint8_t> copy = message;
        rotate_addresses(copy, turns);
        const test::Decoded after = decode(copy);
        REQUIRE(after.ok);
        const std::vector<std::string> got = texts(after.answer);
        CHECK(part(got, 0, 2) == part(original, 0, 2));
        CHECK(is_rotation(part(original, 2, 3), part(got, 2, 3)));
        CHECK(is_rotation(part(original, 5, 2), part(got, 5, 2)));
        CHECK(is_rotation(part(original, 7, 2), part(got, 7, 2)));
        CHECK(texts(after.additional) == texts(before.additional));
        ++first_v4[got[2]];
        ++first_v6[got[5]];
        ++first_other[got[7]];
    }
    CHECK(first_v4.size() == 3);
    CHECK(first_v6.size() == 2);
    CHECK(first_other.size() == 2);
}

TEST_CASE("loadbalance: a TTL goes with its address; owners keep their bytes") {
    // The owner written out once, then as pointers to it: the run's owners differ in octets.
    std::vector<uint8_t> message = response(
        "x.example.com",
        {a("www.example.org", 1, 10), a("www.example.org", 2, 20), a("www.example.org", 3, 30)});
    const std::vector<uint8_t> original = message;
    const test::Decoded before = decode(original);
    REQUIRE(before.ok);
    REQUIRE(before.answer[1].owner_offset - before.answer[0].owner_offset > 16);  // written out
    bool moved = false;
    uint64_t turns = 0;
    for (int i = 0; i < 10; ++i) {
        message = original;
        rotate_addresses(message, turns);
        const test::Decoded after = decode(message);
        REQUIRE(after.ok);
        for (size_t j = 0; j < 3; ++j) {
            CHECK(after.answer[j].owner == "www.example.org.");
            CHECK(after.answer[j].owner_offset == before.answer[j].owner_offset);
            CHECK(after.answer[j].ttl == 10u * after.answer[j].rdata[3]);
        }
        moved = moved || after.answer[0].text != before.answer[0].text;
    }
    CHECK(moved);
}

TEST_CASE("loadbalance: owners that differ only in case are one run") {
    const std::vector<uint8_t> message =
        response("Web.example.com",
                 {a("web.example.com", 1), a("WEB.example.com", 2), a("web.example.com", 3)});
    std::map<std::string, int> first;
    for (const auto& got : rotations(message, 60)) {
        ++first[got.front().substr(got.front().rfind(' ') + 1)];
    }
    CHECK(first.size() == 3);
}

TEST_CASE("loadbalance: what is left alone") {
    const std::vector<Rr> two = {a("web.example.com", 1), a("web.example.com", 2)};
    uint64_t turns = 0;
    const auto unchanged = [&](std::vector<uint8_t> message) {
        const std::vector<uint8_t> before = message;
        for (int i = 0; i < 20; ++i) {
            rotate_addresses(message, turns);
            if (message != before) {
                return false;
            }
        }
        return true;
    };
    SUBCASE("another RCODE") {
        CHECK(unchanged(response("web.example.com", two, Rcode::ServFail)));
    }
    SUBCASE("a query") {
        std::vector<uint8_t> message = response("web.example.com", two);
        message[2] &= 0x7F;
        CHECK(unchanged(message));
    }
    SUBCASE("one address") {
        CHECK(unchanged(response("web.example.com", {a("web.example.com", 1)})));
    }
    SUBCASE("different owners, types or sizes") {
        CHECK(unchanged(response("web.example.com",
                                 {a("web.example.com", 1),
                                  a("api.example.com", 2),
                                  aaaa("api.example.com", 3),
                                  a("api.example.com", 4),
                                  {Section::Answer, "api.example.com", RrType::A, {1, 2, 3}}})));
    }
    SUBCASE("records apart") {
        CHECK(unchanged(response("web.example.com",
                                 {a("web.example.com", 1),
                                  {Section::Answer, "web.example.com", RrType::Txt, {1, 'x'}},
                                  a("web.example.com", 2)})));
    }
    SUBCASE("addresses in the additional section only") {
        CHECK(unchanged(
            response("web.example.com",
                     {{Section::Additional, "web.example.com", RrType::A, {1, 1, 1, 1}},
                      {Section::Additional, "web.example.com", RrType::A, {1, 1, 1, 2}}})));
    }
    CHECK(turns == 0);
}

TEST_CASE("loadbalance: truncated or malformed messages are read no further") {
    std::vector<uint8_t> message;
    std::vector<Rr> rrs;
    for (uint8_t i = 1; i <= 5; ++i) {
        rrs.push_back(a("web.example.com", i));
    }
    message = response("web.example.com", rrs);
    uint64_t turns = 0;
    // Every prefix, and every byte changed in turn: no read or write outside the message (the
    // sanitizer build checks), and a rotation never changes its size.
    for (size_t size = 0; size <= message.size(); ++size) {
        std::vector<uint8_t> cut(message.begin(), message.begin() + static_cast<long>(size));
        rotate_addresses(cut, turns);
        CHECK(cut.size() == size);
    }
    for (size_t at = 0; at < message.size(); ++at) {
        for (const uint8_t value : {uint8_t{0x00}, uint8_t{0xC0}, uint8_t{0xFF}, uint8_t{0x3F}}) {
            std::vector<uint8_t> bad = message;
            bad[at] = value;
            rotate_addresses(bad, turns);
        }
    }
}

}  // namespace clusterdns
