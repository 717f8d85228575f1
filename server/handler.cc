#include "server/handler.h"

#include <algorithm>

#include "server/codec/message.h"
#include "zone/answer.h"

namespace clusterdns {

size_t handle_query(const Snapshot* snapshot, std::span<const uint8_t> packet,
                    std::span<uint8_t> out, Transport transport, WorkerStats& stats) noexcept {
    stats.count(transport == Transport::Udp ? stats.requests_udp : stats.requests_tcp);
    Query q;
    const ParseStatus status = parse_query(packet, q);
    if (status == ParseStatus::Drop) {
        stats.count(stats.dropped);
        return 0;
    }
    // RFC 6891 6.2.5: over UDP the client's payload size bounds the response (512 without EDNS).
    const size_t limit = transport == Transport::Tcp ? kMaxMessageSize
                         : q.has_edns ? std::min<size_t>(q.udp_payload_size, kMaxUdpResponse)
                                      : kClassicUdpSize;
    ResponseWriter w(out, limit);
    w.begin(q);
    switch (status) {
        case ParseStatus::Ok:
            if (snapshot == nullptr) {
                w.set_rcode(Rcode::ServFail);
            } else {
                answer_query(*snapshot, q, w);
            }
            break;
        case ParseStatus::FormErr:
            w.set_rcode(Rcode::FormErr);
            break;
        case ParseStatus::NotImp:
            w.set_rcode(Rcode::NotImp);
            break;
        case ParseStatus::BadVers:
            w.set_rcode(Rcode::BadVers);
            break;
        case ParseStatus::Drop:
            break;
    }
    const size_t size = w.finish();
    if (size == 0) {
        stats.count(stats.dropped);
        return 0;
    }
    if (w.truncated()) {
        stats.count(stats.truncated);
    }
    return size;
}

}  // namespace clusterdns
