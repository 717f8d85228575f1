#pragma once
// One query in, one response out: parse, answer from the zone, map errors to RCODEs. The front
// end's only entry into the codec and the zone; allocation-free.

#include <cstddef>
#include <cstdint>
#include <span>

#include "plugins/metrics/query_stats.h"
#include "dns/message.h"
#include "dns/types.h"

namespace clusterdns {

class HostsTable;
class Snapshot;
struct IpAddress;

// What became of a query.
enum class Disposition : uint8_t {
    Answer,   // the response is in `out`
    Forward,  // not our zones': the caller forwards the packet as it came
    Chase,    // an ExternalName leaves our zones: the caller resolves its target (chase_query)
    Drop,     // nothing to send
};

struct Handled {
    Disposition disposition = Disposition::Drop;
    size_t size = 0;  // Answer: the response's length in `out`
    Responder by = Responder::Server;  // Answer: who wrote it
    uint16_t qtype = 0;                // the question's, for the metrics
};

// Handles one query: answers it from the zone into `out`, or says it is to be forwarded (only
// when `forwarding`; else a name outside our zones is REFUSED). `client`, the sender's address,
// is for the server-side search path (plugins/autopath). A null snapshot (not loaded yet)
// answers SERVFAIL. The chase functions take the same client: they walk the same path. With
// `parsed`, the query is parsed there, for the forwarding stage; with `outside`, a Chase's
// outside name is written there. With `hosts` (plugins/hosts), its table answers first.
Handled handle_query(const Snapshot* snapshot, std::span<const uint8_t> packet,
                     std::span<uint8_t> out, Transport transport, WorkerStats& stats,
                     bool forwarding = false, const IpAddress* client = nullptr,
                     Query* parsed = nullptr, Name* outside = nullptr,
                     const HostsTable* hosts = nullptr) noexcept;

// Chase: the query for the records of the name an ExternalName's CNAME chain (or the search path
// walk, at its `step`th outside name) leaves our zones at (the client's type, RD, EDNS with its
// DO bit), written to `out`; returns its size, 0 when there is no such step.
size_t chase_query(const Snapshot* snapshot, const Query& query, const IpAddress* client,
                   std::span<uint8_t> out, size_t step = 0) noexcept;

// Chase: whether the search path walk's `step` is answered by the zone (chased_response at that
// step, whatever the upstream said), not asked upstream.
bool chase_ends_in_zone(const Snapshot* snapshot, const Query& query, const IpAddress* client,
                        size_t step) noexcept;

// Chase: the client's answer, the CNAME chain from the zone followed by the answer records of
// `upstream` (the response to chase_query's query for `step`; empty if none came), with its
// RCODE.
size_t chased_response(const Snapshot* snapshot, const Query& query, const IpAddress* client,
                       std::span<const uint8_t> upstream, std::span<uint8_t> out,
                       Transport transport, size_t step = 0) noexcept;


}  // namespace clusterdns
