#include "server/frontend.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <mutex>
#include <new>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <uv.h>

#include "dns/message.h"
#include "plugins/cache/cache.h"
#include "plugins/forward/stage.h"
#include "base/threads.h"
#include "server/query_log.h"
#include "server/tcp_stream.h"
#include "zone/snapshot.h"

namespace clusterdns {

struct Worker;

namespace {

// Any UDP datagram fits, so a query padded to 64 KiB (EDNS padding, RFC 7830) is parsed, not cut:
// the slots are only address space until a datagram that large arrives.
constexpr size_t kUdpQuerySlot = 64 * 1024;
constexpr size_t kUdpBatch = 32;              // datagrams per recvmmsg and replies per sendmmsg
constexpr unsigned kUdpBatchesPerWakeup = 4;  // then let the loop serve other sockets
constexpr size_t kTcpFrame = 2 + kMaxMessageSize;
constexpr int kListenBacklog = 511;
constexpr int kUdpReceiveBuffer = 4 << 20;
constexpr int kPortAttempts = 32;
// Descriptors the process needs besides the TCP connections: listeners, each loop's epoll and
// eventfd, and room for the host program's own (stdio, manifest files, its other sockets).
constexpr unsigned kDescriptorsPerWorker = 4;
constexpr unsigned kSpareDescriptors = 64;

struct UdpSocket {
    uv_poll_t poll;
    int fd = -1;  // ours: a poll handle does not close it
    Worker* worker = nullptr;

    ~UdpSocket() {
        if (fd >= 0) {
            close(fd);
        }
    }
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
    Handled answered[kUdpBatch];  // what each reply is, for the metrics and the log
    uint8_t reply_to[kUdpBatch];  // the query each reply answers
};

struct TcpListener {
    uv_tcp_t handle;
    Worker* worker;
    bool waiting_for_slot = false;  // libuv holds one accepted connection until uv_accept
};

enum class ConnectionState : uint8_t {
    Free,        // slot unused
    Idle,        // between messages: the idle timeout runs
    Reading,     // part of a message read: the I/O deadline runs
    Writing,     // an answer is pending: the I/O timeout runs, renewed while the client reads
    Forwarding,  // a query is with the upstreams: reading pauses until its answer is sent
    Closing,     // uv_close called, slot released in its callback
};

constexpr uint32_t kNoSlot = UINT32_MAX;

struct Connection {
    uv_tcp_t handle;
    uv_timer_t timer;
    uv_write_t write_req;
    Worker* worker = nullptr;
    uint32_t index = 0;
    uint32_t generation = 0;  // a new one per client: a late upstream answer finds its own
    IpAddress peer;           // the client's address, for the server-side search path
    bool has_peer = false;
    uint32_t prev = kNoSlot;  // neighbours in the worker's list for `state`
    uint32_t next = kNoSlot;
    ConnectionState state = ConnectionState::Free;
    int open_handles = 0;
    size_t write_left = 0;           // untaken() at the last check of a pending answer
    std::unique_ptr<uint8_t[]> out;  // what the socket did not take at once, while it is written
    TcpStream in;
};

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

// A list of connection slots threaded through the slots themselves, oldest first: moving a
// connection between lists allocates nothing.
struct SlotList {
    uint32_t head = kNoSlot;
    uint32_t tail = kNoSlot;
};

}  // namespace

// One thread with its loop, its sockets and its forwarding stage; the stage's clock, its way
// back to clients and its zone side are the worker's (the Forwarding section below).
struct Worker final : Clock, Replies, ChaseSteps {
    explicit Worker(Frontend::Impl& impl, unsigned index);

    Frontend::Impl* owner = nullptr;
    uv_loop_t loop;
    uv_async_t wake;
    std::vector<std::unique_ptr<UdpSocket>> udp;
    std::unique_ptr<UdpBatch> batch;
    std::vector<std::unique_ptr<TcpListener>> tcp;
    std::unique_ptr<Connection[]> connections;
    SlotList free;
    SlotList idle;  // by when the idle time began
    SlotList busy;  // Reading or Writing, by when the message or the write began
    uint64_t idle_timeout_ms = 10000;
    uint64_t io_timeout_ms = 5000;
    std::shared_ptr<const Snapshot> zone;  // read and replaced only on this worker's thread
    WorkerStats stats;
    unsigned number = 0;  // its place in Frontend::Impl::workers
    // The upstreams the stage forwards to: null without any (only stub domains are forwarded).
    std::unique_ptr<UpstreamChannel> upstream;
    struct Stub {
        Name domain;
        std::unique_ptr<UpstreamChannel> channel;
    };
    std::vector<Stub> stubs;
    // Channels replaced by reconfigure(): closed once no query can still wait on them, freed on
    // the tick after (their handles finish closing in between).
    struct Retired {
        std::unique_ptr<UpstreamChannel> channel;
        uint64_t close_at = 0;  // loop time, ms
        bool closed = false;
    };
    std::vector<Retired> retired_channels;
    uv_timer_t retire_timer;
    uv_timer_t forward_timer;  // the stage's deadlines
    ForwardStage forward;
    bool query_log = false;
    bool stopping = false;
    std::thread thread;
    // Mailbox, guarded by Impl::mailbox_mutex.
    const Forwarding* incoming_forwarding = nullptr;
    Status reconfigured;
    std::shared_ptr<const Snapshot> incoming;
    std::shared_ptr<const Snapshot> retired;
    uint64_t wanted_generation = 0;
    uint64_t adopted_generation = 0;
    std::vector<std::pair<uint64_t, bool>> fetched;  // keys whose fetch ended, and whether it failed
    alignas(64) uint8_t answer[kTcpFrame];  // 2 bytes of TCP length, then the message

    // Clock
    uint64_t now_ms() override { return uv_now(&loop); }
    void wake_at(uint64_t at_ms) override;
    // Replies
    std::span<uint8_t> buffer(const Client& to) override;
    void send(const Client& to, std::span<const uint8_t> query, size_t size, Responder by,
              uint16_t qtype) override;
    void failed(std::span<const uint8_t> asked, std::string_view why) override;
    void fetch_ended(uint64_t workers, uint64_t key, bool failed) override;
    // ChaseSteps, over the zone this worker serves now
    size_t query(const Query& client_query, const IpAddress* client, std::span<uint8_t> out,
                 size_t step) override {
        return chase_query(zone.get(), client_query, client, out, step);
    }
    bool ends_in_zone(const Query& client_query, const IpAddress* client,
                      size_t step) override {
        return chase_ends_in_zone(zone.get(), client_query, client, step);
    }
    size_t respond(const Query& client_query, const IpAddress* client,
                   std::span<const uint8_t> upstream_answer, std::span<uint8_t> out,
                   Transport transport, size_t step) override {
        return chased_response(zone.get(), client_query, client, upstream_answer, out, transport,
                               step);
    }
};

class Frontend::Impl {
public:
    LoopProbe loop_probe;
    std::vector<ListenAddress> bound;
    std::vector<std::unique_ptr<Worker>> workers;
    // The one cache of every worker; replaced when reconfigure() changes its settings, the old
    // one freed when the last worker lets go of it.
    std::shared_ptr<SharedCache> cache;
    Fetches fetches;  // one fetch per question in flight, over all workers
    LogLimiter query_lines;
    LogLimiter error_lines;
    std::mutex mailbox_mutex;
    std::condition_variable adopted;
    uint64_t generation = 0;
    bool stopping = false;
};

namespace {

SlotList* list_for(Worker& w, ConnectionState state) {
    switch (state) {
        case ConnectionState::Free:
            return &w.free;
        case ConnectionState::Idle:
            return &w.idle;
        case ConnectionState::Reading:
        case ConnectionState::Writing:
        case ConnectionState::Forwarding:
            return &w.busy;
        case ConnectionState::Closing:
            break;
    }
    return nullptr;
}

// Takes the connection out of its state's list and appends it to the list of `state`.
void move_to(Worker& w, Connection& c, ConnectionState state) {
    Connection* slots = w.connections.get();
    if (SlotList* from = list_for(w, c.state)) {
        (c.prev == kNoSlot ? from->head : slots[c.prev].next) = c.next;
        (c.next == kNoSlot ? from->tail : slots[c.next].prev) = c.prev;
    }
    c.state = state;
    c.prev = kNoSlot;
    c.next = kNoSlot;
    if (SlotList* to = list_for(w, state)) {
        c.prev = to->tail;
        (to->tail == kNoSlot ? to->head : slots[to->tail].next) = c.index;
        to->tail = c.index;
    }
}

// A query through the chain (plugins/chain.h): autopath and kubernetes answer from the zone;
// what they leave goes to the cache and the upstreams, the forwarding stage. Returns Answer with
// the response in `out`, Forward when the stage answers later, or Drop. `client` makes the
// stage's Client, only when it is asked for one.
template <typename MakeClient>
Handled serve(Worker& w, Transport transport, std::span<const uint8_t> packet,
              std::span<uint8_t> out, const IpAddress* address, MakeClient client) noexcept {
    Query parsed;
    const Handled zone = handle_query(w.zone.get(), packet, out, transport, w.stats,
                                      w.forward.enabled(), address, &parsed);
    if (zone.disposition != Disposition::Forward && zone.disposition != Disposition::Chase) {
        return zone;
    }
    const ForwardStage::Handled stage = w.forward.take(
        client(), address, packet, parsed, out, zone.disposition == Disposition::Chase);
    return {.disposition = stage.size != 0 ? Disposition::Answer : Disposition::Forward,
            .size = stage.size,
            .by = stage.by,
            .qtype = zone.qtype};
}

// A response is on its way: counted, and logged when the query log is on. `peer` may be null
// (a TCP client, looked up only for the log).
void record_response(Worker& w, bool tcp, Responder by, uint16_t qtype, std::span<const uint8_t> query,
              std::span<const uint8_t> response, uint64_t received_ns, const sockaddr* peer,
              const uv_tcp_t* connection = nullptr) noexcept {
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
        const uint64_t received_ns = uv_hrtime();
        unsigned replies = 0;
        for (int i = 0; i < received; ++i) {
            const msghdr& query = b.queries[i].msg_hdr;
            const std::span<const uint8_t> packet(
                b.query_data[i], std::min<size_t>(b.queries[i].msg_len, kUdpQuerySlot));
            const std::span<uint8_t> reply(b.reply_data[replies], kMaxUdpResponse);
            IpAddress peer;
            const bool known = peer_address(query.msg_name, peer);
            const Handled reply_is =
                serve(w, Transport::Udp, packet, reply, known ? &peer : nullptr, [&] {
                    Client client{.fd = socket.fd,
                                  .peer_size = query.msg_namelen,
                                  .received_ns = received_ns};
                    std::memcpy(&client.peer, query.msg_name,
                                std::min<size_t>(query.msg_namelen, sizeof client.peer));
                    return client;
                });
            if (reply_is.disposition != Disposition::Answer) {
                continue;
            }
            b.answered[replies] = reply_is;
            b.reply_to[replies] = static_cast<uint8_t>(i);
            b.reply_iov[replies].iov_len = reply_is.size;
            b.replies[replies].msg_hdr.msg_name = query.msg_name;
            b.replies[replies].msg_hdr.msg_namelen = query.msg_namelen;
            ++replies;
        }
        for (unsigned i = 0; i < replies; ++i) {
            const mmsghdr& query = b.queries[b.reply_to[i]];
            record_response(w, false, b.answered[i].by, b.answered[i].qtype,
                     {b.query_data[b.reply_to[i]], std::min<size_t>(query.msg_len, kUdpQuerySlot)},
                     {b.reply_data[i], b.answered[i].size}, received_ns,
                     static_cast<const sockaddr*>(query.msg_hdr.msg_name));
        }
        for (unsigned sent = 0; sent < replies;) {
            const int n =
                sendmmsg(socket.fd, b.replies + sent, replies - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                // Short of the batch: the next reply failed, and the next call says why.
                sent += static_cast<unsigned>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                // The send buffer is full: drop the rest, as a busy DNS server does; clients retry.
                for (; sent < replies; ++sent) {
                    w.stats.dropped.add();
                }
                break;
            }
            // This one destination cannot be sent to (source port 0 gives EINVAL, a firewall
            // EPERM, no route ENETUNREACH): skip its reply, not the others in the batch.
            w.stats.dropped.add();
            ++sent;
        }
        if (received < static_cast<int>(kUdpBatch)) {
            return;
        }
    }
}

// --- TCP -------------------------------------------------------------------------------------
//
// A connection's timer follows its state: between messages the idle timeout closes it; from the
// first byte of a message the I/O timeout runs, and bytes trickling in do not extend it (a slow
// client cannot hold a slot by sending a byte now and then); while an answer is pending the I/O
// timeout is renewed only when the client has taken some of it.

void process_tcp(Connection& c) noexcept;
void send_tcp(Connection& c, size_t size) noexcept;
void enter(Connection& c, ConnectionState state) noexcept;
void on_tcp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept;
void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
void accept_into(TcpListener& listener, Connection& c) noexcept;

uv_stream_t* stream_of(Connection& c) {
    return reinterpret_cast<uv_stream_t*>(&c.handle);
}

void release_connection(uv_handle_t* handle) noexcept {
    auto& c = *static_cast<Connection*>(handle->data);
    if (--c.open_handles > 0) {
        return;
    }
    c.in.reset();
    c.out.reset();
    Worker& w = *c.worker;
    for (auto& listener : w.tcp) {
        if (listener->waiting_for_slot) {
            listener->waiting_for_slot = false;
            accept_into(*listener, c);
            return;
        }
    }
    move_to(w, c, ConnectionState::Free);
}

void close_connection(Connection& c) noexcept {
    // At shutdown the loop closes every handle itself; a write it cancels still calls back here.
    if (c.state == ConnectionState::Closing ||
        uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.handle))) {
        return;
    }
    move_to(*c.worker, c, ConnectionState::Closing);
    c.open_handles = 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.handle), release_connection);
    uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), release_connection);
}

// Bytes of answers the client has not taken yet: what libuv still holds plus the kernel's send
// queue (unsent and unacknowledged, SIOCOUTQ). The kernel's part matters: a full send buffer of
// megabytes drains for a while before libuv's part can move, although the client is reading.
size_t untaken(Connection& c) {
    size_t left = uv_stream_get_write_queue_size(stream_of(c));
    uv_os_fd_t fd = -1;
    int queued = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c.handle), &fd) == 0 &&
        ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
        left += static_cast<size_t>(queued);
    }
    return left;
}

void on_timer(uv_timer_t* timer) noexcept {
    auto& c = *static_cast<Connection*>(timer->data);
    if (c.state == ConnectionState::Writing) {
        const size_t left = untaken(c);
        if (left < c.write_left) {
            c.write_left = left;  // the client is reading, slowly: another period
            uv_timer_start(&c.timer, on_timer, c.worker->io_timeout_ms, 0);
            return;
        }
    }
    close_connection(c);  // idle too long, a message too slow, or an answer nobody reads
}

// Puts the connection in `state` (at the back of its list: the newest) and starts its timer.
void enter(Connection& c, ConnectionState state) noexcept {
    Worker& w = *c.worker;
    move_to(w, c, state);
    const uint64_t timeout = state == ConnectionState::Idle ? w.idle_timeout_ms : w.io_timeout_ms;
    uv_timer_start(&c.timer, on_timer, timeout, 0);
}

void on_tcp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
    auto& c = *static_cast<Connection*>(handle->data);
    const std::span<uint8_t> space = c.in.input_space();
    // Empty when the stream failed: libuv then reports UV_ENOBUFS and we close.
    *buf = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
}

void on_tcp_written(uv_write_t* req, int status) noexcept {
    auto& c = *static_cast<Connection*>(req->data);
    c.out.reset();
    if (status < 0 || c.state == ConnectionState::Closing ||
        uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.handle))) {
        close_connection(c);
        return;
    }
    enter(c, ConnectionState::Idle);
    uv_read_start(stream_of(c), on_tcp_alloc, on_tcp_read);
    process_tcp(c);
}

// Sends the answer built in the worker's buffer. send() with MSG_NOSIGNAL: a client that reset
// the connection must not raise SIGPIPE in a host program that never chose to ignore it. What the
// socket does not take now is copied to a buffer of just that size and written by libuv; reading
// pauses until it is gone, so one connection never holds more than one answer.
void send_tcp(Connection& c, size_t size) noexcept {
    Worker& w = *c.worker;
    w.answer[0] = static_cast<uint8_t>(size >> 8);
    w.answer[1] = static_cast<uint8_t>(size);
    const size_t frame = size + 2;
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(&c.handle), &fd);
    ssize_t sent = send(fd, w.answer, frame, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == static_cast<ssize_t>(frame)) {
        return;
    }
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_connection(c);
            return;
        }
        sent = 0;
    }
    const size_t left = frame - static_cast<size_t>(sent);
    c.out.reset(new (std::nothrow) uint8_t[left]);
    if (!c.out) {
        close_connection(c);
        return;
    }
    std::memcpy(c.out.get(), w.answer + sent, left);
    const uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(c.out.get()), static_cast<unsigned>(left));
    if (uv_write(&c.write_req, stream_of(c), &buf, 1, on_tcp_written) != 0) {
        close_connection(c);
        return;
    }
    uv_read_stop(stream_of(c));
    c.write_left = untaken(c);
    enter(c, ConnectionState::Writing);
}

// Answers every complete query read so far (pipelining, RFC 7766 6.2.1.1), then sets the timer:
// idle when nothing is left, the I/O deadline when a new message has begun.
void process_tcp(Connection& c) noexcept {
    Worker& w = *c.worker;
    bool answered = false;
    while (c.state != ConnectionState::Writing && c.state != ConnectionState::Closing) {
        const std::span<const uint8_t> query = c.in.next();
        if (query.empty()) {
            break;
        }
        answered = true;
        const std::span<uint8_t> reply(w.answer + 2, kMaxMessageSize);
        const uint64_t received_ns = uv_hrtime();
        const Handled reply_is =
            serve(w, Transport::Tcp, query, reply, c.has_peer ? &c.peer : nullptr, [&] {
                return Client{.transport = Transport::Tcp,
                              .connection = c.index,
                              .generation = c.generation,
                              .received_ns = received_ns};
            });
        if (reply_is.disposition == Disposition::Forward) {
            // One query at a time per connection: the next waits for this one's answer.
            uv_read_stop(stream_of(c));
            enter(c, ConnectionState::Forwarding);
            return;
        }
        if (reply_is.disposition == Disposition::Answer) {
            record_response(w, true, reply_is.by, reply_is.qtype, query, reply.first(reply_is.size),
                     received_ns, nullptr, &c.handle);
            send_tcp(c, reply_is.size);
        }
    }
    if (c.state == ConnectionState::Writing || c.state == ConnectionState::Closing) {
        return;
    }
    if (c.in.failed()) {
        close_connection(c);  // a length that cannot be a query we could ever hold
    } else if (c.in.in_message()) {
        // The deadline runs from the first byte of this message: a message still going on keeps
        // the deadline it has.
        if (answered || c.state != ConnectionState::Reading) {
            enter(c, ConnectionState::Reading);
        }
    } else if (answered || c.state != ConnectionState::Idle) {
        enter(c, ConnectionState::Idle);
    }
}

void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
    auto& c = *static_cast<Connection*>(stream->data);
    if (nread < 0) {
        close_connection(c);  // EOF, error, or no buffer (the stream failed)
        return;
    }
    if (nread == 0) {
        return;  // EAGAIN
    }
    c.in.commit(static_cast<size_t>(nread));
    process_tcp(c);
}

void accept_into(TcpListener& listener, Connection& c) noexcept {
    Worker& w = *listener.worker;
    uv_tcp_init(&w.loop, &c.handle);
    uv_timer_init(&w.loop, &c.timer);
    c.handle.data = &c;
    c.timer.data = &c;
    c.write_req.data = &c;
    ++c.generation;
    enter(c, ConnectionState::Idle);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener.handle), stream_of(c)) != 0) {
        close_connection(c);
        return;
    }
    uv_tcp_nodelay(&c.handle, 1);
    sockaddr_storage peer{};
    int peer_size = sizeof peer;
    c.has_peer = uv_tcp_getpeername(&c.handle, reinterpret_cast<sockaddr*>(&peer), &peer_size) == 0 &&
                 peer_address(&peer, c.peer);
    uv_read_start(stream_of(c), on_tcp_alloc, on_tcp_read);
}

void on_tcp_connection(uv_stream_t* server, int status) noexcept {
    if (status < 0) {
        return;
    }
    auto& listener = *static_cast<TcpListener*>(server->data);
    Worker& w = *listener.worker;
    if (w.free.head == kNoSlot) {
        // Every slot is taken. Rather than leave the new client in the listen queue (where a
        // thousand slow clients would keep every new one), close the connection that has waited
        // longest between messages, or else the one whose message began earliest; the new one
        // takes its slot when it is released (libuv stops accepting until then).
        listener.waiting_for_slot = true;
        const uint32_t victim = w.idle.head != kNoSlot ? w.idle.head : w.busy.head;
        if (victim != kNoSlot) {
            close_connection(w.connections[victim]);
        }
        return;
    }
    accept_into(listener, w.connections[w.free.head]);
}

// --- Forwarding ------------------------------------------------------------------------------

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
    w.forward.configure(std::move(route));
    w.query_log = f.query_log;
    return {};
}

// --- Mailbox and lifetime ----------------------------------------------------------------------

// Closes every handle of the worker's loop, its channels' too: the loop then runs to its end.
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

// The socket address of an IPv4 or IPv6 literal and a port; returns its length.
socklen_t socket_address(const std::string& host, uint16_t port, sockaddr_storage& out) {
    out = {};
    if (host.find(':') != std::string::npos) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&out);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr);
        return sizeof *sa;
    }
    auto* sa = reinterpret_cast<sockaddr_in*>(&out);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &sa->sin_addr);
    return sizeof *sa;
}

// A socket with SO_REUSEPORT bound to addr:port, so the workers share the port. The first socket
// of an address (`first`) is bound without it and joins the group afterwards: then the bind
// fails if anyone holds the port, even another clusterdns with SO_REUSEPORT (which would
// otherwise get half our queries), and with port 0 the kernel picks a port nobody holds.
int bind_socket(const ListenAddress& address, int type, uint16_t port, bool first) {
    sockaddr_storage storage{};
    const socklen_t length = socket_address(address.host, port, storage);
    const bool v6 = storage.ss_family == AF_INET6;
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
    if (!first) {
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

// Closes the sockets no handle has taken yet (-1 once one has).
void close_all(BoundFds& fds) {
    for (const int fd : fds.udp) {
        if (fd >= 0) {
            close(fd);
        }
    }
    for (const int fd : fds.tcp) {
        if (fd >= 0) {
            close(fd);
        }
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
            const int udp = bind_socket(address, SOCK_DGRAM, port, i == 0);
            if (udp < 0) {
                err = udp;
                break;
            }
            fds.udp.push_back(udp);
            port = local_port(udp);
            const int tcp = bind_socket(address, SOCK_STREAM, port, i == 0);
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

// Every TCP connection is a file descriptor: makes sure the process may open enough, raising the
// soft limit toward the hard one if needed (many systems start processes with a soft limit of
// 1024), so the cap is not silently lower than configured.
Status reserve_descriptors(unsigned connections, unsigned workers, size_t addresses) {
    const rlim_t needed = rlim_t{connections} + rlim_t{workers} * (2 * addresses) +
                          rlim_t{workers} * kDescriptorsPerWorker + kSpareDescriptors;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) {
        return {};
    }
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= needed) {
        const rlimit raised{.rlim_cur = needed, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            return {};
        }
    }
    return Error{fmt::format(
        "max_tcp_connections {} needs {} file descriptors, but the limit (RLIMIT_NOFILE) is {} "
        "and its hard limit {}: lower max_tcp_connections or raise the limit (ulimit -n)",
        connections, needed, limit.rlim_cur, limit.rlim_max)};
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

// Sets up worker `index` on its initialized loop: buffers, timers, forwarding, the connection
// pool, and its sockets of every listen address (taken from `bound_fds`, marked -1 once a handle
// holds them).
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
    w.connections.reset(new Connection[per_worker]);
    for (uint32_t c = 0; c < per_worker; ++c) {
        w.connections[c].worker = &w;
        w.connections[c].index = c;
        w.connections[c].state = ConnectionState::Closing;  // in no list yet
        move_to(w, w.connections[c], ConnectionState::Free);
    }
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

Result<std::unique_ptr<Frontend>> Frontend::start(const FrontendOptions& options,
                                                  std::shared_ptr<const Snapshot> zone) {
    auto impl = std::make_unique<Impl>();
    impl->cache = std::make_shared<SharedCache>(options.forwarding.cache);
    const unsigned workers = std::max(1u, options.workers);
    // Each worker has its own pool (the kernel picks the worker), so the cap is split between
    // them; every worker needs one slot, or connections the kernel hands it would wait forever.
    const unsigned per_worker = std::max(1u, options.max_tcp_connections / workers);
    if (Status s = reserve_descriptors(per_worker * workers, workers, options.listen.size()); !s) {
        return s.error();
    }
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

    // A worker that cannot be set up undoes everything: the loops set up so far run to their end
    // and close, and every socket is closed.
    const auto abandon = [&](const Error& error) -> Error {
        for (auto& w : impl->workers) {
            close_everything(*w);
            uv_run(&w->loop, UV_RUN_DEFAULT);
            uv_loop_close(&w->loop);
        }
        impl->workers.clear();
        for (BoundFds& fds : bound_fds) {
            close_all(fds);
        }
        return error;
    };
    for (unsigned i = 0; i < workers; ++i) {
        auto w = std::make_unique<Worker>(*impl, i);
        w->zone = zone;
        w->idle_timeout_ms = uint64_t{options.tcp_idle_timeout_seconds} * 1000;
        w->io_timeout_ms = uint64_t{options.tcp_io_timeout_seconds} * 1000;
        if (const int err = uv_loop_init(&w->loop); err != 0) {
            return abandon(Error{fmt::format("worker loop: {}", uv_strerror(err))});
        }
        Worker& worker = *w;
        impl->workers.push_back(std::move(w));  // from here undone by abandon()
        if (Status s = set_up_worker(worker, options, per_worker, i, bound_fds, impl->bound); !s) {
            return abandon(s.error());
        }
    }
    for (auto& w : impl->workers) {
        Worker* worker = w.get();
        w->thread = start_quiet_thread([worker] {
            uv_run(&worker->loop, UV_RUN_DEFAULT);
            uv_loop_close(&worker->loop);
        });
    }
    return std::unique_ptr<Frontend>(new Frontend(std::move(impl)));
}

void Frontend::publish(std::shared_ptr<const Snapshot> zone) {
    std::vector<std::shared_ptr<const Snapshot>> old;  // freed when this returns, on this thread
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

Status Frontend::reconfigure(const Forwarding& forwarding) {
    std::unique_lock lock(impl_->mailbox_mutex);
    if (impl_->stopping) {
        return {};
    }
    if (!(impl_->cache->options() == forwarding.cache)) {  // else what it holds stays
        impl_->cache = std::make_shared<SharedCache>(forwarding.cache);
    }
    const uint64_t generation = ++impl_->generation;
    for (auto& w : impl_->workers) {
        w->incoming_forwarding = &forwarding;
        w->wanted_generation = generation;
        uv_async_send(&w->wake);
    }
    impl_->adopted.wait(lock, [&] {
        return std::all_of(impl_->workers.begin(), impl_->workers.end(),
                           [&](const auto& w) { return w->adopted_generation >= generation; });
    });
    for (auto& w : impl_->workers) {
        if (!w->reconfigured) {
            return w->reconfigured;
        }
    }
    return {};
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

unsigned Frontend::loop_probe(unsigned wait_ms) {
    std::random_device random;
    LoopProbe& probe = impl_->loop_probe;
    probe.name = *Name::from_text(fmt::format("{}.{}.loop-probe.invalid", random(), random()));
    probe.seen = 0;
    probe.probing.store(true, std::memory_order_release);
    // Asked of ourselves at the first listen address (a wildcard one through loopback).
    const ListenAddress& at = impl_->bound.front();
    const bool v6 = at.host.find(':') != std::string::npos;
    std::string host = at.host;
    if (host == "0.0.0.0" || host == "::") {
        host = v6 ? "::1" : "127.0.0.1";
    }
    sockaddr_storage to{};
    const socklen_t to_size = socket_address(host, at.port, to);
    std::vector<uint8_t> query = {0x4c, 0x50, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    const WireName name = probe.name.wire();
    query.insert(query.end(), name.begin(), name.end());
    query.insert(query.end(), {0, 13, 0, 1});  // HINFO, as CoreDNS's loop plugin asks
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        timeval timeout{static_cast<time_t>(wait_ms / 1000),
                        static_cast<suseconds_t>(wait_ms % 1000 * 1000)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        uint8_t reply[512];
        if (sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   to_size) > 0) {
            (void)recv(fd, reply, sizeof reply, 0);
        }
        close(fd);
    }
    probe.probing = false;
    return probe.seen.load();
}

Frontend::Totals Frontend::totals() const {
    Totals t;
    for (const auto& w : impl_->workers) {
        for (size_t family = 0; family < 2; ++family) {
            for (size_t type = 0; type < kQueryTypes; ++type) {
                t.udp_queries += w->stats.requests[0][family][type].value();
                t.tcp_queries += w->stats.requests[1][family][type].value();
            }
        }
        t.dropped += w->stats.dropped.value();
        t.truncated += w->stats.truncated.value();
    }
    return t;
}

std::vector<const WorkerStats*> Frontend::worker_stats() const {
    std::vector<const WorkerStats*> out;
    for (const auto& w : impl_->workers) {
        out.push_back(&w->stats);
    }
    return out;
}

SharedCache::Sizes Frontend::cache_sizes() const {
    std::shared_ptr<SharedCache> cache;
    {
        std::lock_guard lock(impl_->mailbox_mutex);
        cache = impl_->cache;
    }
    return cache->sizes();
}

std::vector<const UpstreamChannel*> Frontend::upstream_channels() const {
    std::vector<const UpstreamChannel*> out;
    for (const auto& w : impl_->workers) {
        if (w->upstream) {
            out.push_back(w->upstream.get());
        }
        for (const Worker::Stub& stub : w->stubs) {
            out.push_back(stub.channel.get());
        }
    }
    return out;
}

}  // namespace clusterdns
