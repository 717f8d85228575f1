#pragma once
// Server-side search path (CoreDNS's `autopath @kubernetes`): a pod's resolver tries a short name
// under each domain of its resolv.conf search path in turn, four or five queries for an outside
// name with `ndots:5`. When a query is the first of those (`<name>.<ns>.svc.<zone>`) and comes
// from an address that is a pod of `<ns>`, the server walks the rest of the path itself and
// answers at once: a CNAME from the asked name to the first name that exists, then its records;
// past the cluster domains, the name itself from the upstreams. The answer depends on who asks,
// so it is never cached (the upstream's answer to the name itself is, under that name).

#include "dns/message.h"
#include "zone/answer.h"
#include "zone/objects.h"
#include "zone/snapshot.h"

namespace clusterdns {

// Answers `q` as answer_query does, walking the search path when `client` (may be null) is a pod
// of the namespace `q` names. A walk that leaves the cluster domains writes the CNAME to its
// `step`th outside candidate (the host's search domains of SnapshotConfig::autopath_search in
// order, then the bare name) and returns External with it in `external_target`: the caller
// resolves it, and on NXDOMAIN asks again with the next step. Past the last step, or without
// `external_target`, it answers as the zone would have.
AnswerStatus answer_with_search_path(const Snapshot& snapshot, const Query& q,
                                     const IpAddress* client, ResponseWriter& w,
                                     bool reverse_fallthrough, Name* external_target,
                                     size_t step = 0) noexcept;

// Whether the walk's `step`th stop past the cluster's domains is a name of our zones (one that
// has records: the outside names before it were NXDOMAIN), which answer_with_search_path then
// answers from the zone: the caller answers the client there instead of asking upstream again.
bool search_path_ends_in_zone(const Snapshot& snapshot, const Query& q, const IpAddress* client,
                              size_t step) noexcept;

}  // namespace clusterdns
