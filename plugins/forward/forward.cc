#include "plugins/forward/forward.h"

#include <ares.h>
#include <uv.h>

#include <algorithm>
#include <mutex>

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

}  // namespace

struct UpstreamChannel::Impl {
    // A socket c-ares opened, watched by the loop for what c-ares waits for.
    struct Socket {
        uv_poll_t poll;
        ares_socket_t fd;
        Impl* impl;
    };
    // One forwarded query, from ares_send to its callback.
    struct Call {
        Done done;
        void* context;
        Impl* impl;
    };

    uv_loop_t* loop = nullptr;
    ares_channel channel = nullptr;
    uv_timer_t timer;  // c-ares's own timeouts and retries
    bool timer_open = false;
    std::vector<Socket*> sockets;
    size_t pending = 0;

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        Impl& impl = *static_cast<Impl*>(data);
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
            s->impl = &impl;
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
        Impl& impl = *s.impl;  // `s` may be gone once c-ares has processed the socket
        ares_socket_t read = ARES_SOCKET_BAD;
        ares_socket_t write = ARES_SOCKET_BAD;
        if (status < 0 || (events & UV_READABLE) != 0) {
            read = s.fd;
        }
        if (status < 0 || (events & UV_WRITABLE) != 0) {
            write = s.fd;
        }
        ares_process_fd(impl.channel, read, write);
        impl.arm_timer();
    }

    static void on_timer(uv_timer_t* timer) {
        Impl& impl = *static_cast<Impl*>(timer->data);
        ares_process_fd(impl.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        impl.arm_timer();
    }

    // Wakes the loop when c-ares next has a timeout to act on; idle while nothing is pending.
    void arm_timer() {
        if (pending == 0 || !timer_open) {
            if (timer_open) {
                uv_timer_stop(&timer);
            }
            return;
        }
        timeval longest{1, 0};
        timeval next{};
        const timeval* wait = ares_timeout(channel, &longest, &next);
        const uint64_t ms = static_cast<uint64_t>(wait->tv_sec) * 1000 +
                            static_cast<uint64_t>(wait->tv_usec + 999) / 1000;
        uv_timer_start(&timer, on_timer, ms, 0);
    }

    static void on_answer(void* arg, int status, int, unsigned char* answer, int size) {
        auto* call = static_cast<Call*>(arg);
        --call->impl->pending;
        const Failure failure = failure_of(status);
        const std::span<const uint8_t> response =
            failure == Failure::None && answer != nullptr && size > 0
                ? std::span<const uint8_t>(answer, static_cast<size_t>(size))
                : std::span<const uint8_t>();
        call->done(call->context, response,
                   response.empty() && failure == Failure::None ? Failure::Other : failure);
        delete call;
    }
};

UpstreamChannel::UpstreamChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

UpstreamChannel::~UpstreamChannel() {
    if (impl_->channel != nullptr) {
        ares_destroy(impl_->channel);  // calls back every pending query
    }
}

Result<std::unique_ptr<UpstreamChannel>> UpstreamChannel::start(uv_loop_s* loop,
                                                                const ForwardOptions& options) {
    if (Status s = init_library(); !s) {
        return s.error();
    }
    if (options.upstreams.empty()) {
        return Error{"forward: no upstream server"};
    }
    auto impl = std::make_unique<Impl>();
    impl->loop = loop;
    ares_options o{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.sock_state_cb = Impl::on_socket_state;
    o.sock_state_cb_data = impl.get();
    o.timeout = static_cast<int>(options.try_timeout_ms);
    o.tries = static_cast<int>(options.tries);
    if (options.policy != UpstreamPolicy::Sequential) {
        mask |= ARES_OPT_ROTATE;
    }
    if (const int s = ares_init_options(&impl->channel, &o, mask); s != ARES_SUCCESS) {
        return Error{fmt::format("forward: c-ares: {}", ares_strerror(s))};
    }
    std::string servers;
    for (const std::string& upstream : options.upstreams) {
        servers += (servers.empty() ? "" : ",") + upstream;
    }
    if (const int s = ares_set_servers_ports_csv(impl->channel, servers.c_str());
        s != ARES_SUCCESS) {
        ares_destroy(impl->channel);
        return Error{fmt::format("forward: upstreams {}: {}", servers, ares_strerror(s))};
    }
    uv_timer_init(loop, &impl->timer);
    impl->timer.data = impl.get();
    impl->timer_open = true;
    return std::unique_ptr<UpstreamChannel>(new UpstreamChannel(std::move(impl)));
}

void UpstreamChannel::forward(std::span<const uint8_t> query, Done done, void* context) {
    ++impl_->pending;
    ares_send(impl_->channel, query.data(), static_cast<int>(query.size()), Impl::on_answer,
              new Impl::Call{done, context, impl_.get()});
    impl_->arm_timer();
}

void UpstreamChannel::close() {
    if (impl_->channel != nullptr) {
        ares_destroy(impl_->channel);  // closes its sockets through on_socket_state
        impl_->channel = nullptr;
    }
    if (impl_->timer_open) {
        impl_->timer_open = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer), nullptr);
    }
}

}  // namespace clusterdns
