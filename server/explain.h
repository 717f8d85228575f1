#pragma once
// `clusterdns explain NAME` (explain() in clusterdns.h) and GET /debug/explain: the answer the
// server gives for a name and why: which Service, slice, endpoint or workload made each record;
// for NXDOMAIN the reason. With a namespace, the queries a Pod of it sends for a short name
// (search path and ndots, as glibc does).

#include <string>
#include <string_view>

#include "base/result.h"

namespace clusterdns {

class Snapshot;

// For the running server's zone (GET /debug/explain?name=&type=&from=), without what only the
// manifests' files know.
std::string explain_text(const Snapshot& zone, const std::string& name,
                         const std::string& type_name, const std::string& from_ns);

// Checks the arguments of GET /debug/explain before explain_text sees them: `name` a domain name
// of printable ASCII (labels of 1-63 bytes, at most 255 in wire form), `type_name` a type explain
// knows, `from_ns` empty or a namespace name. The error names the argument and why.
Status check_explain_arguments(std::string_view name, std::string_view type_name,
                               std::string_view from_ns);

}  // namespace clusterdns
