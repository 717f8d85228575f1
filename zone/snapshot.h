#pragma once
// What a worker answers from: one immutable snapshot of the cluster's objects, reduced to what DNS
// needs and indexed by what a query can name. Records are not stored: zone/answer.h synthesizes
// them from these views, so a Service costs its few fields, not the hundreds of bytes of owner
// names and RDATA its records would. Every lookup here is allocation-free and lock-free; views
// stay valid as long as the snapshot does.
//
// Names and strings here are lowercase: Kubernetes validates object names as lowercase DNS labels,
// and queries are looked up by their lowercased form.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/codec/name.h"
#include "zone/objects.h"

namespace clusterdns {

struct PortView {
    std::string_view name;      // empty: an unnamed port, no SRV name of its own
    std::string_view protocol;  // "tcp", "udp" or "sctp"
    uint16_t port = 0;
};

struct EndpointView {
    IpAddress address;
    // Its hostname or, with endpoint_pod_names, its Pod's name; empty: the dashed address names
    // it ("10-244-1-5").
    std::string_view hostname;
    std::span<const PortView> ports;  // the ports of the EndpointSlice it came from
};

struct ServiceView {
    std::string_view ns;
    std::string_view name;
    ServiceType type = ServiceType::ClusterIp;
    bool headless = false;
    std::span<const IpAddress> cluster_ips;
    std::string_view external_name;  // ExternalName: lowercase, no final dot
    std::span<const PortView> ports;
    // The endpoints DNS publishes, in slice order: the ready ones (all, with
    // publishNotReadyAddresses or the tolerate-unready annotation) of its EndpointSlices, or of
    // its legacy Endpoints when it has no slice, IPv4 before IPv6, each family in slice order. An
    // (address, hostname) pair appears once.
    std::span<const EndpointView> endpoints;
    // The IPv4 endpoints come first: endpoints[first_v6..] are the IPv6 ones, so an A or AAAA
    // answer never walks the other family's endpoints.
    uint32_t first_v6 = 0;
    // The distinct named ports of the endpoints' slices: whether _<port>._<proto> exists under a
    // headless Service is answered without walking its endpoints.
    std::span<const PortView> endpoint_ports;
    // Indices into `endpoints` ordered by label (hostname, else dashed address), then by index:
    // <label>.<svc>.<ns>.svc.<zone> is found by binary search, not by a scan.
    std::span<const uint32_t> by_label;
};

// One PTR record of an address: the Service whose ClusterIP it is (endpoint == nullptr), or an
// endpoint published under a Service. An address that is some Service's ClusterIP names only
// Services, as CoreDNS answers.
struct PtrTarget {
    const ServiceView* service = nullptr;
    const EndpointView* endpoint = nullptr;
};

struct SnapshotConfig {
    Name origin;  // the cluster domain, lowercase
    uint32_t ttl_seconds = 30;
    uint32_t serial = 0;                  // SOA serial: Unix time of the last change
    std::vector<IpAddress> ns_addresses;  // glue of ns.dns.<origin>: where we listen
    // An endpoint without hostname is named by its Pod (targetRef), as CoreDNS's
    // endpoint_pod_names, when that is a DNS label; else by its dashed address.
    bool endpoint_pod_names = false;
    // a-b-c-d.<ns>.pod.<zone>, as CoreDNS's `pods`: Disabled answers NXDOMAIN, Insecure the address
    // the name spells, Verified only if a Pod of that namespace has that address.
    enum class Pods : uint8_t { Disabled, Insecure, Verified };
    Pods pods = Pods::Insecure;
    // CoreDNS's `namespaces`: only these are exposed, built-in ones included; empty: all.
    std::vector<std::string> namespaces;
};

class Snapshot {
public:
    class Impl;
    explicit Snapshot(std::unique_ptr<const Impl> impl);
    ~Snapshot();

    const SnapshotConfig& config() const noexcept;

    // True for a namespace that is declared, or used by a Service or Pod, and for the built-in
    // default, kube-system, kube-public and kube-node-lease.
    bool has_namespace(std::string_view ns) const noexcept;

    const ServiceView* service(std::string_view ns, std::string_view name) const noexcept;

    // Whether names in `ns` are answered at all (SnapshotConfig::namespaces).
    bool exposes(std::string_view ns) const noexcept;

    // The PTR records of an address, in a stable order; empty if it has none.
    std::span<const PtrTarget> ptr_targets(const IpAddress& address) const noexcept;

    // True if some address with PTR records starts with the first `bits` bits of `prefix` (a
    // multiple of 8 for IPv4, of 4 for IPv6): the reverse name of that prefix is an empty
    // non-terminal (NODATA), not NXDOMAIN.
    bool has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept;

    // True if a Pod in namespace `ns` has `address` (for `pods verified`).
    bool has_pod(std::string_view ns, const IpAddress& address) const noexcept;

    // Counts for the start-up summary and the benchmarks.
    size_t service_count() const noexcept;
    size_t endpoint_count() const noexcept;

private:
    std::unique_ptr<const Impl> impl_;
};

}  // namespace clusterdns
