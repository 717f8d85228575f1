#pragma once
// Where forwarded queries go: upstream addresses as users write them, and the nameservers of a
// resolv.conf file.

#include <string>
#include <string_view>
#include <vector>

#include "plugins/forward/forward.h"
#include "base/result.h"

namespace clusterdns {

// "10.0.0.10", "10.0.0.10:5353", "::1", "[::1]:5353" -> "10.0.0.10:53", "[::1]:5353" (the form
// c-ares takes); "tcp://10.0.0.10" -> "tcp://10.0.0.10:53", asked over TCP only; an error naming
// the text otherwise.
Result<std::string> parse_upstream(std::string_view text);

// "consul.local=10.0.0.1:8600,10.0.0.2" -> a stub domain with its upstreams.
Result<StubDomain> parse_stub_domain(std::string_view text);

// The nameservers of a resolv.conf file, in order, as parse_upstream() gives them. A file without
// any is an error: forwarding would have nowhere to go.
Result<std::vector<std::string>> resolv_conf_upstreams(const std::string& path);

// kube-dns's ConfigMap as mounted in a directory (the `kube-dns` ConfigMap of kube-system): the
// files `stubDomains`, a JSON object {"DOMAIN": ["ADDR", "ADDR:PORT", ...]}, and
// `upstreamNameservers`, a JSON array ["ADDR", ...]. A file that is missing, empty or null (or
// an empty list of upstreams) is absent; bad JSON or a bad address is an error naming the file.
// `federations` (kube-dns's federation records) is refused: nothing here serves them.
struct KubeDnsConfig {
    std::vector<std::string> upstreams;  // as parse_upstream() gives them; empty: absent
    std::vector<StubDomain> stub_domains;
};
Result<KubeDnsConfig> read_kube_dns_config(const std::string& directory);

// The files of that directory a reload follows (missing ones included: they may come).
std::vector<std::string> kube_dns_config_files(const std::string& directory);

}  // namespace clusterdns
