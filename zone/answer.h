#pragma once
// Answers a query from a snapshot of the cluster. No record is stored: the query name is
// classified by its labels (apex, dns-version, a Service, an endpoint, a port, a pod, a reverse
// name) and the RRsets are synthesized into stack buffers as they are written. CNAMEs are chased
// inside our zones, negative answers carry the SOA, SRV and NS answers the addresses of their
// targets. Runs on the query path: no allocation, no lock, no clock.

#include <cstdint>

#include "dns/message.h"
#include "zone/snapshot.h"

namespace clusterdns {

// What answering one query cost, so tests can check that the work is bounded by what fits in the
// response, not by the size of the data (a headless Service can have 50,000 endpoints).
struct AnswerWork {
    uint32_t lookups = 0;      // names resolved: the query's, each CNAME target, each SRV/NS target
    uint32_t rrs_offered = 0;  // ResponseWriter::add calls
};

enum class AnswerStatus : uint8_t {
    Answered,  // `w` holds the answer
    NotOurs,   // nothing written: a name outside our zones, for the forwarder (or REFUSED)
    External,  // `w` holds a CNAME chain that leaves our zones at `external_target`
};

// Writes the answer for `q` (already parsed as a well-formed QUERY) into `w`: RCODE, AA and
// sections. A name outside the cluster domain and the reverse zones is NotOurs; so is a reverse
// name with no record when `reverse_fallthrough` (kubeadm's `fallthrough in-addr.arpa ip6.arpa`:
// the addresses of the world are the upstream's to name). Other classes and zone transfers are
// REFUSED. Adds to `work` if given. With `external_target`, a CNAME chain (an ExternalName) that
// leaves our zones is External and its last target is stored there, for the caller to resolve
// and append (as CoreDNS does); without, the client's resolver follows it.
AnswerStatus answer_query(const Snapshot& snapshot, const Query& q, ResponseWriter& w,
                          AnswerWork* work = nullptr, bool reverse_fallthrough = false,
                          Name* external_target = nullptr) noexcept;

}  // namespace clusterdns
