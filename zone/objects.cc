#include "zone/objects.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "zone/records.h"
#include "zone/validation.h"

namespace clusterdns {
namespace {

std::string key(std::string_view ns, std::string_view name) {
    return fmt::format("{}/{}", ns, name);
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) noexcept {
    char buf[64];
    // inet_pton reads up to a NUL: "10.0.0.1\0x" would pass as 10.0.0.1.
    if (text.empty() || text.size() >= sizeof buf || text.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress ip;
    if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
        return ip;
    }
    if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
        ip.v6 = true;
        return ip;
    }
    return std::nullopt;
}

std::string ip_to_text(const IpAddress& ip) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof buf);
    return buf;
}

void Cluster::upsert(Namespace ns) {
    std::string k = ns.name;
    namespaces.insert_or_assign(std::move(k), std::move(ns));
}

void Cluster::upsert(Service service) {
    services.insert_or_assign(key(service.ns, service.name), std::move(service));
}

void Cluster::upsert(EndpointSet set) {
    const std::string k =
        fmt::format("{}:{}", set.legacy ? "legacy" : "slice", key(set.ns, set.name));
    endpoint_sets.insert_or_assign(k, std::move(set));
}

void Cluster::upsert(Pod pod) {
    pods.insert_or_assign(key(pod.ns, pod.name), std::move(pod));
}

bool Cluster::change_cluster_ips(std::string_view ns, std::string_view name,
                                 std::span<const IpAddress> from, std::span<const IpAddress> to,
                                 uint8_t allocated) {
    const auto it = services.find(key(ns, name));
    if (it == services.end() || it->second.allocated_ips != allocated ||
        !std::equal(from.begin(), from.end(), it->second.cluster_ips.begin(),
                    it->second.cluster_ips.end())) {
        return false;
    }
    it->second.cluster_ips.assign(to.begin(), to.end());
    return true;
}

bool Cluster::erase(ObjectKind kind, std::string_view ns, std::string_view name) {
    switch (kind) {
        case ObjectKind::Namespace:
            return namespaces.erase(std::string(name)) > 0;
        case ObjectKind::Service:
            return services.erase(key(ns, name)) > 0;
        case ObjectKind::EndpointSlice:
            return endpoint_sets.erase("slice:" + key(ns, name)) > 0;
        case ObjectKind::Endpoints: {
            // One set per subset, keyed "legacy:ns/name/i".
            const std::string prefix = fmt::format("legacy:{}/", key(ns, name));
            auto first = endpoint_sets.lower_bound(prefix);
            auto last = first;
            while (last != endpoint_sets.end() && last->first.starts_with(prefix)) {
                ++last;
            }
            const bool found = first != last;
            endpoint_sets.erase(first, last);
            return found;
        }
        case ObjectKind::Pod:
            return pods.erase(key(ns, name)) > 0;
    }
    return false;
}

void Cluster::keep_only(ObjectKind kind, const NameSet& listed) {
    const auto unlisted = [&](std::string_view ns, std::string_view name) {
        return !listed.contains(ns, name);
    };
    switch (kind) {
        case ObjectKind::Namespace:
            std::erase_if(namespaces, [&](const auto& e) { return unlisted("", e.first); });
            return;
        case ObjectKind::Service:
            std::erase_if(services,
                          [&](const auto& e) { return unlisted(e.second.ns, e.second.name); });
            return;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints: {
            const bool legacy = kind == ObjectKind::Endpoints;
            std::erase_if(endpoint_sets, [&](const auto& e) {
                const EndpointSet& set = e.second;
                return set.legacy == legacy &&
                       unlisted(set.ns, legacy ? legacy_object_name(set.name) : set.name);
            });
            return;
        }
        case ObjectKind::Pod:
            std::erase_if(pods, [&](const auto& e) { return unlisted(e.second.ns, e.second.name); });
            return;
    }
}

std::string legacy_set_name(std::string_view endpoints_name, size_t subset) {
    return fmt::format("{}/{}", endpoints_name, subset);
}

std::string_view legacy_object_name(std::string_view set_name) {
    return set_name.substr(0, set_name.rfind('/'));
}

void NameSet::add(std::string_view ns, std::string_view name) {
    // The pair just added again (a Service, then its EndpointSlice) is not added twice: a load
    // of 100,000 Services and their slices marks half as many to sort.
    if (!keys_.empty() && ns_of(keys_.back()) == ns && name_of(keys_.back()) == name) {
        return;
    }
    keys_.push_back({static_cast<uint32_t>(text_.size()), static_cast<uint16_t>(ns.size()),
                     static_cast<uint16_t>(name.size())});
    text_.append(ns).append(name);
}

size_t NameSet::slot(std::string_view ns, std::string_view name) const {
    const size_t mask = index_.size() - 1;
    for (size_t i = records::key_hash(ns, name) & mask;; i = (i + 1) & mask) {
        if (index_[i] == 0) {
            return i;
        }
        const Key& k = keys_[index_[i] - 1];
        if (ns_of(k) == ns && name_of(k) == name) {
            return i;
        }
    }
}

void NameSet::seal() {
    // At most half full: a probe meets an empty slot within a few steps.
    index_.assign(std::bit_ceil(keys_.size() * 2 + 1), 0);
    size_t kept = 0;
    for (const Key& k : keys_) {
        uint32_t& entry = index_[slot(ns_of(k), name_of(k))];
        if (entry == 0) {
            keys_[kept] = k;
            entry = static_cast<uint32_t>(++kept);
        }
    }
    keys_.resize(kept);
}

bool NameSet::contains(std::string_view ns, std::string_view name) const {
    return !index_.empty() && index_[slot(ns, name)] != 0;
}

void NameSet::clear() {
    std::vector<Key>().swap(keys_);
    std::vector<uint32_t>().swap(index_);
    std::string().swap(text_);
}

// The formats are the table's (zone/validation.h); these keep their old names for the callers.
Status check_dns1123_label(std::string_view field, std::string_view value) {
    return check_format(ApiRule::DnsLabel, field, value);
}

Status check_dns1035_label(std::string_view field, std::string_view value) {
    return check_format(ApiRule::Dns1035Label, field, value);
}

Status check_dns1123_subdomain(std::string_view field, std::string_view value) {
    return check_format(ApiRule::DnsSubdomain, field, value);
}

Result<std::string> parse_protocol(std::string_view field, std::string_view value) {
    if (value.empty() || value == "TCP") {
        return std::string("tcp");
    }
    if (value == "UDP") {
        return std::string("udp");
    }
    if (value == "SCTP") {
        return std::string("sctp");
    }
    return Error{
        fmt::format("{}: {} is not {}", field, quoted(value), requirement(ApiRule::Protocol))};
}

Status check_port_name(std::string_view field, std::string_view value) {
    return check_format(ApiRule::IanaSvcName, field, value);
}

// The store counts an object's ports in 16 bits; no real object comes near.
static Status check_port_count(std::string_view field, const std::vector<ServicePort>& ports) {
    constexpr size_t kMaxPorts = UINT16_MAX;
    if (ports.size() > kMaxPorts) {
        return Error{fmt::format("{}: {} ports, more than the {} an object may have", field,
                                 ports.size(), kMaxPorts)};
    }
    return {};
}

// The first index of `ports` whose key(i) equals an earlier one's, and that earlier one; sorted,
// not compared pairwise: a Service may have thousands of ports.
template <class Key>
static std::optional<std::pair<size_t, size_t>> repeat(const std::vector<ServicePort>& ports,
                                                       Key key) {
    if (ports.size() <= 16) {  // most Services: pairwise, nothing allocated
        for (size_t again = 1; again < ports.size(); ++again) {
            for (size_t first = 0; first < again; ++first) {
                if (key(ports[first]) == key(ports[again])) {
                    return std::pair{again, first};
                }
            }
        }
        return std::nullopt;
    }
    std::vector<size_t> order(ports.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return key(ports[a]) < key(ports[b]); });
    std::optional<std::pair<size_t, size_t>> found;
    for (size_t i = 1; i < order.size(); ++i) {
        if (key(ports[order[i]]) == key(ports[order[i - 1]]) &&
            (!found || order[i] < found->first)) {
            found = std::pair{order[i], order[i - 1]};
        }
    }
    return found;
}

// Port names are DNS labels. `unique_names` (ServicePortNameUnique or SlicePortNameUnique):
// each name at most once, unnamed ports counted in a slice only; `unique_numbers`: each (port,
// protocol) pair at most once.
static Status check_ports(const std::vector<ServicePort>& ports, std::string_view path,
                          std::optional<ApiRule> unique_names, bool unique_numbers) {
    for (size_t i = 0; i < ports.size(); ++i) {
        if (!ports[i].name.empty() && !is_dns1123_label(ports[i].name)) {
            return check_format(ApiRule::DnsLabel, fmt::format("{}[{}].name", path, i),
                                ports[i].name);
        }
    }
    if (unique_names) {
        const bool unnamed_count = *unique_names == ApiRule::SlicePortNameUnique;
        const auto again = repeat(ports, [&](const ServicePort& p) {
            // In a Service, unnamed ports never collide: each has a key of its own.
            const ptrdiff_t own = unnamed_count || !p.name.empty() ? 0 : &p - ports.data() + 1;
            return std::pair(std::string_view(p.name), own);
        });
        if (again) {
            return rule_error(*unique_names, fmt::format("{}[{}].name", path, again->first),
                              fmt::format("{} is the name of {}[{}] too",
                                          quoted(ports[again->first].name), path, again->second));
        }
    }
    if (unique_numbers) {
        const auto again = repeat(ports, [](const ServicePort& p) {
            return std::pair(p.port, std::string_view(p.protocol));
        });
        if (again) {
            const ServicePort& p = ports[again->first];
            return rule_error(ApiRule::ServicePortUnique,
                              fmt::format("{}[{}]", path, again->first),
                              fmt::format("port {}/{} is {}[{}] too", p.port, p.protocol, path,
                                          again->second));
        }
    }
    return {};
}

Status validate(const Service& service) {
    if (auto s = check_dns1123_label("metadata.namespace", service.ns); !s) {
        return s;
    }
    if (auto s = check_dns1035_label("metadata.name", service.name); !s) {
        return s;
    }
    if (auto s = check_port_count("spec.ports", service.ports); !s) {
        return s;
    }
    if (auto s = check_ports(service.ports, "spec.ports", ApiRule::ServicePortNameUnique, true);
        !s) {
        return s;
    }
    if (service.type == ServiceType::ExternalName) {
        if (!service.cluster_ips.empty() || service.headless) {
            return rule_error(ApiRule::ExternalNameNoClusterIp, "spec.clusterIP",
                              service.headless ? std::string("\"None\"")
                                               : ip_to_text(service.cluster_ips[0]));
        }
        if (service.external_name.empty()) {
            return rule_error(ApiRule::ExternalNameRequired, "spec.externalName", "missing");
        }
        return check_dns1123_subdomain("spec.externalName", service.external_name);
    }
    if (service.headless && (service.type == ServiceType::NodePort ||
                             service.type == ServiceType::LoadBalancer)) {
        return rule_error(
            ApiRule::HeadlessType, "spec.clusterIP",
            fmt::format("\"None\" with type {}",
                        service.type == ServiceType::NodePort ? "NodePort" : "LoadBalancer"));
    }
    if (service.cluster_ips.size() > static_cast<size_t>(rule_limit(ApiRule::ClusterIpsCount))) {
        return rule_error(ApiRule::ClusterIpsCount, "spec.clusterIPs",
                          fmt::format("{} addresses", service.cluster_ips.size()));
    }
    if (service.cluster_ips.size() == 2 && service.cluster_ips[0].v6 == service.cluster_ips[1].v6) {
        return rule_error(
            ApiRule::ClusterIpsDualStack, "spec.clusterIPs",
            fmt::format("two {} addresses", service.cluster_ips[0].v6 ? "IPv6" : "IPv4"));
    }
    for (size_t i = 0; i < service.cluster_ips.size(); ++i) {
        const IpAddress& ip = service.cluster_ips[i];
        if (std::all_of(ip.bytes.begin(), ip.bytes.end(), [](uint8_t b) { return b == 0; })) {
            const std::string field = service.cluster_ips.size() == 1
                                          ? std::string("spec.clusterIP")
                                          : fmt::format("spec.clusterIPs[{}]", i);
            return rule_error(ApiRule::ClusterIpAllocatable, field,
                              fmt::format("{} is the unspecified address", ip_to_text(ip)));
        }
    }
    return {};
}

Status validate(const EndpointSet& set) {
    if (auto s = check_dns1123_label("metadata.namespace", set.ns); !s) {
        return s;
    }
    if (auto s = check_port_count("ports", set.ports); !s) {
        return s;
    }
    if (!set.legacy) {
        if (auto s = check_at_most(ApiRule::SliceEndpoints, "endpoints", set.endpoints.size(),
                                   "endpoints");
            !s) {
            return s;
        }
        if (auto s = check_at_most(ApiRule::SlicePorts, "ports", set.ports.size(), "ports"); !s) {
            return s;
        }
    } else if (set.ports.size() > 1) {
        for (size_t i = 0; i < set.ports.size(); ++i) {
            if (set.ports[i].name.empty()) {
                return rule_error(ApiRule::EndpointsPortNameRequired,
                                  fmt::format("ports[{}].name", i), "missing");
            }
        }
    }
    const auto unique = set.legacy ? std::nullopt : std::optional(ApiRule::SlicePortNameUnique);
    if (auto s = check_ports(set.ports, "ports", unique, false); !s) {
        return s;
    }
    for (size_t i = 0; i < set.endpoints.size(); ++i) {
        const Endpoint& e = set.endpoints[i];
        if (!e.hostname.empty()) {
            if (auto s = check_dns1123_label(fmt::format("endpoints[{}].hostname", i), e.hostname);
                !s) {
                return s;
            }
        }
        if (e.addresses.empty() ||
            e.addresses.size() > static_cast<size_t>(rule_limit(ApiRule::SliceAddresses))) {
            return rule_error(ApiRule::SliceAddresses, fmt::format("endpoints[{}].addresses", i),
                              fmt::format("{} addresses", e.addresses.size()));
        }
        for (size_t j = 0; j < e.addresses.size(); ++j) {
            if (auto s = check_non_special_ip(fmt::format("endpoints[{}].addresses[{}]", i, j),
                                              e.addresses[j]);
                !s) {
                return s;
            }
        }
    }
    return {};
}

bool selects(const LabelMap& selector, const LabelMap& labels) {
    return std::all_of(selector.begin(), selector.end(), [&](const auto& wanted) {
        return std::find(labels.begin(), labels.end(), wanted) != labels.end();
    });
}

void ListingSink::upsert(Namespace ns) {
    listed_[static_cast<size_t>(ObjectKind::Namespace)]->add("", ns.name);
    store_.upsert(std::move(ns));
}

void ListingSink::upsert(Service service) {
    listed_[static_cast<size_t>(ObjectKind::Service)]->add(service.ns, service.name);
    store_.upsert(std::move(service));
}

void ListingSink::upsert(EndpointSet set) {
    const ObjectKind kind = set.legacy ? ObjectKind::Endpoints : ObjectKind::EndpointSlice;
    listed_[static_cast<size_t>(kind)]->add(
        set.ns, set.legacy ? legacy_object_name(set.name) : std::string_view(set.name));
    store_.upsert(std::move(set));
}

void ListingSink::upsert(Pod pod) {
    listed_[static_cast<size_t>(ObjectKind::Pod)]->add(pod.ns, pod.name);
    store_.upsert(std::move(pod));
}

bool ListingSink::erase(ObjectKind kind, std::string_view ns, std::string_view name) {
    return store_.erase(kind, ns, name);
}

void ListingSink::keep_only(ObjectKind kind, const NameSet& listed) {
    store_.keep_only(kind, listed);
}

}  // namespace clusterdns
