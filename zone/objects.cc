#include "zone/objects.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace clusterdns {
namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

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
    keys_.push_back({static_cast<uint32_t>(text_.size()), static_cast<uint16_t>(ns.size()),
                     static_cast<uint16_t>(name.size())});
    text_.append(ns).append(name);
}

bool NameSet::less(const Key& a, const Key& b) const {
    return std::make_pair(ns_of(a), name_of(a)) < std::make_pair(ns_of(b), name_of(b));
}

void NameSet::seal() {
    std::sort(keys_.begin(), keys_.end(), [this](const Key& a, const Key& b) { return less(a, b); });
    keys_.erase(std::unique(keys_.begin(), keys_.end(),
                            [this](const Key& a, const Key& b) { return !less(a, b) && !less(b, a); }),
                keys_.end());
}

bool NameSet::contains(std::string_view ns, std::string_view name) const {
    const auto wanted = std::make_pair(ns, name);
    const auto it = std::lower_bound(keys_.begin(), keys_.end(), wanted,
                                     [this](const Key& k, const auto& w) {
                                         return std::make_pair(ns_of(k), name_of(k)) < w;
                                     });
    return it != keys_.end() && ns_of(*it) == ns && name_of(*it) == name;
}

void NameSet::clear() {
    std::vector<Key>().swap(keys_);
    std::string().swap(text_);
}

Status check_dns1123_label(std::string_view field, std::string_view value) {
    const bool ok = !value.empty() && value.size() <= 63 && is_lower_alnum(value.front()) &&
                    is_lower_alnum(value.back()) &&
                    std::all_of(value.begin(), value.end(),
                                [](char c) { return is_lower_alnum(c) || c == '-'; });
    if (!ok) {
        return Error{
            fmt::format("{}: {} is not a DNS label (RFC 1123: at most 63 lowercase "
                        "letters, digits and '-', starting and ending alphanumeric)",
                        field, quoted(value))};
    }
    return {};
}

Status check_dns1035_label(std::string_view field, std::string_view value) {
    if (!value.empty() && !(value.front() >= 'a' && value.front() <= 'z')) {
        return Error{fmt::format("{}: {} must start with a lowercase letter (RFC 1035 label)",
                                 field, quoted(value))};
    }
    return check_dns1123_label(field, value);
}

Status check_dns1123_subdomain(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > 253) {
        return Error{
            fmt::format("{}: {} is not a DNS name (1 to 253 characters)", field, quoted(value))};
    }
    size_t start = 0;
    while (start <= value.size()) {
        const size_t dot = std::min(value.find('.', start), value.size());
        if (!check_dns1123_label(field, value.substr(start, dot - start))) {
            return Error{
                fmt::format("{}: {} is not a DNS name (RFC 1123 subdomain: "
                            "lowercase labels of letters, digits and '-')",
                            field, quoted(value))};
        }
        start = dot + 1;
    }
    return {};
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
    return Error{fmt::format("{}: {} is not a protocol (TCP, UDP or SCTP)", field, quoted(value))};
}

Status check_port_name(std::string_view field, std::string_view value) {
    // IANA_SVC_NAME, as the API server validates port names.
    const bool has_letter =
        std::any_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    const bool ok = value.size() <= 15 && has_letter && value.front() != '-' &&
                    value.back() != '-' && value.find("--") == std::string_view::npos &&
                    std::all_of(value.begin(), value.end(),
                                [](char c) { return is_lower_alnum(c) || c == '-'; });
    if (!ok) {
        return Error{
            fmt::format("{}: {} is not a port name (at most 15 lowercase letters, "
                        "digits and '-', with at least one letter)",
                        field, quoted(value))};
    }
    return {};
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
    if (service.type == ServiceType::ExternalName) {
        if (service.external_name.empty()) {
            return Error{"spec.externalName: required for type ExternalName"};
        }
        return check_dns1123_subdomain("spec.externalName", service.external_name);
    }
    if (service.cluster_ips.size() == 2 && service.cluster_ips[0].v6 == service.cluster_ips[1].v6) {
        return Error{"spec.clusterIPs: a dual-stack Service needs one IPv4 and one IPv6 address"};
    }
    if (service.cluster_ips.size() > 2) {
        return Error{"spec.clusterIPs: at most two addresses (one per IP family)"};
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
    for (size_t i = 0; i < set.endpoints.size(); ++i) {
        const Endpoint& e = set.endpoints[i];
        if (!e.hostname.empty()) {
            if (auto s = check_dns1123_label(fmt::format("endpoints[{}].hostname", i), e.hostname);
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
