#pragma once
// Answers a query from a zone: the authoritative lookup, CNAME chasing inside our zones, pod
// records synthesized from their names, negative answers with the SOA, and additional records.
// Runs on the query path: no allocation, no lock, no clock.

#include <cstdint>

#include "server/codec/message.h"
#include "zone/zone.h"

namespace clusterdns {

// What answering one query cost, so tests can check that the work is bounded by what fits in the
// response, not by the size of an RRset (a headless Service can have 50,000 endpoints).
struct AnswerWork {
    uint32_t lookups = 0;      // Zone::find calls
    uint32_t rrs_offered = 0;  // ResponseWriter::add calls
};

// Writes the answer for `q` (already parsed as a well-formed QUERY) into `w`: RCODE, AA and
// sections. Names outside every apex of the zone are REFUSED. Adds to `work` if given.
void answer_query(const Zone& zone, const Query& q, ResponseWriter& w,
                  AnswerWork* work = nullptr) noexcept;

}  // namespace clusterdns
