#include "plugins/forward/forward.h"

#include <ares.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <random>

#include <fmt/format.h>

namespace clusterdns {

namespace {

// c-ares's library state is set up once per process, before the first channel.
Status init_library() {
    static std::once_flag once;
    static int status = ARES_SUCCESS;
    std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (status != ARES_SUCCESS) {
        return Error{fmt::format("c-ares: {}", ares_strerror(status))};
    }
    return {};
}

UpstreamChannel::Failure failure_of(int status) {
    switch (status) {
        case ARES_SUCCESS:
            return UpstreamChannel::Failure::None;
        case ARES_ETIMEOUT:
            return UpstreamChannel::Failure::Timeout;
        case ARES_ECONNREFUSED:
        case ARES_EREFUSED:
            return UpstreamChannel::Failure::Refused;
        default:
            return UpstreamChannel::Failure::Other;
    }
}

// ". IN NS", the health check's question (as CoreDNS's), with RD clear: an upstream answers it
// from what it holds and never forwards it, so two servers pointed at each other cannot pass it
// around in a circle.
constexpr uint8_t kHealthQuery[] = {0, 0, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};

// The attempt time-out never goes below this: a recursive upstream answers names it has cached
// in microseconds and others in hundreds of milliseconds, so the estimate from the fast ones
// would send every cold lookup twice.
constexpr double kMinAttemptMs = 250;
// c-ares's own time-outs (an attempt's whole life) are acted on this late at most.
constexpr uint64_t kTimerGrainMs = 50;
// Attempts to one query back off up to this factor of the upstream's time-out.
constexpr unsigned kMaxBackoffShift = 3;

}  // namespace

struct UpstreamChannel::Impl {
    struct Upstream;
    // A socket c-ares opened, watched by the loop for what c-ares waits for.
    struct Socket {
        uv_poll_t poll;
        ares_socket_t fd;
        Upstream* upstream;
    };
    struct Upstream {
        Impl* impl = nullptr;
        std::string address;
        ares_channel channel = nullptr;
        size_t pending = 0;
        uint32_t fails = 0;  // in a row
        bool healthy = true;
        bool checking = false;  // the last health check is unanswered
        // Its round trips, smoothed as TCP does (RFC 6298); negative until the first answer.
        double srtt_ms = -1;
        double rttvar_ms = 0;
        UpstreamStats stats;
    };
    // One forwarded query, from forward() until done() has been called and c-ares holds none
    // of its attempts. Attempts overlap: a slow upstream's answer is taken whenever it comes
    // (before the deadline for the client, after it for the cache), while a time-out from the
    // upstream's measured round trips sends the query on to the next upstream (or again).
    struct Call {
        Done done;
        void* context;
        Impl* impl;
        std::vector<uint8_t> query;
        uint64_t tried = 0;        // upstreams asked in this round, a bit each
        unsigned outstanding = 0;  // attempts c-ares still holds
        unsigned sent = 0;
        size_t last = 0;           // the upstream of the latest attempt
        uint64_t deadline_ms = 0;  // loop time: no attempt is sent after it
        bool finished = false;     // done() was called
        bool queued = false;       // in `retries`, at `retry`
        std::multimap<uint64_t, Call*>::iterator retry;
        Failure failure = Failure::Timeout;  // the last attempt's, for done()
    };
    struct Attempt {
        Call* call;
        size_t upstream;
        uint64_t sent_ns;
    };

    ~Impl() {
        for (const auto& u : upstreams) {
            if (u->channel != nullptr) {
                ares_destroy(u->channel);  // calls back every pending query
            }
        }
    }

    uv_loop_t* loop = nullptr;
    ForwardOptions options;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::vector<Socket*> sockets;
    uv_timer_t timer;   // c-ares's own timeouts
    uv_timer_t health;  // checks of the upstreams left aside
    uv_timer_t retry_timer;
    std::multimap<uint64_t, Call*> retries;  // by when the next attempt goes out
    bool open = false;
    size_t next_turn = 0;  // round_robin
    Counter all_down;
    std::minstd_rand random{std::random_device{}()};

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        Upstream& u = *static_cast<Upstream*>(data);
        Impl& impl = *u.impl;
        const auto it = std::find_if(impl.sockets.begin(), impl.sockets.end(),
                                     [fd](const Socket* s) { return s->fd == fd; });
        if (readable == 0 && writable == 0) {
            if (it != impl.sockets.end()) {
                Socket* s = *it;
                impl.sockets.erase(it);
                uv_close(reinterpret_cast<uv_handle_t*>(&s->poll),
                         [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
            }
            return;
        }
        Socket* s = nullptr;
        if (it != impl.sockets.end()) {
            s = *it;
        } else {
            s = new Socket{};
            s->fd = fd;
            s->upstream = &u;
            if (uv_poll_init_socket(impl.loop, &s->poll, fd) != 0) {
                delete s;
                return;  // c-ares times the query out
            }
            s->poll.data = s;
            impl.sockets.push_back(s);
        }
        uv_poll_start(&s->poll, (readable != 0 ? UV_READABLE : 0) | (writable != 0 ? UV_WRITABLE : 0),
                      on_poll);
    }

    static void on_poll(uv_poll_t* poll, int status, int events) {
        const Socket& s = *static_cast<Socket*>(poll->data);
        Upstream& u = *s.upstream;  // `s` may be gone once c-ares has processed the socket
        const ares_socket_t fd = s.fd;
        ares_process_fd(u.channel, status < 0 || (events & UV_READABLE) != 0 ? fd : ARES_SOCKET_BAD,
                        status < 0 || (events & UV_WRITABLE) != 0 ? fd : ARES_SOCKET_BAD);
        u.impl->arm_timer();
    }

    static void on_timer(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        for (const auto& u : impl.upstreams) {
            if (u->pending > 0) {
                ares_process_fd(u->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            }
        }
        impl.arm_timer();
    }

    // Wakes the loop when c-ares next has a timeout to act on; idle while nothing is pending.
    // An attempt's time-out is the query's whole deadline, the same for all, so one set earlier
    // fires first and a running timer stays as it is; and it fires at most every 50 ms, since
    // ares_timeout walks every pending query (a dead upstream holds a thousand).
    void arm_timer() {
        if (!open || uv_is_active(reinterpret_cast<uv_handle_t*>(&timer))) {
            return;
        }
        uint64_t wait_ms = UINT64_MAX;
        for (const auto& u : upstreams) {
            if (u->pending == 0) {
                continue;
            }
            timeval longest{1, 0};
            timeval next{};
            const timeval* wait = ares_timeout(u->channel, &longest, &next);
            wait_ms = std::min(wait_ms, static_cast<uint64_t>(wait->tv_sec) * 1000 +
                                            static_cast<uint64_t>(wait->tv_usec + 999) / 1000);
        }
        if (wait_ms != UINT64_MAX) {
            uv_timer_start(&timer, on_timer, std::max<uint64_t>(wait_ms, kTimerGrainMs), 0);
        }
    }

    // Sends the next attempt of `call` to an upstream not tried yet, healthy if any is, by
    // policy; false when every one has been tried (nothing sent).
    bool send_next(Call& call) {
        std::vector<size_t> candidates;
        for (const bool want_healthy : {true, false}) {
            for (size_t i = 0; i < upstreams.size(); ++i) {
                if ((call.tried & (uint64_t{1} << i)) == 0 && upstreams[i]->healthy == want_healthy) {
                    candidates.push_back(i);
                }
            }
            if (!candidates.empty()) {
                break;
            }
        }
        if (candidates.empty()) {
            return false;
        }
        if (call.tried == 0 && call.sent == 0 && !upstreams[candidates.front()]->healthy) {
            all_down.add();
        }
        size_t chosen = candidates.front();
        if (options.policy == UpstreamPolicy::Random) {
            chosen = candidates[random() % candidates.size()];
        } else if (options.policy == UpstreamPolicy::RoundRobin) {
            chosen = candidates[next_turn++ % candidates.size()];
        }
        call.tried |= uint64_t{1} << chosen;
        send(call, chosen);
        return true;
    }

    // How long an attempt at `u` waits before the query also goes elsewhere (or again).
    double attempt_ms(const Upstream& u) const {
        const double estimate = u.srtt_ms < 0 ? options.try_timeout_ms
                                              : u.srtt_ms + 4 * u.rttvar_ms;
        return std::max(estimate, kMinAttemptMs);
    }

    void measured(Upstream& u, uint64_t sent_ns) {
        const double sample = static_cast<double>(uv_hrtime() - sent_ns) / 1e6;
        if (u.srtt_ms < 0) {
            u.srtt_ms = sample;
            u.rttvar_ms = sample / 2;
        } else {
            u.rttvar_ms = 0.75 * u.rttvar_ms + 0.25 * std::abs(u.srtt_ms - sample);
            u.srtt_ms = 0.875 * u.srtt_ms + 0.125 * sample;
        }
    }

    void send(Call& call, size_t upstream) {
        Upstream& u = *upstreams[upstream];
        ++u.pending;
        ++call.outstanding;
        ++call.sent;
        call.last = upstream;
        u.stats.requests.add();
        unqueue(call);
        const uint64_t now = uv_now(loop);
        const auto wait = static_cast<uint64_t>(attempt_ms(u))
                          << std::min(call.sent - 1, kMaxBackoffShift);
        if (now + wait < call.deadline_ms) {
            call.retry = retries.emplace(now + wait, &call);
            call.queued = true;
            arm_retries();
        }
        ares_send(u.channel, call.query.data(), static_cast<int>(call.query.size()), on_answer,
                  new Attempt{&call, upstream, uv_hrtime()});
        arm_timer();
    }

    void unqueue(Call& call) {
        if (call.queued) {
            retries.erase(call.retry);
            call.queued = false;
        }
    }

    void arm_retries() {
        if (!open) {
            return;
        }
        if (retries.empty()) {
            uv_timer_stop(&retry_timer);
            return;
        }
        const uint64_t now = uv_now(loop);
        const uint64_t due = retries.begin()->first;
        uv_timer_start(&retry_timer, on_retry, due > now ? due - now : 0, 0);
    }

    // The attempt time-out of a query passed: it goes to the next upstream not asked yet, or,
    // every one asked, to the policy's choice again.
    static void on_retry(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        const uint64_t now = uv_now(impl.loop);
        while (!impl.retries.empty() && impl.retries.begin()->first <= now) {
            Call& call = *impl.retries.begin()->second;
            impl.unqueue(call);
            // No answer in the upstream's time: a failure, as CoreDNS counts a read time-out
            // (an answer that comes after all makes it healthy again).
            impl.failed(*impl.upstreams[call.last]);
            if (!impl.send_next(call)) {
                call.tried = 0;
                impl.send_next(call);
            }
        }
        impl.arm_retries();
    }

    // Calls the query's done() once; frees it once c-ares holds none of its attempts.
    void finish(Call& call, std::span<const uint8_t> response, Failure failure) {
        if (!call.finished) {
            call.finished = true;
            unqueue(call);
            call.done(call.context, response, failure);
        }
        if (call.outstanding == 0) {
            delete &call;
        }
    }

    void failed(Upstream& u) {
        if (++u.fails >= options.max_fails && u.healthy) {
            u.healthy = false;
            if (open && !uv_is_active(reinterpret_cast<uv_handle_t*>(&health))) {
                uv_timer_start(&health, on_health, options.health_check_ms,
                               options.health_check_ms);
            }
        }
    }

    static void on_answer(void* arg, int status, int, unsigned char* answer, int size) {
        const Attempt attempt = *static_cast<Attempt*>(arg);
        delete static_cast<Attempt*>(arg);
        Call& call = *attempt.call;
        Impl& impl = *call.impl;
        Upstream& u = *impl.upstreams[attempt.upstream];
        --u.pending;
        --call.outstanding;
        const Failure failure = failure_of(status);
        if (answer != nullptr && size > 3) {
            const size_t rcode = answer[3] & 0x0F;
            u.stats.responses[rcode].add();
            u.stats.duration[rcode].observe(uv_hrtime() - attempt.sent_ns, kTimeBucketsNs);
            impl.measured(u, attempt.sent_ns);
        }
        if (failure == Failure::None && answer != nullptr && size > 0) {
            u.fails = 0;
            u.healthy = true;
            // A later answer than the first (the client has one) is dropped here.
            impl.finish(call, {answer, static_cast<size_t>(size)}, Failure::None);
            return;
        }
        if (status == ARES_EDESTRUCTION) {
            if (call.outstanding == 0) {
                impl.finish(call, {}, Failure::Other);
            }
            return;
        }
        impl.failed(u);
        call.failure = failure == Failure::None ? Failure::Other : failure;
        // A refusal, SERVFAIL or REFUSED is an answer: the next upstream is asked at once, and
        // with none left the client hears so now rather than at the deadline.
        const bool definite = failure != Failure::Timeout;
        if (!call.finished && impl.open && definite && uv_now(impl.loop) < call.deadline_ms &&
            impl.send_next(call)) {
            return;
        }
        if (call.outstanding == 0 && (definite || !call.queued)) {
            impl.finish(call, {}, call.failure);
        }
    }

    // Every interval each upstream left aside is asked again: a check still unanswered by then
    // has failed (an attempt lives as long as a query's, far longer than the interval).
    static void on_health(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        bool any_down = false;
        for (const auto& u : impl.upstreams) {
            if (u->healthy) {
                continue;
            }
            any_down = true;
            if (u->checking) {
                u->stats.healthcheck_failures.add();
            }
            u->checking = true;
            ++u->pending;
            ares_send(u->channel, kHealthQuery, sizeof kHealthQuery, on_health_answer, u.get());
        }
        if (!any_down) {
            uv_timer_stop(timer);
        }
        impl.arm_timer();
    }

    static void on_health_answer(void* arg, int status, int, unsigned char*, int) {
        Upstream& u = *static_cast<Upstream*>(arg);
        --u.pending;
        // Any answer, NXDOMAIN or REFUSED included, says the server is there and answering.
        if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_EREFUSED ||
            status == ARES_ENODATA || status == ARES_ESERVFAIL) {
            u.checking = false;
            u.fails = 0;
            u.healthy = true;
        }
    }
};

UpstreamChannel::UpstreamChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

UpstreamChannel::~UpstreamChannel() = default;

Result<std::unique_ptr<UpstreamChannel>> UpstreamChannel::start(uv_loop_s* loop,
                                                                const ForwardOptions& options) {
    if (Status s = init_library(); !s) {
        return s.error();
    }
    if (options.upstreams.empty() || options.upstreams.size() > 64) {
        return Error{"forward: between 1 and 64 upstream servers"};
    }
    auto impl = std::make_unique<Impl>();
    impl->loop = loop;
    impl->options = options;
    for (const std::string& address : options.upstreams) {
        auto u = std::make_unique<Impl::Upstream>();
        u->impl = impl.get();
        u->address = address;
        const bool tcp = address.starts_with(kTcpScheme);
        ares_options o{};
        o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | (tcp ? ARES_FLAG_USEVC : 0);
        o.sock_state_cb = Impl::on_socket_state;
        o.sock_state_cb_data = u.get();
        // An attempt lives as long as the client may wait: a late answer is still taken.
        o.timeout = static_cast<int>(options.deadline_ms);
        o.tries = 1;  // the next attempt is ours to send (on_retry)
        const int mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
        if (const int s = ares_init_options(&u->channel, &o, mask); s != ARES_SUCCESS) {
            return Error{fmt::format("forward: c-ares: {}", ares_strerror(s))};
        }
        impl->upstreams.push_back(std::move(u));  // destroyed with the channel from here
        const std::string server = tcp ? address.substr(kTcpScheme.size()) : address;
        if (const int s = ares_set_servers_ports_csv(impl->upstreams.back()->channel,
                                                     server.c_str());
            s != ARES_SUCCESS) {
            return Error{fmt::format("forward: upstream {}: {}", address, ares_strerror(s))};
        }
    }
    uv_timer_init(loop, &impl->timer);
    impl->timer.data = impl.get();
    uv_timer_init(loop, &impl->health);
    impl->health.data = impl.get();
    uv_timer_init(loop, &impl->retry_timer);
    impl->retry_timer.data = impl.get();
    impl->open = true;
    return std::unique_ptr<UpstreamChannel>(new UpstreamChannel(std::move(impl)));
}

void UpstreamChannel::forward(std::span<const uint8_t> query, Done done, void* context) {
    auto* call = new Impl::Call{done, context, impl_.get(), {query.begin(), query.end()}};
    call->deadline_ms = uv_now(impl_->loop) + impl_->options.deadline_ms;
    if (!impl_->open || !impl_->send_next(*call)) {
        done(context, {}, Failure::Other);
        delete call;
    }
}

size_t UpstreamChannel::upstream_count() const noexcept {
    return impl_->upstreams.size();
}

const std::string& UpstreamChannel::upstream_address(size_t i) const noexcept {
    return impl_->upstreams[i]->address;
}

const UpstreamStats& UpstreamChannel::upstream_stats(size_t i) const noexcept {
    return impl_->upstreams[i]->stats;
}

const Counter& UpstreamChannel::all_down() const noexcept {
    return impl_->all_down;
}

void UpstreamChannel::close() {
    if (!impl_->open) {
        return;
    }
    impl_->open = false;  // no further attempt: what c-ares calls back now is told it failed
    for (const auto& u : impl_->upstreams) {
        ares_destroy(u->channel);  // closes its sockets through on_socket_state
        u->channel = nullptr;
    }
    while (!impl_->retries.empty()) {  // waiting to be sent again, with nothing in flight
        impl_->finish(*impl_->retries.begin()->second, {}, Failure::Other);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->health), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->retry_timer), nullptr);
}

}  // namespace clusterdns
