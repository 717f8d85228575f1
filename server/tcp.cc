#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "server/worker.h"

namespace clusterdns {

// A connection's timer follows its state: between messages the idle timeout closes it; from the
// first byte of a message the I/O timeout runs, and bytes trickling in do not extend it (a slow
// client cannot hold a slot by sending a byte now and then); while an answer is pending the I/O
// timeout is renewed only when the client has taken some of it.

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

void accept_into(TcpListener& listener, Connection& c) noexcept;

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

}  // namespace

ConnectionSlots::~ConnectionSlots() {
    for (uint32_t i = 0; i < made_; ++i) {
        slots_[i].~Connection();
    }
    ::operator delete(slots_);
}

void ConnectionSlots::reserve(uint32_t count) {
    // Raw memory: pages of slots not made yet stay untouched (a fresh mapping, or the heap's
    // top), so they cost no resident memory.
    slots_ = static_cast<Connection*>(::operator new(sizeof(Connection) * count));
    capacity_ = count;
}

Connection& ConnectionSlots::make_next() {
    Connection* c = new (&slots_[made_]) Connection();
    c->index = made_++;
    c->state = ConnectionState::Closing;  // in no list yet
    return *c;
}

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

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

void on_tcp_connection(uv_stream_t* server, int status) noexcept {
    if (status < 0) {
        return;
    }
    auto& listener = *static_cast<TcpListener*>(server->data);
    Worker& w = *listener.worker;
    if (w.free.head == kNoSlot && w.connections.made() < w.connections.capacity()) {
        Connection& c = w.connections.make_next();
        c.worker = &w;
        move_to(w, c, ConnectionState::Free);
    }
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

}  // namespace clusterdns
