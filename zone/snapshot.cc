#include "zone/snapshot.h"

#include <algorithm>

#include "zone/records.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"

namespace clusterdns {

using namespace records;

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
        [&](const ServiceRecord& s) { return s.view.name == name && s.view.ns == ns; });
    return r == nullptr ? nullptr : &r->view;
}

std::span<const PtrTarget> Snapshot::ptr_targets(const IpAddress& address) const noexcept {
    const PtrRecord* r = impl_->maps.ptrs.find(
        Hasher().add(address).done(), [&](const PtrRecord& p) { return p.address == address; });
    return r == nullptr ? std::span<const PtrTarget>() : r->targets().first(r->visible);
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
    return e.hostname.empty() ? dashed_address(e.address) : std::string(e.hostname);
}

}  // namespace clusterdns
