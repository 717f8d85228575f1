#pragma once
// The fixed parts of the Kubernetes DNS-Based Service Discovery schema (kubernetes/dns
// docs/specification.md, schema 1.1.0) that the cluster domain and the answers share: the labels
// derived from the cluster domain, the version record, endpoint labels, and the check that a
// cluster domain can hold them all. Where the specification leaves a choice we follow CoreDNS's
// kubernetes plugin (plugin/kubernetes/README.md).

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "zone/objects.h"

namespace clusterdns {

// The DNS schema version served at dns-version.<zone> (specification section 2.3.1).
inline constexpr char kDnsSchemaVersion[] = "1.1.0";
inline constexpr uint32_t kDnsVersionTtlSeconds = 28800;

// Labels right below the cluster domain: svc.<zone> and pod.<zone> hold Services and pods,
// dns-version.<zone> the TXT above; ns.dns.<zone> is the name server of every apex (its
// addresses are where we listen) and hostmaster.<zone> the SOA's mailbox.
inline constexpr std::string_view kServicesLabel = "svc";
inline constexpr std::string_view kPodsLabel = "pod";
inline constexpr std::string_view kVersionLabel = "dns-version";
inline constexpr std::string_view kNameServerLabels = "ns.dns";
inline constexpr std::string_view kHostmasterLabel = "hostmaster";

// Checks a cluster domain (the `zone` setting) before the server starts: a domain name of ASCII
// letters, digits, hyphens and underscores in labels of 1-63 characters, no label starting or
// ending with a hyphen, not the root and not inside arpa (the reverse zones are ours). An error
// says "zone name too long" when a name the server derives from it (dns-version.<zone>,
// hostmaster.<zone>, ns.dns.<zone>, ...) would not fit in 255 octets.
Status validate_zone_name(std::string_view zone);

// The label the specification and CoreDNS give an endpoint without a hostname: its address with
// '.' or ':' replaced by '-' ("10-244-1-5", "fd00-10--5").
std::string dashed_address(const IpAddress& ip);

}  // namespace clusterdns
