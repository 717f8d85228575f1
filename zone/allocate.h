#pragma once
// The ClusterIPs the API server would allocate. Manifests seldom give a Service its clusterIP:
// in a cluster the API server picks one from the service range (kube-apiserver's
// --service-cluster-ip-range). ClusterIpAllocator does the same for the Services of one load of
// manifests, so that `kubectl apply -f DIR` and `clusterdns --manifests DIR` agree on which
// names exist, and does it deterministically: the same manifests give the same addresses on
// every run and machine, whatever the order of their files and documents.
//
// How an address is chosen, for each family a Service needs (spec.ipFamilyPolicy and
// spec.ipFamilies, as the API server reads them) and that it does not give:
// - Every address a manifest gives is taken first, and never handed out again.
// - kubeadm's conventions: Service default/kubernetes gets the range's first address
//   (10.96.0.1) and kube-system/kube-dns its tenth (10.96.0.10), unless a manifest holds them.
// - Every other Service starts from its home: an FNV-1a hash of "<namespace>/<name>" into the
//   upper part of the range. As in the API server, the lowest min(max(16, size/16), 256)
//   addresses are left to addresses given by hand (the whole range when it is smaller than 16).
// - Each home that no manifest gives goes to the first Service by (namespace, name) that has
//   it. The others (sharing a home, or finding it given) take, in that order, the first free
//   address from their home upwards, round the upper part, then the lower.
// So a Service at its home keeps it whatever is added or removed, unless a newcomer has the
// same home and comes first by name; only Services that found their home taken may move when
// others come and go. In the default /12 (a million addresses) with 1,000 Services, about one
// in a thousand shares its home.
//
// Addresses outside every range are taken as given: the API server would refuse them, but a
// manifest written for another cluster's range still serves here, which is what a test wants.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "zone/objects.h"
#include "zone/workloads.h"

namespace clusterdns {

// kubeadm's default service range (its ClusterConfiguration's networking.serviceSubnet).
inline constexpr std::string_view kDefaultServiceCidr = "10.96.0.0/12";

// The service ranges of `texts`, each "ADDR/BITS" or several of them comma-separated (as
// kube-apiserver's --service-cluster-ip-range): one or two, at most one of each family. The
// first is the primary one: a Service that names no family gets an address of its family.
Result<std::vector<IpPrefix>> parse_service_cidrs(const std::vector<std::string>& texts);

// Passes objects on to `out`, giving each Service without the ClusterIPs it needs addresses
// of `ranges` (from parse_service_cidrs): at once the one it is most likely to keep, and once
// finish() has seen every Service, the final one where they differ (change_cluster_ips).
class ClusterIpAllocator : public ObjectSink {
public:
    ClusterIpAllocator(ObjectSink& out, std::vector<IpPrefix> ranges);
    ~ClusterIpAllocator() override;

    // A Service the zone already holds, when the load changes a zone rather than replaces it:
    // its addresses are never handed out again, and if the load upserts it again without
    // them it keeps those it was allocated (allocated: bits as Service::allocated_ips), as a
    // Service's clusterIP never changes in a cluster. Call before the load's objects come.
    void existing(std::string_view ns, std::string_view name, std::span<const IpAddress> ips,
                  uint8_t allocated);

    void upsert(Namespace ns) override { out_.upsert(std::move(ns)); }
    // Throws ObjectRefused for a Service that needs an address of a family no range has
    // (RequireDualStack with one range, ipFamilies: [IPv6] with none of IPv6).
    void upsert(Service service) override;
    void upsert(EndpointSet set) override { out_.upsert(std::move(set)); }
    void upsert(Pod pod) override { out_.upsert(std::move(pod)); }
    void upsert(Workload workload) override { out_.upsert(std::move(workload)); }
    void upsert(Ingress ingress) override { out_.upsert(std::move(ingress)); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override {
        return out_.erase(kind, ns, name);
    }
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated) override {
        return out_.change_cluster_ips(ns, name, from, to, allocated);
    }
    void keep_only(ObjectKind kind, const NameSet& listed) override {
        out_.keep_only(kind, listed);
    }

    // Settles every address once the load is complete. Fails when a range has too few free
    // addresses for the Services that need one (the message names the range).
    Status finish();

    // How many addresses the load allocated, by range (in the order of `ranges`); after finish().
    const std::vector<size_t>& allocated() const noexcept { return allocated_; }

    // The address a Service would be given first in `range` (its home, or kubeadm's
    // convention), before collisions are settled: for tests.
    static IpAddress home(const IpPrefix& range, std::string_view ns, std::string_view name);

private:
    class Range;
    class OffsetSet;
    // A Service that needs addresses: its namespace and name (in text_), and which families in
    // which order (bit 0: IPv4, bit 1: IPv6, bit 2: IPv6 first). 8 bytes and its name: a load
    // of 100,000 Services without clusterIP keeps a few MiB while it lasts.
    struct Request {
        uint32_t at = 0;
        uint8_t ns_size = 0;
        uint8_t name_size = 0;
        uint8_t families = 0;
        bool gives = false;  // has an address of its own too (in given_)
    };
    struct Kept;

    std::string_view ns_of(const Request& r) const { return {text_.data() + r.at, r.ns_size}; }
    std::string_view name_of(const Request& r) const {
        return {text_.data() + r.at + r.ns_size, r.name_size};
    }
    Result<uint8_t> families_needed(const Service& service) const;
    OffsetSet& taken(const Range& range);  // the offsets of `range` no one may be given
    Range* range_of(bool v6);
    const Range* range_of(bool v6) const;
    // The address of `range` an existing Service was allocated, if it was.
    const IpAddress* kept(const Range& range, std::string_view ns, std::string_view name) const;
    IpAddress first_choice(const Range& range, std::string_view ns, std::string_view name) const;

    ObjectSink& out_;
    std::vector<Range> ranges_;
    std::vector<OffsetSet> taken_;  // by range
    std::string text_;
    std::vector<Request> requests_;
    std::vector<std::pair<uint32_t, IpAddress>> given_;  // by request index
    std::vector<Kept> kept_;  // sorted by key before the first upsert
    bool kept_sorted_ = true;
    std::vector<size_t> allocated_;
};

}  // namespace clusterdns
