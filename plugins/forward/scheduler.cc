#include "plugins/forward/scheduler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <vector>

namespace clusterdns {

namespace {

// ". IN NS", the health check's question (as CoreDNS's), with RD clear: an upstream answers it
// from what it holds and never forwards it, so two servers pointed at each other cannot pass it
// around in a circle.
constexpr uint8_t kHealthQuery[] = {0, 0, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};

// The attempt time-out never goes below this: a recursive upstream answers names it has cached
// in microseconds and others in hundreds of milliseconds, so the estimate from the fast ones
// would send every cold lookup twice.
constexpr double kMinAttemptMs = 250;
// Attempts to one query back off up to this factor of the upstream's time-out.
constexpr unsigned kMaxBackoffShift = 3;

// The index of the `n`th set bit of `bits` (which has more than n).
size_t nth_bit(uint64_t bits, size_t n) noexcept {
    for (; n > 0; --n) {
        bits &= bits - 1;
    }
    return static_cast<size_t>(std::countr_zero(bits));
}

}  // namespace

struct UpstreamScheduler::Upstream {
    uint32_t fails = 0;     // in a row
    bool checking = false;  // the last health check is unanswered
    // Its round trips, smoothed as TCP does (RFC 6298); negative until the first answer.
    double srtt_ms = -1;
    double rttvar_ms = 0;
    UpstreamStats stats;
};

// One forwarded query, from forward() until done() has been called and the transport holds none
// of its attempts. Attempts overlap: a slow upstream's answer is taken whenever it comes (before
// the deadline for the client, after it for the cache), while a time-out from the upstream's
// measured round trips sends the query on to the next upstream (or again).
struct UpstreamScheduler::Call {
    Upstreams::Done done;
    void* context;
    std::vector<uint8_t> query;
    uint64_t tried = 0;        // upstreams asked in this round, a bit each
    unsigned outstanding = 0;  // attempts the transport still holds
    unsigned sent = 0;
    size_t last = 0;           // the upstream of the latest attempt
    uint64_t deadline_ms = 0;  // no attempt is sent after it
    bool finished = false;     // done() was called
    bool queued = false;       // in `retries_`, at `retry`
    std::multimap<uint64_t, Call*>::iterator retry;
    Failure failure = Failure::Timeout;  // the last attempt's, for done()
    bool tcp = false;                    // the client asked over TCP
    // The attempts (a bit each, by serial) already counted against their upstream when their
    // wait ended unanswered: their report, a time-out or a late refusal, is not a second failure.
    uint64_t counted = 0;

    static uint64_t bit(unsigned serial) { return serial <= 64 ? uint64_t{1} << (serial - 1) : 0; }
};

UpstreamScheduler::UpstreamScheduler(const ForwardOptions& options, UpstreamTransport& transport,
                                     uint32_t seed)
    : options_(options),
      transport_(transport),
      upstreams_(std::make_unique<Upstream[]>(options.upstreams.size())),
      upstream_count_(options.upstreams.size()),
      random_(seed) {
    assert(upstream_count_ >= 1 && upstream_count_ <= 64);
    all_ = upstream_count_ == 64 ? ~uint64_t{0} : (uint64_t{1} << upstream_count_) - 1;
    healthy_ = all_;
}

UpstreamScheduler::~UpstreamScheduler() = default;

const UpstreamStats& UpstreamScheduler::stats(size_t upstream) const noexcept {
    return upstreams_[upstream].stats;
}

bool UpstreamScheduler::healthy(size_t upstream) const noexcept {
    return (healthy_ & (uint64_t{1} << upstream)) != 0;
}

void UpstreamScheduler::forward(std::span<const uint8_t> query, Upstreams::Done done, void* context,
                                uint64_t now_ms, bool tcp) {
    auto* call = new Call{done, context, {query.begin(), query.end()}};
    call->deadline_ms = now_ms + options_.deadline_ms;
    call->tcp = tcp;
    if (!open_ || !send_next(*call, now_ms)) {
        done(context, {}, Failure::Other);
        delete call;
    }
}

// Sends the next attempt of `call` to an upstream not tried yet, healthy if any is, by policy;
// false when every one has been tried (nothing sent).
bool UpstreamScheduler::send_next(Call& call, uint64_t now_ms) {
    const uint64_t untried = all_ & ~call.tried;
    if (untried == 0) {
        return false;
    }
    uint64_t candidates = untried & healthy_;
    if (candidates == 0) {
        candidates = untried;  // every one left is down: they are tried all the same
        if (call.tried == 0 && call.sent == 0) {
            all_down_.add();
        }
    }
    size_t chosen = static_cast<size_t>(std::countr_zero(candidates));
    const auto count = static_cast<size_t>(std::popcount(candidates));
    if (options_.policy == UpstreamPolicy::Random) {
        chosen = nth_bit(candidates, random_() % count);
    } else if (options_.policy == UpstreamPolicy::RoundRobin) {
        chosen = nth_bit(candidates, next_turn_++ % count);
    }
    call.tried |= uint64_t{1} << chosen;
    send(call, chosen, now_ms);
    return true;
}

// How long an attempt at `u` waits before the query also goes elsewhere (or again).
double UpstreamScheduler::attempt_ms(const Upstream& u) const noexcept {
    const double estimate = u.srtt_ms < 0 ? options_.try_timeout_ms : u.srtt_ms + 4 * u.rttvar_ms;
    return std::max(estimate, kMinAttemptMs);
}

void UpstreamScheduler::measured(Upstream& u, uint64_t round_trip_ns) noexcept {
    const double sample = static_cast<double>(round_trip_ns) / 1e6;
    if (u.srtt_ms < 0) {
        u.srtt_ms = sample;
        u.rttvar_ms = sample / 2;
    } else {
        u.rttvar_ms = 0.75 * u.rttvar_ms + 0.25 * std::abs(u.srtt_ms - sample);
        u.srtt_ms = 0.875 * u.srtt_ms + 0.125 * sample;
    }
}

// Everything about the attempt is settled before the transport has it: it may report the
// attempt's failure from within send(), and that may finish and free the call.
void UpstreamScheduler::send(Call& call, size_t upstream, uint64_t now_ms) {
    Upstream& u = upstreams_[upstream];
    ++call.outstanding;
    ++call.sent;
    call.last = upstream;
    u.stats.requests.add();
    unqueue(call);
    const auto wait = static_cast<uint64_t>(attempt_ms(u))
                      << std::min(call.sent - 1, kMaxBackoffShift);
    if (now_ms + wait < call.deadline_ms) {
        call.retry = retries_.emplace(now_ms + wait, &call);
        call.queued = true;
    }
    transport_.send(upstream, call.query, Attempt{&call, upstream, call.tcp, call.sent});
}

void UpstreamScheduler::unqueue(Call& call) {
    if (call.queued) {
        retries_.erase(call.retry);
        call.queued = false;
    }
}

uint64_t UpstreamScheduler::next_wakeup_ms() const noexcept {
    return std::min(retries_.empty() ? kNever : retries_.begin()->first, health_due_ms_);
}

void UpstreamScheduler::on_time(uint64_t now_ms) {
    // The attempt time-out of a query passed: it goes to the next upstream not asked yet, or,
    // every one asked, to the policy's choice again.
    while (!retries_.empty() && retries_.begin()->first <= now_ms) {
        Call& call = *retries_.begin()->second;
        unqueue(call);
        // No answer in the upstream's time: a failure, as CoreDNS counts a read time-out (an
        // answer that comes after all makes it healthy again). The wait is the latest attempt's.
        failed(call.last, now_ms);
        call.counted |= Call::bit(call.sent);
        if (!send_next(call, now_ms)) {
            call.tried = 0;
            send_next(call, now_ms);
        }
    }
    if (health_due_ms_ <= now_ms) {
        check_health(now_ms);
    }
}

// Calls the query's done() once; frees it once the transport holds none of its attempts.
void UpstreamScheduler::finish(Call& call, std::span<const uint8_t> response, Failure failure) {
    if (!call.finished) {
        call.finished = true;
        unqueue(call);
        call.done(call.context, response, failure);
    }
    if (call.outstanding == 0) {
        delete &call;
    }
}

void UpstreamScheduler::failed(size_t upstream, uint64_t now_ms) {
    Upstream& u = upstreams_[upstream];
    const uint64_t bit = uint64_t{1} << upstream;
    if (++u.fails >= options_.max_fails && options_.max_fails != 0 && (healthy_ & bit) != 0) {
        healthy_ &= ~bit;
        if (open_ && health_due_ms_ == kNever) {
            health_due_ms_ = now_ms + options_.health_check_ms;
        }
    }
}

void UpstreamScheduler::completed(Attempt attempt, Failure failure,
                                  std::span<const uint8_t> response, uint64_t round_trip_ns,
                                  uint64_t now_ms) {
    Call& call = *attempt.call;
    Upstream& u = upstreams_[attempt.upstream];
    --call.outstanding;
    if (response.size() > 3) {
        const size_t rcode = response[3] & 0x0F;
        u.stats.responses[rcode].add();
        u.stats.duration[rcode].observe(round_trip_ns, kTimeBucketsNs);
        measured(u, round_trip_ns);
    }
    if (failure == Failure::None && !response.empty()) {
        u.fails = 0;
        healthy_ |= uint64_t{1} << attempt.upstream;
        // A later answer than the first (the client has one) is dropped here.
        finish(call, response, Failure::None);
        return;
    }
    if (!open_) {
        if (call.outstanding == 0) {
            finish(call, {}, Failure::Other);
        }
        return;
    }
    if ((call.counted & Call::bit(attempt.serial)) == 0) {
        failed(attempt.upstream, now_ms);
    }
    call.failure = failure == Failure::None ? Failure::Other : failure;
    // A refusal, SERVFAIL or REFUSED is an answer: the next upstream is asked at once, and with
    // none left the client hears so now rather than at the deadline.
    const bool definite = failure != Failure::Timeout;
    if (!call.finished && definite && now_ms < call.deadline_ms && send_next(call, now_ms)) {
        return;
    }
    if (call.outstanding == 0 && (definite || !call.queued)) {
        finish(call, {}, call.failure);
    }
}

// Every interval each upstream left aside is asked again: a check still unanswered by then has
// failed (the transport keeps a check as long as a query's attempt, longer than the interval).
void UpstreamScheduler::check_health(uint64_t now_ms) {
    health_due_ms_ = now_ms + options_.health_check_ms;
    bool any_down = false;
    for (size_t i = 0; i < upstream_count_; ++i) {
        if (healthy(i)) {
            continue;
        }
        any_down = true;
        Upstream& u = upstreams_[i];
        if (u.checking) {
            u.stats.healthcheck_failures.add();
        }
        u.checking = true;
        transport_.check(i, kHealthQuery);
    }
    if (!any_down) {
        health_due_ms_ = kNever;
    }
}

void UpstreamScheduler::checked(size_t upstream) {
    // Any answer, NXDOMAIN or REFUSED included, says the server is there and answering.
    Upstream& u = upstreams_[upstream];
    u.checking = false;
    u.fails = 0;
    healthy_ |= uint64_t{1} << upstream;
}

void UpstreamScheduler::close() {
    if (!open_) {
        return;
    }
    open_ = false;
    health_due_ms_ = kNever;
    while (!retries_.empty()) {  // waiting to be sent again
        finish(*retries_.begin()->second, {}, Failure::Other);
    }
}

}  // namespace clusterdns
