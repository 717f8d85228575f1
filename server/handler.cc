#include "server/handler.h"

#include <algorithm>

#include "server/codec/message.h"
#include "zone/answer.h"

namespace clusterdns {

// RFC 6891 6.2.5: over UDP the client's payload size bounds the response (512 without EDNS).
size_t response_limit(const Query& q, Transport transport) noexcept {
    return transport == Transport::Tcp ? kMaxMessageSize
           : q.has_edns                ? std::min<size_t>(q.udp_payload_size, kMaxUdpResponse)
                                       : kClassicUdpSize;
}

Handled handle_query(const Snapshot* snapshot, std::span<const uint8_t> packet,
                     std::span<uint8_t> out, Transport transport, WorkerStats& stats,
                     bool forwarding) noexcept {
    stats.count(transport == Transport::Udp ? stats.requests_udp : stats.requests_tcp);
    Query q;
    const ParseStatus status = parse_query(packet, q);
    if (status == ParseStatus::Drop) {
        stats.count(stats.dropped);
        return {};
    }
    ResponseWriter w(out, response_limit(q, transport));
    w.begin(q);
    switch (status) {
        case ParseStatus::Ok:
            if (snapshot == nullptr) {
                w.set_rcode(Rcode::ServFail);
            } else if (answer_query(*snapshot, q, w, nullptr, forwarding) ==
                       AnswerStatus::NotOurs) {
                if (forwarding) {
                    return {.disposition = Disposition::Forward};
                }
                w.set_rcode(Rcode::Refused);  // not ours, and no upstream: no open resolver
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
        return {};
    }
    if (w.truncated()) {
        stats.count(stats.truncated);
    }
    return {.disposition = Disposition::Answer, .size = size};
}

size_t forwarded_response(std::span<const uint8_t> query, std::span<const uint8_t> response,
                          std::span<uint8_t> out, Transport transport) noexcept {
    Query q;
    if (parse_query(query, q) != ParseStatus::Ok) {
        return 0;  // it parsed when it was forwarded: cannot happen
    }
    const size_t limit = response_limit(q, transport);
    if (response.size() >= 12 && response.size() <= limit && response.size() <= out.size()) {
        std::copy(response.begin(), response.end(), out.begin());
        out[0] = static_cast<uint8_t>(q.id >> 8);  // c-ares sent it under an ID of its own
        out[1] = static_cast<uint8_t>(q.id);
        return response.size();
    }
    if (response.size() < 12) {
        return error_response(query, Rcode::ServFail, out, transport);
    }
    // Too big for this client over UDP: no partial answer, TC so it asks again over TCP.
    ResponseWriter w(out, limit);
    w.begin(q);
    w.set_rcode(static_cast<Rcode>(response[3] & 0x0F));
    w.set_truncated();
    return w.finish();
}

size_t error_response(std::span<const uint8_t> query, Rcode rcode, std::span<uint8_t> out,
                      Transport transport) noexcept {
    Query q;
    if (parse_query(query, q) != ParseStatus::Ok) {
        return 0;
    }
    ResponseWriter w(out, response_limit(q, transport));
    w.begin(q);
    w.set_rcode(rcode);
    return w.finish();
}

}  // namespace clusterdns
