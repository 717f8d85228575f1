#pragma once
// Answers a query from a zone: the authoritative lookup, CNAME chasing inside our zones, pod
// records synthesized from their names, negative answers with the SOA, and additional records.
// Runs on the query path: no allocation, no lock, no clock.

#include "server/codec/message.h"
#include "zone/zone.h"

namespace clusterdns {

// Writes the answer for `q` (already parsed as a well-formed QUERY) into `w`: RCODE, AA and
// sections. Names outside every apex of the zone are REFUSED.
void answer_query(const Zone& zone, const Query& q, ResponseWriter& w) noexcept;

}  // namespace clusterdns
