#pragma once
// A Corefile (CoreDNS's configuration) translated into Options: the reader
// (plugins/corefile/corefile.h) gives the server blocks and their plugins; this file knows what
// each plugin and option means here. What clusterdns cannot do as CoreDNS would (an unknown
// plugin or option, a second kubernetes block, blocks on several ports) is refused with the
// file, the line and the reason, never ignored. README.md, "Migrating from CoreDNS", lists it.

#include <string>
#include <vector>

#include "base/result.h"
#include "clusterdns/clusterdns.h"

namespace clusterdns {

struct Corefile;

struct CorefileTranslation {
    std::vector<std::string> files;  // the Corefile and what it imported, for reload to watch
    bool kubernetes = false;         // a block holds `kubernetes`
    // The kubernetes block named the API source (its kubeconfig, else in-cluster): --manifests
    // replaces it, so any Corefile can be tried without a cluster.
    bool api_source = false;
};

// Sets `options` from the Corefile's plugins, over what it held (the defaults). A setting the
// Corefile leaves out is CoreDNS's behaviour without that plugin: no `cache`, no cache; no
// `health`, no /health.
Result<CorefileTranslation> apply_corefile(const std::string& path, Options& options);
Result<CorefileTranslation> apply_corefile(const Corefile& corefile, Options& options);

// A Go duration ("5s", "1m30s", "250ms", "0") in milliseconds, as CoreDNS's options take them.
Result<uint64_t> parse_go_duration(std::string_view text);

}  // namespace clusterdns
