#pragma once
// The front end's insides, shared by its parts: a worker is one thread with its libuv loop, its
// UDP sockets (server/udp.cc), its pool of TCP connections (server/tcp.cc), its forwarding stage
// (plugins/forward/stage.h) and its mailbox (server/worker.cc); server/sockets.h binds the
// sockets and server/frontend.cc starts, feeds and stops the workers.

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <uv.h>

#include "base/result.h"
#include "plugins/cache/cache.h"
#include "plugins/forward/stage.h"
#include "plugins/loadbalance/loadbalance.h"
#include "plugins/rewrite/rewrite.h"
#include "server/frontend.h"
#include "server/handler.h"
#include "server/query_log.h"
#include "server/sockets.h"
#include "server/tcp_stream.h"
#include "zone/objects.h"

namespace clusterdns {

struct Worker;

// Any UDP datagram fits, so a query padded to 64 KiB (EDNS padding, RFC 7830) is parsed, not cut:
// the slots are only address space until a datagram that large arrives.
constexpr size_t kUdpQuerySlot = 64 * 1024;
constexpr size_t kUdpBatch = 32;              // datagrams per recvmmsg and replies per sendmmsg
constexpr unsigned kUdpBatchesPerWakeup = 4;  // then let the loop serve other sockets
constexpr size_t kTcpFrame = 2 + kMaxMessageSize;
constexpr int kListenBacklog = 511;

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

// A worker's TCP connection slots: room for all of them from the start, each made the first time
// every slot made before it is in use. Pages no client needed are never touched: 1,024 slots are
// 1.2 MiB, and most servers see a few TCP clients at a time.
class ConnectionSlots {
public:
    ConnectionSlots() = default;
    ConnectionSlots(const ConnectionSlots&) = delete;
    ConnectionSlots& operator=(const ConnectionSlots&) = delete;
    ~ConnectionSlots();

    void reserve(uint32_t count);  // once, before any is made
    Connection& operator[](uint32_t i) noexcept { return slots_[i]; }
    Connection* get() noexcept { return slots_; }
    uint32_t made() const noexcept { return made_; }
    uint32_t capacity() const noexcept { return capacity_; }
    Connection& make_next();  // the slot after the last one made, constructed

private:
    Connection* slots_ = nullptr;
    uint32_t made_ = 0;
    uint32_t capacity_ = 0;
};

// A list of connection slots threaded through the slots themselves, oldest first: moving a
// connection between lists allocates nothing.
struct SlotList {
    uint32_t head = kNoSlot;
    uint32_t tail = kNoSlot;
};

// The address of a socket peer, IPv4-mapped IPv6 as IPv4 (a dual-stack socket's view of it).
bool peer_address(const void* peer, IpAddress& out) noexcept;

// One thread with its loop, its sockets and its forwarding stage; the stage's clock, its way
// back to clients and its zone side are the worker's (server/worker.cc).
struct Worker final : Clock, Replies, ChaseSteps {
    explicit Worker(Frontend::Impl& impl, unsigned index);

    Frontend::Impl* owner = nullptr;
    uv_loop_t loop;
    uv_async_t wake;
    std::vector<std::unique_ptr<UdpSocket>> udp;
    std::unique_ptr<UdpBatch> batch;
    std::vector<std::unique_ptr<TcpListener>> tcp;
    ConnectionSlots connections;
    SlotList free;
    SlotList idle;  // by when the idle time began
    SlotList busy;  // Reading or Writing, by when the message or the write began
    uint64_t idle_timeout_ms = 10000;
    uint64_t io_timeout_ms = 5000;
    std::shared_ptr<const Snapshot> zone;  // read and replaced only on this worker's thread
    std::shared_ptr<const HostsTable> hosts;  // likewise; null: the hosts plugin is off
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
    Rewriter rewrite;  // its rules come with the forwarding settings
    bool loadbalance = true;
    uint64_t loadbalance_turns = 0;  // this worker's own: no lock, no shared cache line
    bool stopping = false;
    std::thread thread;
    // Mailbox, guarded by Impl::mailbox_mutex.
    const Forwarding* incoming_forwarding = nullptr;
    Status reconfigured;
    std::shared_ptr<const Snapshot> incoming;
    std::shared_ptr<const Snapshot> retired;
    bool hosts_incoming = false;  // incoming_hosts is to be taken (null turns hosts off)
    std::shared_ptr<const HostsTable> incoming_hosts;
    std::shared_ptr<const HostsTable> retired_hosts;
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

    // Puts what `post` writes into every worker's mailbox, wakes them and waits until each has
    // taken it. `lock` holds mailbox_mutex.
    template <class Post>
    void deliver(std::unique_lock<std::mutex>& lock, Post&& post) {
        const uint64_t wanted = ++generation;
        for (auto& w : workers) {
            post(*w);
            w->wanted_generation = wanted;
            uv_async_send(&w->wake);
        }
        adopted.wait(lock, [&] {
            return std::all_of(workers.begin(), workers.end(),
                               [&](const auto& w) { return w->adopted_generation >= wanted; });
        });
    }
};

// --- The chain for UDP and TCP alike, the worker's life (server/worker.cc) ----------------------

// The last step of every response before it is sent, answered at once (serve()) or later
// (Worker::send): its addresses turned when loadbalance is on.
inline void before_sending(Worker& w, std::span<uint8_t> response) noexcept {
    if (w.loadbalance) {
        rotate_addresses(response, w.loadbalance_turns);
    }
}

// A query through the chain (plugins/chain.h): autopath and kubernetes answer from the zone;
// what they leave goes to the cache and the upstreams, the forwarding stage. Returns Answer with
// the response in `out`, Forward when the stage answers later, or Drop. `client` makes the
// stage's Client, only when it is asked for one.
template <typename MakeClient>
inline Handled serve_chain(Worker& w, Transport transport, std::span<const uint8_t> packet,
              std::span<uint8_t> out, const IpAddress* address, MakeClient client) noexcept {
    Query parsed;
    Name outside;  // where a chase leaves the zone
    const Handled zone = handle_query(w.zone.get(), packet, out, transport, w.stats,
                                      w.forward.enabled(), address, &parsed, &outside,
                                      w.hosts.get());
    if (zone.disposition != Disposition::Forward && zone.disposition != Disposition::Chase) {
        if (zone.disposition == Disposition::Answer) {
            before_sending(w, out.first(zone.size));
        }
        return zone;
    }
    const ForwardStage::Handled stage =
        w.forward.take(client(), address, packet, parsed, out,
                       zone.disposition == Disposition::Chase ? &outside : nullptr);
    before_sending(w, out.first(stage.size));  // a cache hit (the cache's copy stays as it is)
    return {.disposition = stage.size != 0 ? Disposition::Answer : Disposition::Forward,
            .size = stage.size,
            .by = stage.by,
            .qtype = zone.qtype};
}

// A query as the front end takes it: the rewrite rules first (plugins/rewrite), then the chain
// with the rewritten name; the response, now or from the stage later (Worker::send), written
// back to the name asked. A rule that makes no domain name gets SERVFAIL, as in CoreDNS.
template <typename MakeClient>
inline Handled serve(Worker& w, Transport transport, std::span<const uint8_t> packet,
                     std::span<uint8_t> out, const IpAddress* address, MakeClient client) noexcept {
    if (!w.rewrite.active()) {
        return serve_chain(w, transport, packet, out, address, client);
    }
    switch (w.rewrite.rewrite_query(packet)) {
        case Rewriter::Outcome::Unchanged:
            return serve_chain(w, transport, packet, out, address, client);
        case Rewriter::Outcome::Invalid:
            return {.disposition = Disposition::Answer,
                    .size = error_response(packet, Rcode::ServFail, out, transport),
                    .qtype = w.rewrite.qtype()};
        case Rewriter::Outcome::Rewritten:
            break;
    }
    const std::span<const uint8_t> rewritten = w.rewrite.rewritten();
    Handled handled = serve_chain(w, transport, rewritten, out, address, [&] {
        Client c = client();
        c.rewritten = true;
        c.asked = w.rewrite.asked();
        return c;
    });
    if (handled.disposition == Disposition::Answer && handled.size != 0) {
        handled.size = w.rewrite.revert(rewritten, out, handled.size, transport);
    }
    return handled;
}

// A response is on its way: counted, and logged when the query log is on. `peer` may be null
// (a TCP client, looked up only for the log).
void record_response(Worker& w, bool tcp, Responder by, uint16_t qtype, std::span<const uint8_t> query,
              std::span<const uint8_t> response, uint64_t received_ns, const sockaddr* peer,
              const uv_tcp_t* connection = nullptr) noexcept;

// Sets up worker `index` on its initialized loop: buffers, timers, forwarding, the connection
// pool, and its sockets of every listen address (taken from `bound_fds`, marked -1 once a handle
// holds them).
Status set_up_worker(Worker& w, const FrontendOptions& options, unsigned per_worker,
                     unsigned index, std::vector<BoundFds>& bound_fds,
                     const std::vector<ListenAddress>& bound);
// Closes every handle of the worker's loop, its channels' too: the loop then runs to its end.
void close_everything(Worker& w) noexcept;

// --- UDP (server/udp.cc) ------------------------------------------------------------------------

void on_udp_readable(uv_poll_t* poll, int status, int events) noexcept;

// --- TCP (server/tcp.cc) ------------------------------------------------------------------------

void on_tcp_connection(uv_stream_t* server, int status) noexcept;
// Takes the connection out of its state's list and appends it to the list of `state`.
void move_to(Worker& w, Connection& c, ConnectionState state);
// Puts the connection in `state` (at the back of its list: the newest) and starts its timer.
void enter(Connection& c, ConnectionState state) noexcept;
// Sends the answer built in the worker's buffer (after its 2 bytes of length).
void send_tcp(Connection& c, size_t size) noexcept;
// Answers every complete query read so far.
void process_tcp(Connection& c) noexcept;
void on_tcp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept;
void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
inline uv_stream_t* stream_of(Connection& c) {
    return reinterpret_cast<uv_stream_t*>(&c.handle);
}

}  // namespace clusterdns
