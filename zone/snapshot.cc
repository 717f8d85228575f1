#include "zone/snapshot.h"

#include <algorithm>
#include <bit>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "zone/cluster_zone.h"
#include "zone/snapshot_build.h"

namespace clusterdns {
namespace {

constexpr const char* kBuiltinNamespaces[] = {"default", "kube-system", "kube-public",
                                              "kube-node-lease"};

uint64_t hash_key(std::string_view ns, std::string_view name) noexcept {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over "ns/name"
    for (const char c : ns) {
        h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    }
    h = (h ^ '/') * 1099511628211ull;
    for (const char c : name) {
        h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    }
    return h;
}

}  // namespace

class Snapshot::Impl {
public:
    struct ServiceData {
        ServiceView view;
        std::vector<PortView> ports;
        std::vector<EndpointView> endpoints;
        std::vector<uint32_t> by_label;
    };

    SnapshotConfig config;
    Cluster objects;  // owns every string the views point at
    std::deque<std::vector<PortView>> slice_ports;
    std::deque<ServiceData> services;
    std::vector<const ServiceData*> table;  // open addressing by hash_key, load at most 1/2
    std::vector<std::string_view> namespaces;  // sorted
    std::map<IpAddress, std::vector<PtrTarget>> ptrs;
    size_t endpoint_count = 0;

    const ServiceData* find(std::string_view ns, std::string_view name) const noexcept {
        if (table.empty()) {
            return nullptr;
        }
        const size_t mask = table.size() - 1;
        for (size_t slot = hash_key(ns, name) & mask;; slot = (slot + 1) & mask) {
            const ServiceData* s = table[slot];
            if (s == nullptr) {
                return nullptr;
            }
            if (s->view.name == name && s->view.ns == ns) {
                return s;
            }
        }
    }
};

Snapshot::Snapshot(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {
}

Snapshot::~Snapshot() = default;

const SnapshotConfig& Snapshot::config() const noexcept {
    return impl_->config;
}

bool Snapshot::has_namespace(std::string_view ns) const noexcept {
    return std::binary_search(impl_->namespaces.begin(), impl_->namespaces.end(), ns);
}

const ServiceView* Snapshot::service(std::string_view ns, std::string_view name) const noexcept {
    const Impl::ServiceData* s = impl_->find(ns, name);
    return s == nullptr ? nullptr : &s->view;
}

std::span<const PtrTarget> Snapshot::ptr_targets(const IpAddress& address) const noexcept {
    const auto it = impl_->ptrs.find(address);
    return it == impl_->ptrs.end() ? std::span<const PtrTarget>() : it->second;
}

bool Snapshot::has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept {
    IpAddress low = prefix;
    for (unsigned bit = bits; bit < 128; ++bit) {
        low.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    }
    const auto it = impl_->ptrs.lower_bound(low);
    if (it == impl_->ptrs.end() || it->first.v6 != prefix.v6) {
        return false;
    }
    for (unsigned bit = 0; bit < bits; ++bit) {
        const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
        if ((it->first.bytes[bit / 8] & mask) != (low.bytes[bit / 8] & mask)) {
            return false;
        }
    }
    return true;
}

size_t Snapshot::service_count() const noexcept {
    return impl_->services.size();
}

size_t Snapshot::endpoint_count() const noexcept {
    return impl_->endpoint_count;
}

std::string endpoint_label(const EndpointView& e) {
    return e.hostname.empty() ? dashed_address(e.address) : std::string(e.hostname);
}

std::shared_ptr<const Snapshot> build_snapshot(const Cluster& cluster, SnapshotConfig config) {
    auto impl = std::make_unique<Snapshot::Impl>();
    impl->config = std::move(config);
    impl->objects = cluster;
    const Cluster& c = impl->objects;

    std::set<std::string_view> namespaces(std::begin(kBuiltinNamespaces),
                                          std::end(kBuiltinNamespaces));
    for (const auto& [key, ns] : c.namespaces) {
        namespaces.insert(ns.name);
    }
    for (const auto& [key, service] : c.services) {
        namespaces.insert(service.ns);
    }
    for (const auto& [key, pod] : c.pods) {
        namespaces.insert(pod.ns);
    }
    impl->namespaces.assign(namespaces.begin(), namespaces.end());

    // Slices by the Service they belong to, in key order as the zone always took them.
    std::multimap<std::pair<std::string_view, std::string_view>, const EndpointSet*> by_service;
    std::map<const EndpointSet*, const std::vector<PortView>*> ports_of;
    for (const auto& [key, set] : c.endpoint_sets) {
        by_service.emplace(std::pair<std::string_view, std::string_view>(set.ns, set.service),
                           &set);
        auto& ports = impl->slice_ports.emplace_back();
        for (const ServicePort& p : set.ports) {
            ports.push_back({p.name, p.protocol, p.port});
        }
        ports_of[&set] = &ports;
    }

    std::set<IpAddress> cluster_ips;
    for (const auto& [key, service] : c.services) {
        cluster_ips.insert(service.cluster_ips.begin(), service.cluster_ips.end());
    }
    for (const auto& [key, service] : c.services) {
        Snapshot::Impl::ServiceData& data = impl->services.emplace_back();
        for (const ServicePort& p : service.ports) {
            data.ports.push_back({p.name, p.protocol, p.port});
        }
        const auto [first, last] =
            by_service.equal_range({std::string_view(service.ns), std::string_view(service.name)});
        const bool has_slices =
            std::any_of(first, last, [](const auto& entry) { return !entry.second->legacy; });
        std::set<std::pair<IpAddress, std::string_view>> seen;
        for (auto it = first; it != last; ++it) {
            const EndpointSet& set = *it->second;
            if (set.legacy == has_slices) {
                continue;
            }
            for (const Endpoint& endpoint : set.endpoints) {
                if (!endpoint.ready && !service.publish_not_ready_addresses) {
                    continue;
                }
                for (const IpAddress& ip : endpoint.addresses) {
                    if (seen.emplace(ip, endpoint.hostname).second) {
                        data.endpoints.push_back({ip, endpoint.hostname, *ports_of[&set]});
                    }
                }
            }
        }
        std::vector<std::string> labels;
        for (uint32_t i = 0; i < data.endpoints.size(); ++i) {
            labels.push_back(endpoint_label(data.endpoints[i]));
            data.by_label.push_back(i);
        }
        std::stable_sort(data.by_label.begin(), data.by_label.end(),
                         [&](uint32_t a, uint32_t b) { return labels[a] < labels[b]; });
        impl->endpoint_count += data.endpoints.size();
        data.view = {.ns = service.ns,
                     .name = service.name,
                     .type = service.type,
                     .headless = service.headless,
                     .cluster_ips = service.cluster_ips,
                     .external_name = service.external_name,
                     .ports = data.ports,
                     .endpoints = data.endpoints,
                     .by_label = data.by_label};
    }

    impl->table.assign(std::bit_ceil(std::max<size_t>(16, impl->services.size() * 2)), nullptr);
    const size_t mask = impl->table.size() - 1;
    for (const Snapshot::Impl::ServiceData& data : impl->services) {
        size_t slot = hash_key(data.view.ns, data.view.name) & mask;
        while (impl->table[slot] != nullptr) {
            slot = (slot + 1) & mask;
        }
        impl->table[slot] = &data;
        for (const IpAddress& ip : data.view.cluster_ips) {
            impl->ptrs[ip].push_back({&data.view, nullptr});
        }
    }
    for (const Snapshot::Impl::ServiceData& data : impl->services) {
        for (const EndpointView& e : data.view.endpoints) {
            if (cluster_ips.count(e.address) == 0) {
                impl->ptrs[e.address].push_back({&data.view, &e});
            }
        }
    }
    return std::make_shared<const Snapshot>(std::move(impl));
}

}  // namespace clusterdns
