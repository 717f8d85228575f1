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

// Cold-path name construction: the parts come from validated objects, so failure is a bug or an
// over-long name, which we skip rather than abort the whole zone.
std::optional<Name> make_name(std::string_view text) {
    auto name = Name::from_text(text);
    if (!name) {
        return std::nullopt;
    }
    name->to_lower();
    return *name;
}

std::vector<uint8_t> rdata_of(const Name& name) {
    const WireName w = name.wire();
    return {w.begin(), w.end()};
}

std::vector<uint8_t> srv_rdata(uint16_t weight, uint16_t port, const Name& target) {
    std::vector<uint8_t> out = {0, 0, static_cast<uint8_t>(weight >> 8),
                                static_cast<uint8_t>(weight), static_cast<uint8_t>(port >> 8),
                                static_cast<uint8_t>(port)};
    const WireName w = target.wire();
    out.insert(out.end(), w.begin(), w.end());
    return out;
}

std::string reverse_name(const IpAddress& ip) {
    std::string out;
    if (!ip.v6) {
        for (int i = 3; i >= 0; --i) {
            out += fmt::format("{}.", ip.bytes[static_cast<size_t>(i)]);
        }
        return out + "in-addr.arpa";
    }
    for (int i = 15; i >= 0; --i) {
        const uint8_t b = ip.bytes[static_cast<size_t>(i)];
        out += fmt::format("{:x}.{:x}.", b & 0xF, b >> 4);
    }
    return out + "ip6.arpa";
}

class Records {
public:
    Records(ZoneBuilder& builder, const ZoneOptions& options)
        : builder_(builder), ttl_(options.ttl_seconds) {}

    void address(const Name& owner, const IpAddress& ip) {
        builder_.add(owner, ip.v6 ? RrType::Aaaa : RrType::A, ttl_, ip.octets());
    }
    void add(const Name& owner, RrType type, std::span<const uint8_t> rdata) {
        builder_.add(owner, type, ttl_, rdata);
    }
    // SRV entries are gathered per owner first: CoreDNS's weight is 100 divided by the number
    // of entries answering the name, counted before duplicates are merged.
    void srv(const Name& owner, uint16_t port, const Name& target) {
        srv_[std::string(reinterpret_cast<const char*>(owner.wire().data()), owner.size())]
            .push_back({port, target});
    }
    void flush_srv() {
        for (const auto& [key, entries] : srv_) {
            Name owner;
            Name::from_wire({reinterpret_cast<const uint8_t*>(key.data()), key.size()}, owner);
            const auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / entries.size()));
            for (const auto& [port, target] : entries) {
                add(owner, RrType::Srv, srv_rdata(weight, port, target));
            }
        }
        srv_.clear();
    }

private:
    ZoneBuilder& builder_;
    uint32_t ttl_;
    std::map<std::string, std::vector<std::pair<uint16_t, Name>>> srv_;
};

struct ServiceEndpoint {
    const Endpoint* endpoint;
    const std::vector<ServicePort>* ports;
};

// The endpoints DNS publishes for a Service: ready ones (or all, with publishNotReadyAddresses)
// from its EndpointSlices, or from its legacy Endpoints object when it has no slice.
std::vector<ServiceEndpoint> published_endpoints(
    const Service& service, const std::multimap<std::string, const EndpointSet*>& by_service) {
    const auto [first, last] = by_service.equal_range(fmt::format("{}/{}", service.ns, service.name));
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

void add_service(Records& records, const Service& service,
                 const std::vector<ServiceEndpoint>& endpoints, const std::string& origin,
                 std::map<IpAddress, Name>& service_ptr,
                 std::map<IpAddress, std::vector<Name>>& endpoint_ptr) {
    const std::string base_text = fmt::format("{}.{}.svc.{}", service.name, service.ns, origin);
    const auto base = make_name(base_text);
    if (!base) {
        return;
    }
    if (service.type == ServiceType::ExternalName) {
        if (const auto target = make_name(service.external_name)) {
            records.add(*base, RrType::Cname, rdata_of(*target));
        }
        return;
    }
    auto port_owner = [&](const ServicePort& port) {
        return make_name(fmt::format("_{}._{}.{}", port.name, port.protocol, base_text));
    };

    // Endpoint names exist under every Service with endpoints (as CoreDNS answers them).
    struct EndpointName {
        Name name;
        IpAddress ip;
        const ServiceEndpoint* endpoint;
    };
    std::vector<EndpointName> endpoint_names;
    for (const ServiceEndpoint& se : endpoints) {
        for (const IpAddress& ip : se.endpoint->addresses) {
            const std::string& label =
                se.endpoint->hostname.empty() ? dashed_address(ip) : se.endpoint->hostname;
            const auto name = make_name(fmt::format("{}.{}", label, base_text));
            if (!name) {
                continue;
            }
            records.address(*name, ip);
            endpoint_ptr[ip].push_back(*name);
            endpoint_names.push_back({*name, ip, &se});
        }
    }

    if (!service.headless) {
        for (const IpAddress& ip : service.cluster_ips) {
            records.address(*base, ip);
            service_ptr.try_emplace(ip, *base);
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

std::string dashed_address(const IpAddress& ip) {
    std::string text = ip_to_text(ip);
    std::replace(text.begin(), text.end(), ip.v6 ? ':' : '.', '-');
    return text;
}

Result<std::shared_ptr<const Zone>> build_zone(const Cluster& cluster, const ZoneOptions& options) {
    const auto origin = make_name(options.origin);
    if (!origin || origin->is_root()) {
        return Error{fmt::format("zone \"{}\" is not a domain name", options.origin)};
    }
    const std::string origin_text = name_to_text(origin->wire());
    const std::string zone_text = origin_text.substr(0, origin_text.size() - 1);

    ZoneBuilder builder;
    Records records(builder, options);
    const uint32_t ttl = options.ttl_seconds;

    // Apexes: SOA and NS as CoreDNS's kubernetes plugin writes them.
    for (const std::string& apex_text : {zone_text, std::string("in-addr.arpa"),
                                        std::string("ip6.arpa")}) {
        const Name apex = *make_name(apex_text);
        const Name mname = *make_name(fmt::format("ns.dns.{}", apex_text));
        const Name rname = *make_name(fmt::format("hostmaster.{}", apex_text));
        std::vector<uint8_t> soa = rdata_of(mname);
        const auto rn = rdata_of(rname);
        soa.insert(soa.end(), rn.begin(), rn.end());
        for (const uint32_t v : {options.serial, 7200u, 1800u, 86400u, ttl}) {
            soa.insert(soa.end(), {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                                   static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
        }
        builder.add_apex(apex);
        builder.add(apex, RrType::Soa, std::min(ttl, 300u), soa);
        builder.add(apex, RrType::Ns, ttl, rdata_of(mname));
        for (const IpAddress& ip : options.ns_addresses) {
            records.address(mname, ip);
        }
    }

    const Name version = *make_name(fmt::format("dns-version.{}", zone_text));
    std::vector<uint8_t> txt = {static_cast<uint8_t>(std::string_view(kDnsSchemaVersion).size())};
    txt.insert(txt.end(), kDnsSchemaVersion, kDnsSchemaVersion + txt[0]);
    builder.add(version, RrType::Txt, kDnsVersionTtlSeconds, txt);

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
    builder.add_name(*make_name(fmt::format("svc.{}", zone_text)));
    builder.add_name(*make_name(fmt::format("pod.{}", zone_text)));
    for (const std::string& ns : namespaces) {
        if (const auto n = make_name(fmt::format("{}.svc.{}", ns, zone_text))) {
            builder.add_name(*n);
        }
        if (const auto n = make_name(fmt::format("{}.pod.{}", ns, zone_text))) {
            builder.add_name(*n);
        }
    }

    std::multimap<std::string, const EndpointSet*> by_service;
    for (const auto& [key, set] : cluster.endpoint_sets) {
        by_service.emplace(fmt::format("{}/{}", set.ns, set.service), &set);
    }
    std::map<IpAddress, Name> service_ptr;
    std::map<IpAddress, std::vector<Name>> endpoint_ptr;
    for (const auto& [key, service] : cluster.services) {
        add_service(records, service, published_endpoints(service, by_service), zone_text,
                    service_ptr, endpoint_ptr);
    }
    records.flush_srv();

    // PTR: a ClusterIP names its Service; any other address names every endpoint it is.
    for (const auto& [ip, target] : service_ptr) {
        if (const auto owner = make_name(reverse_name(ip))) {
            records.add(*owner, RrType::Ptr, rdata_of(target));
        }
    }
    for (const auto& [ip, targets] : endpoint_ptr) {
        if (service_ptr.count(ip) != 0) {
            continue;
        }
        if (const auto owner = make_name(reverse_name(ip))) {
            for (const Name& target : targets) {
                records.add(*owner, RrType::Ptr, rdata_of(target));
            }
        }
    }
    return builder.build();
}

}  // namespace clusterdns
