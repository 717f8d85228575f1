#include "plugins/cache/cache.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

constexpr uint16_t kA = 1;

Query query_for(const std::string& name, uint16_t type = kA, uint16_t flags = 0x0100) {
    const std::vector<uint8_t> packet =
        test::make_query({.name = name, .type = type, .flags = flags});
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    return q;
}

void put16(std::vector<uint8_t>& m, uint16_t v) {
    m.push_back(static_cast<uint8_t>(v >> 8));
    m.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& m, uint32_t v) {
    put16(m, static_cast<uint16_t>(v >> 16));
    put16(m, static_cast<uint16_t>(v));
}

// An upstream's response to `q`: `rcode`, one A record per TTL in `ttls` (owner: the question),
// and with `soa_ttl` an SOA in the authority section whose MINIMUM is `soa_minimum`.
std::vector<uint8_t> response(const Query& q, uint8_t rcode, std::vector<uint32_t> ttls,
                              uint32_t soa_ttl = 0, uint32_t soa_minimum = 0, uint8_t flags = 0) {
    std::vector<uint8_t> m = {0xAB, 0xCD, static_cast<uint8_t>(0x81 | flags),
                              static_cast<uint8_t>(0x80 | rcode)};
    put16(m, 1);
    put16(m, static_cast<uint16_t>(ttls.size()));
    put16(m, soa_ttl != 0 ? 1 : 0);
    put16(m, 0);
    m.insert(m.end(), q.qname.wire().begin(), q.qname.wire().end());
    put16(m, static_cast<uint16_t>(q.qtype));
    put16(m, 1);
    for (const uint32_t ttl : ttls) {
        m.insert(m.end(), {0xC0, 12});
        put16(m, 1);
        put16(m, 1);
        put32(m, ttl);
        put16(m, 4);
        m.insert(m.end(), {192, 0, 2, 10});
    }
    if (soa_ttl != 0) {
        m.insert(m.end(), {0xC0, 12});
        put16(m, 6);
        put16(m, 1);
        put32(m, soa_ttl);
        put16(m, 3 + 3 + 20);
        m.insert(m.end(), {1, 'n', 0, 1, 'h', 0});  // MNAME "n.", RNAME "h."
        for (const uint32_t v : {1u, 3600u, 600u, 86400u, soa_minimum}) {
            put32(m, v);
        }
    }
    return m;
}

// "<prefix><n>.example.test"
std::string numbered(const char* prefix, size_t n) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%zu.example.test", prefix, n);
    return name;
}

// `m` with an OPT record (UDP size 1232) carrying `options` appended to its additional section.
std::vector<uint8_t> with_opt(std::vector<uint8_t> m, const std::vector<uint8_t>& options) {
    m[11] = static_cast<uint8_t>(m[11] + 1);
    m.push_back(0);  // root owner
    put16(m, 41);
    put16(m, 1232);
    put32(m, 0);
    put16(m, static_cast<uint16_t>(options.size()));
    m.insert(m.end(), options.begin(), options.end());
    return m;
}

// An EDNS client subnet option (RFC 7871) for 198.51.100.0/24 with `scope`.
std::vector<uint8_t> client_subnet(uint8_t scope) {
    return {0, 8, 0, 7, 0, 1, 24, scope, 198, 51, 100};
}

// The TTL of the first answer record of a message built by response().
uint32_t first_ttl(const uint8_t* m, const Query& q) {
    const size_t at = 12 + q.qname.size() + 4 + 2 + 4;
    return uint32_t{m[at]} << 24 | uint32_t{m[at + 1]} << 16 | uint32_t{m[at + 2]} << 8 | m[at + 3];
}

}  // namespace

TEST_CASE("cache: TTLs count down, and an answer goes when its smallest TTL is over") {
    AnswerCache cache;
    const Query q = query_for("www.example.test");
    cache.store(q, response(q, 0, {100, 300}), 1000);
    uint8_t out[512];
    REQUIRE(cache.lookup(q, 4000, out, sizeof out) > 0);
    CHECK(out[0] == 0x12);  // the client's ID, not the upstream's
    CHECK(first_ttl(out, q) == 97);
    CHECK(cache.lookup(q, 1000 + 99'000, out, sizeof out) > 0);
    CHECK(cache.lookup(q, 1000 + 100'000, out, sizeof out) == 0);
    CHECK(cache.lookup(query_for("www.example.test", 28), 2000, out, sizeof out) == 0);
}

TEST_CASE("cache: an answer is kept 5 s at least, a negative one for the SOA's negative TTL") {
    AnswerCache cache;
    uint8_t out[512];
    const Query short_lived = query_for("short.example.test");
    cache.store(short_lived, response(short_lived, 0, {1}), 0);
    CHECK(cache.lookup(short_lived, 4900, out, sizeof out) > 0);
    CHECK(first_ttl(out, short_lived) == 0);  // counted down from what the upstream gave
    CHECK(cache.lookup(short_lived, 5000, out, sizeof out) == 0);

    const Query missing = query_for("nope.example.test");
    cache.store(missing, response(missing, 3, {}, 3600, 60), 0);  // NXDOMAIN: min(3600, 60)
    CHECK(cache.lookup(missing, 59'000, out, sizeof out) > 0);
    CHECK(cache.lookup(missing, 60'000, out, sizeof out) == 0);
}

TEST_CASE("cache: served TTLs are capped; a TTL with the top bit set reads as 0 (RFC 2181 8)") {
    AnswerCache cache;  // caps: 3600 s for answers, 1800 s for denials
    uint8_t out[512];
    const Query big = query_for("big.example.test");
    cache.store(big, response(big, 0, {INT32_MAX, 7200}), 0);
    size_t size = cache.lookup(big, 10'000, out, sizeof out);
    REQUIRE(size > 0);
    test::Decoded d = test::decode({out, size});
    REQUIRE(d.answer.size() == 2);
    CHECK(d.answer[0].ttl == 3590);
    CHECK(d.answer[1].ttl == 3590);
    CHECK(cache.lookup(big, 3'600'000, out, sizeof out) == 0);

    const Query wrapped = query_for("wrapped.example.test");
    cache.store(wrapped, response(wrapped, 0, {0x80000000u, 0xFFFFFFFFu, 300}), 0);
    size = cache.lookup(wrapped, 1000, out, sizeof out);
    REQUIRE(size > 0);  // kept for the minimum, 5 s: its smallest TTL is 0
    d = test::decode({out, size});
    REQUIRE(d.answer.size() == 3);
    CHECK(d.answer[0].ttl == 0);
    CHECK(d.answer[1].ttl == 0);
    CHECK(d.answer[2].ttl == 299);
    CHECK(cache.lookup(wrapped, 5000, out, sizeof out) == 0);

    const Query missing = query_for("nope.example.test");
    cache.store(missing, response(missing, 3, {}, 86400, 86400), 0);
    size = cache.lookup(missing, 0, out, sizeof out);
    REQUIRE(size > 0);
    d = test::decode({out, size});
    REQUIRE(d.authority.size() == 1);
    CHECK(d.authority[0].ttl == 1800);
    CHECK(cache.lookup(missing, 1'800'000, out, sizeof out) == 0);
}

TEST_CASE("cache: success and denial have their own minimum and maximum; capacity 0 is off") {
    AnswerCache cache({.min_ttl = 20, .max_ttl = 60, .min_denial_ttl = 2, .max_denial_ttl = 10});
    uint8_t out[512];
    const Query brief = query_for("brief.example.test");
    cache.store(brief, response(brief, 0, {1}), 0);
    CHECK(cache.lookup(brief, 19'000, out, sizeof out) > 0);  // raised to success's minimum
    CHECK(cache.lookup(brief, 20'000, out, sizeof out) == 0);

    const Query lasting = query_for("lasting.example.test");
    cache.store(lasting, response(lasting, 0, {300}), 0);
    size_t size = cache.lookup(lasting, 0, out, sizeof out);
    REQUIRE(size > 0);
    CHECK(first_ttl(out, lasting) == 60);  // served capped too
    CHECK(cache.lookup(lasting, 60'000, out, sizeof out) == 0);

    const Query missing = query_for("nope.example.test");
    cache.store(missing, response(missing, 3, {}, 1, 1), 0);
    CHECK(cache.lookup(missing, 1'900, out, sizeof out) > 0);  // denial's own minimum, 2 s
    CHECK(cache.lookup(missing, 2'000, out, sizeof out) == 0);
    cache.store(missing, response(missing, 3, {}, 3600, 3600), 0);
    CHECK(cache.lookup(missing, 9'900, out, sizeof out) > 0);
    CHECK(cache.lookup(missing, 10'000, out, sizeof out) == 0);

    // A minimum above the maximum: the maximum wins, as in CoreDNS.
    AnswerCache inverted({.min_ttl = 30, .max_ttl = 10});
    inverted.store(brief, response(brief, 0, {1}), 0);
    CHECK(inverted.lookup(brief, 9'900, out, sizeof out) > 0);
    CHECK(inverted.lookup(brief, 10'000, out, sizeof out) == 0);

    SharedCache off({.capacity = 0});
    off.store(brief, response(brief, 0, {300}), 0);
    CHECK(off.lookup(brief, 1000, out, sizeof out) == 0);
    CHECK(off.sizes().entries == 0);
}

TEST_CASE("cache: an RD=0 query's answer is not kept; RD=0 is answered from RD=1's answers") {
    AnswerCache cache;
    uint8_t out[512];
    const Query norec = query_for("www.example.test", kA, 0);
    const Query rec = query_for("www.example.test");
    // A referral is shaped so: NOERROR and no answer (its NS records left out here).
    cache.store(norec, response(norec, 0, {}), 0);
    CHECK(cache.lookup(rec, 1000, out, sizeof out) == 0);
    CHECK(cache.lookup(norec, 1000, out, sizeof out) == 0);
    CHECK(cache.size() == 0);

    cache.store(rec, response(rec, 0, {300}), 0);
    size_t size = cache.lookup(norec, 1000, out, sizeof out);
    REQUIRE(size > 0);
    test::Decoded d = test::decode({out, size});
    CHECK(d.answer.size() == 1);
    CHECK((d.flags & 0x0100) == 0);  // RD as the client sent it
    size = cache.lookup(rec, 1000, out, sizeof out);
    REQUIRE(size > 0);
    d = test::decode({out, size});
    CHECK((d.flags & 0x0100) != 0);
}

TEST_CASE("cache: the OPT's options (client subnet, cookie) are not kept; a scoped answer is not") {
    AnswerCache cache;
    uint8_t out[512];
    const std::vector<uint8_t> packet =
        test::make_query({.name = "www.example.test", .edns_version = 0});
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    std::vector<uint8_t> options = client_subnet(0);
    const std::vector<uint8_t> cookie = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    options.insert(options.end(), cookie.begin(), cookie.end());
    cache.store(q, with_opt(response(q, 0, {300}), options), 0);
    size_t size = cache.lookup(q, 1000, out, sizeof out);  // another client
    REQUIRE(size > 0);
    const test::Decoded d = test::decode({out, size});
    REQUIRE(d.ok);
    CHECK(d.answer.size() == 1);
    REQUIRE(d.opt() != nullptr);
    CHECK(d.opt()->rdata.empty());

    const Query scoped = query_for("cdn.example.test");
    cache.store(scoped, with_opt(response(scoped, 0, {300}), client_subnet(24)), 0);
    CHECK(cache.lookup(scoped, 1000, out, sizeof out) == 0);
    // Options followed by another record: they cannot be cut from the end.
    const Query inner = query_for("inner.example.test");
    std::vector<uint8_t> m = with_opt(response(inner, 0, {300}), client_subnet(0));
    m[11] = static_cast<uint8_t>(m[11] + 1);
    m.insert(m.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 11});
    cache.store(inner, m, 0);
    CHECK(cache.lookup(inner, 1000, out, sizeof out) == 0);
    CHECK(cache.size() == 1);
}

TEST_CASE("cache: SERVFAIL, truncated, malformed and mismatched (question, opcode) are not kept") {
    AnswerCache cache;
    uint8_t out[512];
    const Query q = query_for("www.example.test");
    cache.store(q, response(q, 2, {300}), 0);
    CHECK(cache.lookup(q, 1000, out, sizeof out) == 0);
    cache.store(q, response(q, 0, {300}, 0, 0, 0x02), 0);  // TC
    CHECK(cache.lookup(q, 1000, out, sizeof out) == 0);
    std::vector<uint8_t> cut = response(q, 0, {300});
    cut.pop_back();
    cache.store(q, cut, 0);
    CHECK(cache.lookup(q, 1000, out, sizeof out) == 0);
    const Query other = query_for("other.example.test");
    cache.store(q, response(other, 0, {300}), 0);
    CHECK(cache.lookup(q, 1000, out, sizeof out) == 0);
    std::vector<uint8_t> notify = response(q, 0, {300});
    notify[2] |= 4 << 3;  // opcode NOTIFY in reply to a QUERY
    cache.store(q, notify, 0);
    CHECK(cache.lookup(q, 1000, out, sizeof out) == 0);
    CHECK(cache.size() == 0);
}

TEST_CASE("cache: a flood of names asked once does not push out the names in use") {
    // 100 entries, full of one-off names; then 20 names in use (TTL 300), each asked after a new
    // one-off name (TTL 3600) in turn: 1,000 of each.
    AnswerCache cache({.capacity = 100});
    uint8_t out[512];
    size_t flood = 0;
    const auto one_off = [&](uint64_t now_ms) {
        const Query q = query_for(numbered("flood-", flood++));
        REQUIRE(cache.lookup(q, now_ms, out, sizeof out) == 0);
        cache.store(q, response(q, 0, {3600}), now_ms);
    };
    for (int i = 0; i < 100; ++i) {
        one_off(0);
    }
    size_t hits = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
        const uint64_t now_ms = i * 100;
        one_off(now_ms);
        const Query q = query_for(numbered("ws-", i % 20));
        if (cache.lookup(q, now_ms, out, sizeof out) > 0) {
            ++hits;
        } else {
            cache.store(q, response(q, 0, {300}), now_ms);
        }
    }
    CHECK(cache.size() == 100);
    CHECK(hits >= 1000 - 20 - 20);  // each name's first ask misses; the first few hits may too
}

TEST_CASE("cache: a name dropped from probation and asked again soon is kept in the main queue") {
    AnswerCache cache({.capacity = 10});
    uint8_t out[512];
    const auto store = [&](const std::string& name) {
        const Query q = query_for(name);
        cache.store(q, response(q, 0, {300}), 0);
    };
    for (size_t i = 0; i < 11; ++i) {
        store(numbered("n", i));  // n0 dropped, never asked
    }
    const Query n0 = query_for("n0.example.test");
    CHECK(cache.lookup(n0, 0, out, sizeof out) == 0);
    store("n0.example.test");  // asked again: its hash is remembered
    for (size_t i = 0; i < 50; ++i) {
        store(numbered("other", i));
    }
    CHECK(cache.lookup(n0, 0, out, sizeof out) > 0);
    CHECK(cache.lookup(query_for("n1.example.test"), 0, out, sizeof out) == 0);
    CHECK(cache.size() == 10);
    CHECK(cache.evictions() == 62 - 10);  // every store past the tenth
}

TEST_CASE("cache: after any mix of stores and lookups, every entry kept can be found") {
    AnswerCache cache({.capacity = 64});
    uint8_t out[512];
    std::vector<Query> names;
    for (size_t i = 0; i < 300; ++i) {
        names.push_back(query_for(numbered("n", i)));
    }
    uint32_t state = 12345;  // a fixed sequence: the test is the same every run
    const auto next = [&] {
        state = state * 1103515245u + 12345u;
        return (state >> 8) % 300;
    };
    for (int i = 0; i < 20000; ++i) {
        const Query& q = names[next() % (i % 2 == 0 ? 300 : 40)];  // some names asked more
        if (cache.lookup(q, 0, out, sizeof out) == 0) {
            cache.store(q, response(q, 0, {300}), 0);
        }
    }
    size_t found = 0;
    for (const Query& q : names) {
        found += cache.lookup(q, 0, out, sizeof out) > 0;
    }
    CHECK(cache.size() == 64);
    CHECK(found == cache.size());
}

TEST_CASE("cache: bounded, and serving stale only when asked to") {
    AnswerCache cache({.capacity = 2, .serve_stale = 60});
    uint8_t out[512];
    for (const char* name : {"a.example.test", "b.example.test", "c.example.test"}) {
        const Query q = query_for(name);
        cache.store(q, response(q, 0, {10}), 0);
    }
    CHECK(cache.size() == 2);
    const Query c = query_for("c.example.test");
    CHECK(cache.lookup(c, 11'000, out, sizeof out) == 0);  // expired
    REQUIRE(cache.lookup_stale(c, 11'000, out, sizeof out) > 0);
    CHECK(first_ttl(out, c) == 30);
    CHECK(cache.lookup_stale(c, 10'000 + 60'000, out, sizeof out) == 0);  // past the window
    AnswerCache strict;
    strict.store(c, response(c, 0, {10}), 0);
    CHECK(strict.lookup_stale(c, 11'000, out, sizeof out) == 0);
}

}  // namespace clusterdns

namespace clusterdns {

TEST_CASE("cache: prefetch asks once, for a popular answer with a tenth of its time left") {
    AnswerCache cache({.prefetch = 2});
    uint8_t out[512];
    const Query q = query_for("www.example.test");
    cache.store(q, response(q, 0, {100}), 0);
    bool refresh = false;
    REQUIRE(cache.lookup(q, 50'000, out, sizeof out, &refresh) > 0);
    CHECK_FALSE(refresh);  // one hit, and half its time left
    REQUIRE(cache.lookup(q, 91'000, out, sizeof out, &refresh) > 0);
    CHECK(refresh);  // asked twice, 9 s of 100 left
    refresh = false;
    REQUIRE(cache.lookup(q, 95'000, out, sizeof out, &refresh) > 0);
    CHECK_FALSE(refresh);  // already asked for
    cache.store(q, response(q, 0, {100}), 95'000);  // the prefetched answer
    REQUIRE(cache.lookup(q, 96'000, out, sizeof out, &refresh) > 0);
    CHECK(first_ttl(out, q) == 99);
    CHECK_FALSE(refresh);
}

}  // namespace clusterdns
