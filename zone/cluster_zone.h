#pragma once
// Turns Kubernetes objects into DNS records, following the Kubernetes DNS-Based Service Discovery
// specification (kubernetes/dns docs/specification.md, schema 1.1.0) and, where it leaves a
// choice, CoreDNS's kubernetes plugin (plugin/kubernetes/README.md).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zone/objects.h"
#include "zone/zone.h"

namespace clusterdns {

struct ZoneOptions {
    std::string origin = "cluster.local";
    uint32_t ttl_seconds = 30;
    uint32_t serial = 0;                  // SOA serial: Unix time of the last change
    std::vector<IpAddress> ns_addresses;  // glue for ns.dns.<origin>: where we listen
    // An endpoint without hostname is named by its Pod (targetRef), as CoreDNS's
    // endpoint_pod_names, when that is a DNS label; else by its dashed address.
    bool endpoint_pod_names = false;
};

// The DNS schema version served at dns-version.<zone> (specification section 2.3.1).
constexpr const char* kDnsSchemaVersion = "1.1.0";
constexpr uint32_t kDnsVersionTtlSeconds = 28800;

// Checks a cluster domain (the `zone` setting) before the server starts: a domain name of ASCII
// letters, digits, hyphens and underscores in labels of 1-63 characters, no label starting or
// ending with a hyphen, not the root and not inside arpa (the reverse zones are ours). An error
// says "zone name too long" when a name the server derives from it (dns-version.<zone>,
// hostmaster.<zone>, ns.dns.<zone>, ...) would not fit in 255 octets.
Status validate_zone_name(std::string_view zone);

// Builds the zone: the cluster domain plus the in-addr.arpa and ip6.arpa reverse zones. Fails
// only on an invalid origin (see validate_zone_name). A name of an object that would be too long
// (a Service name under a long zone) is left out.
Result<std::shared_ptr<const Zone>> build_zone(const Cluster& cluster, const ZoneOptions& options);

// The label the specification and CoreDNS give an endpoint without a hostname: its address with
// '.' or ':' replaced by '-' ("10-244-1-5", "fd00-10--5").
std::string dashed_address(const IpAddress& ip);

}  // namespace clusterdns
