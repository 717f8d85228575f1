#include "server/worker.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "zone/snapshot.h"

namespace clusterdns {

// The address of a socket peer, IPv4-mapped IPv6 as IPv4 (a dual-stack socket's view of it).
bool peer_address(const void* peer, IpAddress& out) noexcept {
    const auto* sa = static_cast<const sockaddr*>(peer);
    if (sa->sa_family == AF_INET) {
        out = IpAddress{};
        std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        out = IpAddress{.v6 = !IN6_IS_ADDR_V4MAPPED(a6)};
        std::memcpy(out.bytes.data(), out.v6 ? a6->s6_addr : a6->s6_addr + 12, out.v6 ? 16 : 4);
        return true;
    }
    return false;
}

// A response is on its way: counted, and logged when the query log is on. `peer` may be null
// (a TCP client, looked up only for the log).
void record_response(Worker& w, bool tcp, Responder by, uint16_t qtype, std::span<const uint8_t> query,
              std::span<const uint8_t> response, uint64_t received_ns, const sockaddr* peer,
              const uv_tcp_t* connection) noexcept {
    const uint64_t elapsed_ns = uv_hrtime() - received_ns;
    w.stats.count_response(tcp, by, response, qtype, elapsed_ns);
    if (!w.query_log || !w.owner->query_lines.allow("query log")) {
        return;
    }
    sockaddr_storage storage{};
    if (peer == nullptr && connection != nullptr) {
        int size = sizeof storage;
        if (uv_tcp_getpeername(connection, reinterpret_cast<sockaddr*>(&storage), &size) == 0) {
            peer = reinterpret_cast<const sockaddr*>(&storage);
        }
    }
    log_query(peer, query, response, tcp, elapsed_ns);
}

namespace {

// The stage's deadline timer fired.
void on_forward_deadline(uv_timer_t* timer) noexcept {
    static_cast<Worker*>(timer->data)->forward.on_deadline();
}

}  // namespace

Worker::Worker(Frontend::Impl& impl, unsigned index)
    : owner(&impl),
      number(index),
      forward({.worker = index,
               .clock = this,
               .replies = this,
               .chase = this,
               .fetches = &impl.fetches,
               .loop_probe = &impl.loop_probe,
               .stats = &stats}) {
}

void Worker::wake_at(uint64_t at_ms) {
    if (at_ms == 0) {
        uv_timer_stop(&forward_timer);
        return;
    }
    const uint64_t now = uv_now(&loop);
    uv_timer_start(&forward_timer, on_forward_deadline, at_ms > now ? at_ms - now : 0, 0);
}

std::span<uint8_t> Worker::buffer(const Client& to) {
    if (to.transport == Transport::Udp) {
        return {answer, kMaxMessageSize};
    }
    const Connection& c = connections[to.connection];
    if (c.generation != to.generation || c.state != ConnectionState::Forwarding) {
        return {};  // the client is gone
    }
    return {answer + 2, kMaxMessageSize};
}

void Worker::send(const Client& to, std::span<const uint8_t> query, size_t size, Responder by,
                  uint16_t qtype) {
    if (to.rewritten && size != 0) {
        // The answer to the rewritten query, written back to the name asked (by the rules of
        // now: a reload may have changed them meanwhile).
        (void)rewrite.replay(to.asked);
        size = rewrite.revert(query, {to.transport == Transport::Udp ? answer : answer + 2,
                                      kMaxMessageSize},
                              size, to.transport);
    }
    before_sending(*this, {to.transport == Transport::Udp ? answer : answer + 2, size});
    if (to.transport == Transport::Udp) {
        const auto* peer = reinterpret_cast<const sockaddr*>(&to.peer);
        if (size == 0 ||
            sendto(to.fd, answer, size, MSG_DONTWAIT | MSG_NOSIGNAL, peer, to.peer_size) < 0) {
            stats.dropped.add();
        } else {
            record_response(*this, false, by, qtype, query, {answer, size}, to.received_ns, peer);
        }
        return;
    }
    Connection& c = connections[to.connection];
    enter(c, ConnectionState::Idle);
    if (size != 0) {
        record_response(*this, true, by, qtype, query, {answer + 2, size}, to.received_ns, nullptr,
                        &c.handle);
        send_tcp(c, size);
    }
    if (c.state == ConnectionState::Idle) {
        uv_read_start(stream_of(c), on_tcp_alloc, on_tcp_read);
        process_tcp(c);  // the queries that came in meanwhile
    }
}

void Worker::failed(std::span<const uint8_t> asked, std::string_view why) {
    if (owner->error_lines.allow("error log")) {
        log_error(asked, why);
    }
}

void Worker::fetch_ended(uint64_t workers, uint64_t key, bool failed) {
    std::lock_guard lock(owner->mailbox_mutex);
    for (size_t i = 0; i < owner->workers.size() && i < Fetches::kMaxWorkers && !owner->stopping;
         ++i) {
        if ((workers >> i & 1) != 0) {
            owner->workers[i]->fetched.emplace_back(key, failed);
            uv_async_send(&owner->workers[i]->wake);
        }
    }
}

namespace {

// Closes the retired channels that no query can still wait on, and frees those closed a tick
// ago.
void on_retire_tick(uv_timer_t* timer) noexcept {
    Worker& w = *static_cast<Worker*>(timer->data);
    const uint64_t now = uv_now(&w.loop);
    std::erase_if(w.retired_channels, [](const Worker::Retired& r) { return r.closed; });
    for (Worker::Retired& r : w.retired_channels) {
        if (r.close_at <= now) {
            r.channel->close();
            r.closed = true;
        }
    }
    if (w.retired_channels.empty()) {
        uv_timer_stop(timer);
    }
}

void retire(Worker& w, std::unique_ptr<UpstreamChannel> channel, uint64_t after_ms) {
    if (channel == nullptr) {
        return;
    }
    w.retired_channels.push_back({std::move(channel), uv_now(&w.loop) + after_ms});
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&w.retire_timer))) {
        uv_timer_start(&w.retire_timer, on_retire_tick, 100, 100);
    }
}

// Sets up the worker's channels to the upstreams and its cache from `f`, on the worker's loop;
// the channels they replace are retired once every query they may hold is past its deadline.
Status set_forwarding(Worker& w, const Forwarding& f, unsigned workers) {
    std::unique_ptr<UpstreamChannel> upstream;
    std::vector<Worker::Stub> stubs;
    const auto give_up = [&](const Error& error) -> Status {
        retire(w, std::move(upstream), 0);
        for (Worker::Stub& stub : stubs) {
            retire(w, std::move(stub.channel), 0);
        }
        return error;
    };
    if (!f.forward.upstreams.empty()) {
        auto channel = UpstreamChannel::start(&w.loop, f.forward);
        if (!channel) {
            return give_up(channel.error());
        }
        upstream = std::move(*channel);
    }
    for (const StubDomain& stub : f.forward.stub_domains) {
        ForwardOptions own = f.forward;
        own.upstreams = stub.upstreams;
        auto channel = UpstreamChannel::start(&w.loop, own);
        if (!channel) {
            return give_up(channel.error());
        }
        stubs.push_back({*Name::from_text(stub.domain), std::move(*channel)});
    }
    std::sort(stubs.begin(), stubs.end(), [](const auto& a, const auto& b) {
        return a.domain.label_count() > b.domain.label_count();
    });
    // An attempt sent just before a query's deadline may be answered a deadline later.
    const uint64_t drained_ms = 2 * uint64_t{f.forward.deadline_ms} + 100;
    retire(w, std::move(w.upstream), drained_ms);
    for (Worker::Stub& stub : w.stubs) {
        retire(w, std::move(stub.channel), drained_ms);
    }
    w.upstream = std::move(upstream);
    w.stubs = std::move(stubs);
    ForwardStage::Route route{.upstreams = w.upstream.get(),
                              .cache = w.owner->cache,  // replaced only when its settings changed
                              .max_in_flight = std::max(1u, f.max_concurrent / workers),
                              .deadline_ms = f.forward.deadline_ms};
    for (const Worker::Stub& stub : w.stubs) {
        route.stubs.push_back({stub.domain, stub.channel.get()});
    }
    route.except = lowercase_names(f.forward.except);  // checked with the options
    w.forward.configure(std::move(route));
    w.query_log = f.query_log;
    w.loadbalance = f.loadbalance;
    w.rewrite.configure(f.rewrite);
    return {};
}

}  // namespace

void close_everything(Worker& w) noexcept {
    w.forward.shut_down();
    w.stopping = true;
    if (w.upstream) {
        w.upstream->close();  // calls back every query in flight, unanswered
    }
    for (Worker::Stub& stub : w.stubs) {
        stub.channel->close();
    }
    for (Worker::Retired& r : w.retired_channels) {
        if (!r.closed) {
            r.channel->close();
            r.closed = true;
        }
    }
    uv_walk(
        &w.loop,
        [](uv_handle_t* handle, void*) {
            if (!uv_is_closing(handle)) {
                uv_close(handle, nullptr);
            }
        },
        nullptr);
}

namespace {

void on_wake(uv_async_t* async) noexcept {
    Worker& w = *static_cast<Worker*>(async->data);
    Frontend::Impl& impl = *w.owner;
    bool stop = false;
    std::vector<std::pair<uint64_t, bool>> fetched;
    {
        std::lock_guard lock(impl.mailbox_mutex);
        if (w.incoming) {
            // The old zone goes back to the publisher, which frees it off the query path.
            w.retired = std::move(w.zone);
            w.zone = std::move(w.incoming);
        }
        if (w.hosts_incoming) {
            w.retired_hosts = std::move(w.hosts);  // freed by the publisher, as a zone is
            w.hosts = std::move(w.incoming_hosts);
            w.hosts_incoming = false;
        }
        if (w.incoming_forwarding != nullptr) {
            w.reconfigured = set_forwarding(w, *w.incoming_forwarding,
                                            static_cast<unsigned>(impl.workers.size()));
            w.incoming_forwarding = nullptr;
        }
        w.adopted_generation = w.wanted_generation;
        stop = impl.stopping;
        fetched.swap(w.fetched);
    }
    impl.adopted.notify_all();
    if (stop) {
        close_everything(w);
        return;
    }
    for (const auto& [key, failed] : fetched) {
        w.forward.fetched(key, failed);
    }
}

}  // namespace

Status set_up_worker(Worker& w, const FrontendOptions& options, unsigned per_worker,
                     unsigned index, std::vector<BoundFds>& bound_fds,
                     const std::vector<ListenAddress>& bound) {
    const auto failed = [&](const char* what, int err) {
        return Error{fmt::format("worker {}: {}: {}", index, what, uv_strerror(err))};
    };
    uv_timer_init(&w.loop, &w.forward_timer);  // timers cannot fail; first, as close_everything
    w.forward_timer.data = &w;                 // stops it
    uv_timer_init(&w.loop, &w.retire_timer);
    w.retire_timer.data = &w;
    if (const int err = uv_async_init(&w.loop, &w.wake, on_wake); err != 0) {
        return failed("wake-up handle", err);
    }
    w.wake.data = &w;
    w.batch.reset(new UdpBatch);
    for (size_t m = 0; m < kUdpBatch; ++m) {
        UdpBatch& b = *w.batch;
        b.query_iov[m] = {b.query_data[m], kUdpQuerySlot};
        b.queries[m].msg_hdr = {.msg_name = &b.peers[m],
                                .msg_namelen = sizeof b.peers[m],
                                .msg_iov = &b.query_iov[m],
                                .msg_iovlen = 1};
        b.reply_iov[m] = {b.reply_data[m], 0};
        b.replies[m].msg_hdr = {.msg_iov = &b.reply_iov[m], .msg_iovlen = 1};
    }
    const auto workers = static_cast<unsigned>(std::max(1u, options.workers));
    if (Status s = set_forwarding(w, options.forwarding, workers); !s) {
        return s;
    }
    w.connections.reserve(per_worker);  // made as clients come (on_tcp_connection)
    for (size_t a = 0; a < bound_fds.size(); ++a) {
        BoundFds& fds = bound_fds[a];
        auto udp = std::make_unique<UdpSocket>();
        udp->worker = &w;
        udp->fd = std::exchange(fds.udp[index], -1);
        if (const int err = uv_poll_init(&w.loop, &udp->poll, udp->fd); err != 0) {
            return failed("UDP socket", err);
        }
        udp->poll.data = udp.get();
        UdpSocket* held = udp.get();
        w.udp.push_back(std::move(udp));
        if (const int err = uv_poll_start(&held->poll, UV_READABLE, on_udp_readable); err != 0) {
            return failed("UDP socket", err);
        }
        auto tcp = std::make_unique<TcpListener>();
        tcp->worker = &w;
        if (const int err = uv_tcp_init(&w.loop, &tcp->handle); err != 0) {
            return failed("TCP socket", err);
        }
        tcp->handle.data = tcp.get();
        TcpListener* listener = tcp.get();
        w.tcp.push_back(std::move(tcp));
        if (const int err = uv_tcp_open(&listener->handle, fds.tcp[index]); err != 0) {
            return failed("TCP socket", err);
        }
        fds.tcp[index] = -1;  // the handle closes it now
        const int err = uv_listen(reinterpret_cast<uv_stream_t*>(&listener->handle),
                                  kListenBacklog, on_tcp_connection);
        if (err != 0) {
            return Error{fmt::format("listen {}: {}", bound[a].to_text(), uv_strerror(err))};
        }
    }
    return {};
}

}  // namespace clusterdns
