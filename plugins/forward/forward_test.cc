// The forwarding policy (UpstreamScheduler) on virtual time, through a transport that only
// records what it is asked to send: which upstream, when, and what becomes of each attempt is
// the test's to say. No socket, no sleep.

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "plugins/forward/scheduler.h"
#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

using Failure = Upstreams::Failure;

// A response header with `rcode`: the scheduler reads no more of it.
std::vector<uint8_t> reply(uint8_t rcode) {
    return {0xAB, 0xCD, 0x81, static_cast<uint8_t>(0x80 | rcode), 0, 0, 0, 0, 0, 0, 0, 0};
}

// Records every attempt and health check. An attempt not reported by the test is given up
// `life_ms` after it was sent, as c-ares gives one up (the channel sets its time-out to the
// query's deadline). Upstreams in `refuse_within_send` fail from within send(), as c-ares
// reports a socket it cannot open.
struct FakeTransport final : UpstreamTransport {
    struct Sent {
        uint64_t at_ms;
        size_t upstream;
        UpstreamScheduler::Attempt attempt;
        std::vector<uint8_t> query;
        bool open = true;  // not reported yet
    };
    struct Check {
        uint64_t at_ms;
        size_t upstream;
        std::vector<uint8_t> query;
    };

    void send(size_t upstream, std::span<const uint8_t> query,
              UpstreamScheduler::Attempt attempt) override {
        sent.push_back({*now, upstream, attempt, {query.begin(), query.end()}});
        if ((refuse_within_send & (uint64_t{1} << upstream)) != 0) {
            sent.back().open = false;
            scheduler->completed(attempt, Failure::Refused, {}, 0, *now);
        }
    }
    void check(size_t upstream, std::span<const uint8_t> query) override {
        checks.push_back({*now, upstream, {query.begin(), query.end()}});
    }

    const uint64_t* now = nullptr;
    UpstreamScheduler* scheduler = nullptr;
    uint64_t life_ms = 5000;
    uint64_t refuse_within_send = 0;
    std::vector<Sent> sent;
    std::vector<Check> checks;
};

// A scheduler over `n` upstreams, its fake transport, and the virtual clock.
struct Rig {
    struct Outcome {
        Rig* rig;
        int calls = 0;
        uint64_t at_ms = 0;
        std::vector<uint8_t> response;
        Failure failure = Failure::None;
    };

    static ForwardOptions options_for(size_t n, UpstreamPolicy policy) {
        ForwardOptions o;
        for (size_t i = 0; i < n; ++i) {
            o.upstreams.push_back("192.0.2." + std::to_string(i + 1) + ":53");
        }
        o.policy = policy;
        return o;
    }

    explicit Rig(const ForwardOptions& o, uint32_t seed = 1)
        : options(o), scheduler(options, transport, seed) {
        transport.now = &now;
        transport.scheduler = &scheduler;
        transport.life_ms = options.deadline_ms;
    }
    Rig(size_t n, UpstreamPolicy policy) : Rig(options_for(n, policy)) {}

    // Nothing may be left in flight when the scheduler goes.
    ~Rig() {
        scheduler.close();
        for (FakeTransport::Sent& s : transport.sent) {
            if (s.open) {
                s.open = false;
                scheduler.completed(s.attempt, Failure::Other, {}, 0, now);
            }
        }
    }

    static void on_done(void* context, std::span<const uint8_t> response, Failure failure) {
        Outcome& o = *static_cast<Outcome*>(context);
        ++o.calls;
        o.at_ms = o.rig->now;
        o.response.assign(response.begin(), response.end());
        o.failure = failure;
    }

    Outcome& forward() {
        outcomes.push_back({this});
        scheduler.forward(query, on_done, &outcomes.back(), now);
        return outcomes.back();
    }

    // Moves the clock to `t`, waking the scheduler when it asked to be and giving up the
    // attempts whose life ends on the way (the scheduler first when both are due at once).
    void run_until(uint64_t t) {
        REQUIRE(t >= now);
        for (;;) {
            const uint64_t wake = scheduler.next_wakeup_ms();
            uint64_t expiry = UpstreamScheduler::kNever;
            FakeTransport::Sent* expiring = nullptr;
            for (FakeTransport::Sent& s : transport.sent) {
                if (s.open && s.at_ms + transport.life_ms < expiry) {
                    expiry = s.at_ms + transport.life_ms;
                    expiring = &s;
                }
            }
            if (std::min(wake, expiry) > t) {
                break;
            }
            if (wake <= expiry) {
                now = wake;
                scheduler.on_time(now);
            } else {
                now = expiry;
                expiring->open = false;
                scheduler.completed(expiring->attempt, Failure::Timeout, {}, 0, now);
            }
        }
        now = t;
    }

    // Attempt `i` (in the order sent) is answered now with `rcode`.
    void answer(size_t i, uint8_t rcode = 0) {
        FakeTransport::Sent& s = transport.sent.at(i);
        REQUIRE(s.open);
        s.open = false;
        const std::vector<uint8_t> response = reply(rcode);
        scheduler.completed(s.attempt, Failure::None, response, (now - s.at_ms) * 1'000'000, now);
    }

    // Attempt `i` fails now, with a response carrying `rcode` when one is given.
    void fail(size_t i, Failure failure, int rcode = -1) {
        FakeTransport::Sent& s = transport.sent.at(i);
        REQUIRE(s.open);
        s.open = false;
        const std::vector<uint8_t> response =
            rcode < 0 ? std::vector<uint8_t>{} : reply(static_cast<uint8_t>(rcode));
        scheduler.completed(s.attempt, failure, response, (now - s.at_ms) * 1'000'000, now);
    }

    // "u<upstream>@<ms>" for each attempt sent from the `from`th on.
    std::string sends(size_t from = 0) const {
        std::string out;
        for (size_t i = from; i < transport.sent.size(); ++i) {
            const FakeTransport::Sent& s = transport.sent[i];
            out += (out.empty() ? "u" : " u") + std::to_string(s.upstream) + "@" +
                   std::to_string(s.at_ms);
        }
        return out;
    }
    std::string checks() const {
        std::string out;
        for (const FakeTransport::Check& c : transport.checks) {
            out += (out.empty() ? "u" : " u") + std::to_string(c.upstream) + "@" +
                   std::to_string(c.at_ms);
        }
        return out;
    }

    const std::vector<uint8_t> query = test::make_query({.name = "www.example.test"});
    ForwardOptions options;
    uint64_t now = 0;
    FakeTransport transport;
    UpstreamScheduler scheduler;
    std::deque<Outcome> outcomes;  // stable addresses, for done()'s context
};

TEST_CASE("forward: an upstream is waited for 400 ms, then the query also goes to the next") {
    Rig rig(2, UpstreamPolicy::Sequential);
    Rig::Outcome& q = rig.forward();
    CHECK(rig.sends() == "u0@0");
    CHECK(rig.transport.sent[0].query == rig.query);  // as the client sent it
    rig.run_until(399);
    CHECK(rig.sends() == "u0@0");
    rig.run_until(400);
    CHECK(rig.sends() == "u0@0 u1@400");
    CHECK(q.calls == 0);

    rig.run_until(450);
    rig.answer(1);
    CHECK(q.calls == 1);
    CHECK(q.at_ms == 450);
    CHECK(q.failure == Failure::None);
    CHECK(q.response == reply(0));
    CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);

    rig.run_until(500);
    rig.answer(0);  // the slow one's, later: dropped
    CHECK(q.calls == 1);
    CHECK(rig.sends() == "u0@0 u1@400");
}

TEST_CASE("forward: measured round trips set the wait, RFC 6298's estimate plus four deviations") {
    Rig rig(2, UpstreamPolicy::Sequential);
    rig.forward();
    rig.run_until(100);
    rig.answer(0);  // 100 ms: smoothed 100, deviation 50, so 300 ms

    rig.run_until(1000);
    Rig::Outcome& second = rig.forward();
    rig.run_until(1299);
    CHECK(rig.sends(1) == "u0@1000");
    rig.run_until(1300);
    CHECK(rig.sends(1) == "u0@1000 u1@1300");
    rig.run_until(1500);
    rig.answer(1);  // 500 ms: deviation 0.75*50 + 0.25*400 = 137.5, smoothed 150: 700 ms
    CHECK(second.failure == Failure::None);
    CHECK(second.at_ms == 1500);

    rig.run_until(2000);
    rig.forward();
    rig.run_until(2699);
    CHECK(rig.sends(3) == "u0@2000");
    rig.run_until(2700);
    CHECK(rig.sends(3) == "u0@2000 u1@2700");
}

TEST_CASE("forward: the wait is never under 250 ms, however fast the upstream") {
    Rig rig(2, UpstreamPolicy::Sequential);
    rig.forward();
    rig.run_until(10);
    rig.answer(0);  // 10 ms: the estimate is 30 ms

    rig.run_until(100);
    rig.forward();
    rig.run_until(349);
    CHECK(rig.sends(1) == "u0@100");
    rig.run_until(350);
    CHECK(rig.sends(1) == "u0@100 u1@350");
}

TEST_CASE("forward: each attempt waits twice as long as the one before, up to eight times") {
    SUBCASE("within a long deadline") {
        ForwardOptions o = Rig::options_for(1, UpstreamPolicy::Sequential);
        o.deadline_ms = 60000;
        Rig rig(o);
        rig.forward();
        rig.run_until(15600);
        CHECK(rig.sends() == "u0@0 u0@400 u0@1200 u0@2800 u0@6000 u0@9200 u0@12400 u0@15600");
    }
    SUBCASE("two upstreams, each its own wait") {
        Rig rig(2, UpstreamPolicy::Sequential);
        rig.forward();
        rig.run_until(100);
        rig.answer(0);  // u0's wait is now 300 ms; u1's still 400
        rig.run_until(1000);
        rig.forward();
        rig.run_until(4999);
        // u0 300, u1 400*2, then u0 (first healthy: sequential) 300*4
        CHECK(rig.sends(1) == "u0@1000 u1@1300 u0@2100 u1@3300");
    }
}

TEST_CASE("forward: no attempt goes out after the deadline; a late answer is still delivered") {
    Rig rig(1, UpstreamPolicy::Sequential);
    Rig::Outcome& q = rig.forward();
    rig.run_until(5000);
    // The next wait would end at 6000, past the 5 s deadline.
    CHECK(rig.sends() == "u0@0 u0@400 u0@1200 u0@2800");

    SUBCASE("the query fails when its last attempt's life ends, 5 s after it was sent") {
        rig.run_until(7799);
        CHECK(q.calls == 0);  // the first three attempts have given up, the last has not
        rig.run_until(7800);
        CHECK(q.calls == 1);
        CHECK(q.failure == Failure::Timeout);
        CHECK(q.response.empty());
    }
    SUBCASE("an answer after the deadline still comes to the query") {
        rig.run_until(6000);
        rig.answer(3);
        CHECK(q.calls == 1);
        CHECK(q.at_ms == 6000);
        CHECK(q.failure == Failure::None);
        CHECK(q.response == reply(0));
    }
}

TEST_CASE("forward: a refusal goes on to the next upstream at once") {
    Rig rig(3, UpstreamPolicy::Sequential);
    Rig::Outcome& q = rig.forward();
    rig.run_until(10);
    SUBCASE("refused connection") {
        rig.fail(0, Failure::Refused);
    }
    SUBCASE("SERVFAIL") {
        rig.fail(0, Failure::Other);
    }
    CHECK(rig.sends() == "u0@0 u1@10");
    rig.run_until(20);
    rig.answer(1);
    CHECK(q.at_ms == 20);
    CHECK(q.failure == Failure::None);
    CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);
}

TEST_CASE("forward: when every upstream refuses, the query fails at once with the last failure") {
    Rig rig(2, UpstreamPolicy::Sequential);
    Rig::Outcome& q = rig.forward();
    rig.run_until(10);
    SUBCASE("refused last") {
        rig.fail(0, Failure::Other);
        rig.run_until(20);
        rig.fail(1, Failure::Refused);
        CHECK(q.failure == Failure::Refused);
    }
    SUBCASE("SERVFAIL last") {
        rig.fail(0, Failure::Refused);
        rig.run_until(20);
        rig.fail(1, Failure::Other);
        CHECK(q.failure == Failure::Other);
    }
    CHECK(q.calls == 1);
    CHECK(q.at_ms == 20);
    CHECK(rig.sends() == "u0@0 u1@10");
    CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);
}

TEST_CASE("forward: a refusal with another attempt in flight waits for that attempt") {
    Rig rig(2, UpstreamPolicy::Sequential);
    Rig::Outcome& q = rig.forward();
    rig.run_until(450);
    rig.fail(1, Failure::Refused);  // u1, asked at 400 alongside the silent u0
    CHECK(q.calls == 0);
    SUBCASE("which answers") {
        rig.run_until(600);
        rig.answer(0);
        CHECK(q.failure == Failure::None);
    }
    SUBCASE("which refuses too") {
        rig.run_until(600);
        rig.fail(0, Failure::Refused);
        CHECK(q.failure == Failure::Refused);
    }
    CHECK(q.calls == 1);
    CHECK(q.at_ms == 600);
    CHECK(rig.sends() == "u0@0 u1@400");
}

TEST_CASE("forward: a failure reported from within send() is acted on at once") {
    Rig rig(2, UpstreamPolicy::Sequential);
    SUBCASE("the next upstream is asked") {
        rig.transport.refuse_within_send = 0b01;
        Rig::Outcome& q = rig.forward();
        CHECK(rig.sends() == "u0@0 u1@0");
        CHECK(q.calls == 0);
        rig.answer(1);
        CHECK(q.failure == Failure::None);
    }
    SUBCASE("with none left, done() is called from within forward()") {
        rig.transport.refuse_within_send = 0b11;
        Rig::Outcome& q = rig.forward();
        CHECK(q.calls == 1);
        CHECK(q.failure == Failure::Refused);
        CHECK(rig.sends() == "u0@0 u1@0");
        CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);
    }
}

TEST_CASE("forward: close() calls back the queries waiting for an attempt; none is sent again") {
    Rig rig(1, UpstreamPolicy::Sequential);
    Rig::Outcome& in_flight = rig.forward();  // attempts at 0, 400, 1200, 2800, then none
    rig.run_until(3000);
    Rig::Outcome& waiting = rig.forward();  // its next attempt at 3400
    rig.run_until(3100);
    rig.fail(4, Failure::Timeout);       // and none in flight until then
    Rig::Outcome& both = rig.forward();  // one in flight, the next at 3500
    CHECK(rig.sends() == "u0@0 u0@400 u0@1200 u0@2800 u0@3000 u0@3100");

    rig.scheduler.close();
    CHECK(waiting.calls == 1);
    CHECK(waiting.failure == Failure::Other);
    CHECK(both.calls == 1);
    CHECK(both.failure == Failure::Other);
    CHECK(in_flight.calls == 0);
    CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);

    // The transport gives up what it holds.
    for (const size_t i : {0, 1, 2}) {
        rig.fail(i, Failure::Other);
    }
    CHECK(in_flight.calls == 0);
    rig.fail(3, Failure::Other);
    CHECK(in_flight.calls == 1);
    CHECK(in_flight.failure == Failure::Other);
    rig.fail(5, Failure::Other);
    CHECK(both.calls == 1);

    Rig::Outcome& late = rig.forward();
    CHECK(late.calls == 1);
    CHECK(late.failure == Failure::Other);
    CHECK(rig.transport.sent.size() == 6);
}

TEST_CASE("health: an upstream failing two queries in a row is left aside and checked") {
    Rig rig(2, UpstreamPolicy::Sequential);
    SUBCASE("an answer in between starts the count again") {
        rig.forward();
        rig.fail(0, Failure::Refused);
        rig.answer(1);
        rig.forward();
        rig.answer(2);  // u0
        rig.forward();
        rig.fail(3, Failure::Refused);
        rig.answer(4);
        CHECK(rig.scheduler.healthy(0));
        CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);
        rig.forward();
        CHECK(rig.sends(5) == "u0@0");
    }
    SUBCASE("two in a row, an attempt time passed counting as one") {
        rig.forward();  // u0 is silent: u1 answers
        rig.run_until(400);
        rig.answer(1);
        CHECK(rig.scheduler.healthy(0));
        rig.run_until(1000);
        rig.forward();
        rig.run_until(1010);
        rig.fail(2, Failure::Refused);
        CHECK_FALSE(rig.scheduler.healthy(0));
        rig.answer(3);  // u1, asked at once

        // Queries go to u1 first now.
        rig.run_until(1100);
        rig.forward();
        CHECK(rig.sends(4) == "u1@1100");
        rig.answer(4);

        // ". NS" with RD clear, every 500 ms from when it was left aside.
        rig.run_until(1509);
        CHECK(rig.checks().empty());
        rig.run_until(1510);
        CHECK(rig.checks() == "u0@1510");
        const std::vector<uint8_t> check = rig.transport.checks[0].query;
        REQUIRE(check.size() == 17);
        CHECK((check[2] & 0x01) == 0);             // RD clear
        CHECK(check[5] == 1);                      // one question
        CHECK(check[12] == 0);                     // "."
        CHECK((check[13] << 8 | check[14]) == 2);  // NS
        CHECK((check[15] << 8 | check[16]) == 1);  // IN
        rig.run_until(2010);
        CHECK(rig.checks() == "u0@1510 u0@2010");
        CHECK(rig.scheduler.stats(0).healthcheck_failures.value() == 1);  // 1510's unanswered

        rig.run_until(2100);
        rig.scheduler.checked(0);
        CHECK(rig.scheduler.healthy(0));
        rig.forward();
        CHECK(rig.sends(5) == "u0@2100");
        rig.answer(5);

        // The next round finds none left aside, and the checks stop.
        rig.run_until(4000);
        CHECK(rig.checks() == "u0@1510 u0@2010");
        CHECK(rig.scheduler.next_wakeup_ms() == UpstreamScheduler::kNever);
        CHECK(rig.scheduler.stats(0).healthcheck_failures.value() == 1);
        CHECK(rig.scheduler.all_down().value() == 0);
    }
}

TEST_CASE("health: max_fails and health_check_ms are the options'") {
    ForwardOptions o = Rig::options_for(2, UpstreamPolicy::Sequential);
    o.max_fails = 3;
    o.health_check_ms = 200;
    Rig rig(o);
    for (size_t i = 0; i < 3; ++i) {
        CHECK(rig.scheduler.healthy(0));
        rig.forward();
        rig.fail(2 * i, Failure::Refused);
        rig.answer(2 * i + 1);
    }
    CHECK_FALSE(rig.scheduler.healthy(0));
    rig.run_until(450);
    CHECK(rig.checks() == "u0@200 u0@400");
}

TEST_CASE("health: an unanswered attempt is one failure, counted when its wait ends") {
    ForwardOptions o = Rig::options_for(2, UpstreamPolicy::Sequential);
    o.max_fails = 2;
    Rig rig(o);
    rig.forward();
    rig.run_until(400);  // no answer in u0's wait: its first failure
    CHECK(rig.sends() == "u0@0 u1@400");
    rig.answer(1);
    rig.run_until(rig.transport.life_ms + 100);  // u0's attempt given up: the same failure
    CHECK(rig.scheduler.healthy(0));
    rig.forward();
    CHECK(rig.sends(2) == "u0@5100");
    rig.fail(2, Failure::Refused);  // a second attempt, a second failure: left aside
    CHECK_FALSE(rig.scheduler.healthy(0));
    rig.answer(3);

    // A refusal that comes after the wait ended is still that one failure.
    rig.scheduler.checked(0);
    rig.forward();
    rig.run_until(5100 + 400);
    CHECK(rig.sends(4) == "u0@5100 u1@5500");
    rig.fail(4, Failure::Refused);
    CHECK(rig.scheduler.healthy(0));
    rig.answer(5);
}

TEST_CASE("health: with every upstream down one is still tried, and all_down counts it") {
    ForwardOptions o = Rig::options_for(2, UpstreamPolicy::Sequential);
    o.max_fails = 1;
    Rig rig(o);
    Rig::Outcome& first = rig.forward();
    rig.fail(0, Failure::Refused);
    rig.fail(1, Failure::Refused);
    CHECK(first.failure == Failure::Refused);
    CHECK_FALSE(rig.scheduler.healthy(0));
    CHECK_FALSE(rig.scheduler.healthy(1));
    CHECK(rig.scheduler.all_down().value() == 0);

    rig.run_until(100);
    Rig::Outcome& q = rig.forward();
    CHECK(rig.scheduler.all_down().value() == 1);
    CHECK(rig.sends(2) == "u0@100");  // sequential: the first, down or not
    rig.fail(2, Failure::Refused);
    CHECK(rig.sends(2) == "u0@100 u1@100");
    CHECK(rig.scheduler.all_down().value() == 1);  // once per query
    rig.run_until(500);
    CHECK(rig.checks() == "u0@500 u1@500");
    rig.answer(3);  // any answer brings an upstream back
    CHECK(q.failure == Failure::None);
    CHECK(rig.scheduler.healthy(1));

    rig.forward();
    CHECK(rig.sends(4) == "u1@500");
    CHECK(rig.scheduler.all_down().value() == 1);
}

TEST_CASE("policy: sequential asks the first healthy upstream first") {
    ForwardOptions o = Rig::options_for(3, UpstreamPolicy::Sequential);
    o.max_fails = 1;
    Rig rig(o);
    for (int i = 0; i < 3; ++i) {
        rig.forward();
        rig.answer(rig.transport.sent.size() - 1);
    }
    CHECK(rig.sends() == "u0@0 u0@0 u0@0");
    rig.forward();
    rig.fail(3, Failure::Refused);  // u0 left aside
    rig.answer(4);
    for (int i = 0; i < 2; ++i) {
        rig.forward();
        rig.answer(rig.transport.sent.size() - 1);
    }
    CHECK(rig.sends(3) == "u0@0 u1@0 u1@0 u1@0");
}

TEST_CASE("policy: round_robin asks the healthy upstreams in turn") {
    ForwardOptions o = Rig::options_for(3, UpstreamPolicy::RoundRobin);
    o.max_fails = 1;
    Rig rig(o);
    for (int i = 0; i < 6; ++i) {
        rig.forward();
        rig.answer(rig.transport.sent.size() - 1);
    }
    CHECK(rig.sends() == "u0@0 u1@0 u2@0 u0@0 u1@0 u2@0");

    rig.forward();  // u0 refuses: u1 or u2, whose turn it is (the 8th pick of two: u2)
    rig.fail(6, Failure::Refused);
    rig.answer(7);
    CHECK(rig.sends(6) == "u0@0 u2@0");
    for (int i = 0; i < 4; ++i) {
        rig.forward();
        rig.answer(rig.transport.sent.size() - 1);
    }
    CHECK(rig.sends(8) == "u1@0 u2@0 u1@0 u2@0");
}

TEST_CASE("policy: random asks only healthy upstreams first, each of them") {
    ForwardOptions o = Rig::options_for(3, UpstreamPolicy::Random);
    o.max_fails = 1;
    Rig rig(o);
    // Until u1 is picked first, and refuses.
    for (int i = 0; i < 100 && rig.scheduler.healthy(1); ++i) {
        rig.forward();
        const size_t last = rig.transport.sent.size() - 1;
        if (rig.transport.sent[last].upstream == 1) {
            rig.fail(last, Failure::Refused);
        }
        rig.answer(rig.transport.sent.size() - 1);
    }
    REQUIRE_FALSE(rig.scheduler.healthy(1));

    int firsts[3] = {};
    for (int i = 0; i < 200; ++i) {
        rig.forward();
        const size_t last = rig.transport.sent.size() - 1;
        ++firsts[rig.transport.sent[last].upstream];
        rig.answer(last);
    }
    CHECK(firsts[1] == 0);
    CHECK(firsts[0] > 50);
    CHECK(firsts[2] > 50);
}

TEST_CASE("stats: attempts are counted, and responses by rcode with their round trips") {
    Rig rig(2, UpstreamPolicy::Sequential);
    rig.forward();
    rig.run_until(30);
    rig.answer(0, 3);  // NXDOMAIN in 30 ms: u0 is waited for 250 ms from now on

    rig.forward();  // u0 silent, u1 answers 20 ms after it was asked
    rig.run_until(300);
    CHECK(rig.sends(1) == "u0@30 u1@280");
    rig.answer(2);

    rig.forward();  // REFUSED from u0 in 10 ms (its second failure in a row), then u1
    rig.run_until(310);
    rig.fail(3, Failure::Refused, 5);
    rig.answer(4);

    rig.run_until(6000);  // u0's silent attempt gives up at 5030: no response to count

    const UpstreamStats& u0 = rig.scheduler.stats(0);
    const UpstreamStats& u1 = rig.scheduler.stats(1);
    CHECK(u0.requests.value() == 3);
    CHECK(u1.requests.value() == 2);
    CHECK(u0.responses[3].value() == 1);
    CHECK(u0.responses[5].value() == 1);
    CHECK(u0.responses[0].value() == 0);
    CHECK(u1.responses[0].value() == 2);
    CHECK(u0.duration[3].sum.value() == 30'000'000);
    CHECK(u0.duration[5].sum.value() == 10'000'000);
    CHECK(u1.duration[0].sum.value() == 20'000'000);  // 20 ms and 0 ms
    CHECK(u0.duration[3].counts[7].value() == 1);     // 30 ms: the 32 ms bucket
    // Checked from 810 every 500 ms, never answered: each but the last counted by the next.
    CHECK(rig.transport.checks.size() == 11);
    CHECK(u0.healthcheck_failures.value() == 10);
    CHECK(rig.scheduler.all_down().value() == 0);
}

}  // namespace
}  // namespace clusterdns
