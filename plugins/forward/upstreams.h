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

}  // namespace clusterdns
