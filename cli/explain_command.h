#pragma once
// `clusterdns explain NAME`: the answer the server gives for a name and why (explain() in
// <clusterdns/clusterdns.h>); this reads its command line and prints.

namespace clusterdns {

// argv[0] is "explain". Returns the exit code: 0 when the name answers, 1 when it does not
// (NXDOMAIN, NODATA), 2 for a bad command line.
int explain_command(int argc, const char* const* argv);

}  // namespace clusterdns
