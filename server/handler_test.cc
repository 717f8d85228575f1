#include "server/handler.h"

#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"
#include "zone/snapshot_build.h"

namespace clusterdns {
namespace {

using test::decode;
using test::Decoded;
using test::load_hex;
using test::make_query;

std::shared_ptr<const Snapshot> big_zone() {
    Cluster c;
    Service s;
    s.ns = "testns";
    s.name = "svc1";
    s.headless = true;
    c.upsert(s);
    EndpointSet set{.ns = "testns", .name = "svc1-1", .service = "svc1"};
    for (uint8_t i = 1; i <= 200; ++i) {
        set.endpoints.push_back({.addresses = {*parse_ip("10.1.0." + std::to_string(i))}});
    }
    c.upsert(set);
    return build_snapshot(c, test::snapshot_config());
}

struct Reply {
    size_t size;
    Decoded d;
};

Reply handle(const Snapshot* zone, const std::vector<uint8_t>& packet, Transport transport,
             WorkerStats& stats) {
    std::vector<uint8_t> out(65535);
    const size_t size = handle_query(zone, packet, out, transport, stats).size;
    return {size, decode(std::span<const uint8_t>(out).first(size))};
}

}  // namespace

TEST_CASE("handler: malformed queries get their RCODE, responses and runts nothing") {
    WorkerStats stats;
    const auto plain = load_hex("query-plain.hex");
    SUBCASE("QR=1 is dropped and counted") {
        auto p = plain;
        p[2] |= 0x80;
        CHECK(handle(nullptr, p, Transport::Udp, stats).size == 0);
        CHECK(stats.dropped.value() == 1);
        CHECK(stats.requests[0][0][type_slot(0)].value() == 1);  // UDP, IPv4, no question
    }
    SUBCASE("opcode 5 is NOTIMP echoing the question") {
        const Reply r = handle(nullptr, load_hex("query-opcode5.hex"), Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.d.rcode() == 4);
        CHECK(r.d.qdcount == 1);
        CHECK(r.d.id == 0xe743);
    }
    SUBCASE("NOTIMP keeps the query's OPT record (RFC 6891 7)") {
        auto p = load_hex("query-edns-do.hex");
        p[2] = static_cast<uint8_t>((p[2] & 0x87) | 5 << 3);  // opcode 5
        const Reply r = handle(nullptr, p, Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.d.rcode() == 4);
        CHECK(r.d.qdcount == 1);
        CHECK(r.d.opt() != nullptr);
    }
    SUBCASE("qdcount 0 is FORMERR with no question") {
        auto p = plain;
        p[5] = 0;
        p.resize(12);
        const Reply r = handle(nullptr, p, Transport::Tcp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.d.rcode() == 1);
        CHECK(r.d.qdcount == 0);
        CHECK(stats.requests[1][0][type_slot(0)].value() == 1);  // TCP
    }
    SUBCASE("an RFC 7873 cookie probe (no question, OPT with COOKIE) is FORMERR with OPT") {
        // Header: QDCOUNT 0, ARCOUNT 1; OPT for 1232 bytes with an 8-byte client cookie.
        const std::vector<uint8_t> probe = {0x12, 0x34, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1,
                                            0x00, 0x00, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 12,
                                            0x00, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
        const Reply r = handle(nullptr, probe, Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.d.id == 0x1234);
        CHECK(r.d.rcode() == 1);
        CHECK(r.d.qdcount == 0);
        CHECK(r.d.opt() != nullptr);
    }
    SUBCASE("EDNS version 1 is BADVERS in the OPT record") {
        const Reply r = handle(nullptr, load_hex("query-edns-v1.hex"), Transport::Udp, stats);
        REQUIRE(r.d.ok);
        REQUIRE(r.d.opt() != nullptr);
        CHECK(r.d.rcode() == 0);
        CHECK((r.d.opt()->ttl >> 24) == 1);
    }
}

TEST_CASE("handler: no zone yet is SERVFAIL") {
    WorkerStats stats;
    const Reply r = handle(nullptr, load_hex("query-plain.hex"), Transport::Udp, stats);
    REQUIRE(r.d.ok);
    CHECK(r.d.rcode() == 2);
}

TEST_CASE("handler: the UDP size limit is 512, the EDNS size up to 1232, TCP 65535") {
    const auto zone = big_zone();
    WorkerStats stats;
    const std::string name = "svc1.testns.svc.cluster.local";
    SUBCASE("UDP without EDNS") {
        const Reply r = handle(zone.get(), make_query({.name = name}), Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.size <= 512);
        CHECK(r.d.tc());
        CHECK(stats.truncated.value() == 1);
    }
    SUBCASE("UDP with EDNS 4096: capped at 1232") {
        const Reply r =
            handle(zone.get(), make_query({.name = name, .edns_version = 0, .udp_size = 4096}),
                   Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.size > 512);
        CHECK(r.size <= kMaxUdpResponse);
        CHECK(r.d.tc());
        CHECK(r.d.opt() != nullptr);
    }
    SUBCASE("UDP with EDNS 800") {
        const Reply r =
            handle(zone.get(), make_query({.name = name, .edns_version = 0, .udp_size = 800}),
                   Transport::Udp, stats);
        REQUIRE(r.d.ok);
        CHECK(r.size <= 800);
        CHECK(r.size > 700);
        CHECK(r.d.tc());
    }
    SUBCASE("TCP") {
        const Reply r = handle(zone.get(), make_query({.name = name}), Transport::Tcp, stats);
        REQUIRE(r.d.ok);
        CHECK_FALSE(r.d.tc());
        CHECK(r.d.answer.size() == 200);
    }
}

TEST_CASE("handler: a forwarded reply is relayed only if it answers the query, opcode included") {
    const std::vector<uint8_t> query = make_query({.name = "www.example.test", .id = 0x4242});
    // The upstream's answer: c-ares's ID, QR RD RA, NOERROR, the question, no records.
    std::vector<uint8_t> reply = query;
    reply[0] = 0x77;
    reply[2] = 0x81;
    reply[3] = 0x80;
    std::vector<uint8_t> out(512);
    SUBCASE("the same opcode: relayed, with the client's ID") {
        const Decoded d = decode(std::span<const uint8_t>(out).first(
            forwarded_response(query, reply, out, Transport::Udp)));
        REQUIRE(d.ok);
        CHECK(d.id == 0x4242);
        CHECK(d.rcode() == 0);
    }
    SUBCASE("another opcode (NOTIFY, UPDATE): SERVFAIL") {
        for (const int opcode : {4, 5}) {
            reply[2] = static_cast<uint8_t>(0x81 | opcode << 3);
            const Decoded d = decode(std::span<const uint8_t>(out).first(
                forwarded_response(query, reply, out, Transport::Udp)));
            REQUIRE(d.ok);
            CHECK(d.rcode() == 2);
            CHECK(((d.flags >> 11) & 0xF) == 0);  // ours answers the client's opcode
        }
    }
}

}  // namespace clusterdns
