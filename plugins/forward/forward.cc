#include "plugins/forward/forward.h"

#include <ares.h>
#include <uv.h>

#include <algorithm>
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

// ". IN NS", the health check's question (as CoreDNS's).
constexpr uint8_t kHealthQuery[] = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};

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
        bool checking = false;  // a health check in flight
        UpstreamStats stats;
    };
    // One forwarded query, from forward() to its last attempt's callback.
    struct Call {
        Done done;
        void* context;
        Impl* impl;
        std::vector<uint8_t> query;
        uint64_t tried = 0;  // a bit per upstream
        size_t upstream = 0;
        uint64_t sent_ns = 0;  // the current attempt's
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
    void arm_timer() {
        if (!open) {
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
        if (wait_ms == UINT64_MAX) {
            uv_timer_stop(&timer);
        } else {
            uv_timer_start(&timer, on_timer, wait_ms, 0);
        }
    }

    // The upstream for the next attempt of `call`: one not tried yet, healthy if any is, by
    // policy; false when every one has been tried.
    bool pick(Call& call) {
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
        if (call.tried == 0 && !upstreams[candidates.front()]->healthy) {
            all_down.add();
        }
        size_t chosen = candidates.front();
        if (options.policy == UpstreamPolicy::Random) {
            chosen = candidates[random() % candidates.size()];
        } else if (options.policy == UpstreamPolicy::RoundRobin) {
            chosen = candidates[next_turn++ % candidates.size()];
        }
        call.upstream = chosen;
        call.tried |= uint64_t{1} << chosen;
        return true;
    }

    void send(Call* call) {
        Upstream& u = *upstreams[call->upstream];
        ++u.pending;
        u.stats.requests.add();
        call->sent_ns = uv_hrtime();
        ares_send(u.channel, call->query.data(), static_cast<int>(call->query.size()), on_answer,
                  call);
        arm_timer();
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
        auto* call = static_cast<Call*>(arg);
        Impl& impl = *call->impl;
        Upstream& u = *impl.upstreams[call->upstream];
        --u.pending;
        const Failure failure = failure_of(status);
        if (answer != nullptr && size > 3) {
            const size_t rcode = answer[3] & 0x0F;
            u.stats.responses[rcode].add();
            u.stats.duration[rcode].observe(uv_hrtime() - call->sent_ns, kTimeBucketsNs);
        }
        if (failure == Failure::None && answer != nullptr && size > 0) {
            u.fails = 0;
            u.healthy = true;
            call->done(call->context, {answer, static_cast<size_t>(size)}, Failure::None);
            delete call;
            return;
        }
        if (status != ARES_EDESTRUCTION) {
            impl.failed(u);
            if (impl.open && impl.pick(*call)) {
                impl.send(call);  // the next upstream
                return;
            }
        }
        call->done(call->context, {}, failure == Failure::None ? Failure::Other : failure);
        delete call;
    }

    static void on_health(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        bool any_down = false;
        for (const auto& u : impl.upstreams) {
            if (u->healthy) {
                continue;
            }
            any_down = true;
            if (!u->checking) {
                u->checking = true;
                ++u->pending;
                ares_send(u->channel, kHealthQuery, sizeof kHealthQuery, on_health_answer,
                          u.get());
            }
        }
        if (!any_down) {
            uv_timer_stop(timer);
        }
        impl.arm_timer();
    }

    static void on_health_answer(void* arg, int status, int, unsigned char*, int) {
        Upstream& u = *static_cast<Upstream*>(arg);
        --u.pending;
        u.checking = false;
        // Any answer, NXDOMAIN or REFUSED included, says the server is there and answering.
        if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_EREFUSED ||
            status == ARES_ENODATA || status == ARES_ESERVFAIL) {
            u.fails = 0;
            u.healthy = true;
        } else {
            u.stats.healthcheck_failures.add();
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
        o.timeout = static_cast<int>(options.try_timeout_ms);
        o.tries = 1;  // the next attempt goes to another upstream
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
    impl->open = true;
    return std::unique_ptr<UpstreamChannel>(new UpstreamChannel(std::move(impl)));
}

void UpstreamChannel::forward(std::span<const uint8_t> query, Done done, void* context) {
    auto* call = new Impl::Call{done, context, impl_.get(), {query.begin(), query.end()}};
    if (!impl_->open || !impl_->pick(*call)) {
        done(context, {}, Failure::Other);
        delete call;
        return;
    }
    impl_->send(call);
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
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->health), nullptr);
}

}  // namespace clusterdns
