#include "dns/message.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

using test::decode;
using test::load_hex;

std::vector<uint8_t> wire(std::string_view text) {
    auto name = Name::from_text(text);
    REQUIRE(name.has_value());
    return {name->wire().begin(), name->wire().end()};
}

void set_u16(std::vector<uint8_t>& packet, size_t at, uint16_t v) {
    packet[at] = static_cast<uint8_t>(v >> 8);
    packet[at + 1] = static_cast<uint8_t>(v);
}

const std::vector<uint8_t> kOpt = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};

// Writes a response to `q` with `fill` and returns the bytes.
template <class Fill>
std::vector<uint8_t> respond(const Query& q, size_t limit, Fill fill) {
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, limit);
    w.begin(q);
    fill(w);
    out.resize(w.finish());
    return out;
}

constexpr uint8_t kA1[] = {10, 0, 0, 1};

}  // namespace

TEST_CASE("parse: a plain query captured from dig") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    CHECK(q.id == 0x6290);
    CHECK(q.rd());
    CHECK_FALSE(q.cd());
    CHECK(q.opcode == Opcode::Query);
    CHECK(q.has_question);
    CHECK(q.qname.to_text() == "svc1.testns.svc.cluster.local.");
    CHECK(q.qtype == RrType::A);
    CHECK(q.qclass == 1);
    CHECK_FALSE(q.has_edns);
    CHECK(q.udp_payload_size == kClassicUdpSize);
}

TEST_CASE("parse: an EDNS query keeps the UDP size and the DO bit") {
    const auto packet = load_hex("query-edns-do.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    CHECK(q.has_edns);
    CHECK(q.edns_version == 0);
    CHECK(q.udp_payload_size == 1232);
    CHECK(q.dnssec_ok);
    CHECK(q.qtype == RrType::Srv);
    CHECK(q.qname.to_text() == "_http._tcp.svc1.testns.svc.cluster.local.");

    SUBCASE("a UDP size below 512 counts as 512 (RFC 6891 6.2.5)") {
        auto small = packet;
        set_u16(small, small.size() - 8, 100);  // the OPT CLASS field
        Query s;
        REQUIRE(parse_query(small, s) == ParseStatus::Ok);
        CHECK(s.udp_payload_size == 512);
    }
}

TEST_CASE("parse: the question keeps its case and gets a lowercase key") {
    const auto packet = load_hex("query-mixed-case.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    CHECK(q.qname.to_text() == "SVC1.TestNS.svc.Cluster.Local.");
    CHECK(q.qname_lower.to_text() == "svc1.testns.svc.cluster.local.");
    CHECK(q.udp_payload_size == 4096);
    CHECK_FALSE(q.dnssec_ok);
}

TEST_CASE("parse: EDNS version 1 is BADVERS") {
    const auto packet = load_hex("query-edns-v1.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::BadVers);
    CHECK(q.has_edns);
    CHECK(q.edns_version == 1);
    CHECK(q.has_question);
    CHECK(q.qname.to_text() == "dns-version.cluster.local.");
}

TEST_CASE("parse: responses and short packets are dropped") {
    auto packet = load_hex("query-plain.hex");
    Query q;
    SUBCASE("QR=1") {
        packet[2] |= 0x80;
        CHECK(parse_query(packet, q) == ParseStatus::Drop);
    }
    SUBCASE("shorter than a header") {
        packet.resize(11);
        CHECK(parse_query(packet, q) == ParseStatus::Drop);
        CHECK(parse_query({}, q) == ParseStatus::Drop);
    }
}

TEST_CASE("parse: opcode 5 is NOTIMP with the question parsed") {
    const auto packet = load_hex("query-opcode5.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::NotImp);
    CHECK(static_cast<int>(q.opcode) == 5);
    CHECK(q.has_question);
    CHECK(q.qname.to_text() == "svc1.testns.svc.cluster.local.");

    const auto out = respond(q, 512, [](ResponseWriter& w) { w.set_rcode(Rcode::NotImp); });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.rcode() == 4);
    CHECK(d.opcode() == 5);
    CHECK(d.qdcount == 1);
    CHECK(d.qname == "svc1.testns.svc.cluster.local.");
}

TEST_CASE("parse: malformed queries are FORMERR") {
    const auto plain = load_hex("query-plain.hex");
    const auto edns = load_hex("query-edns-do.hex");
    Query q;
    SUBCASE("qdcount 0") {
        auto p = plain;
        set_u16(p, 4, 0);
        p.resize(12);
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
        CHECK_FALSE(q.has_question);
    }
    SUBCASE("qdcount 2") {
        auto p = plain;
        set_u16(p, 4, 2);
        p.insert(p.end(), plain.begin() + 12, plain.end());  // the same question twice
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
    }
    SUBCASE("two OPT records") {
        auto p = edns;
        set_u16(p, 10, 2);
        p.insert(p.end(), kOpt.begin(), kOpt.end());
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
        CHECK_FALSE(q.has_edns);  // RFC 6891 7: no OPT in that FORMERR
    }
    SUBCASE("an OPT record in the answer section") {
        auto p = plain;
        set_u16(p, 6, 1);
        p.insert(p.end(), kOpt.begin(), kOpt.end());
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
    }
    SUBCASE("OPT as the question type") {
        auto p = plain;
        set_u16(p, p.size() - 4, 41);
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
    }
    SUBCASE("truncated question") {
        for (size_t cut = 1; cut < plain.size() - 12; ++cut) {
            CAPTURE(cut);
            auto p = plain;
            p.resize(plain.size() - cut);
            CHECK(parse_query(p, q) == ParseStatus::FormErr);
        }
    }
    SUBCASE("an additional count with no record behind it") {
        auto p = plain;
        set_u16(p, 10, 1);
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
    }
    SUBCASE("a question name with a forward pointer") {
        auto p = plain;
        p.resize(12);
        p.insert(p.end(), {0xC0, 14, 0, 0, 1, 0, 1});
        CHECK(parse_query(p, q) == ParseStatus::FormErr);
    }
}

TEST_CASE("writer: an owner equal to the question becomes pointer 0xC00C") {
    const auto packet = load_hex("query-mixed-case.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const auto out = respond(q, 4096, [&](ResponseWriter& w) {
        CHECK(w.add(Section::Answer, q.qname_lower.wire(), RrType::A, 30, kA1));
    });
    const size_t answer_at = packet.size() - 11;  // the question is copied, the OPT is not
    REQUIRE(out.size() > answer_at + 2);
    CHECK(out[answer_at] == 0xC0);
    CHECK(out[answer_at + 1] == 0x0C);
    const auto d = decode(out);
    REQUIRE(d.ok);
    REQUIRE(d.answer.size() == 1);
    // The pointer leads to the question, so the answer echoes the client's case.
    CHECK(d.answer[0].owner == "SVC1.TestNS.svc.Cluster.Local.");
    CHECK(d.answer[0].text == "10.0.0.1");

    SUBCASE("a name below the question: one label, then a pointer") {
        const auto child = wire("ep1.svc1.testns.svc.cluster.local");
        const auto out2 = respond(q, 4096, [&](ResponseWriter& w) {
            CHECK(w.add(Section::Answer, child, RrType::A, 30, kA1));
        });
        const std::vector<uint8_t> expected = {3, 'e', 'p', '1', 0xC0, 0x0C};
        CHECK(std::equal(expected.begin(), expected.end(), out2.begin() + answer_at));
    }
    SUBCASE("names inside CNAME RDATA are compressed too") {
        const auto target = wire("other.testns.svc.cluster.local");
        const auto out3 = respond(q, 4096, [&](ResponseWriter& w) {
            CHECK(w.add(Section::Answer, q.qname_lower.wire(), RrType::Cname, 30, target));
        });
        const auto d3 = decode(out3);
        REQUIRE(d3.ok);
        REQUIRE(d3.answer.size() == 1);
        CHECK(d3.answer[0].text == "other.TestNS.svc.Cluster.Local.");
        CHECK(d3.answer[0].rdata.size() == 8);  // "other" + pointer to testns...
    }
}

TEST_CASE("writer: TC is set when an answer RR does not fit") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    size_t added = 0;
    bool truncated = false;
    const auto out = respond(q, 512, [&](ResponseWriter& w) {
        for (uint8_t i = 0; i < 100; ++i) {
            const uint8_t a[] = {10, 0, 0, i};
            if (w.add(Section::Answer, q.qname_lower.wire(), RrType::A, 30, a)) {
                ++added;
            }
        }
        truncated = w.truncated();
        // Once an answer was cut, nothing else goes in, not even additional records.
        CHECK_FALSE(w.add(Section::Additional, q.qname_lower.wire(), RrType::A, 30, kA1));
    });
    CHECK(truncated);
    CHECK(out.size() <= 512);
    // 47 header and question octets, then 16 per compressed A record.
    CHECK(added == (512 - packet.size()) / 16);
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.tc());
    CHECK(d.answer.size() == added);
    CHECK(d.additional.empty());
}

TEST_CASE("writer: an additional RR that does not fit is dropped without TC") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const size_t base = packet.size();
    const size_t limit = base + 16 + 10;  // one answer, and not a whole second record
    const auto out = respond(q, limit, [&](ResponseWriter& w) {
        CHECK(w.add(Section::Answer, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK_FALSE(w.add(Section::Additional, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK_FALSE(w.truncated());
        CHECK(w.count(Section::Additional) == 0);
    });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK_FALSE(d.tc());
    CHECK(d.answer.size() == 1);
    CHECK(d.additional.empty());
    CHECK(out.size() == base + 16);
}

TEST_CASE("writer: an authority RR that does not fit sets TC") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const auto out = respond(q, packet.size() + 5, [&](ResponseWriter& w) {
        CHECK_FALSE(w.add(Section::Authority, q.qname_lower.wire(), RrType::A, 30, kA1));
    });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.tc());
}

TEST_CASE("writer: BADVERS goes out with its upper bits in the OPT record") {
    const auto packet = load_hex("query-edns-v1.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::BadVers);
    const auto out = respond(q, 1232, [](ResponseWriter& w) { w.set_rcode(Rcode::BadVers); });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.rcode() == 0);  // 16 & 0xF
    REQUIRE(d.additional.size() == 1);
    const auto* opt = d.opt();
    REQUIRE(opt != nullptr);
    CHECK(opt->owner == ".");
    CHECK(opt->rrclass == kMaxUdpResponse);
    CHECK((opt->ttl >> 24) == 1);           // extended RCODE: 16 >> 4
    CHECK(((opt->ttl >> 16) & 0xFF) == 0);  // we answer with version 0
    CHECK(opt->rdata.empty());
    CHECK(d.qname == "dns-version.cluster.local.");
}

TEST_CASE("writer: OPT is echoed with the DO bit and fits within the limit") {
    const auto packet = load_hex("query-edns-do.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const size_t limit = 200;
    size_t added = 0;
    const auto out = respond(q, limit, [&](ResponseWriter& w) {
        for (uint8_t i = 0; i < 20; ++i) {
            const uint8_t a[] = {10, 0, 0, i};
            added += w.add(Section::Answer, q.qname_lower.wire(), RrType::A, 30, a) ? 1 : 0;
        }
    });
    CHECK(out.size() <= limit);
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.tc());
    CHECK(d.answer.size() == added);
    const auto* opt = d.opt();
    REQUIRE(opt != nullptr);
    CHECK((opt->ttl & 0x8000) != 0);
}

TEST_CASE("writer: sections go in order") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const auto out = respond(q, 512, [&](ResponseWriter& w) {
        CHECK(w.add(Section::Authority, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK_FALSE(w.add(Section::Answer, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK(w.add(Section::Additional, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK_FALSE(w.add(Section::Authority, q.qname_lower.wire(), RrType::A, 30, kA1));
        CHECK(w.count(Section::Answer) == 0);
        CHECK(w.count(Section::Authority) == 1);
        CHECK(w.count(Section::Additional) == 1);
    });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.answer.empty());
    CHECK(d.authority.size() == 1);
    CHECK(d.additional.size() == 1);
}

TEST_CASE("writer: round trip of a response through an independent decoder") {
    const auto packet = load_hex("query-edns-do.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const auto svc = wire("svc1.testns.svc.cluster.local");
    const auto zone = wire("cluster.local");
    const uint8_t srv_head[] = {0, 0, 0, 100, 0, 80};
    const auto srv = test::concat({srv_head, svc});
    const uint8_t soa_numbers[] = {0,    0,    0, 7, 0,    0,    0x1C, 0x20, 0, 0,
                                   0x07, 0x08, 0, 1, 0x51, 0x80, 0,    0,    0, 30};
    const auto soa =
        test::concat({wire("ns.dns.cluster.local"), wire("hostmaster.cluster.local"), soa_numbers});
    const uint8_t v6[16] = {0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const std::vector<uint8_t> txt = {5, '1', '.', '1', '.', '0'};
    const auto ptr_owner = wire("1.0.0.10.in-addr.arpa");

    const auto out = respond(q, 1232, [&](ResponseWriter& w) {
        w.set_authoritative(true);
        CHECK(w.add(Section::Answer, q.qname_lower.wire(), RrType::Srv, 30, srv));
        CHECK(w.add(Section::Answer, ptr_owner, RrType::Ptr, 30, svc));
        CHECK(w.add(Section::Answer, zone, RrType::Txt, 28800, txt));
        CHECK(w.add(Section::Authority, zone, RrType::Soa, 30, soa));
        CHECK(w.add(Section::Additional, svc, RrType::A, 30, kA1));
        CHECK(w.add(Section::Additional, svc, RrType::Aaaa, 30, v6));
    });
    const auto d = decode(out);
    REQUIRE(d.ok);
    CHECK(d.id == 0xa923);
    CHECK(d.qr());
    CHECK(d.aa());
    CHECK(d.rd());
    CHECK_FALSE(d.ra());
    CHECK_FALSE(d.tc());
    CHECK((d.flags & 0x0020) == 0);  // AD is not copied from the query
    CHECK(d.rcode() == 0);
    CHECK(d.qname == "_http._tcp.svc1.testns.svc.cluster.local.");
    CHECK(d.qtype == 33);
    CHECK(test::texts(d.answer) ==
          std::vector<std::string>{
              "_http._tcp.svc1.testns.svc.cluster.local. 30 SRV 0 100 "
              "80 svc1.testns.svc.cluster.local.",
              "1.0.0.10.in-addr.arpa. 30 PTR svc1.testns.svc.cluster.local.",
              "cluster.local. 28800 TXT \"1.1.0\"",
          });
    CHECK(test::texts(d.authority) ==
          std::vector<std::string>{"cluster.local. 30 SOA ns.dns.cluster.local. "
                                   "hostmaster.cluster.local. 7 7200 1800 86400 30"});
    CHECK(test::texts(d.additional) == std::vector<std::string>{
                                           "svc1.testns.svc.cluster.local. 30 A 10.0.0.1",
                                           "svc1.testns.svc.cluster.local. 30 AAAA 1234:abcd::1",
                                       });
    REQUIRE(d.opt() != nullptr);
    CHECK((d.opt()->ttl & 0x8000) != 0);

    // And the codec's own parser reads the same bytes back once QR is cleared.
    auto again = out;
    again[2] &= 0x7F;
    Query back;
    // Answer/authority records in a "query" are skipped; the OPT is found in additional.
    CHECK(parse_query(again, back) == ParseStatus::Ok);
    CHECK(back.qname.to_text() == q.qname.to_text());
    CHECK(back.has_edns);
    CHECK(back.dnssec_ok);
}

TEST_CASE("writer: SRV targets are not compressed (RFC 2782)") {
    const auto packet = load_hex("query-plain.hex");
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    const uint8_t srv_head[] = {0, 0, 0, 100, 0, 80};
    const auto srv = test::concat({srv_head, wire("svc1.testns.svc.cluster.local")});
    const auto out = respond(q, 512, [&](ResponseWriter& w) {
        CHECK(w.add(Section::Answer, q.qname_lower.wire(), RrType::Srv, 30, srv));
    });
    const auto d = decode(out);
    REQUIRE(d.ok);
    REQUIRE(d.answer.size() == 1);
    CHECK(d.answer[0].rdata == srv);
}

}  // namespace clusterdns
