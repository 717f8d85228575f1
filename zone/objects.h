#pragma once
// The Kubernetes objects the zone is made of, stripped down to what DNS needs. Every source (the
// manifest loader now, the API watch later) fills these and calls the validators here, so the
// rules of what a usable object is live in one place.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace clusterdns {

struct IpAddress {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // the first 4 for IPv4

    std::span<const uint8_t> octets() const { return {bytes.data(), v6 ? 16u : 4u}; }
    auto operator<=>(const IpAddress&) const = default;
};

// Parses an IPv4 or IPv6 literal; nullopt if it is neither.
std::optional<IpAddress> parse_ip(std::string_view text) noexcept;
std::string ip_to_text(const IpAddress& ip);

struct ServicePort {
    std::string name;      // empty for an unnamed port: no SRV record
    std::string protocol;  // lowercase: "tcp", "udp" or "sctp"
    uint16_t port = 0;
    // A Service's targetPort as written: a number, a container port's name, or empty (the same
    // as `port`). Read from manifests to make endpoints (zone/workloads.h); the store drops it.
    std::string target_port;
};

// metadata.labels, or a selector's labels, sorted by key.
using LabelMap = std::vector<std::pair<std::string, std::string>>;

// Whether `labels` has every key of `selector` with the same value (a Service's selector).
bool selects(const LabelMap& selector, const LabelMap& labels);

struct ContainerPort {
    std::string name;
    std::string protocol;  // lowercase
    uint16_t port = 0;
};

// What a Pod, or each replica a workload controller makes from its template, brings to the
// Services that select it. Read from manifests only (the API's own EndpointSlices are the truth
// there); the store keeps none of it.
struct PodTemplate {
    LabelMap labels;
    std::string hostname;   // spec.hostname
    std::string subdomain;  // spec.subdomain
    std::vector<ContainerPort> ports;  // of every container
};

enum class ServiceType : uint8_t { ClusterIp, NodePort, LoadBalancer, ExternalName };

// spec.ipFamilyPolicy; unset is SingleStack, as the API server defaults it.
enum class IpFamilyPolicy : uint8_t { SingleStack, PreferDualStack, RequireDualStack };

struct Service {
    std::string ns;
    std::string name;
    ServiceType type = ServiceType::ClusterIp;
    bool headless = false;               // clusterIP: None
    std::vector<IpAddress> cluster_ips;  // spec.clusterIPs, or spec.clusterIP
    // Bit i set: cluster_ips[i] was allocated from a service range (zone/allocate.h), not given.
    uint8_t allocated_ips = 0;
    // Which ClusterIPs a Service of the manifests gets when it gives fewer (zone/allocate.h):
    // spec.ipFamilyPolicy, and spec.ipFamilies in order (true: IPv6); none: the service ranges'.
    IpFamilyPolicy ip_family_policy = IpFamilyPolicy::SingleStack;
    std::vector<bool> ip_families_v6;
    std::string external_name;           // lowercase, without the final dot
    std::vector<ServicePort> ports;
    bool publish_not_ready_addresses = false;
    std::optional<LabelMap> selector;  // spec.selector; none (or empty): no endpoints are made
    // status.loadBalancer.ingress IPs (LoadBalancer) and spec.externalIPs: what an external zone
    // answers for it (zone/external.h). Read from manifests; the store drops them.
    std::vector<IpAddress> external_ips;
};

// An Ingress's hosts and the addresses its controller published (status.loadBalancer.ingress):
// what an external zone answers for them.
struct Ingress {
    std::string ns;
    std::string name;
    std::vector<std::string> hosts;  // spec.rules[].host, lowercase
    std::vector<IpAddress> addresses;
};

struct Endpoint {
    std::vector<IpAddress> addresses;
    std::string hostname;  // may be empty: the dashed address names it then
    bool ready = true;     // EndpointSlice: conditions.ready, where nil means ready
    std::string pod;       // targetRef.name of a Pod target: its name with endpoint_pod_names
};

// An EndpointSlice (discovery.k8s.io/v1) or a legacy v1 Endpoints object, both reduced to the
// endpoints and ports of one Service.
struct EndpointSet {
    std::string ns;
    std::string name;     // the object's own name
    std::string service;  // the Service it belongs to
    bool legacy = false;  // v1 Endpoints: used only when the Service has no EndpointSlice
    std::vector<Endpoint> endpoints;
    std::vector<ServicePort> ports;
};

struct Pod {
    std::string ns;
    std::string name;
    std::vector<IpAddress> ips;
    PodTemplate spec;   // labels, hostname, subdomain, container ports
    bool ready = true;  // status.conditions Ready (a manifest without status: as if running)
};

// A Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or ReplicationController: the Pods its
// controller would make, `replicas` copies of `pod`.
struct Workload {
    std::string kind;
    std::string ns;
    std::string name;
    uint32_t replicas = 1;
    std::string service_name;  // a StatefulSet's spec.serviceName: its Pods' subdomain
    uint32_t ordinal_start = 0;  // a StatefulSet's spec.ordinals.start: its first Pod's ordinal
    PodTemplate pod;
};

// The length of the pod-template-hash a Deployment's ReplicaSet is named with (NAME-HASH): the
// longest the deployment controller writes, a 32-bit hash in decimal digits, letters for digits.
inline constexpr size_t kPodTemplateHashLength = 10;

struct Namespace {
    std::string name;
};

// A legacy Endpoints object becomes one set per subset, named "<name>/<index>".
std::string legacy_set_name(std::string_view endpoints_name, size_t subset);
std::string_view legacy_object_name(std::string_view set_name);

// The kinds of object a Cluster holds, to erase or replace them by kind.
enum class ObjectKind : uint8_t { Namespace, Service, EndpointSlice, Endpoints, Pod };

// A set of (namespace, name) pairs in one buffer, not a block per name: a re-list of 100,000
// objects keeps a few MiB of names instead of the objects, and marking every Service of a load
// leaves no 100,000 holes in the heap when it is freed. Sealed, it is a hash table over the pairs
// (a few bytes a name more): a list's end asks it once for every object the store holds.
class NameSet {
public:
    void add(std::string_view ns, std::string_view name);
    // Drops repeats (the first stays) and indexes the pairs; contains() needs it.
    void seal();
    bool contains(std::string_view ns, std::string_view name) const;
    // In the order added.
    template <class F>
    void for_each(F&& f) const {
        for (const Key& k : keys_) {
            f(ns_of(k), name_of(k));
        }
    }
    size_t size() const { return keys_.size(); }
    void clear();  // and gives the memory back

private:
    struct Key {
        uint32_t at;
        uint16_t ns_size;
        uint16_t name_size;  // object names are DNS subdomains: 253 bytes at most
    };
    std::string_view ns_of(const Key& k) const { return {text_.data() + k.at, k.ns_size}; }
    std::string_view name_of(const Key& k) const {
        return {text_.data() + k.at + k.ns_size, k.name_size};
    }
    // Where the pair is in index_, or the empty slot where it would go.
    size_t slot(std::string_view ns, std::string_view name) const;
    std::string text_;
    std::vector<Key> keys_;
    std::vector<uint32_t> index_;  // open addressing, a power of two; 1 + a keys_ position, 0 empty
};

// Thrown by a sink's upsert() that cannot take an object as it is (a Service that needs a
// ClusterIP of a family no service range has, zone/allocate.h): the converter reports it as a
// bad field, with the file, line, document and object. `message` starts with the field.
struct ObjectRefused {
    std::string message;
};

// Where a source puts objects: the server's store (zone/store.h), or a Cluster to collect them
// (a manifest load to check first, a re-list, a test). The converter writes only through this.
class ObjectSink {
public:
    virtual ~ObjectSink() = default;
    virtual void upsert(Namespace ns) = 0;
    virtual void upsert(Service service) = 0;
    virtual void upsert(EndpointSet set) = 0;
    virtual void upsert(Pod pod) = 0;
    // Workloads make endpoints only where they are read from manifests (zone/workloads.h);
    // everywhere else they are dropped.
    virtual void upsert(Workload) {}
    virtual void upsert(Ingress) {}
    // Removes one object (a namespace by its name; `ns` is ignored then). For Endpoints, every
    // set made from its subsets. Returns whether there was one.
    virtual bool erase(ObjectKind kind, std::string_view ns, std::string_view name) = 0;
    // Changes the ClusterIPs of a Service that has `from`, allocated as `allocated` says (bits
    // as Service::allocated_ips), to `to`, allocated alike: an allocation settles collisions
    // once it has seen every Service of a load (zone/allocate.h), and a Service replaced
    // meanwhile is left as it is. Returns whether it changed one.
    virtual bool change_cluster_ips(std::string_view ns, std::string_view name,
                                    std::span<const IpAddress> from,
                                    std::span<const IpAddress> to, uint8_t allocated) = 0;
    // Removes every object of `kind` that `listed` (sealed) does not name: after a complete list
    // has been upserted, what it no longer holds goes. Namespaces are named ("", name); Endpoints
    // by the object's name, for every set of its subsets.
    virtual void keep_only(ObjectKind kind, const NameSet& listed) = 0;
    // Whether the sink holds this object exactly as upsert() would keep it (what DNS reads of
    // it): a re-list holds back only what changed. A sink that cannot tell says false.
    virtual bool holds(const Namespace&) const { return false; }
    virtual bool holds(const Service&) const { return false; }
    virtual bool holds(const EndpointSet&) const { return false; }
    virtual bool holds(const Pod&) const { return false; }
};

// Passes objects on to another sink and notes the name of each in the set for its kind, so that
// after a complete list or load, keep_only() can remove what it no longer names. Kinds may share a
// set when only one kind is listed at a time.
class ListingSink : public ObjectSink {
public:
    using Sets = std::array<NameSet*, 5>;  // by ObjectKind
    ListingSink(ObjectSink& store, Sets listed) : store_(store), listed_(listed) {}
    void upsert(Namespace ns) override;
    void upsert(Service service) override;
    void upsert(EndpointSet set) override;
    void upsert(Pod pod) override;
    void upsert(Workload workload) override { store_.upsert(std::move(workload)); }
    void upsert(Ingress ingress) override { store_.upsert(std::move(ingress)); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override;
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated) override {
        return store_.change_cluster_ips(ns, name, from, to, allocated);
    }
    void keep_only(ObjectKind kind, const NameSet& listed) override;
    bool holds(const Namespace& ns) const override { return store_.holds(ns); }
    bool holds(const Service& service) const override { return store_.holds(service); }
    bool holds(const EndpointSet& set) const override { return store_.holds(set); }
    bool holds(const Pod& pod) const override { return store_.holds(pod); }

private:
    ObjectSink& store_;
    Sets listed_;
};

// Objects collected in plain maps, keyed by namespace/name.
struct Cluster : ObjectSink {
    std::map<std::string, Namespace> namespaces;
    std::map<std::string, Service> services;
    std::map<std::string, EndpointSet> endpoint_sets;  // key: "slice:" or "legacy:" + ns/name
    std::map<std::string, Pod> pods;

    void upsert(Namespace ns) override;
    void upsert(Service service) override;
    void upsert(EndpointSet set) override;
    void upsert(Pod pod) override;
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override;
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated) override;
    void keep_only(ObjectKind kind, const NameSet& listed) override;
    size_t size() const {
        return namespaces.size() + services.size() + endpoint_sets.size() + pods.size();
    }
};

// Validation shared by every source, by the API server's rules (the table of
// zone/validation.h). Each returns the offending field and why, as "spec.clusterIP: ..." ; the
// caller adds file, document and kind/name. validate() holds what every Service and endpoint
// set must be, whatever made it; the converter checks the rest of an object's document.
Status validate(const Service& service);
Status validate(const EndpointSet& set);
Status check_dns1123_label(std::string_view field, std::string_view value);
Status check_dns1035_label(std::string_view field, std::string_view value);
Status check_dns1123_subdomain(std::string_view field, std::string_view value);
// Parses a port protocol ("TCP", "UDP", "SCTP"; empty means TCP) into its lowercase form.
Result<std::string> parse_protocol(std::string_view field, std::string_view value);
// A container port's name, or a targetPort's (IANA service name: 15 characters at most). A
// Service's and an endpoint's port names are DNS labels.
Status check_port_name(std::string_view field, std::string_view value);

}  // namespace clusterdns
