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

void Cluster::replace(ObjectKind kind, Cluster&& from) {
    switch (kind) {
        case ObjectKind::Namespace:
            namespaces = std::move(from.namespaces);
            return;
        case ObjectKind::Service:
            services = std::move(from.services);
            return;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints: {
            const bool legacy = kind == ObjectKind::Endpoints;
            std::erase_if(endpoint_sets, [&](const auto& e) { return e.second.legacy == legacy; });
            for (auto& [k, set] : from.endpoint_sets) {
                if (set.legacy == legacy) {
                    endpoint_sets.insert_or_assign(k, std::move(set));
                }
            }
            return;
        }
        case ObjectKind::Pod:
            pods = std::move(from.pods);
            return;
    }
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

Status validate(const Service& service) {
    if (auto s = check_dns1123_label("metadata.namespace", service.ns); !s) {
        return s;
    }
    if (auto s = check_dns1035_label("metadata.name", service.name); !s) {
        return s;
    }
    if (service.type == ServiceType::ExternalName) {
        if (service.external_name.empty()) {
            return Error{"spec.externalName: required for type ExternalName"};
        }
        return check_dns1123_subdomain("spec.externalName", service.external_name);
    }
    if (!service.headless && service.cluster_ips.empty()) {
        return Error{
            "spec.clusterIP: required when loading manifests (no API server allocates one); "
            "set an address, or \"None\" for a headless Service"};
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

}  // namespace clusterdns
