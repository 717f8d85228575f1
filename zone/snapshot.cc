#include "zone/snapshot.h"

#include <algorithm>

#include "zone/records.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"

namespace clusterdns {

using namespace records;

PortView::PortView(std::string_view name, std::string_view protocol, uint16_t port) noexcept
    : name_at_(offset_from(this, name.data())),
      port_(port),
      name_size_(static_cast<uint8_t>(std::min<size_t>(name.size(), UINT8_MAX))),
      protocol_(protocol == "udp" ? 1 : protocol == "sctp" ? 2 : 0) {
}

std::string_view PortView::protocol() const noexcept {
    constexpr std::string_view kProtocols[] = {"tcp", "udp", "sctp"};
    return kProtocols[protocol_];
}

namespace {

// Namespaces every cluster has, whether or not any object mentions them.
constexpr std::string_view kBuiltinNamespaces[] = {"default", "kube-system", "kube-public",
                                                   "kube-node-lease"};

}  // namespace

Snapshot::Snapshot(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {
}

Snapshot::~Snapshot() = default;

const SnapshotConfig& Snapshot::config() const noexcept {
    return impl_->config;
}

bool Snapshot::exposes(std::string_view ns) const noexcept {
    const auto& exposed = impl_->config.namespaces;
    return exposed.empty() || std::find(exposed.begin(), exposed.end(), ns) != exposed.end();
}

bool Snapshot::has_namespace(std::string_view ns) const noexcept {
    if (!exposes(ns)) {
        return false;
    }
    if (std::find(std::begin(kBuiltinNamespaces), std::end(kBuiltinNamespaces), ns) !=
        std::end(kBuiltinNamespaces)) {
        return true;
    }
    return impl_->maps.namespaces.find(Hasher().add(ns).done(), [&](const NamespaceRecord& r) {
        return r.name == ns;
    }) != nullptr;
}

const ServiceView* Snapshot::service(std::string_view ns, std::string_view name) const noexcept {
    if (!exposes(ns)) {
        return nullptr;
    }
    const ServiceRecord* r = impl_->maps.services.find(
        key_hash(ns, name),
        [&](const ServiceRecord& s) { return s.view.name() == name && s.view.ns() == ns; });
    return r == nullptr ? nullptr : &r->view;
}

void Snapshot::for_each_service(const std::function<void(const ServiceView&)>& visit) const {
    impl_->maps.services.for_each([&](const ServiceRecord& r) {
        if (exposes(r.view.ns())) {
            visit(r.view);
        }
    });
}

void Snapshot::for_each_pod_address(
    const std::function<void(std::string_view ns, const IpAddress&)>& visit) const {
    impl_->maps.pod_addresses.for_each([&](const PodAddressRecord& r) {
        if (exposes(r.ns)) {
            visit(r.ns, r.address);
        }
    });
}

PtrTargets Snapshot::ptr_targets(const IpAddress& address) const noexcept {
    PtrTargets out;
    bool service_found = false;  // a ClusterIP names only its Services
    impl_->maps.ptrs.for_each_with_hash(Hasher().add(address).done(), [&](const ServiceRecord& r) {
        const ServiceView& s = r.view;
        const std::span<const IpAddress> ips = s.cluster_ips();
        if (std::find(ips.begin(), ips.end(), address) != ips.end()) {
            if (!service_found) {
                out.count = 0;
                service_found = true;
            }
            if (out.count < PtrTargets::kMax) {
                out.items[out.count++] = {&s, nullptr};
            }
            return;
        }
        for (const uint32_t i : endpoints_with_address(s, address)) {
            if (service_found || out.count == PtrTargets::kMax) {
                return;
            }
            out.items[out.count++] = {&s, &s.endpoint(i)};
        }
    });
    // Insertion sort: the few targets of one address, and std::sort may allocate.
    for (size_t i = 1; i < out.count; ++i) {
        for (size_t j = i; j > 0 && ptr_order(out.items[j], out.items[j - 1]); --j) {
            std::swap(out.items[j], out.items[j - 1]);
        }
    }
    return out;
}

bool Snapshot::has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept {
    const IpAddress key = masked(prefix, bits);
    return impl_->maps.prefixes.find(Hasher().add(key, bits).done(), [&](const PrefixRecord& p) {
        return p.bits == bits && p.prefix == key;
    }) != nullptr;
}

bool Snapshot::has_pod(std::string_view ns, const IpAddress& address) const noexcept {
    return impl_->maps.pod_addresses.find(Hasher().add(ns).add(address).done(),
                                          [&](const PodAddressRecord& r) {
                                              return r.address == address && r.ns == ns;
                                          }) != nullptr;
}

size_t Snapshot::service_count() const noexcept {
    return impl_->maps.services.size();
}

size_t Snapshot::endpoint_count() const noexcept {
    return impl_->maps.endpoint_count;
}

std::string endpoint_label(const EndpointView& e) {
    return e.hostname().empty() ? dashed_address(e.address) : std::string(e.hostname());
}

}  // namespace clusterdns
