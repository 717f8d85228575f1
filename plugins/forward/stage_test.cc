#include "plugins/forward/stage.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

// The forwarding stage with virtual time: the clock is a number the test moves, the upstreams
// hold every query until the test answers or fails it, and the replies are recorded.
namespace clusterdns {
namespace {

struct VirtualClock final : Clock {
    uint64_t now = 1'000'000;
    uint64_t wake = 0;  // 0: no deadline armed
    uint64_t now_ms() override { return now; }
    void wake_at(uint64_t at_ms) override { wake = at_ms; }
};

struct Sent {
    std::vector<uint8_t> message;  // empty: nothing could be written
    Responder by;
    test::Decoded decoded() const { return test::decode(message); }
};

struct RecordedReplies final : Replies {
    uint8_t out[kMaxMessageSize];
    std::vector<Sent> sent;
    std::vector<std::string> failures;
    std::vector<std::pair<uint64_t, uint64_t>> fetches_ended;  // workers, key

    std::span<uint8_t> buffer(const Client&) override { return out; }
    void send(const Client&, std::span<const uint8_t>, size_t size, Responder by,
              uint16_t) override {
        sent.push_back({{out, out + size}, by});
    }
    void failed(std::span<const uint8_t>, std::string_view why) override {
        failures.emplace_back(why);
    }
    void fetch_ended(uint64_t workers, uint64_t key, bool) override {
        fetches_ended.emplace_back(workers, key);
    }
};

struct NoChase final : ChaseSteps {
    size_t query(const Query&, const IpAddress*, std::span<uint8_t>, size_t) override { return 0; }
    bool ends_in_zone(const Query&, const IpAddress*, size_t) override { return false; }
    size_t respond(const Query&, const IpAddress*, std::span<const uint8_t>,
                   std::span<uint8_t>, Transport, size_t) override {
        return 0;
    }
};

// Holds every query until the test says what became of it.
struct HeldUpstreams final : Upstreams {
    struct Held {
        std::vector<uint8_t> query;
        Done done;
        void* context;
    };
    std::vector<Held> held;
    std::vector<bool> over_tcp;  // of each held query: the client asked over TCP

    void forward(std::span<const uint8_t> query, Done done, void* context, bool tcp) override {
        held.push_back({{query.begin(), query.end()}, done, context});
        over_tcp.push_back(tcp);
    }
    // The upstream's answer to held query `i`: `rcode` and one A record with `ttl`.
    void answer(size_t i, uint8_t rcode = 0, uint32_t ttl = 300) {
        std::vector<uint8_t> m = held[i].query;
        m[0] ^= 0xFF;  // an ID of the upstream's own
        m[2] = 0x81;
        m[3] = static_cast<uint8_t>(0x80 | rcode);
        m[7] = rcode == 0 ? 1 : 0;  // ANCOUNT
        m[11] = 0;                  // no OPT kept
        m.resize(12 + name_wire_size({m.data() + 12, m.size() - 12}) + 4);
        if (rcode == 0) {
            m.insert(m.end(), {0xC0, 12, 0, 1, 0, 1, static_cast<uint8_t>(ttl >> 24),
                               static_cast<uint8_t>(ttl >> 16), static_cast<uint8_t>(ttl >> 8),
                               static_cast<uint8_t>(ttl), 0, 4, 192, 0, 2, 10});
        }
        held[i].done(held[i].context, m, Failure::None);
    }
    void fail(size_t i, Failure failure) { held[i].done(held[i].context, {}, failure); }
};

struct Fixture {
    VirtualClock clock;
    RecordedReplies replies;
    NoChase chase;
    Fetches fetches;
    WorkerStats stats;
    HeldUpstreams upstreams;
    ForwardStage stage;
    uint8_t out[kMaxMessageSize];

    explicit Fixture(CacheOptions cache = {}, size_t max_in_flight = 1000, unsigned worker = 0)
        : Fixture(cache, max_in_flight, worker, nullptr) {}
    Fixture(CacheOptions cache, size_t max_in_flight, unsigned worker,
            std::shared_ptr<SharedCache> shared, Fetches* shared_fetches = nullptr)
        : stage({.worker = worker,
                 .clock = &clock,
                 .replies = &replies,
                 .chase = &chase,
                 .fetches = shared_fetches != nullptr ? shared_fetches : &fetches,
                 .stats = &stats}) {
        stage.configure({.upstreams = &upstreams,
                         .cache = shared ? shared : std::make_shared<SharedCache>(cache),
                         .max_in_flight = max_in_flight,
                         .deadline_ms = 5000});
    }
    ~Fixture() { stage.shut_down(); }

    // A client asks `name`: what the stage answered at once (size 0: later, through replies).
    ForwardStage::Handled ask(const std::string& name, uint16_t id = 0x1234) {
        const std::vector<uint8_t> packet = test::make_query({.name = name, .id = id});
        Query parsed;
        REQUIRE(parse_query(packet, parsed) == ParseStatus::Ok);
        return stage.take({.fd = 3}, nullptr, packet, parsed, out);
    }
    // Moves the clock on, calling the stage at its deadline as a timer would.
    void advance(uint64_t ms) {
        const uint64_t until = clock.now + ms;
        while (clock.wake != 0 && clock.wake <= until) {
            clock.now = clock.wake;
            clock.wake = 0;
            stage.on_deadline();
        }
        clock.now = until;
    }
    test::Decoded answered_now(const ForwardStage::Handled& h) {
        REQUIRE(h.size != 0);
        return test::decode({out, h.size});
    }
};

TEST_CASE("stage: a miss is fetched once and answered with the client's ID; then it is a hit") {
    Fixture f;
    CHECK(f.ask("a.example.test", 0x1111).size == 0);
    REQUIRE(f.upstreams.held.size() == 1);
    CHECK(f.stage.waiting() == 1);
    f.upstreams.answer(0);
    REQUIRE(f.replies.sent.size() == 1);
    CHECK(f.replies.sent[0].by == Responder::Forward);
    const test::Decoded d = f.replies.sent[0].decoded();
    CHECK(d.id == 0x1111);
    CHECK(test::texts(d.answer) == std::vector<std::string>{"a.example.test. 300 A 192.0.2.10"});
    CHECK(f.stage.waiting() == 0);
    CHECK(f.clock.wake == 0);  // nothing waits: no deadline armed

    f.advance(10'000);
    const ForwardStage::Handled hit = f.ask("A.example.test", 0x2222);
    CHECK(hit.by == Responder::Cache);
    const test::Decoded h = f.answered_now(hit);
    CHECK(h.id == 0x2222);
    REQUIRE(h.answer.size() == 1);
    CHECK(h.answer[0].ttl == 290);  // counted down from when it was stored
    CHECK(f.upstreams.held.size() == 1);
    CHECK(f.stats.cache_hits[0].value() == 1);
    CHECK(f.stats.cache_misses.value() == 1);
}

TEST_CASE("stage: no answer by the deadline is SERVFAIL at 5 s; a late answer still fills the "
          "cache") {
    Fixture f;
    f.ask("slow.example.test");
    CHECK(f.clock.wake == f.clock.now + 5000);
    f.advance(4999);
    CHECK(f.replies.sent.empty());
    f.advance(1);
    REQUIRE(f.replies.sent.size() == 1);
    CHECK(f.replies.sent[0].decoded().rcode() == 2);
    CHECK(f.replies.sent[0].by == Responder::Server);
    CHECK(f.replies.failures == std::vector<std::string>{"no upstream answered in time"});
    CHECK(f.stage.waiting() == 0);

    f.advance(2000);
    f.upstreams.answer(0);
    CHECK(f.replies.sent.size() == 1);  // the client had its answer
    const ForwardStage::Handled hit = f.ask("slow.example.test");
    CHECK(hit.by == Responder::Cache);
    CHECK(f.answered_now(hit).rcode() == 0);
}

TEST_CASE("stage: a refusal is SERVFAIL at once") {
    Fixture f;
    f.ask("refused.example.test");
    f.upstreams.fail(0, Upstreams::Failure::Refused);
    REQUIRE(f.replies.sent.size() == 1);
    CHECK(f.replies.sent[0].decoded().rcode() == 2);
    CHECK(f.replies.failures == std::vector<std::string>{"upstreams refused"});
    CHECK(f.clock.wake == 0);
}

TEST_CASE("stage: serve-stale answers with an expired answer when the upstreams fail") {
    Fixture f({.min_ttl = 5, .serve_stale = 3600});
    f.ask("stale.example.test");
    f.upstreams.answer(0, 0, 10);
    f.advance(15'000);  // expired 5 s ago
    CHECK(f.ask("stale.example.test").size == 0);  // expired: asked again
    REQUIRE(f.upstreams.held.size() == 2);
    f.upstreams.fail(1, Upstreams::Failure::Timeout);
    REQUIRE(f.replies.sent.size() == 2);
    CHECK(f.replies.sent[1].by == Responder::Cache);
    const test::Decoded d = f.replies.sent[1].decoded();
    CHECK(d.rcode() == 0);
    REQUIRE(d.answer.size() == 1);
    CHECK(d.answer[0].ttl == 30);  // RFC 8767's stale TTL
    CHECK(f.stats.cache_served_stale.value() == 1);
    CHECK(f.replies.failures.empty());  // the client was answered

    Fixture off({.min_ttl = 5, .serve_stale = 0});
    off.ask("stale.example.test");
    off.upstreams.answer(0, 0, 10);
    off.advance(15'000);
    off.ask("stale.example.test");
    off.upstreams.fail(1, Upstreams::Failure::Timeout);
    CHECK(off.replies.sent[1].decoded().rcode() == 2);
    CHECK(off.stats.cache_served_stale.value() == 0);
}

TEST_CASE("stage: prefetch fetches a popular answer again behind a hit near its end") {
    Fixture f({.min_ttl = 5, .prefetch = 2});
    f.ask("popular.example.test");
    f.upstreams.answer(0, 0, 100);
    f.advance(50'000);
    CHECK(f.ask("popular.example.test").by == Responder::Cache);
    CHECK(f.ask("popular.example.test").by == Responder::Cache);
    CHECK(f.upstreams.held.size() == 1);  // half its time left: not yet
    f.advance(41'000);                     // 9 s of 100 left
    const ForwardStage::Handled hit = f.ask("popular.example.test");
    CHECK(hit.by == Responder::Cache);     // the client is answered from the cache now
    REQUIRE(f.upstreams.held.size() == 2);  // and the name is fetched again behind it
    CHECK(f.stats.cache_prefetches.value() == 1);
    CHECK(f.ask("popular.example.test").size != 0);
    CHECK(f.upstreams.held.size() == 2);  // one prefetch, not one per hit
    f.upstreams.answer(1, 0, 100);
    CHECK(f.replies.sent.size() == 1);  // nobody waited for the prefetch
    f.advance(60'000);                  // past the first answer's end, within the new one's
    const ForwardStage::Handled later = f.ask("popular.example.test");
    CHECK(later.by == Responder::Cache);
    CHECK(f.answered_now(later).answer[0].ttl == 40);
}

TEST_CASE("stage: clients asking the same question wait for one fetch, on any worker") {
    auto cache = std::make_shared<SharedCache>(CacheOptions{});
    Fetches fetches;
    Fixture a({}, 1000, 0, cache, &fetches);
    Fixture b({}, 1000, 1, cache, &fetches);
    a.ask("same.example.test", 1);
    a.ask("same.example.test", 2);
    b.ask("same.example.test", 3);
    CHECK(a.upstreams.held.size() == 1);
    CHECK(b.upstreams.held.empty());
    CHECK(a.stage.waiting() == 1);  // parked clients take no place of max_in_flight
    CHECK(b.stage.waiting() == 0);
    a.upstreams.answer(0);
    REQUIRE(a.replies.sent.size() == 2);
    CHECK(a.replies.sent[0].decoded().id + a.replies.sent[1].decoded().id == 3);
    REQUIRE(a.replies.fetches_ended.size() == 1);
    CHECK(a.replies.fetches_ended[0].first == 0b10);  // worker 1 waits
    CHECK(b.replies.sent.empty());
    b.stage.fetched(a.replies.fetches_ended[0].second, false);  // on worker 1's thread
    REQUIRE(b.replies.sent.size() == 1);
    CHECK(b.replies.sent[0].by == Responder::Cache);
    CHECK(b.replies.sent[0].decoded().id == 3);
    CHECK(b.clock.wake == 0);
}

TEST_CASE("stage: a parked client of a failed fetch gets SERVFAIL; one waits no longer than its "
          "own deadline") {
    Fixture f;
    f.ask("x.example.test", 1);
    f.advance(1000);
    f.ask("x.example.test", 2);
    f.advance(4000);  // the first client's deadline
    REQUIRE(f.replies.sent.size() == 1);
    CHECK(f.replies.sent[0].decoded().id == 1);
    f.advance(1000);  // the parked one's
    REQUIRE(f.replies.sent.size() == 2);
    CHECK(f.replies.sent[1].decoded().rcode() == 2);
    f.upstreams.fail(0, Upstreams::Failure::Timeout);  // c-ares gives up later still
    CHECK(f.replies.sent.size() == 2);
}

TEST_CASE("stage: beyond max_in_flight a query is REFUSED at once") {
    Fixture f({}, 1);
    f.ask("one.example.test");
    const ForwardStage::Handled refused = f.ask("two.example.test");
    CHECK(f.answered_now(refused).rcode() == 5);
    CHECK(f.stats.forward_rejects.value() == 1);
    CHECK(f.upstreams.held.size() == 1);
    f.upstreams.answer(0);
    CHECK(f.ask("two.example.test").size == 0);  // a place is free again
    CHECK(f.upstreams.held.size() == 2);
}

TEST_CASE("stage: at shutdown waiting clients get SERVFAIL, and nothing is sent after") {
    Fixture f;
    f.ask("late.example.test");
    f.stage.shut_down();
    REQUIRE(f.replies.sent.size() == 1);
    CHECK(f.replies.sent[0].decoded().rcode() == 2);
    CHECK(f.replies.failures == std::vector<std::string>{"shutting down"});
    f.upstreams.answer(0);
    CHECK(f.replies.sent.size() == 1);
}


TEST_CASE("stage: the cache off keeps nothing and shares no fetch; every query goes upstream") {
    Fixture f({.capacity = 0});
    f.ask("a.example.test", 1);
    f.ask("a.example.test", 2);  // no parking on the first one's fetch
    REQUIRE(f.upstreams.held.size() == 2);
    f.upstreams.answer(0);
    f.upstreams.answer(1);
    CHECK(f.replies.sent.size() == 2);
    CHECK(f.ask("a.example.test", 3).size == 0);  // not a hit
    CHECK(f.upstreams.held.size() == 3);
    CHECK(f.stats.cache_misses.value() == 0);
    CHECK(f.stats.cache_hits[0].value() == 0);
}

TEST_CASE("stage: the first reply's TTLs are capped as the cache will serve them") {
    Fixture f({.max_ttl = 60});
    f.ask("capped.example.test");
    f.upstreams.answer(0, 0, 300);
    REQUIRE(f.replies.sent.size() == 1);
    const test::Decoded d = f.replies.sent[0].decoded();
    REQUIRE(d.answer.size() == 1);
    CHECK(d.answer[0].ttl == 60);
    Fixture off({.capacity = 0, .max_ttl = 60});  // no cache: relayed as it came
    off.ask("capped.example.test");
    off.upstreams.answer(0, 0, 300);
    REQUIRE(off.replies.sent.size() == 1);
    CHECK(off.replies.sent[0].decoded().answer[0].ttl == 300);
}

TEST_CASE("stage: an excepted name is SERVFAIL, never forwarded; a stub domain below it goes") {
    Fixture f;
    HeldUpstreams stub;
    ForwardStage::Route route{.upstreams = &f.upstreams,
                              .stubs = {{*Name::from_text("stub.internal.test"), &stub}},
                              .except = {*Name::from_text("internal.test")},
                              .cache = std::make_shared<SharedCache>(CacheOptions{})};
    f.stage.configure(std::move(route));
    const ForwardStage::Handled excepted = f.ask("www.INTERNAL.test");
    CHECK(f.answered_now(excepted).rcode() == 2);
    CHECK(f.ask("internal.test").size != 0);
    CHECK(f.upstreams.held.empty());
    CHECK(f.replies.failures.size() == 2);
    CHECK(f.ask("www.internal2.test").size == 0);
    CHECK(f.upstreams.held.size() == 1);
    CHECK(f.ask("a.stub.internal.test").size == 0);
    CHECK(stub.held.size() == 1);
}

TEST_CASE("stage: the upstreams hear how the client asked, UDP or TCP") {
    Fixture f;
    const std::vector<uint8_t> packet = test::make_query({.name = "tcp.example.test"});
    Query parsed;
    REQUIRE(parse_query(packet, parsed) == ParseStatus::Ok);
    f.stage.take({.transport = Transport::Tcp}, nullptr, packet, parsed, f.out);
    f.ask("udp.example.test");
    CHECK(f.upstreams.over_tcp == std::vector<bool>{true, false});
}

}  // namespace
}  // namespace clusterdns
