#include "server/handler.h"

#include <algorithm>

#include "dns/message.h"
#include "dns/wire.h"
#include "plugins/autopath/autopath.h"
#include "plugins/hosts/hosts.h"
#include "zone/answer.h"

namespace clusterdns {

Handled handle_query(const Snapshot* snapshot, std::span<const uint8_t> packet,
                     std::span<uint8_t> out, Transport transport, WorkerStats& stats,
                     bool forwarding, const IpAddress* client, Query* parsed,
                     Name* outside, const HostsTable* hosts) noexcept {
    Query local;
    Query& q = parsed != nullptr ? *parsed : local;
    const ParseStatus status = parse_query(packet, q);
    const bool tcp = transport == Transport::Tcp;
    stats.count_request(tcp, client != nullptr && client->v6,
                        q.has_question ? static_cast<uint16_t>(q.qtype) : 0, packet.size(),
                        packet);
    if (status == ParseStatus::Drop) {
        stats.dropped.add();
        return {};
    }
    ResponseWriter w(out, response_limit(q, transport));
    w.begin(q);
    Responder by = Responder::Server;
    switch (status) {
        case ParseStatus::Ok: {
            const HostsTable::Outcome by_hosts =
                hosts != nullptr ? hosts->answer(q, w) : HostsTable::Outcome::Next;
            if (by_hosts != HostsTable::Outcome::Next) {
                by = Responder::Hosts;
                if (by_hosts == HostsTable::Outcome::ServFail) {
                    w.set_rcode(Rcode::ServFail);  // as CoreDNS: no SOA to say NXDOMAIN with
                }
            } else if (snapshot == nullptr) {
                w.set_rcode(Rcode::ServFail);
            } else {
                Name target;
                const AnswerStatus answered = answer_with_search_path(
                    *snapshot, q, client, w, forwarding, forwarding ? &target : nullptr);
                if (answered == AnswerStatus::External) {
                    if (outside != nullptr) {
                        *outside = target;
                    }
                    return {.disposition = Disposition::Chase, .qtype = static_cast<uint16_t>(q.qtype)};
                }
                if (answered == AnswerStatus::NotOurs) {
                    if (forwarding) {
                        return {.disposition = Disposition::Forward,
                                .qtype = static_cast<uint16_t>(q.qtype)};
                    }
                    w.set_rcode(Rcode::Refused);  // not ours, and no upstream: no open resolver
                } else {
                    by = Responder::Kubernetes;
                }
            }
            break;
        }
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
        stats.dropped.add();
        return {};
    }
    if (w.truncated()) {
        stats.truncated.add();
    }
    return {.disposition = Disposition::Answer,
            .size = size,
            .by = by,
            .qtype = q.has_question ? static_cast<uint16_t>(q.qtype) : uint16_t{0}};
}

namespace {

// The longest CNAME chain followed through an upstream's answer (CoreDNS's forward follows none;
// resolvers give up around 8-16).
constexpr size_t kMaxUpstreamChain = 16;

// Copies from an upstream's answer section (`count` RRs at `answers_at`) the records
// of the chain that starts at `target`: its records of the query's type (and their RRSIGs), and
// CNAMEs, followed. Records of other names are dropped: an upstream is not believed about names
// it was not asked for. Returns where the chain went into our zones (`reentered`, set), if it
// did; the names are decompressed for the writer to compress anew.
bool copy_chain(std::span<const uint8_t> message, size_t answers_at, uint16_t count, const Query& q,
                const Snapshot& snapshot, Name target, ResponseWriter& w,
                Name& reentered) noexcept {
    for (size_t hop = 0; hop < kMaxUpstreamChain; ++hop) {
        WireReader r(message);  // the whole message: names point back into it
        r.skip(answers_at);
        bool followed = false;
        Name next;
        for (uint16_t i = 0; i < count && r.ok(); ++i) {
            uint8_t buf[kMaxNamedRdata];
            WireRecord rr;
            if (!read_record(r, buf, rr)) {
                return false;
            }
            if (!name_equal(rr.owner.wire(), target.wire())) {
                continue;
            }
            const bool cname = rr.type == RrType::Cname;
            if (!cname && rr.type != q.qtype && q.qtype != RrType::Any && rr.type != RrType::Rrsig) {
                continue;
            }
            w.add(Section::Answer, rr.owner.wire(), rr.type, rr.ttl, rr.rdata);
            if (cname && !followed && Name::from_wire(rr.rdata.subspan(0, name_wire_size(rr.rdata)),
                                                      next)) {
                followed = true;
            }
        }
        if (!followed) {
            return false;
        }
        Query probe = q;
        probe.qname = next;
        probe.qname_lower = next;
        probe.qname_lower.to_lower();
        uint8_t scratch[kClassicUdpSize];
        ResponseWriter ours(scratch, sizeof scratch);
        ours.begin(probe);
        if (answer_query(snapshot, probe, ours) != AnswerStatus::NotOurs) {
            reentered = probe.qname_lower;
            return true;
        }
        target = next;
    }
    return false;
}

}  // namespace

size_t chase_query(const Snapshot* snapshot, const Query& q, const IpAddress* client,
                   std::span<uint8_t> out, size_t step) noexcept {
    if (snapshot == nullptr) {
        return 0;
    }
    uint8_t scratch[kMaxUdpResponse];
    ResponseWriter w(scratch, sizeof scratch);
    w.begin(q);
    Name target;
    if (answer_with_search_path(*snapshot, q, client, w, true, &target, step) !=
        AnswerStatus::External) {
        return 0;  // no such step, or the zone changed meanwhile
    }
    return query_for(q, target.wire(), out);
}

bool chase_ends_in_zone(const Snapshot* snapshot, const Query& q, const IpAddress* client,
                        size_t step) noexcept {
    return snapshot != nullptr && search_path_ends_in_zone(*snapshot, q, client, step);
}

size_t chased_response(const Snapshot* snapshot, const Query& q, const IpAddress* client,
                       std::span<const uint8_t> upstream, std::span<uint8_t> out,
                       Transport transport, size_t step) noexcept {
    if (snapshot == nullptr) {
        return 0;
    }
    ResponseWriter w(out, response_limit(q, transport));
    w.begin(q);
    Name target;
    if (answer_with_search_path(*snapshot, q, client, w, true, &target, step) ==
            AnswerStatus::External &&
        well_formed_response(upstream) && ((upstream[2] >> 3) & 0x0F) == 0 &&  // our QUERY's
        !w.truncated()) {
        const auto rcode = static_cast<Rcode>(upstream[3] & 0x0F);
        if (rcode == Rcode::NoError || rcode == Rcode::NxDomain) {
            w.set_rcode(rcode);  // RFC 6604: the RCODE of the last name of the chain
            WireReader r(upstream);
            r.skip(4);
            const uint16_t questions = r.u16();
            const uint16_t answers = r.u16();
            r.skip(4);
            for (uint16_t i = 0; i < questions && r.ok(); ++i) {
                Name::read(r);
                r.skip(4);
            }
            const uint16_t before = w.count(Section::Answer);
            Name reentered;
            target.to_lower();
            if (r.ok() && copy_chain(upstream, r.pos(), answers, q, *snapshot, target, w,
                                     reentered)) {
                // Back in our zones: the zone answers the rest, whatever the upstream said.
                Query next = q;
                next.qname = reentered;
                next.qname_lower = reentered;
                answer_query(*snapshot, next, w);
            }
            // Authoritative only when every record is ours.
            w.set_authoritative(w.count(Section::Answer) == before);
        }
    }
    return w.finish();
}

}  // namespace clusterdns
