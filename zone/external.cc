#include "zone/external.h"

#include <cstring>

#include <fmt/format.h>

#include "zone/schema.h"

namespace clusterdns {

namespace {

std::string wire_key(const Name& name) {
    const WireName wire = name.wire();
    return {reinterpret_cast<const char*>(wire.data()), wire.size()};
}

// ns.dns.<zone>. hostmaster.<zone>. serial 7200 1800 86400 ttl, as the cluster zone's.
void add_soa(ResponseWriter& w, Section section, WireName zone, uint32_t ttl,
             uint32_t serial) noexcept {
    uint8_t rdata[2 * kMaxNameWire + 20];
    size_t at = 0;
    const auto put_name = [&](std::string_view labels) {
        size_t start = 0;
        while (start < labels.size()) {
            const size_t dot = std::min(labels.find('.', start), labels.size());
            rdata[at++] = static_cast<uint8_t>(dot - start);
            std::memcpy(rdata + at, labels.data() + start, dot - start);
            at += dot - start;
            start = dot + 1;
        }
        std::memcpy(rdata + at, zone.data(), zone.size());
        at += zone.size();
    };
    if (zone.size() + 16 > kMaxNameWire) {
        return;  // a zone this long has no room for the SOA's names
    }
    put_name(kNameServerLabels);
    put_name(kHostmasterLabel);
    for (const uint32_t v : {serial, 7200u, 1800u, 86400u, ttl}) {
        rdata[at++] = static_cast<uint8_t>(v >> 24);
        rdata[at++] = static_cast<uint8_t>(v >> 16);
        rdata[at++] = static_cast<uint8_t>(v >> 8);
        rdata[at++] = static_cast<uint8_t>(v);
    }
    w.add(section, zone, RrType::Soa, ttl, {rdata, at});
}

// ns.dns.<zone> into `out`; its size, or 0 when the zone is too long for it.
size_t name_server(WireName zone, uint8_t (&out)[kMaxNameWire]) noexcept {
    const uint8_t labels[] = {2, 'n', 's', 3, 'd', 'n', 's'};
    if (zone.size() + sizeof labels > sizeof out) {
        return 0;
    }
    std::memcpy(out, labels, sizeof labels);
    std::memcpy(out + sizeof labels, zone.data(), zone.size());
    return sizeof labels + zone.size();
}

bool add_addresses(ResponseWriter& w, Section section, WireName owner,
                   std::span<const IpAddress> addresses, RrType type, uint32_t ttl) noexcept {
    bool added = false;
    for (const IpAddress& ip : addresses) {
        if ((type == RrType::A && !ip.v6) || (type == RrType::Aaaa && ip.v6) ||
            type == RrType::Any) {
            added |= w.add(section, owner, ip.v6 ? RrType::Aaaa : RrType::A, ttl, ip.octets());
        }
    }
    return added;
}

// The apex NS and, in the additional section, its addresses (as the cluster zone answers).
void add_ns(ResponseWriter& w, WireName zone, uint32_t ttl,
            std::span<const IpAddress> ns_addresses) noexcept {
    uint8_t ns[kMaxNameWire];
    const size_t size = name_server(zone, ns);
    if (size == 0) {
        return;
    }
    w.add(Section::Answer, zone, RrType::Ns, ttl, {ns, size});
    add_addresses(w, Section::Additional, {ns, size}, ns_addresses, RrType::Any, ttl);
}

}  // namespace

std::shared_ptr<const ExternalZones> build_external_zones(
    const std::vector<std::string>& zones, const std::map<std::string, Exposed>& exposed,
    const std::vector<IpAddress>& fallback) {
    auto out = std::make_shared<ExternalZones>();
    for (const std::string& text : zones) {
        auto zone = Name::from_text(text);
        if (!zone) {
            continue;  // checked with the options
        }
        zone->to_lower();
        out->zones.push_back(*zone);
        for (const auto& [key, e] : exposed) {
            const std::vector<IpAddress>& addresses =
                e.addresses.empty() && (e.load_balancer || !e.hosts.empty()) ? fallback
                                                                              : e.addresses;
            std::vector<std::string> owners = e.hosts;
            if (!e.service.empty()) {
                owners.push_back(fmt::format("{}.{}", e.service, text));
            }
            for (const std::string& owner : owners) {
                auto name = Name::from_text(owner);
                if (!name) {
                    continue;
                }
                name->to_lower();
                if (!name_in_zone(name->wire(), zone->wire())) {
                    continue;
                }
                auto& list = out->names[wire_key(*name)];
                list.insert(list.end(), addresses.begin(), addresses.end());
                std::sort(list.begin(), list.end());
                list.erase(std::unique(list.begin(), list.end()), list.end());
            }
        }
    }
    return out;
}

bool answer_external(const ExternalZones& external, const Query& q, uint32_t ttl,
                     uint32_t serial, std::span<const IpAddress> ns_addresses,
                     ResponseWriter& w) noexcept {
    const WireName name = q.qname_lower.wire();
    const Name* zone = nullptr;
    for (const Name& z : external.zones) {
        if (name_in_zone(name, z.wire())) {
            zone = &z;
            break;
        }
    }
    if (zone == nullptr) {
        return false;
    }
    w.set_authoritative(true);
    // ns.dns.<zone>, and dns.<zone> above it (empty: NODATA, and no wildcard answers it).
    uint8_t ns[kMaxNameWire];
    const size_t ns_size = ns_addresses.empty() ? 0 : name_server(zone->wire(), ns);
    const bool is_name_server = ns_size != 0 && name_equal(name, {ns, ns_size});
    const bool above_name_server =
        ns_size != 0 && name_equal(name, name_parent({ns, ns_size}));
    const std::string_view key(reinterpret_cast<const char*>(name.data()), name.size());
    auto it = external.names.find(key);
    if (it == external.names.end() && !is_name_server && !above_name_server &&
        name_label_count(name) > name_label_count(zone->wire())) {
        // "*.<parent>": an Ingress's wildcard host.
        const WireName parent = name_parent(name);
        uint8_t wildcard[kMaxNameWire];
        if (parent.size() + 2 <= sizeof wildcard) {
            wildcard[0] = 1;
            wildcard[1] = '*';
            std::memcpy(wildcard + 2, parent.data(), parent.size());
            it = external.names.find(
                std::string_view(reinterpret_cast<const char*>(wildcard), parent.size() + 2));
        }
    }
    const bool apex = name_equal(name, zone->wire());
    bool answered = false;
    if (apex && (q.qtype == RrType::Soa || q.qtype == RrType::Ns)) {
        if (q.qtype == RrType::Soa) {
            add_soa(w, Section::Answer, zone->wire(), ttl, serial);
        } else {
            add_ns(w, zone->wire(), ttl, ns_addresses);
        }
        answered = true;
    }
    if (is_name_server) {
        answered |= add_addresses(w, Section::Answer, q.qname_lower.wire(), ns_addresses,
                                  q.qtype, ttl);
    }
    if (it != external.names.end()) {
        answered |=
            add_addresses(w, Section::Answer, q.qname_lower.wire(), it->second, q.qtype, ttl);
    }
    if (!answered) {
        const bool exists =
            apex || it != external.names.end() || is_name_server || above_name_server;
        w.set_rcode(exists ? Rcode::NoError : Rcode::NxDomain);
        add_soa(w, Section::Authority, zone->wire(), ttl, serial);
    }
    return true;
}

}  // namespace clusterdns
