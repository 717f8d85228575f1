#pragma once
// An external zone (CoreDNS's k8s_external and k8s_gateway), opt-in for configured zones: the
// hosts of Ingresses and the LoadBalancer Services of the cluster answer there with the
// addresses their controllers published (status.loadBalancer.ingress), a Service's externalIPs,
// or, where manifests carry no status, the configured addresses. Ingress `api.example.com` in zone
// example.com answers A/AAAA; Service `web` of namespace `shop` answers as web.shop.example.com.

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dns/message.h"
#include "zone/objects.h"

namespace clusterdns {

struct ExternalZones {
    std::vector<Name> zones;  // lowercase
    // Owner (lowercase wire form) -> addresses; "*.<domain>" owners match one label.
    std::map<std::string, std::vector<IpAddress>, std::less<>> names;
};

// What the objects of the manifests expose, by "<kind>/<ns>/<name>".
struct Exposed {
    std::vector<std::string> hosts;  // Ingress hosts; empty for a Service
    std::string service;             // "<name>.<ns>" for a Service
    std::vector<IpAddress> addresses;
    bool load_balancer = false;  // falls back to the configured addresses
};

// The external names of `zones` from what `exposed` holds; `fallback` for Ingresses and
// LoadBalancer Services without an address of their own.
std::shared_ptr<const ExternalZones> build_external_zones(
    const std::vector<std::string>& zones, const std::map<std::string, Exposed>& exposed,
    const std::vector<IpAddress>& fallback);

// Answers `q` if its name is in an external zone (true); AA, NXDOMAIN or NODATA with the zone's
// SOA as the cluster zone does. The zone's NS, ns.dns.<zone>, answers `ns_addresses` (where the
// server listens, as ns.dns.<cluster zone>), so the zone has its glue. Allocation-free.
bool answer_external(const ExternalZones& external, const Query& q, uint32_t ttl,
                     uint32_t serial, std::span<const IpAddress> ns_addresses,
                     ResponseWriter& w) noexcept;

}  // namespace clusterdns
