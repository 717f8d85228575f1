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
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "zone/objects.h"

namespace clusterdns {

struct ExternalZones;

// Views below live inside the record that holds their text and arrays, and find them by offsets
// from themselves: smaller than pointers, and why a view is never copied, only pointed at.
inline int32_t offset_from(const void* view, const void* target) noexcept {
    return static_cast<int32_t>(static_cast<const char*>(target) -
                                static_cast<const char*>(view));
}
template <class T>
const T* at_offset(const void* view, int32_t offset) noexcept {
    return reinterpret_cast<const T*>(static_cast<const char*>(view) + offset);
}

// A port as DNS reads it: 8 bytes, its name kept in the record that holds the port.
class PortView {
public:
    // `name` lies in the same record; `protocol` is "tcp", "udp" or "sctp" (anything else reads
    // as "tcp").
    PortView(std::string_view name, std::string_view protocol, uint16_t port) noexcept;
    PortView(const PortView&) = delete;
    PortView& operator=(const PortView&) = delete;

    std::string_view name() const noexcept {  // empty: no SRV name
        return {at_offset<char>(this, name_at_), name_size_};
    }
    std::string_view protocol() const noexcept;
    uint16_t port() const noexcept { return port_; }

private:
    int32_t name_at_;
    uint16_t port_;
    uint8_t name_size_;  // an IANA service name: 15 characters at most
    uint8_t protocol_;
};

static_assert(sizeof(PortView) == 8);

// One address of an EndpointSlice: 32 bytes, kept once in the slice's record; a Service's view
// points at the ones it publishes.
class EndpointView {
public:
    // `hostname` and `ports` lie in the same record.
    EndpointView(const IpAddress& ip, bool is_ready, std::string_view hostname,
                 std::span<const PortView> ports) noexcept
        : address(ip),
          ready(is_ready),
          hostname_size_(static_cast<uint8_t>(hostname.size())),
          port_count_(static_cast<uint16_t>(ports.size())),
          hostname_at_(offset_from(this, hostname.data())),
          ports_at_(offset_from(this, ports.data())) {}
    EndpointView(const EndpointView&) = delete;
    EndpointView& operator=(const EndpointView&) = delete;

    IpAddress address;
    bool ready;
    // Its hostname or, with endpoint_pod_names, its Pod's name (DNS labels: 63 bytes at most);
    // empty: the dashed address names it ("10-244-1-5").
    std::string_view hostname() const noexcept {
        return {at_offset<char>(this, hostname_at_), hostname_size_};
    }
    // The ports of the slice it came from: one span for every endpoint of that slice.
    std::span<const PortView> ports() const noexcept {
        return {at_offset<PortView>(this, ports_at_), port_count_};
    }

private:
    uint8_t hostname_size_;
    uint16_t port_count_;
    int32_t hostname_at_;
    int32_t ports_at_;
};
static_assert(sizeof(EndpointView) == 32);

// Where a record's next array starts: `count` Ts after `at`, aligned for U. Records keep their
// arrays right after their header, in one block, and find them again from their counts: a pointer
// per array would cost 8 bytes a Service.
template <class U, class T>
const U* array_after(const T* at, size_t count = 1) noexcept {
    const auto end = reinterpret_cast<uintptr_t>(at + count);
    return reinterpret_cast<const U*>((end + alignof(U) - 1) / alignof(U) * alignof(U));
}

// A Service as the store keeps it: what DNS reads of the object, and nothing else. Its ports,
// then its ClusterIPs, then its text (the namespace, the name, the external name) follow it in
// the same block.
struct ServiceFields {
    uint8_t ns_size = 0;  // namespaces and Service names are DNS labels
    uint8_t name_size = 0;
    uint8_t external_name_size = 0;  // a DNS name: 253 bytes at most
    uint8_t cluster_ip_count = 0;    // two at most
    uint16_t port_count = 0;
    ServiceType type = ServiceType::ClusterIp;
    bool headless = false;
    bool publish_not_ready_addresses = false;
    uint8_t allocated_ips = 0;  // bit i: cluster_ips()[i] was allocated, not given (records)

    std::span<const PortView> ports() const noexcept {
        return {array_after<PortView>(this), port_count};
    }
    std::span<const IpAddress> cluster_ips() const noexcept {
        return {array_after<IpAddress>(ports().data(), port_count), cluster_ip_count};
    }
    const char* text() const noexcept {
        return array_after<char>(cluster_ips().data(), cluster_ip_count);
    }
    std::string_view ns() const noexcept { return {text(), ns_size}; }
    std::string_view name() const noexcept { return {text() + ns_size, name_size}; }
    std::string_view external_name() const noexcept {  // ExternalName: lowercase, no final dot
        return {text() + ns_size + name_size, external_name_size};
    }
};

// What DNS publishes of a Service: its fields and the endpoints of its slices. Its arrays follow
// it in its block: the endpoints, their distinct named ports, then the two orders of endpoints.
class ServiceView {
public:
    std::string_view ns() const noexcept { return fields_->ns(); }
    std::string_view name() const noexcept { return fields_->name(); }
    ServiceType type() const noexcept { return fields_->type; }
    bool headless() const noexcept { return fields_->headless; }
    std::span<const IpAddress> cluster_ips() const noexcept { return fields_->cluster_ips(); }
    // Whether cluster_ips()[i] was allocated from a service range (zone/allocate.h), not given.
    bool allocated(size_t i) const noexcept { return (fields_->allocated_ips >> i & 1) != 0; }
    std::string_view external_name() const noexcept { return fields_->external_name(); }
    std::span<const PortView> ports() const noexcept { return fields_->ports(); }

    // The endpoints DNS publishes, in slice order: the ready ones (all, with
    // publishNotReadyAddresses or the tolerate-unready annotation) of its EndpointSlices, or of
    // its legacy Endpoints when it has no slice, IPv4 before IPv6, each family in slice order. An
    // (address, hostname) pair appears once.
    size_t endpoint_count() const noexcept { return endpoint_count_; }
    std::span<const EndpointView* const> endpoints() const noexcept {
        return {array_after<const EndpointView*>(this), endpoint_count_};
    }
    const EndpointView& endpoint(size_t i) const noexcept { return *endpoints()[i]; }
    // The IPv4 endpoints come first: endpoints [0, first_v6) are IPv4, the rest IPv6, so an A or
    // AAAA answer never walks the other family's endpoints.
    uint32_t first_v6() const noexcept { return first_v6_; }
    // The distinct named ports of the endpoints' slices, for a headless Service (none for
    // another): whether _<port>._<proto> exists under it is answered without walking its
    // endpoints.
    std::span<const PortView* const> endpoint_ports() const noexcept {
        return {array_after<const PortView*>(endpoints().data(), endpoint_count_),
                endpoint_port_count_};
    }
    // Endpoint indices ordered by label (hostname, else dashed address), then by index:
    // <label>.<svc>.<ns>.svc.<zone> is found by binary search, not by a scan.
    std::span<const uint32_t> by_label() const noexcept {
        return {array_after<uint32_t>(endpoint_ports().data(), endpoint_port_count_),
                endpoint_count_};
    }
    // Endpoint indices ordered by address: a PTR query finds its endpoints by binary search.
    std::span<const uint32_t> by_address() const noexcept {
        return {by_label().data() + endpoint_count_, endpoint_count_};
    }

protected:
    const ServiceFields* fields_ = nullptr;
    uint32_t endpoint_count_ = 0;
    uint32_t first_v6_ = 0;
    uint32_t endpoint_port_count_ = 0;
};

// One PTR record of an address: the Service whose ClusterIP it is (endpoint == nullptr), or an
// endpoint published under a Service. An address that is some Service's ClusterIP names only
// Services, as CoreDNS answers.
struct PtrTarget {
    const ServiceView* service = nullptr;
    const EndpointView* endpoint = nullptr;
};

// The PTR records of one address, in a stable order, collected without allocating. An address
// shared by more than kMax Service endpoints is answered with kMax of them.
struct PtrTargets {
    static constexpr size_t kMax = 64;
    PtrTarget items[kMax];
    size_t count = 0;

    const PtrTarget* begin() const noexcept { return items; }
    const PtrTarget* end() const noexcept { return items + count; }
    bool empty() const noexcept { return count == 0; }
    size_t size() const noexcept { return count; }
    const PtrTarget& operator[](size_t i) const noexcept { return items[i]; }
};

struct SnapshotConfig {
    Name origin;  // the cluster domain, lowercase
    uint32_t ttl_seconds = 30;
    uint32_t serial = 0;                  // SOA serial: Unix time of the last change
    std::vector<IpAddress> ns_addresses;  // glue of ns.dns.<origin>: where we listen
    // An endpoint without hostname is named by its Pod (targetRef), as CoreDNS's
    // endpoint_pod_names, when that is a DNS label; else by its dashed address.
    bool endpoint_pod_names = false;
    // False (CoreDNS's noendpoints): endpoint sets are not kept, whichever source gives them.
    bool endpoints = true;
    // Server-side search path for clients that are Pods (plugins/autopath).
    bool autopath = false;
    // The host's search domains autopath tries after the cluster's (lowercase); empty: none.
    std::vector<Name> autopath_search;
    // a-b-c-d.<ns>.pod.<zone>, as CoreDNS's `pods`: Disabled answers NXDOMAIN, Insecure the address
    // the name spells, Verified only if a Pod of that namespace has that address.
    enum class Pods : uint8_t { Disabled, Insecure, Verified };
    Pods pods = Pods::Insecure;
    // CoreDNS's `namespaces`: only these are exposed, built-in ones included; empty: all.
    std::vector<std::string> namespaces;
    // A node-local cache: no zone of its own, every name is someone else's (forwarded).
    bool node_local = false;
    // Every source has given its objects once (the API source's first sync). Until then a
    // cluster-zone name without records may only be late: SERVFAIL, which resolvers retry,
    // instead of the NXDOMAIN or NODATA they would keep. Manifests alone are always complete.
    bool complete = true;
    // External zones (zone/external.h); null: none.
    std::shared_ptr<const ExternalZones> external;
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

    // The PTR records of an address, in a stable order; none if it has none.
    PtrTargets ptr_targets(const IpAddress& address) const noexcept;

    // True if some address with PTR records starts with the first `bits` bits of `prefix` (a
    // multiple of 8 for IPv4, of 4 for IPv6): the reverse name of that prefix is an empty
    // non-terminal (NODATA), not NXDOMAIN.
    bool has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept;

    // True if a Pod in namespace `ns` has `address` (for `pods verified`).
    bool has_pod(std::string_view ns, const IpAddress& address) const noexcept;

    // Visits every Service of an exposed namespace, in no particular order (cold path).
    void for_each_service(const std::function<void(const ServiceView&)>& visit) const;
    // Visits the address of every Pod of an exposed namespace (cold path).
    void for_each_pod_address(
        const std::function<void(std::string_view ns, const IpAddress&)>& visit) const;

    // Counts for the start-up summary and the benchmarks.
    size_t service_count() const noexcept;
    size_t endpoint_count() const noexcept;

private:
    std::unique_ptr<const Impl> impl_;
};

}  // namespace clusterdns
