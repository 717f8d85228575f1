#include "server/frontend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <uv.h>

#include "server/codec/message.h"
#include "zone/zone.h"

namespace clusterdns {

struct Worker;

namespace {

constexpr size_t kUdpQuerySlot = 4096;        // a larger query arrives truncated and gets FORMERR
constexpr size_t kUdpBatch = 32;              // datagrams per recvmmsg and replies per sendmmsg
constexpr unsigned kUdpBatchesPerWakeup = 4;  // then let the loop serve other sockets
constexpr size_t kTcpInput = 16 * 1024;       // a query larger than this closes the connection
constexpr size_t kTcpFrame = 2 + kMaxMessageSize;
constexpr int kListenBacklog = 511;
constexpr int kUdpReceiveBuffer = 4 << 20;
constexpr int kPortAttempts = 32;

struct UdpSocket {
    uv_poll_t poll;
    int fd;
    Worker* worker;
};

// One batch of queries in and replies out, with the headers recvmmsg and sendmmsg need; set up
// once per worker.
struct UdpBatch {
    mmsghdr queries[kUdpBatch];
    iovec query_iov[kUdpBatch];
    sockaddr_storage peers[kUdpBatch];
    uint8_t query_data[kUdpBatch][kUdpQuerySlot];
    mmsghdr replies[kUdpBatch];
    iovec reply_iov[kUdpBatch];
    uint8_t reply_data[kUdpBatch][kMaxUdpResponse];
};

struct TcpListener {
    uv_tcp_t handle;
    Worker* worker;
    bool waiting_for_slot = false;  // libuv holds one accepted connection until uv_accept
};

struct Connection {
    uv_tcp_t handle;
    uv_timer_t idle;
    uv_write_t write_req;
    Worker* worker;
    uint32_t index;
    size_t in_size;
    bool writing;
    bool closing;
    int open_handles;
    uint8_t in[kTcpInput];
    uint8_t out[kTcpFrame];
};

uint16_t read_u16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

}  // namespace

struct Worker {
    Frontend::Impl* owner = nullptr;
    uv_loop_t loop;
    uv_async_t wake;
    std::vector<std::unique_ptr<UdpSocket>> udp;
    std::unique_ptr<UdpBatch> batch;
    std::vector<std::unique_ptr<TcpListener>> tcp;
    std::unique_ptr<Connection[]> connections;
    std::vector<uint32_t> free_connections;  // reserved up front: push/pop never allocate
    uint64_t idle_timeout_ms = 10000;
    std::shared_ptr<const Zone> zone;  // read and replaced only on this worker's thread
    WorkerStats stats;
    std::thread thread;
    // Mailbox, guarded by Impl::mailbox_mutex.
    std::shared_ptr<const Zone> incoming;
    std::shared_ptr<const Zone> retired;
    uint64_t wanted_generation = 0;
    uint64_t adopted_generation = 0;
    alignas(64) uint8_t answer[kTcpFrame];  // 2 bytes of TCP length, then the message
};

class Frontend::Impl {
public:
    std::vector<ListenAddress> bound;
    std::vector<std::unique_ptr<Worker>> workers;
    std::mutex mailbox_mutex;
    std::condition_variable adopted;
    uint64_t generation = 0;
    bool stopping = false;
};

namespace {

// --- UDP -------------------------------------------------------------------------------------

// The socket is readable: read queries a batch at a time with recvmmsg and send the batch's
// replies with one sendmmsg. libuv's own recvmmsg path (UV_UDP_RECVMMSG) calls back once per
// datagram and always reads until EAGAIN, one more system call per wakeup than needed: epoll is
// level-triggered, so a short batch means the socket is drained and epoll will say when it is not.
void on_udp_readable(uv_poll_t* poll, int status, int) noexcept {
    if (status < 0) {
        return;
    }
    UdpSocket& socket = *static_cast<UdpSocket*>(poll->data);
    Worker& w = *socket.worker;
    UdpBatch& b = *w.batch;
    for (unsigned round = 0; round < kUdpBatchesPerWakeup; ++round) {
        for (size_t i = 0; i < kUdpBatch; ++i) {
            b.queries[i].msg_hdr.msg_namelen = sizeof b.peers[i];
            b.queries[i].msg_hdr.msg_flags = 0;
        }
        const int received = recvmmsg(socket.fd, b.queries, kUdpBatch, MSG_DONTWAIT, nullptr);
        if (received <= 0) {
            return;
        }
        unsigned replies = 0;
        for (int i = 0; i < received; ++i) {
            const msghdr& query = b.queries[i].msg_hdr;
            // A datagram larger than the slot is cut short; its parse fails and gets FORMERR.
            const size_t size = handle_query(
                w.zone.get(),
                {b.query_data[i], std::min<size_t>(b.queries[i].msg_len, kUdpQuerySlot)},
                {b.reply_data[replies], kMaxUdpResponse}, Transport::Udp, w.stats);
            if (size == 0) {
                continue;
            }
            b.reply_iov[replies].iov_len = size;
            b.replies[replies].msg_hdr.msg_name = query.msg_name;
            b.replies[replies].msg_hdr.msg_namelen = query.msg_namelen;
            ++replies;
        }
        for (unsigned sent = 0; sent < replies;) {
            const int n = sendmmsg(socket.fd, b.replies + sent, replies - sent, MSG_DONTWAIT);
            if (n <= 0) {
                // The send buffer is full: drop the rest, as a busy DNS server does; clients retry.
                for (; sent < replies; ++sent) {
                    w.stats.count(w.stats.dropped);
                }
                break;
            }
            sent += static_cast<unsigned>(n);
        }
        if (received < static_cast<int>(kUdpBatch)) {
            return;
        }
    }
}

// --- TCP -------------------------------------------------------------------------------------

void process_tcp(Connection& c) noexcept;
void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
void accept_into(TcpListener& listener, Connection& c) noexcept;

void release_connection(uv_handle_t* handle) noexcept {
    auto& c = *static_cast<Connection*>(handle->data);
    if (--c.open_handles > 0) {
        return;
    }
    Worker& w = *c.worker;
    for (auto& listener : w.tcp) {
        if (listener->waiting_for_slot) {
            listener->waiting_for_slot = false;
            accept_into(*listener, c);
            return;
        }
    }
    w.free_connections.push_back(c.index);
}

void close_connection(Connection& c) noexcept {
    // At shutdown the loop closes every handle itself; a write it cancels still calls back here.
    if (c.closing || uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.handle))) {
        return;
    }
    c.closing = true;
    c.open_handles = 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.handle), release_connection);
    uv_close(reinterpret_cast<uv_handle_t*>(&c.idle), release_connection);
}

void on_idle(uv_timer_t* timer) noexcept {
    close_connection(*static_cast<Connection*>(timer->data));
}

void on_tcp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
    auto& c = *static_cast<Connection*>(handle->data);
    *buf = uv_buf_init(reinterpret_cast<char*>(c.in + c.in_size),
                       static_cast<unsigned>(kTcpInput - c.in_size));
}

void on_tcp_written(uv_write_t* req, int status) noexcept {
    auto& c = *static_cast<Connection*>(req->data);
    c.writing = false;
    if (status < 0 || c.closing || uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.handle))) {
        close_connection(c);
        return;
    }
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.handle), on_tcp_alloc, on_tcp_read);
    process_tcp(c);
}

// Sends the answer built in the worker's buffer; what the socket does not take now is copied to
// the connection and written asynchronously, and reading pauses until it is gone.
void send_tcp(Connection& c, size_t size) noexcept {
    Worker& w = *c.worker;
    w.answer[0] = static_cast<uint8_t>(size >> 8);
    w.answer[1] = static_cast<uint8_t>(size);
    const size_t frame = size + 2;
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(w.answer), static_cast<unsigned>(frame));
    auto* stream = reinterpret_cast<uv_stream_t*>(&c.handle);
    const int written = uv_try_write(stream, &buf, 1);
    if (written == static_cast<int>(frame)) {
        return;
    }
    if (written < 0 && written != UV_EAGAIN) {
        close_connection(c);
        return;
    }
    const size_t done = written < 0 ? 0 : static_cast<size_t>(written);
    std::memcpy(c.out, w.answer + done, frame - done);
    buf = uv_buf_init(reinterpret_cast<char*>(c.out), static_cast<unsigned>(frame - done));
    c.writing = true;
    uv_read_stop(stream);
    if (uv_write(&c.write_req, stream, &buf, 1, on_tcp_written) != 0) {
        c.writing = false;
        close_connection(c);
    }
}

// Answers every complete length-prefixed query in the input (pipelining, RFC 7766 6.2.1.1).
void process_tcp(Connection& c) noexcept {
    Worker& w = *c.worker;
    size_t offset = 0;
    while (!c.writing && !c.closing && c.in_size - offset >= 2) {
        const size_t length = read_u16(c.in + offset);
        if (length == 0 || length > kTcpInput - 2) {
            close_connection(c);  // cannot be a query we could ever hold
            return;
        }
        if (c.in_size - offset < 2 + length) {
            break;
        }
        const size_t size = handle_query(w.zone.get(), {c.in + offset + 2, length},
                                         {w.answer + 2, kMaxMessageSize}, Transport::Tcp, w.stats);
        offset += 2 + length;
        if (size != 0) {
            send_tcp(c, size);
        }
    }
    std::memmove(c.in, c.in + offset, c.in_size - offset);
    c.in_size -= offset;
}

void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
    auto& c = *static_cast<Connection*>(stream->data);
    if (nread < 0) {
        close_connection(c);  // EOF or error
        return;
    }
    c.in_size += static_cast<size_t>(nread);
    uv_timer_start(&c.idle, on_idle, c.worker->idle_timeout_ms, 0);
    process_tcp(c);
}

void accept_into(TcpListener& listener, Connection& c) noexcept {
    Worker& w = *listener.worker;
    uv_tcp_init(&w.loop, &c.handle);
    uv_timer_init(&w.loop, &c.idle);
    c.handle.data = &c;
    c.idle.data = &c;
    c.write_req.data = &c;
    c.in_size = 0;
    c.writing = false;
    c.closing = false;
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener.handle),
                  reinterpret_cast<uv_stream_t*>(&c.handle)) != 0) {
        close_connection(c);
        return;
    }
    uv_tcp_nodelay(&c.handle, 1);
    uv_timer_start(&c.idle, on_idle, w.idle_timeout_ms, 0);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.handle), on_tcp_alloc, on_tcp_read);
}

void on_tcp_connection(uv_stream_t* server, int status) noexcept {
    if (status < 0) {
        return;
    }
    auto& listener = *static_cast<TcpListener*>(server->data);
    Worker& w = *listener.worker;
    if (w.free_connections.empty()) {
        // At the cap: the connection waits (and libuv stops accepting) until a slot frees.
        listener.waiting_for_slot = true;
        return;
    }
    Connection& c = w.connections[w.free_connections.back()];
    w.free_connections.pop_back();
    accept_into(listener, c);
}

// --- Mailbox and lifetime ----------------------------------------------------------------------

void on_wake(uv_async_t* async) noexcept {
    Worker& w = *static_cast<Worker*>(async->data);
    Frontend::Impl& impl = *w.owner;
    bool stop = false;
    {
        std::lock_guard lock(impl.mailbox_mutex);
        if (w.incoming) {
            // The old zone goes back to the publisher, which frees it off the query path.
            w.retired = std::move(w.zone);
            w.zone = std::move(w.incoming);
        }
        w.adopted_generation = w.wanted_generation;
        stop = impl.stopping;
    }
    impl.adopted.notify_all();
    if (stop) {
        uv_walk(
            &w.loop,
            [](uv_handle_t* handle, void*) {
                if (!uv_is_closing(handle)) {
                    uv_close(handle, nullptr);
                }
            },
            nullptr);
    }
}

// A socket with SO_REUSEPORT bound to addr:port. With port 0 the first socket is bound without
// it, so the kernel picks a port nobody holds (autobind would otherwise share a port with another
// SO_REUSEPORT socket of the same user), and joins the group afterwards.
int bind_socket(const ListenAddress& address, int type, uint16_t port) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    const bool v6 = address.host.find(':') != std::string::npos;
    if (v6) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        inet_pton(AF_INET6, address.host.c_str(), &sa->sin6_addr);
        length = sizeof *sa;
    } else {
        auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
        sa->sin_family = AF_INET;
        sa->sin_port = htons(port);
        inet_pton(AF_INET, address.host.c_str(), &sa->sin_addr);
        length = sizeof *sa;
    }
    const int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    const int yes = 1;
    if (type == SOCK_STREAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    }
    if (v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
    }
    if (type == SOCK_DGRAM) {
        // Room for bursts while the worker is busy: the kernel's default of ~200 KiB drops
        // queries at a few thousand outstanding. It caps this at net.core.rmem_max.
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kUdpReceiveBuffer, sizeof kUdpReceiveBuffer);
    }
    if (port != 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
        const int err = errno;
        close(fd);
        return -err;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
    return ntohs(storage.ss_family == AF_INET6
                     ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

struct BoundFds {
    std::vector<int> udp;  // one per worker
    std::vector<int> tcp;
};

void close_all(BoundFds& fds) {
    for (const int fd : fds.udp) {
        close(fd);
    }
    for (const int fd : fds.tcp) {
        close(fd);
    }
    fds = {};
}

// Binds one UDP and one TCP socket per worker on the same port.
Result<BoundFds> bind_address(const ListenAddress& address, unsigned workers, uint16_t& port_out) {
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
        BoundFds fds;
        uint16_t port = address.port;
        int err = 0;
        for (unsigned i = 0; i < workers && err == 0; ++i) {
            const int udp = bind_socket(address, SOCK_DGRAM, port);
            if (udp < 0) {
                err = udp;
                break;
            }
            fds.udp.push_back(udp);
            port = local_port(udp);
            const int tcp = bind_socket(address, SOCK_STREAM, port);
            if (tcp < 0) {
                err = tcp;
                break;
            }
            fds.tcp.push_back(tcp);
        }
        if (err == 0) {
            port_out = port;
            return fds;
        }
        close_all(fds);
        if (address.port != 0 || err != -EADDRINUSE) {
            return Error{fmt::format("listen {}: {}", address.to_text(), std::strerror(-err))};
        }
    }
    return Error{fmt::format("listen {}: no free port for both UDP and TCP", address.to_text())};
}

}  // namespace

std::string ListenAddress::to_text() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
    ListenAddress out;
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return Error{fmt::format("\"{}\" is not [IPv6]:PORT", text)};
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon != std::string_view::npos &&
            text.substr(0, colon).find(':') != std::string_view::npos) {
            return Error{
                fmt::format("\"{}\": write an IPv6 address in brackets, [ADDR]:PORT", text)};
        }
        if (colon == std::string_view::npos) {
            return Error{fmt::format("\"{}\" is not ADDR:PORT", text)};
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    out.host = std::string(host);
    uint8_t scratch[16];
    const bool v6 = out.host.find(':') != std::string::npos;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, out.host.c_str(), scratch) != 1) {
        return Error{fmt::format("\"{}\": \"{}\" is not an IP address", text, host)};
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
        return Error{fmt::format("\"{}\": \"{}\" is not a port (0-65535)", text, port)};
    }
    out.port = static_cast<uint16_t>(value);
    return out;
}

Frontend::Frontend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

Frontend::~Frontend() {
    stop();
}

const std::vector<ListenAddress>& Frontend::bound() const {
    return impl_->bound;
}

Result<std::unique_ptr<Frontend>> Frontend::start(const FrontendOptions& options,
                                                  std::shared_ptr<const Zone> zone) {
    auto impl = std::make_unique<Impl>();
    const unsigned workers = std::max(1u, options.workers);
    std::vector<BoundFds> bound_fds;
    for (const ListenAddress& address : options.listen) {
        uint16_t port = 0;
        auto fds = bind_address(address, workers, port);
        if (!fds) {
            for (BoundFds& earlier : bound_fds) {
                close_all(earlier);
            }
            return fds.error();
        }
        bound_fds.push_back(std::move(*fds));
        impl->bound.push_back({address.host, port});
    }

    // Each worker has its own pool (the kernel picks the worker), so the cap is split between
    // them; every worker needs one slot, or connections the kernel hands it would wait forever.
    const unsigned per_worker = std::max(1u, options.max_tcp_connections / workers);
    for (unsigned i = 0; i < workers; ++i) {
        auto w = std::make_unique<Worker>();
        w->owner = impl.get();
        w->zone = zone;
        w->idle_timeout_ms = uint64_t{options.tcp_idle_timeout_seconds} * 1000;
        uv_loop_init(&w->loop);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w.get();
        w->batch.reset(new UdpBatch);
        for (size_t m = 0; m < kUdpBatch; ++m) {
            UdpBatch& b = *w->batch;
            b.query_iov[m] = {b.query_data[m], kUdpQuerySlot};
            b.queries[m].msg_hdr = {.msg_name = &b.peers[m],
                                    .msg_namelen = sizeof b.peers[m],
                                    .msg_iov = &b.query_iov[m],
                                    .msg_iovlen = 1};
            b.reply_iov[m] = {b.reply_data[m], 0};
            b.replies[m].msg_hdr = {.msg_iov = &b.reply_iov[m], .msg_iovlen = 1};
        }
        w->connections.reset(new Connection[per_worker]);
        w->free_connections.reserve(per_worker);
        for (uint32_t c = per_worker; c > 0; --c) {
            w->connections[c - 1].worker = w.get();
            w->connections[c - 1].index = c - 1;
            w->free_connections.push_back(c - 1);
        }
        for (BoundFds& fds : bound_fds) {
            auto udp = std::make_unique<UdpSocket>();
            udp->worker = w.get();
            udp->fd = fds.udp[i];
            uv_poll_init(&w->loop, &udp->poll, udp->fd);
            udp->poll.data = udp.get();
            uv_poll_start(&udp->poll, UV_READABLE, on_udp_readable);
            w->udp.push_back(std::move(udp));

            auto tcp = std::make_unique<TcpListener>();
            tcp->worker = w.get();
            uv_tcp_init(&w->loop, &tcp->handle);
            tcp->handle.data = tcp.get();
            uv_tcp_open(&tcp->handle, fds.tcp[i]);
            const int err = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp->handle), kListenBacklog,
                                      on_tcp_connection);
            if (err != 0) {
                return Error{fmt::format("listen {}: {}", impl->bound[w->tcp.size()].to_text(),
                                         uv_strerror(err))};
            }
            w->tcp.push_back(std::move(tcp));
        }
        impl->workers.push_back(std::move(w));
    }
    for (auto& w : impl->workers) {
        Worker* worker = w.get();
        w->thread = std::thread([worker] {
            uv_run(&worker->loop, UV_RUN_DEFAULT);
            uv_loop_close(&worker->loop);
        });
    }
    return std::unique_ptr<Frontend>(new Frontend(std::move(impl)));
}

void Frontend::publish(std::shared_ptr<const Zone> zone) {
    std::vector<std::shared_ptr<const Zone>> old;  // freed when this returns, on this thread
    std::unique_lock lock(impl_->mailbox_mutex);
    if (impl_->stopping) {
        return;
    }
    const uint64_t generation = ++impl_->generation;
    for (auto& w : impl_->workers) {
        w->incoming = zone;
        w->wanted_generation = generation;
        uv_async_send(&w->wake);
    }
    impl_->adopted.wait(lock, [&] {
        return std::all_of(impl_->workers.begin(), impl_->workers.end(),
                           [&](const auto& w) { return w->adopted_generation >= generation; });
    });
    for (auto& w : impl_->workers) {
        old.push_back(std::move(w->retired));
    }
}

void Frontend::stop() {
    {
        std::lock_guard lock(impl_->mailbox_mutex);
        if (impl_->stopping) {
            return;
        }
        impl_->stopping = true;
        for (auto& w : impl_->workers) {
            uv_async_send(&w->wake);
        }
    }
    for (auto& w : impl_->workers) {
        w->thread.join();
    }
}

Frontend::Totals Frontend::totals() const {
    Totals t;
    for (const auto& w : impl_->workers) {
        t.udp_queries += w->stats.requests_udp.load(std::memory_order_relaxed);
        t.tcp_queries += w->stats.requests_tcp.load(std::memory_order_relaxed);
        t.dropped += w->stats.dropped.load(std::memory_order_relaxed);
        t.truncated += w->stats.truncated.load(std::memory_order_relaxed);
    }
    return t;
}

}  // namespace clusterdns
