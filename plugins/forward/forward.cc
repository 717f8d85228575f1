#include "plugins/forward/forward.h"

#include <ares.h>
#include <uv.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <span>

#include <fmt/format.h>

#include "plugins/forward/scheduler.h"

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

// c-ares's own time-outs (an attempt's whole life) are acted on this late at most.
constexpr uint64_t kTimerGrainMs = 50;

}  // namespace

// The scheduler's owner and transport: c-ares channels per upstream, and the loop's timers.
struct UpstreamChannel::Impl final : UpstreamTransport {
    struct Upstream;
    // One c-ares channel: UDP (TCP for a truncated answer), or TCP only.
    struct Lane {
        Upstream* upstream = nullptr;
        ares_channel channel = nullptr;
        size_t pending = 0;  // queries and checks c-ares holds
    };
    // A socket c-ares opened, watched by the loop for what c-ares waits for.
    struct Socket {
        uv_poll_t poll;
        ares_socket_t fd;
        Lane* lane;
    };
    struct Upstream {
        Impl* impl = nullptr;
        size_t index = 0;  // in `upstreams`, the scheduler's
        std::string address;
        Lane lane;  // the upstream's own: over TCP only for tcp://
        // Queries that came over TCP, asked over TCP as CoreDNS asks them (absent for tcp://
        // and with prefer_udp: `lane` takes them). c-ares connects on first use.
        Lane tcp_lane;
        Lane& lane_for(bool tcp) noexcept {
            return tcp && tcp_lane.channel != nullptr ? tcp_lane : lane;
        }
    };
    struct Sent {
        Impl* impl;
        UpstreamScheduler::Attempt attempt;
        uint64_t sent_ns;
        Lane* lane;
    };

    ~Impl() override {
        if (scheduler) {
            scheduler->close();
        }
        open = false;
        for (const auto& u : upstreams) {
            for (Lane* lane : {&u->lane, &u->tcp_lane}) {
                if (lane->channel != nullptr) {
                    ares_destroy(lane->channel);  // calls back every pending query
                }
            }
        }
    }

    uv_loop_t* loop = nullptr;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::unique_ptr<UpstreamScheduler> scheduler;
    std::vector<Socket*> sockets;
    uv_timer_t timer;   // c-ares's own timeouts
    uv_timer_t wakeup;  // the scheduler's next attempts and health checks
    uint64_t wakeup_ms = UpstreamScheduler::kNever;  // when `wakeup` is set for
    bool open = false;

    // UpstreamTransport: c-ares asks the upstream under an ID of its own, checks that the answer
    // matches the question and retries over TCP when it comes back truncated.
    void send(size_t upstream, std::span<const uint8_t> query,
              UpstreamScheduler::Attempt attempt) override {
        Lane& lane = upstreams[upstream]->lane_for(attempt.tcp);
        ++lane.pending;
        ares_send(lane.channel, query.data(), static_cast<int>(query.size()), on_answer,
                  new Sent{this, attempt, uv_hrtime(), &lane});
    }

    void check(size_t upstream, std::span<const uint8_t> query) override {
        Upstream& u = *upstreams[upstream];
        ++u.lane.pending;
        ares_send(u.lane.channel, query.data(), static_cast<int>(query.size()), on_health_answer,
                  &u);
    }

    static void on_answer(void* arg, int status, int, unsigned char* answer, int size) {
        const Sent sent = *static_cast<Sent*>(arg);
        delete static_cast<Sent*>(arg);
        Impl& impl = *sent.impl;
        --sent.lane->pending;
        std::span<const uint8_t> response;
        if (answer != nullptr && size > 0) {
            response = {answer, static_cast<size_t>(size)};
        }
        // Closed (ARES_EDESTRUCTION), the scheduler reads no time, and the loop may be gone.
        const uint64_t now_ms = impl.open ? uv_now(impl.loop) : 0;
        impl.scheduler->completed(sent.attempt, failure_of(status), response,
                                  uv_hrtime() - sent.sent_ns, now_ms);
        impl.arm_timers();
    }

    static void on_health_answer(void* arg, int status, int, unsigned char*, int) {
        Upstream& u = *static_cast<Upstream*>(arg);
        --u.lane.pending;
        // Any answer, NXDOMAIN or REFUSED included, says the server is there and answering.
        if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_EREFUSED ||
            status == ARES_ENODATA || status == ARES_ESERVFAIL) {
            u.impl->scheduler->checked(u.index);
        }
    }

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        Lane& lane = *static_cast<Lane*>(data);
        Impl& impl = *lane.upstream->impl;
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
            s->lane = &lane;
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
        Lane& lane = *s.lane;  // `s` may be gone once c-ares has processed the socket
        const ares_socket_t fd = s.fd;
        ares_process_fd(lane.channel,
                        status < 0 || (events & UV_READABLE) != 0 ? fd : ARES_SOCKET_BAD,
                        status < 0 || (events & UV_WRITABLE) != 0 ? fd : ARES_SOCKET_BAD);
        lane.upstream->impl->arm_timers();
    }

    static void on_timer(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        for (const auto& u : impl.upstreams) {
            for (const Lane* lane : {&u->lane, &u->tcp_lane}) {
                if (lane->pending > 0) {
                    ares_process_fd(lane->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
                }
            }
        }
        impl.arm_timers();
    }

    static void on_wakeup(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        impl.wakeup_ms = UpstreamScheduler::kNever;
        impl.scheduler->on_time(uv_now(impl.loop));
        impl.arm_timers();
    }

    // After anything the scheduler or c-ares did: the timers follow what each waits for.
    void arm_timers() {
        arm_ares_timer();
        if (!open) {
            return;
        }
        const uint64_t due = scheduler->next_wakeup_ms();
        if (due == wakeup_ms) {
            return;
        }
        wakeup_ms = due;
        if (due == UpstreamScheduler::kNever) {
            uv_timer_stop(&wakeup);
            return;
        }
        const uint64_t now = uv_now(loop);
        uv_timer_start(&wakeup, on_wakeup, due > now ? due - now : 0, 0);
    }

    // Wakes the loop when c-ares next has a timeout to act on; idle while nothing is pending.
    // An attempt's time-out is the query's whole deadline, the same for all, so one set earlier
    // fires first and a running timer stays as it is; and it fires at most every 50 ms, since
    // ares_timeout walks every pending query (a dead upstream holds a thousand).
    void arm_ares_timer() {
        if (!open || uv_is_active(reinterpret_cast<uv_handle_t*>(&timer))) {
            return;
        }
        uint64_t wait_ms = UINT64_MAX;
        for (const auto& u : upstreams) {
            for (const Lane* lane : {&u->lane, &u->tcp_lane}) {
                if (lane->pending == 0) {
                    continue;
                }
                timeval longest{1, 0};
                timeval next{};
                const timeval* wait = ares_timeout(lane->channel, &longest, &next);
                wait_ms = std::min(wait_ms, static_cast<uint64_t>(wait->tv_sec) * 1000 +
                                                static_cast<uint64_t>(wait->tv_usec + 999) / 1000);
            }
        }
        if (wait_ms != UINT64_MAX) {
            uv_timer_start(&timer, on_timer, std::max<uint64_t>(wait_ms, kTimerGrainMs), 0);
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
    for (const std::string& address : options.upstreams) {
        auto u = std::make_unique<Impl::Upstream>();
        u->impl = impl.get();
        u->index = impl->upstreams.size();
        u->address = address;
        u->lane.upstream = u->tcp_lane.upstream = u.get();
        Impl::Upstream& upstream = *u;
        impl->upstreams.push_back(std::move(u));  // destroyed with its channels from here
        const bool tcp = address.starts_with(kTcpScheme);
        const std::string server = tcp ? address.substr(kTcpScheme.size()) : address;
        // A tcp:// upstream's one lane is TCP already; with prefer_udp, TCP clients' queries
        // take the UDP lane.
        const bool tcp_lane = !tcp && !options.prefer_udp;
        for (Impl::Lane* lane : {&upstream.lane, &upstream.tcp_lane}) {
            const bool over_tcp = lane == &upstream.tcp_lane;
            if (over_tcp && !tcp_lane) {
                continue;
            }
            ares_options o{};
            o.flags =
                ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | (tcp || over_tcp ? ARES_FLAG_USEVC : 0);
            o.sock_state_cb = Impl::on_socket_state;
            o.sock_state_cb_data = lane;
            // An attempt lives as long as the client may wait: a late answer is still taken.
            o.timeout = static_cast<int>(options.deadline_ms);
            o.tries = 1;  // the next attempt is the scheduler's to send
            const int mask =
                ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
            if (const int s = ares_init_options(&lane->channel, &o, mask); s != ARES_SUCCESS) {
                lane->channel = nullptr;
                return Error{fmt::format("forward: c-ares: {}", ares_strerror(s))};
            }
            if (const int s = ares_set_servers_ports_csv(lane->channel, server.c_str());
                s != ARES_SUCCESS) {
                return Error{fmt::format("forward: upstream {}: {}", address, ares_strerror(s))};
            }
        }
    }
    impl->scheduler =
        std::make_unique<UpstreamScheduler>(options, *impl, std::random_device{}());
    uv_timer_init(loop, &impl->timer);
    impl->timer.data = impl.get();
    uv_timer_init(loop, &impl->wakeup);
    impl->wakeup.data = impl.get();
    impl->open = true;
    return std::unique_ptr<UpstreamChannel>(new UpstreamChannel(std::move(impl)));
}

void UpstreamChannel::forward(std::span<const uint8_t> query, Done done, void* context,
                              bool tcp) {
    impl_->scheduler->forward(query, done, context, uv_now(impl_->loop), tcp);
    impl_->arm_timers();
}

size_t UpstreamChannel::upstream_count() const noexcept {
    return impl_->upstreams.size();
}

const std::string& UpstreamChannel::upstream_address(size_t i) const noexcept {
    return impl_->upstreams[i]->address;
}

const UpstreamStats& UpstreamChannel::upstream_stats(size_t i) const noexcept {
    return impl_->scheduler->stats(i);
}

const Counter& UpstreamChannel::all_down() const noexcept {
    return impl_->scheduler->all_down();
}

void UpstreamChannel::close() {
    if (!impl_->open) {
        return;
    }
    impl_->open = false;
    // No further attempt: queries waiting for their next are called back now, those c-ares
    // holds as it gives them up.
    impl_->scheduler->close();
    for (const auto& u : impl_->upstreams) {
        for (Impl::Lane* lane : {&u->lane, &u->tcp_lane}) {
            if (lane->channel != nullptr) {
                ares_destroy(lane->channel);  // closes its sockets through on_socket_state
                lane->channel = nullptr;
            }
        }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->wakeup), nullptr);
}

}  // namespace clusterdns
