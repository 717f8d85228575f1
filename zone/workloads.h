#pragma once
// Manifests describe Pods by template (a Deployment's, a StatefulSet's) and leave EndpointSlices
// to controllers nobody runs here. WorkloadSink plays those controllers for one load of
// manifests, as a cluster would have run them: each workload's Pods (StatefulSet Pods named
// <name>-<ordinal> from spec.ordinals.start, with hostname and subdomain; the others named as
// the API server generates names, the first 58 characters of <owner>- and 5 more, where a
// Deployment's owner is its ReplicaSet <name>-<hash>), an address for every Pod without one, and
// for each Service with a selector and no EndpointSlice or Endpoints of its own, the endpoints of
// the Pods it selects (ready ones, or all with publishNotReadyAddresses, as the zone decides) in
// slices of 100, named targetPorts resolved against container ports. More Pods than this
// machine's memory holds are refused.
//
// Addresses are deterministic: the same manifests give the same addresses on every run, from
// hashes of the Pods' names into the pod CIDRs (one address per CIDR: dual stack with two).
// Never used with the API, where the cluster's own EndpointSlices are the truth.

#include <map>
#include <set>
#include <unordered_set>
#include <string>
#include <vector>

#include "base/result.h"
#include "zone/external.h"
#include "zone/objects.h"

namespace clusterdns {

struct IpPrefix {
    IpAddress base;
    unsigned bits = 0;
};

// "10.244.0.0/16", "fd00:10:244::/64": a prefix with room for at least 4 addresses.
Result<IpPrefix> parse_prefix(std::string_view text);

class WorkloadSink : public ObjectSink {
public:
    WorkloadSink(ObjectSink& out, std::vector<IpPrefix> pod_cidrs);

    void upsert(Namespace ns) override;
    void upsert(Service service) override;
    void upsert(EndpointSet set) override;
    void upsert(Pod pod) override;
    void upsert(Workload workload) override;
    void upsert(Ingress ingress) override;
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override;
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated) override {
        return out_.change_cluster_ips(ns, name, from, to, allocated);  // endpoints need none
    }
    void keep_only(ObjectKind kind, const NameSet& listed) override;

    // Writes the Pods the workloads make and the endpoints of the Services that select Pods,
    // from everything seen so far. Call once the load is complete.
    Status synthesize();

    // The name of the EndpointSlice made for a Service (then NAME-2, NAME-3, ... past 100
    // endpoints, and NAME-v6... for IPv6 ones).
    static std::string slice_name(std::string_view service);

    // The most Pods the workloads may make before synthesize() refuses them: by default what
    // this machine's available memory holds (zone/validation.h max_workload_pods).
    void set_max_pods(uint64_t pods) { max_pods_ = pods; }

    // What the load's Ingresses and LoadBalancer (or externalIPs) Services expose to an external
    // zone, by "<kind>/<ns>/<name>"; a Service erased has an empty entry.
    const std::map<std::string, Exposed>& exposed() const noexcept { return exposed_; }

private:
    struct Selecting {
        LabelMap selector;
        std::vector<ServicePort> ports;
        bool families[2] = {true, true};  // IPv4, IPv6: which slices it gets
    };
    ObjectSink& out_;
    std::vector<IpPrefix> cidrs_;
    std::map<std::pair<std::string, std::string>, Selecting> services_;  // by (ns, name)
    // Services with endpoints of their own, by a hash of namespace and name: a load of 100,000
    // Services and their slices keeps 8 bytes for each, not its selector.
    std::unordered_set<uint64_t> have_endpoints_;
    std::map<std::pair<std::string, std::string>, Pod> pods_;
    std::map<std::tuple<std::string, std::string, std::string>, Workload> workloads_;
    std::map<std::string, Exposed> exposed_;
    uint64_t max_pods_ = 0;  // 0: what the memory holds
};

}  // namespace clusterdns
