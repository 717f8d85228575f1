#pragma once
// `clusterdns check`: what DNS and routing will make of the manifests, in the terms of the
// common errors users hit (a selector that matches no Pod, an Ingress that routes nowhere, a
// NetworkPolicy that blocks DNS), each finding naming file, object and field, with a fix.

namespace clusterdns {

// argv[0] is "check"; then --manifests PATH ..., -o table|json, --strict (warnings fail too).
// Returns the exit code: 1 when an error (or with --strict a warning) was found.
int check_command(int argc, const char* const* argv);

}  // namespace clusterdns
