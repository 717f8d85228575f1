#include "zone/listing.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "dns/message.h"
#include "dns/wire.h"
#include "zone/answer.h"
#include "zone/external.h"
#include "zone/schema.h"

namespace clusterdns {

namespace {

// "A", or "TYPE99" for a type without a mnemonic (RFC 3597).
std::string type_text(RrType type) {
    const std::string_view name = rr_type_name(static_cast<uint16_t>(type));
    return name.empty() ? fmt::format("TYPE{}", static_cast<uint16_t>(type)) : std::string(name);
}

std::string name_text(WireReader& r) {
    return Name::read(r).to_text();
}

// RDATA as dig prints it; names already decompressed (read_rdata).
std::string rdata_text(RrType type, std::span<const uint8_t> rdata) {
    WireReader r(rdata);
    char ip[INET6_ADDRSTRLEN] = {};
    switch (type) {
        case RrType::A:
        case RrType::Aaaa:
            inet_ntop(type == RrType::A ? AF_INET : AF_INET6, rdata.data(), ip, sizeof ip);
            return ip;
        case RrType::Ns:
        case RrType::Cname:
        case RrType::Ptr:
            return name_text(r);
        case RrType::Srv: {
            const uint16_t priority = r.u16();
            const uint16_t weight = r.u16();
            const uint16_t port = r.u16();
            return fmt::format("{} {} {} {}", priority, weight, port, name_text(r));
        }
        case RrType::Soa: {
            const std::string mname = name_text(r);
            const std::string rname = name_text(r);
            const uint32_t serial = r.u32();
            const uint32_t refresh = r.u32();
            const uint32_t retry = r.u32();
            const uint32_t expire = r.u32();
            const uint32_t minimum = r.u32();
            return fmt::format("{} {} {} {} {} {} {}", mname, rname, serial, refresh, retry,
                               expire, minimum);
        }
        case RrType::Txt: {
            std::string out;
            for (size_t at = 0; at < rdata.size();) {
                const size_t length = rdata[at++];
                out += out.empty() ? "\"" : " \"";
                for (size_t i = at; i < at + length && i < rdata.size(); ++i) {
                    const char c = static_cast<char>(rdata[i]);
                    if (c == '"' || c == '\\') {
                        out += '\\';
                    }
                    out += c;
                }
                out += '"';
                at += length;
            }
            return out;
        }
        default: {
            std::string out = fmt::format("\\# {}", rdata.size());
            for (const uint8_t b : rdata) {
                out += fmt::format(" {:02x}", b);
            }
            return out;
        }
    }
}

}  // namespace

std::string reverse_text(const IpAddress& ip) {
    std::string out;
    if (!ip.v6) {
        return fmt::format("{}.{}.{}.{}.in-addr.arpa.", ip.bytes[3], ip.bytes[2], ip.bytes[1],
                           ip.bytes[0]);
    }
    for (int i = 15; i >= 0; --i) {
        out += fmt::format("{:x}.{:x}.", ip.bytes[i] & 0xF, ip.bytes[i] >> 4);
    }
    return out + "ip6.arpa.";
}

namespace {

// Marks the records that carry a ClusterIP allocated here (zone/allocate.h): the A or AAAA
// records of its Service's names, and its PTR record.
void mark_allocated(const Snapshot& snapshot, std::vector<ZoneRecord>& records) {
    const std::string origin = snapshot.config().origin.to_text();
    std::set<std::pair<std::string, std::string>> allocated;  // (address, Service's name)
    snapshot.for_each_service([&](const ServiceView& s) {
        for (size_t i = 0; i < s.cluster_ips().size(); ++i) {
            if (s.allocated(i)) {
                allocated.emplace(ip_to_text(s.cluster_ips()[i]),
                                  fmt::format("{}.{}.{}.{}", s.name(), s.ns(), kServicesLabel,
                                              origin));
            }
        }
    });
    if (allocated.empty()) {
        return;
    }
    std::set<std::pair<std::string, std::string>> reverse;  // (reverse name, Service's name)
    for (const auto& [address, service] : allocated) {
        reverse.emplace(reverse_text(*parse_ip(address)), service);
    }
    for (ZoneRecord& r : records) {
        if (r.type == "A" || r.type == "AAAA") {
            const auto it = allocated.lower_bound({r.data, ""});
            for (auto i = it; i != allocated.end() && i->first == r.data && !r.allocated; ++i) {
                r.allocated = r.name == i->second || r.name.ends_with("." + i->second);
            }
        } else if (r.type == "PTR") {
            r.allocated = reverse.count({r.name, r.data}) != 0;
        }
    }
}

class Lister {
public:
    explicit Lister(const Snapshot& snapshot) : snapshot_(snapshot) {}

    // Asks the zone `name` `type` and keeps the answers owned by `name`.
    void ask(const std::string& name, RrType type, const std::string& zone) {
        if (!asked_.emplace(name, static_cast<uint16_t>(type)).second) {
            return;
        }
        for (ZoneRecord& r : ask_zone(snapshot_, name, type).answers) {
            if (r.type == type_text(type) && r.name == name) {
                r.zone = zone;
                out_.push_back(std::move(r));
            }
        }
    }

    std::vector<ZoneRecord> take() {
        // Zone by zone, its apex first with SOA then NS (as a zone file starts).
        const auto key = [](const ZoneRecord& r) {
            const int rank = r.type == "SOA" ? 0 : r.type == "NS" ? 1 : 2;
            return std::make_tuple(std::cref(r.zone), r.name != r.zone, std::cref(r.name), rank,
                                   std::cref(r.type), std::cref(r.data));
        };
        std::sort(out_.begin(), out_.end(),
                  [&](const ZoneRecord& a, const ZoneRecord& b) { return key(a) < key(b); });
        return std::move(out_);
    }

private:
    const Snapshot& snapshot_;
    std::set<std::pair<std::string, uint16_t>> asked_;
    std::vector<ZoneRecord> out_;
};

}  // namespace

ZoneAnswer ask_zone(const Snapshot& snapshot, const std::string& name, RrType type) {
    ZoneAnswer out;
    auto qname = Name::from_text(name);
    if (!qname) {
        out.rcode = "FORMERR";
        return out;
    }
    Query q;
    q.has_question = true;
    q.qname = *qname;
    q.qname_lower = *qname;
    q.qname_lower.to_lower();
    q.qtype = type;
    std::vector<uint8_t> buf(kMaxMessageSize);
    ResponseWriter w(buf, buf.size());
    w.begin(q);
    out.ours = answer_query(snapshot, q, w) == AnswerStatus::Answered;
    const size_t size = w.finish();
    out.rcode = rcode_name(static_cast<uint8_t>(size > 3 ? buf[3] & 0x0F : 2));
    if (!out.ours) {
        return out;
    }
    WireReader r(std::span<const uint8_t>(buf.data(), size));
    r.skip(6);  // id, flags, one question
    const uint16_t answers = r.u16();
    r.skip(4);
    Name::read(r);
    r.skip(4);
    for (uint16_t i = 0; i < answers; ++i) {
        uint8_t names[kMaxNamedRdata];
        WireRecord rr;
        if (!read_record(r, names, rr)) {
            break;
        }
        out.answers.push_back(
            {rr.owner.to_text(), type_text(rr.type), rr.ttl, rdata_text(rr.type, rr.rdata), {}});
    }
    return out;
}

std::optional<RrType> rr_type_of(std::string_view text) {
    const uint16_t type = rr_type_from_name(text);
    return type == 0 ? std::nullopt : std::optional<RrType>(static_cast<RrType>(type));
}

std::vector<ZoneRecord> list_records(const Snapshot& snapshot) {
    Lister lister(snapshot);
    const std::string origin = snapshot.config().origin.to_text();
    for (const RrType type : {RrType::Soa, RrType::Ns}) {
        lister.ask(origin, type, origin);
        lister.ask("in-addr.arpa.", type, "in-addr.arpa.");
        lister.ask("ip6.arpa.", type, "ip6.arpa.");
    }
    const std::string ns_name = fmt::format("{}.{}", kNameServerLabels, origin);
    lister.ask(ns_name, RrType::A, origin);
    lister.ask(ns_name, RrType::Aaaa, origin);
    lister.ask(fmt::format("{}.{}", kVersionLabel, origin), RrType::Txt, origin);
    const auto ptr = [&](const IpAddress& ip) {
        lister.ask(reverse_text(ip), RrType::Ptr, ip.v6 ? "ip6.arpa." : "in-addr.arpa.");
    };
    snapshot.for_each_service([&](const ServiceView& s) {
        const std::string base = fmt::format("{}.{}.{}.{}", s.name(), s.ns(), kServicesLabel, origin);
        if (s.type() == ServiceType::ExternalName) {
            lister.ask(base, RrType::Cname, origin);
            return;
        }
        lister.ask(base, RrType::A, origin);
        lister.ask(base, RrType::Aaaa, origin);
        for (const PortView& port : s.ports()) {
            if (!port.name().empty()) {
                lister.ask(fmt::format("_{}._{}.{}", port.name(), port.protocol(), base),
                           RrType::Srv, origin);
            }
        }
        for (const PortView* port : s.endpoint_ports()) {
            lister.ask(fmt::format("_{}._{}.{}", port->name(), port->protocol(), base),
                       RrType::Srv, origin);
        }
        for (const IpAddress& ip : s.cluster_ips()) {
            ptr(ip);
        }
        for (const EndpointView* e : s.endpoints()) {
            const std::string label =
                e->hostname().empty() ? dashed_address(e->address) : std::string(e->hostname());
            const std::string name = fmt::format("{}.{}", label, base);
            lister.ask(name, RrType::A, origin);
            lister.ask(name, RrType::Aaaa, origin);
            ptr(e->address);
        }
    });
    // The Pods the zone knows (a-b-c-d.<ns>.pod); with `pods: insecure` any such name answers,
    // and these are the ones that are Pods.
    snapshot.for_each_pod_address([&](std::string_view ns, const IpAddress& ip) {
        const std::string name =
            fmt::format("{}.{}.{}.{}", dashed_address(ip), ns, kPodsLabel, origin);
        lister.ask(name, ip.v6 ? RrType::Aaaa : RrType::A, origin);
    });
    // External zones: apex, name server, and the names of what the manifests expose.
    if (const auto& external = snapshot.config().external) {
        for (const Name& zone : external->zones) {
            const std::string apex = zone.to_text();
            for (const RrType type : {RrType::Soa, RrType::Ns}) {
                lister.ask(apex, type, apex);
            }
            for (const RrType type : {RrType::A, RrType::Aaaa}) {
                lister.ask(fmt::format("{}.{}", kNameServerLabels, apex), type, apex);
            }
        }
        for (const auto& [owner, addresses] : external->names) {
            const std::string name = name_to_text(
                {reinterpret_cast<const uint8_t*>(owner.data()), owner.size()});
            for (const Name& zone : external->zones) {
                if (name_in_zone({reinterpret_cast<const uint8_t*>(owner.data()), owner.size()},
                                 zone.wire())) {
                    lister.ask(name, RrType::A, zone.to_text());
                    lister.ask(name, RrType::Aaaa, zone.to_text());
                    break;
                }
            }
        }
    }
    std::vector<ZoneRecord> out = lister.take();
    mark_allocated(snapshot, out);
    return out;
}

}  // namespace clusterdns
