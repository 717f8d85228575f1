#include "zone/cluster_zone.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace clusterdns {
namespace {

// Built-in namespaces every cluster has, whether or not the manifests mention them.
constexpr const char* kBuiltinNamespaces[] = {"default", "kube-system", "kube-public",
                                              "kube-node-lease"};

// Names built here are kept as their lowercase wire bytes: a Name is 256 bytes inline, too big
// to hold hundreds of thousands of.
using WireBytes = std::string;

WireName view(const WireBytes& bytes) {
    return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}

// Cold-path name construction: the parts come from validated objects, so failure means an
// over-long name, which we skip rather than abort the whole zone.
std::optional<WireBytes> make_name(std::string_view text) {
    auto name = Name::from_text(text);
    if (!name) {
        return std::nullopt;
    }
    name->to_lower();
    const WireName w = name->wire();
    return WireBytes(reinterpret_cast<const char*>(w.data()), w.size());
}

// A fixed name under `zone_text` (labels.zone), or an Error: the origin was validated, so only a
// caller who skipped validate_zone_name gets here with a zone too long for it.
Result<WireBytes> derived_name(std::string_view labels, std::string_view zone_text) {
    if (auto name = make_name(fmt::format("{}.{}", labels, zone_text))) {
        return std::move(*name);
    }
    // Wire form: a length octet per label instead of each dot, plus the root.
    return Error{fmt::format(
        "zone name too long: {}.<zone> would take {} octets, more than {} (the zone has {} "
        "characters)",
        labels, labels.size() + zone_text.size() + 3, kMaxNameWire, zone_text.size())};
}

std::vector<uint8_t> srv_rdata(uint16_t weight, uint16_t port, const WireBytes& target) {
    std::vector<uint8_t> out = {0,
                                0,
                                static_cast<uint8_t>(weight >> 8),
                                static_cast<uint8_t>(weight),
                                static_cast<uint8_t>(port >> 8),
                                static_cast<uint8_t>(port)};
    out.insert(out.end(), target.begin(), target.end());
    return out;
}

std::string reverse_name(const IpAddress& ip) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    if (!ip.v6) {
        for (int i = 3; i >= 0; --i) {
            out += std::to_string(ip.bytes[static_cast<size_t>(i)]);
            out += '.';
        }
        return out + "in-addr.arpa";
    }
    for (int i = 15; i >= 0; --i) {
        const uint8_t b = ip.bytes[static_cast<size_t>(i)];
        out += {kHex[b & 0xF], '.', kHex[b >> 4], '.'};
    }
    return out + "ip6.arpa";
}

class Records {
public:
    Records(ZoneBuilder& builder, const ZoneOptions& options,
            const std::set<IpAddress>& cluster_ips)
        : builder_(builder), ttl_(options.ttl_seconds), cluster_ips_(cluster_ips) {}

    void address(const WireBytes& owner, const IpAddress& ip) {
        builder_.add(view(owner), ip.v6 ? RrType::Aaaa : RrType::A, ttl_, ip.octets());
    }
    void add(const WireBytes& owner, RrType type, std::span<const uint8_t> rdata) {
        builder_.add(view(owner), type, ttl_, rdata);
    }
    // PTR: a ClusterIP names its Service; any other address names every endpoint it is.
    void service_ptr(const IpAddress& ip, const WireBytes& service) { ptr(ip, service); }
    void endpoint_ptr(const IpAddress& ip, const WireBytes& endpoint) {
        if (cluster_ips_.count(ip) == 0) {
            ptr(ip, endpoint);
        }
    }
    // SRV entries are gathered per Service first: CoreDNS's weight is 100 divided by the number
    // of entries answering the name, counted before duplicates are merged.
    void srv(const WireBytes& owner, uint16_t port, const WireBytes& target) {
        srv_.push_back({owner, port, target});
    }
    void flush_srv() {
        std::stable_sort(srv_.begin(), srv_.end(),
                         [](const Srv& a, const Srv& b) { return a.owner < b.owner; });
        for (size_t first = 0; first < srv_.size();) {
            size_t last = first;
            while (last < srv_.size() && srv_[last].owner == srv_[first].owner) {
                ++last;
            }
            const auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / (last - first)));
            for (; first < last; ++first) {
                add(srv_[first].owner, RrType::Srv,
                    srv_rdata(weight, srv_[first].port, srv_[first].target));
            }
        }
        srv_.clear();
    }

private:
    struct Srv {
        WireBytes owner;
        uint16_t port;
        WireBytes target;
    };
    void ptr(const IpAddress& ip, const WireBytes& target) {
        if (const auto owner = make_name(reverse_name(ip))) {
            add(*owner, RrType::Ptr, view(target));
        }
    }

    ZoneBuilder& builder_;
    uint32_t ttl_;
    const std::set<IpAddress>& cluster_ips_;
    std::vector<Srv> srv_;
};

struct ServiceEndpoint {
    const Endpoint* endpoint;
    const std::vector<ServicePort>* ports;
};

// The endpoints DNS publishes for a Service: ready ones (or all, with publishNotReadyAddresses)
// from its EndpointSlices, or from its legacy Endpoints object when it has no slice.
std::vector<ServiceEndpoint> published_endpoints(
    const Service& service, const std::multimap<std::string, const EndpointSet*>& by_service) {
    const auto [first, last] =
        by_service.equal_range(fmt::format("{}/{}", service.ns, service.name));
    const bool has_slices =
        std::any_of(first, last, [](const auto& entry) { return !entry.second->legacy; });
    std::vector<ServiceEndpoint> out;
    for (auto it = first; it != last; ++it) {
        const EndpointSet& set = *it->second;
        if (set.legacy == has_slices) {
            continue;
        }
        for (const Endpoint& endpoint : set.endpoints) {
            if (endpoint.ready || service.publish_not_ready_addresses) {
                out.push_back({&endpoint, &set.ports});
            }
        }
    }
    return out;
}

// The label of an endpoint's own name (specification 2.4.1: hostname, else a unique label).
std::string endpoint_label(const Endpoint& endpoint, const IpAddress& ip, bool pod_names) {
    if (!endpoint.hostname.empty()) {
        return endpoint.hostname;
    }
    if (pod_names && !endpoint.pod.empty() && check_dns1123_label("", endpoint.pod)) {
        return endpoint.pod;
    }
    return dashed_address(ip);
}

void add_service(Records& records, const Service& service,
                 const std::vector<ServiceEndpoint>& endpoints, const std::string& origin,
                 bool endpoint_pod_names) {
    const std::string base_text = fmt::format("{}.{}.svc.{}", service.name, service.ns, origin);
    const auto base = make_name(base_text);
    if (!base) {
        return;
    }
    if (service.type == ServiceType::ExternalName) {
        // An address is no host name to alias: CoreDNS publishes no record for it either.
        if (parse_ip(service.external_name)) {
            return;
        }
        if (const auto target = make_name(service.external_name)) {
            records.add(*base, RrType::Cname, view(*target));
        }
        return;
    }
    auto port_owner = [&](const ServicePort& port) {
        return make_name(fmt::format("_{}._{}.{}", port.name, port.protocol, base_text));
    };

    // Endpoint names exist under every Service with endpoints (as CoreDNS answers them).
    struct EndpointName {
        WireBytes name;
        IpAddress ip;
        const ServiceEndpoint* endpoint;
    };
    std::vector<EndpointName> endpoint_names;
    for (const ServiceEndpoint& se : endpoints) {
        for (const IpAddress& ip : se.endpoint->addresses) {
            const std::string label = endpoint_label(*se.endpoint, ip, endpoint_pod_names);
            auto name = make_name(fmt::format("{}.{}", label, base_text));
            if (!name) {
                continue;
            }
            records.address(*name, ip);
            records.endpoint_ptr(ip, *name);
            endpoint_names.push_back({std::move(*name), ip, &se});
        }
    }

    if (!service.headless) {
        for (const IpAddress& ip : service.cluster_ips) {
            records.address(*base, ip);
            records.service_ptr(ip, *base);
        }
        for (const ServicePort& port : service.ports) {
            for (size_t i = 0; i < service.cluster_ips.size(); ++i) {
                records.srv(*base, port.port, *base);
            }
            if (port.name.empty()) {
                continue;
            }
            if (const auto owner = port_owner(port)) {
                for (const IpAddress& ip : service.cluster_ips) {
                    records.address(*owner, ip);  // CoreDNS answers A/AAAA on SRV names too
                    records.srv(*owner, port.port, *base);
                }
            }
        }
        return;
    }

    // Headless: the Service name lists its endpoints; SRV points at each endpoint's name, with
    // the endpoint's own port numbers.
    for (const EndpointName& e : endpoint_names) {
        records.address(*base, e.ip);
        for (const ServicePort& port : *e.endpoint->ports) {
            records.srv(*base, port.port, e.name);
            if (port.name.empty()) {
                continue;
            }
            if (const auto owner = port_owner(port)) {
                records.address(*owner, e.ip);
                records.srv(*owner, port.port, e.name);
            }
        }
    }
}

}  // namespace

Result<std::shared_ptr<const Zone>> build_zone(const Cluster& cluster, const ZoneOptions& options) {
    if (Status valid = validate_zone_name(options.origin); !valid) {
        return valid.error();
    }
    const auto origin = make_name(options.origin);
    if (!origin) {
        return Error{fmt::format("zone {} is not a domain name", quoted(options.origin))};
    }
    const std::string origin_text = name_to_text(view(*origin));
    const std::string zone_text = origin_text.substr(0, origin_text.size() - 1);

    std::set<IpAddress> cluster_ips;
    for (const auto& [key, service] : cluster.services) {
        cluster_ips.insert(service.cluster_ips.begin(), service.cluster_ips.end());
    }
    ZoneBuilder builder;
    Records records(builder, options, cluster_ips);
    const uint32_t ttl = options.ttl_seconds;

    // Apexes: SOA as CoreDNS's kubernetes plugin writes it. Every apex names one name server,
    // ns.dns.<zone>, whose addresses are where we listen.
    // Each fixed name is checked even though validate_zone_name vouched for the origin: an
    // unchecked optional here once turned a 242-character zone into a double free.
    const auto name_server = derived_name(kNameServerLabels, zone_text);
    if (!name_server) {
        return name_server.error();
    }
    for (const IpAddress& ip : options.ns_addresses) {
        records.address(*name_server, ip);
    }
    for (const std::string& apex_text :
         {zone_text, std::string("in-addr.arpa"), std::string("ip6.arpa")}) {
        const auto apex = make_name(apex_text);
        if (!apex) {
            return Error{fmt::format("zone {} is not a domain name", quoted(apex_text))};
        }
        const auto mname = derived_name(kNameServerLabels, apex_text);
        if (!mname) {
            return mname.error();
        }
        const auto rname = derived_name(kHostmasterLabel, apex_text);
        if (!rname) {
            return rname.error();
        }
        std::vector<uint8_t> soa(mname->begin(), mname->end());
        soa.insert(soa.end(), rname->begin(), rname->end());
        for (const uint32_t v : {options.serial, 7200u, 1800u, 86400u, ttl}) {
            soa.insert(soa.end(), {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                                   static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
        }
        builder.add_apex(view(*apex));
        builder.add(view(*apex), RrType::Soa, std::min(ttl, 300u), soa);
        builder.add(view(*apex), RrType::Ns, ttl, view(*name_server));
    }

    const auto version = derived_name(kVersionLabel, zone_text);
    if (!version) {
        return version.error();
    }
    std::vector<uint8_t> txt = {static_cast<uint8_t>(std::string_view(kDnsSchemaVersion).size())};
    txt.insert(txt.end(), kDnsSchemaVersion, kDnsSchemaVersion + txt[0]);
    builder.add(view(*version), RrType::Txt, kDnsVersionTtlSeconds, txt);

    // Namespaces exist whether declared or only used; the built-in ones always do.
    std::set<std::string> namespaces(std::begin(kBuiltinNamespaces), std::end(kBuiltinNamespaces));
    for (const auto& [name, ns] : cluster.namespaces) {
        namespaces.insert(name);
    }
    for (const auto& [key, service] : cluster.services) {
        namespaces.insert(service.ns);
    }
    for (const auto& [key, pod] : cluster.pods) {
        namespaces.insert(pod.ns);
    }
    for (const std::string_view label : {kServicesLabel, kPodsLabel}) {
        const auto parent = derived_name(label, zone_text);
        if (!parent) {
            return parent.error();
        }
        builder.add_name(view(*parent));
        for (const std::string& ns : namespaces) {
            if (const auto n = make_name(fmt::format("{}.{}.{}", ns, label, zone_text))) {
                builder.add_name(view(*n));
            }
        }
    }

    std::multimap<std::string, const EndpointSet*> by_service;
    for (const auto& [key, set] : cluster.endpoint_sets) {
        by_service.emplace(fmt::format("{}/{}", set.ns, set.service), &set);
    }
    for (const auto& [key, service] : cluster.services) {
        add_service(records, service, published_endpoints(service, by_service), zone_text,
                    options.endpoint_pod_names);
        records.flush_srv();
    }
    return builder.build();
}

}  // namespace clusterdns
