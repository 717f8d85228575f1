#pragma once
// `clusterdns records`: every name the manifests (or the API) make, as the server answers them.

namespace clusterdns {

// argv[0] is "records"; the rest are the server's own flags plus -o table|zone|json and
// --out DIR. Returns the exit code.
int records_command(int argc, const char* const* argv);

}  // namespace clusterdns
