#pragma once
// `clusterdns explain NAME`: the answer the server gives for a name and why: which Service,
// slice, endpoint or workload made each record; for NXDOMAIN the reason. With --from ns/pod, the
// queries that Pod's resolver sends for a short name (search path and ndots, as glibc does).

#include <string>

namespace clusterdns {

class Snapshot;

// argv[0] is "explain". Returns the exit code: 0 when the name answers, 1 when it does not
// (NXDOMAIN, NODATA), 2 for a bad command line.
int explain_command(int argc, const char* const* argv);

// The same for the running server's zone (GET /debug/explain?name=&type=&from=), without what
// only the manifests' files know.
std::string explain_text(const Snapshot& zone, const std::string& name,
                         const std::string& type_name, const std::string& from_ns);

}  // namespace clusterdns
