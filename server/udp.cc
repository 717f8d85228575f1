#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "server/worker.h"

namespace clusterdns {

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

}  // namespace clusterdns
