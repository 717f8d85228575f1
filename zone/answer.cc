#include "zone/answer.h"

#include "zone/external.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>

#include "zone/external.h"
#include "zone/schema.h"

namespace clusterdns {
namespace {

// CNAMEs followed inside our zones for one answer, as many as unbound and BIND follow (11); a
// longer chain is answered as far as it went, and the client's resolver asks for the rest.
constexpr int kMaxCnameChain = 11;
constexpr size_t kMaxAdditionalTargets = 32;
// No message holds more records: the smallest (a compressed owner and an IPv4 address) takes 16
// octets.
constexpr size_t kMaxRecords = kMaxMessageSize / 16 + 1;
// An SRV record's target is the Service itself, not one of its endpoints.
constexpr uint32_t kServiceTarget = UINT32_MAX;

constexpr uint8_t kInAddrArpa[] = {7, 'i', 'n', '-', 'a', 'd', 'd', 'r', 4, 'a', 'r', 'p', 'a', 0};
constexpr uint8_t kIp6Arpa[] = {3, 'i', 'p', '6', 4, 'a', 'r', 'p', 'a', 0};

// A name synthesized on the stack.
struct NameBuf {
    uint8_t data[kMaxNameWire];
    size_t size = 0;
    WireName wire() const noexcept { return {data, size}; }
};

// `labels` in order, then the wire name `suffix`: false if a label is empty or over 63 octets,
// or the name over 255.
bool join(NameBuf& out, std::initializer_list<std::string_view> labels, WireName suffix) noexcept {
    size_t size = 0;
    for (const std::string_view label : labels) {
        if (label.empty() || label.size() > kMaxLabel || size + 1 + label.size() > kMaxNameWire) {
            return false;
        }
        out.data[size] = static_cast<uint8_t>(label.size());
        std::memcpy(out.data + size + 1, label.data(), label.size());
        size += 1 + label.size();
    }
    if (size + suffix.size() > kMaxNameWire) {
        return false;
    }
    std::memcpy(out.data + size, suffix.data(), suffix.size());
    out.size = size + suffix.size();
    return true;
}

// The wire form of a dotted name (an ExternalName's target), lowercased; false if it is none.
bool from_dotted(std::string_view text, NameBuf& out) noexcept {
    size_t size = 0;
    while (!text.empty()) {
        const size_t dot = std::min(text.find('.'), text.size());
        const std::string_view label = text.substr(0, dot);
        if (label.empty() || label.size() > kMaxLabel || size + 2 + label.size() > kMaxNameWire ||
            label.find('\\') != std::string_view::npos) {
            return false;
        }
        out.data[size++] = static_cast<uint8_t>(label.size());
        for (const char c : label) {
            out.data[size++] = lower_ascii(static_cast<uint8_t>(c));
        }
        text.remove_prefix(std::min(dot + 1, text.size()));
    }
    if (size == 0) {
        return false;
    }
    out.data[size++] = 0;
    out.size = size;
    return true;
}

// An endpoint's label: its hostname, else its address with '.' or ':' as '-' (dashed_address,
// written into `buf` instead of the heap).
std::string_view label_of(const EndpointView& e, char (&buf)[INET6_ADDRSTRLEN]) noexcept {
    if (!e.hostname().empty()) {
        return e.hostname();
    }
    if (!e.address.v6) {
        // By hand: label_range() formats one label per step of its binary search, and
        // inet_ntop's sprintf cost a fifth of a query's instructions.
        char* p = buf;
        for (size_t i = 0; i < 4; ++i) {
            const unsigned octet = e.address.bytes[i];
            if (octet >= 100) {
                *p++ = static_cast<char>('0' + octet / 100);
            }
            if (octet >= 10) {
                *p++ = static_cast<char>('0' + octet / 10 % 10);
            }
            *p++ = static_cast<char>('0' + octet % 10);
            *p++ = '-';
        }
        return {buf, static_cast<size_t>(p - buf - 1)};
    }
    if (inet_ntop(e.address.v6 ? AF_INET6 : AF_INET, e.address.bytes.data(), buf, sizeof buf) ==
        nullptr) {
        return {};
    }
    const size_t size = std::strlen(buf);
    std::replace(buf, buf + size, e.address.v6 ? ':' : '.', '-');
    return {buf, size};
}

// The labels of a name, for classifying it from the left.
struct Labels {
    WireName name;
    uint8_t starts[kMaxNameWire / 2 + 1];
    size_t count = 0;

    explicit Labels(WireName n) noexcept : name(n) {
        for (size_t pos = 0; pos < n.size() && n[pos] != 0; pos += 1 + n[pos]) {
            starts[count++] = static_cast<uint8_t>(pos);
        }
    }
    std::string_view operator[](size_t i) const noexcept {
        return {reinterpret_cast<const char*>(name.data()) + starts[i] + 1, name[starts[i]]};
    }
};

enum class ZoneKind : uint8_t { Cluster, InAddr, Ip6 };

struct Apex {
    ZoneKind kind = ZoneKind::Cluster;
    WireName name;
    size_t labels = 0;
};

// The served zone holding the name: the deepest apex that is a suffix of it. The cluster domain
// is never inside arpa (validate_zone_name), so at most one matches; the order only says which
// would win if they nested.
bool find_apex(const SnapshotConfig& config, const Labels& l, Apex& out) noexcept {
    const WireName origin = config.origin.wire();
    Apex apexes[3] = {{ZoneKind::Cluster, origin, name_label_count(origin)},
                      {ZoneKind::InAddr, kInAddrArpa, 2},
                      {ZoneKind::Ip6, kIp6Arpa, 2}};
    if (apexes[0].labels < 2) {
        std::rotate(apexes, apexes + 1,
                    std::end(apexes));  // deepest first (std::sort may allocate)
    }
    for (const Apex& apex : apexes) {
        if (apex.labels > l.count) {
            continue;
        }
        const WireName suffix =
            apex.labels == 0 ? l.name.last(1) : l.name.subspan(l.starts[l.count - apex.labels]);
        if (name_equal(suffix, apex.name)) {
            out = apex;
            return true;
        }
    }
    return false;
}

// What a name is in the snapshot: which RRsets it has is decided by emit().
enum class Kind : uint8_t {
    Missing,     // NXDOMAIN
    Empty,       // an empty non-terminal: NODATA for every type
    Apex,        // SOA, NS
    Version,     // dns-version: TXT
    NameServer,  // ns.dns: A/AAAA where we listen
    Service,     // <svc>.<ns>.svc: A/AAAA and SRV, or a CNAME for ExternalName
    Endpoint,    // <label>.<svc>.<ns>.svc: A/AAAA of the endpoints with that label
    Port,        // _<port>._<proto>.<svc>.<ns>.svc: A/AAAA and SRV
    Pod,         // a-b-c-d.<ns>.pod: the address the label spells
    Ptr,         // a reverse name with PTR targets
};

struct Node {
    Kind kind = Kind::Missing;
    const ServiceView* service = nullptr;
    uint32_t first = 0;  // Endpoint: the range of service->by_label with that label
    uint32_t last = 0;
    std::string_view port;  // Port: the port name and protocol, without '_'
    std::string_view protocol;
    IpAddress address;  // Pod, Ptr
};

// The by_label range of the endpoints of `s` labelled `label`: a binary search.
std::pair<uint32_t, uint32_t> label_range(const ServiceView& s, std::string_view label) noexcept {
    const auto label_less = [&s](uint32_t index, std::string_view key) {
        char buf[INET6_ADDRSTRLEN];
        return label_of(s.endpoint(index), buf) < key;
    };
    const auto key_less = [&s](std::string_view key, uint32_t index) {
        char buf[INET6_ADDRSTRLEN];
        return key < label_of(s.endpoint(index), buf);
    };
    const std::span<const uint32_t> order = s.by_label();
    const auto first = std::lower_bound(order.begin(), order.end(), label, label_less);
    const auto last = std::upper_bound(first, order.end(), label, key_less);
    return {static_cast<uint32_t>(first - order.begin()),
            static_cast<uint32_t>(last - order.begin())};
}

// An SRV name's ports: every port for the Service name itself (empty `name`), else the named
// ports of that name and protocol.
bool port_matches(const PortView& p, std::string_view name, std::string_view protocol) noexcept {
    return name.empty() || (p.name() == name && p.protocol() == protocol);
}

bool any_port(std::span<const PortView> ports, std::string_view name,
              std::string_view protocol) noexcept {
    return std::any_of(ports.begin(), ports.end(),
                       [&](const PortView& p) { return port_matches(p, name, protocol); });
}

// Calls `f(index, endpoint)` for each endpoint that has a port matching (name, protocol), in
// order, until it returns false. The endpoints of one EndpointSlice share its ports span, so the
// ports are compared once per slice, not once per endpoint.
template <class F>
void for_each_endpoint_with_port(const ServiceView& s, std::string_view name,
                                 std::string_view protocol, F&& f) noexcept {
    const PortView* checked = nullptr;
    size_t checked_size = 0;
    bool matches = false;
    for (uint32_t i = 0; i < s.endpoint_count(); ++i) {
        const EndpointView& e = s.endpoint(i);
        if (e.ports().data() != checked || e.ports().size() != checked_size) {
            checked = e.ports().data();
            checked_size = e.ports().size();
            matches = any_port(e.ports(), name, protocol);
        }
        if (matches && !f(i, e)) {
            return;
        }
    }
}

// Whether _<port>._<proto> (or, with an empty port, _<proto>) names anything under `s`: a named
// port of that protocol (and name) on the Service (with a ClusterIP to point at) or, headless, on
// some endpoint's slice.
bool has_named_port(const ServiceView& s, std::string_view port, std::string_view protocol) {
    const auto named = [&](const PortView& p) {
        return !p.name().empty() && p.protocol() == protocol && (port.empty() || p.name() == port);
    };
    if (!s.headless()) {
        const std::span<const PortView> ports = s.ports();
        return !s.cluster_ips().empty() && std::any_of(ports.begin(), ports.end(), named);
    }
    const std::span<const PortView* const> ports = s.endpoint_ports();
    return std::any_of(ports.begin(), ports.end(), [&](const PortView* p) { return named(*p); });
}

// "pods insecure" (CoreDNS kubernetes plugin): the address a pod label spells, or false.
bool pod_address(std::string_view label, IpAddress& out) noexcept {
    char text[64];
    if (label.size() >= sizeof text) {
        return false;
    }
    // CoreDNS's rule: three dashes and no "--" is IPv4, anything else is tried as IPv6.
    const bool v4 = std::count(label.begin(), label.end(), '-') == 3 &&
                    label.find("--") == std::string_view::npos;
    // Only what an address can spell: inet_pton stops at a NUL, so "10-1-2-3\0x" must not pass.
    const bool spellable = std::all_of(label.begin(), label.end(), [v4](char c) {
        return c == '-' || (c >= '0' && c <= '9') ||
               (!v4 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.'));
    });
    if (!spellable) {
        return false;
    }
    for (size_t i = 0; i < label.size(); ++i) {
        text[i] = label[i] == '-' ? (v4 ? '.' : ':') : label[i];
    }
    text[label.size()] = '\0';
    out = IpAddress{.v6 = !v4};
    return inet_pton(v4 ? AF_INET : AF_INET6, text, out.bytes.data()) == 1;
}

// A reverse name's labels below its apex as the leading bytes (IPv4) or nibbles (IPv6) of an
// address, in the canonical form PTR owners have: decimal octets without leading zeros, one
// lowercase hex digit per nibble.
bool reverse_prefix(const Labels& l, size_t depth, bool v6, IpAddress& out) noexcept {
    out = IpAddress{.v6 = v6};
    for (size_t k = 0; k < depth; ++k) {
        const std::string_view label = l[depth - 1 - k];
        if (v6) {
            const char c = label.size() == 1 ? label[0] : 'x';
            const int nibble = c >= '0' && c <= '9'   ? c - '0'
                               : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                      : -1;
            if (nibble < 0) {
                return false;
            }
            out.bytes[k / 2] |= static_cast<uint8_t>(k % 2 == 0 ? nibble << 4 : nibble);
            continue;
        }
        if (label.empty() || label.size() > 3 || (label.size() > 1 && label[0] == '0')) {
            return false;
        }
        unsigned value = 0;
        for (const char c : label) {
            if (c < '0' || c > '9') {
                return false;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value > 255) {
            return false;
        }
        out.bytes[k] = static_cast<uint8_t>(value);
    }
    return true;
}

// An ExternalName's CNAME target; false when it has none (an address is no host name to alias:
// CoreDNS publishes no record for it either).
bool cname_target(const ServiceView& s, NameBuf& out) noexcept {
    return !parse_ip(s.external_name()) && from_dotted(s.external_name(), out);
}

bool service_name(const ServiceView& s, WireName origin, NameBuf& out) noexcept {
    return join(out, {s.name(), s.ns(), "svc"}, origin);
}

// The name a PTR record points at: the Service, or the endpoint under it. False for an
// ExternalName (it has no address of its own) or a name too long to exist.
bool ptr_name(const PtrTarget& t, WireName origin, NameBuf& out) noexcept {
    if (t.service->type() == ServiceType::ExternalName) {
        return false;
    }
    NameBuf base;
    if (!service_name(*t.service, origin, t.endpoint == nullptr ? out : base)) {
        return false;
    }
    char buf[INET6_ADDRSTRLEN];
    return t.endpoint == nullptr || join(out, {label_of(*t.endpoint, buf)}, base.wire());
}

Node service_node(const ServiceView* s) noexcept {
    if (s == nullptr) {
        return {};
    }
    if (s->type() == ServiceType::ExternalName) {
        NameBuf target;
        return cname_target(*s, target) ? Node{.kind = Kind::Service, .service = s} : Node{};
    }
    // A headless Service without endpoints has no records; a ClusterIP always has its address.
    const bool exists = s->endpoint_count() != 0 || (!s->headless() && !s->cluster_ips().empty());
    return exists ? Node{.kind = Kind::Service, .service = s} : Node{};
}

Node resolve_reverse(const Snapshot& snapshot, const Labels& l, size_t depth, bool v6) noexcept {
    const size_t full = v6 ? 32 : 4;
    Node node;
    if (depth > full || !reverse_prefix(l, depth, v6, node.address)) {
        return {};
    }
    if (depth < full) {
        const unsigned bits = static_cast<unsigned>(depth * (v6 ? 4 : 8));
        node.kind = snapshot.has_reverse_prefix(node.address, bits) ? Kind::Empty : Kind::Missing;
        return node;
    }
    for (const PtrTarget& t : snapshot.ptr_targets(node.address)) {
        NameBuf target;
        if (snapshot.exposes(t.service->ns()) &&
            ptr_name(t, snapshot.config().origin.wire(), target)) {
            node.kind = Kind::Ptr;
            break;
        }
    }
    return node;
}

// Classifies a name (lowercase) of the zone `apex` by its labels.
Node resolve(const Snapshot& snapshot, const Labels& l, const Apex& apex) noexcept {
    const size_t depth = l.count - apex.labels;
    if (depth == 0) {
        return {.kind = Kind::Apex};
    }
    if (apex.kind != ZoneKind::Cluster) {
        return resolve_reverse(snapshot, l, depth, apex.kind == ZoneKind::Ip6);
    }
    const bool has_ns = !snapshot.config().ns_addresses.empty();
    const std::string_view top = l[depth - 1];  // the label right below the apex
    switch (depth) {
        case 1:
            if (top == kServicesLabel || top == kPodsLabel || (top == "dns" && has_ns)) {
                return {.kind = Kind::Empty};
            }
            return {.kind = top == kVersionLabel ? Kind::Version : Kind::Missing};
        case 2:
            if (top == "dns" && l[0] == "ns" && has_ns) {
                return {.kind = Kind::NameServer};
            }
            if ((top == kServicesLabel || top == kPodsLabel) && snapshot.has_namespace(l[0])) {
                return {.kind = Kind::Empty};
            }
            return {};
        case 3:
            if (top == kServicesLabel) {
                return service_node(snapshot.service(l[1], l[0]));
            }
            if (top == kPodsLabel && snapshot.has_namespace(l[1])) {
                using Pods = SnapshotConfig::Pods;
                const Pods mode = snapshot.config().pods;
                Node pod{.kind = Kind::Pod};
                if (mode == Pods::Disabled || !pod_address(l[0], pod.address) ||
                    (mode == Pods::Verified && !snapshot.has_pod(l[1], pod.address))) {
                    return {};
                }
                return pod;
            }
            return {};
        case 4:
        case 5: {
            const ServiceView* s =
                top == kServicesLabel ? snapshot.service(l[depth - 2], l[depth - 3]) : nullptr;
            if (s == nullptr || s->type() == ServiceType::ExternalName) {
                return {};
            }
            if (depth == 4 && !l[0].starts_with('_')) {
                const auto [first, last] = label_range(*s, l[0]);
                return first == last ? Node{}
                                     : Node{.kind = Kind::Endpoint,
                                            .service = s,
                                            .first = first,
                                            .last = last};
            }
            // _<proto> (an empty non-terminal) or _<port>._<proto>
            const std::string_view protocol = l[depth - 4];
            const std::string_view port = depth == 5 ? l[0] : std::string_view("_x");
            if (protocol.size() < 2 || !protocol.starts_with('_') || port.size() < 2 ||
                !port.starts_with('_')) {
                return {};
            }
            if (depth == 4) {
                return has_named_port(*s, {}, protocol.substr(1)) ? Node{.kind = Kind::Empty}
                                                                  : Node{};
            }
            if (!has_named_port(*s, port.substr(1), protocol.substr(1))) {
                return {};
            }
            return {.kind = Kind::Port,
                    .service = s,
                    .port = port.substr(1),
                    .protocol = protocol.substr(1)};
        }
        default:
            return {};
    }
}

// The records an RRset has written so far, by a 64-bit hash of their RDATA, so a duplicate is
// skipped (RFC 2181 5: an RRset never repeats a record). Grows with what is written, never with
// the size of the data.
class Distinct {
public:
    Distinct() noexcept {}  // the tables are written before they are read: no zeroing here
    void clear() noexcept {
        count_ = 0;
        mask_ = kInitialSlots - 1;
        std::fill_n(slots_, kInitialSlots, 0);
    }
    // True if `rdata` is new since clear(); remembers it.
    bool insert(std::span<const uint8_t> rdata) noexcept {
        if (count_ == kMaxRecords) {
            return true;  // more than a message holds: cannot happen
        }
        // Eight bytes a step (byte by byte, FNV-1a took a twentieth of a query's instructions),
        // then the tail with the length, then a final mix.
        uint64_t h = 0xCBF29CE484222325ull;
        size_t at = 0;
        for (; at + 8 <= rdata.size(); at += 8) {
            uint64_t word;
            std::memcpy(&word, rdata.data() + at, 8);
            h = (h ^ word) * 0x9E3779B97F4A7C15ull;
            h ^= h >> 29;
        }
        uint64_t tail = 0;
        std::memcpy(&tail, rdata.data() + at, rdata.size() - at);
        h = (h ^ tail ^ (uint64_t{rdata.size()} << 48)) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93ull;
        h = (h ^ (h >> 32)) | 1;  // 0 marks an empty slot
        if ((count_ + 1) * 2 > mask_ + 1) {
            grow();
        }
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            if (slots_[i] == h) {
                return false;
            }
            if (slots_[i] == 0) {
                slots_[i] = h;
                hashes_[count_++] = h;
                return true;
            }
        }
    }

private:
    void grow() noexcept {
        const size_t size = (mask_ + 1) * 2;
        mask_ = size - 1;
        std::fill_n(slots_, size, 0);
        for (size_t k = 0; k < count_; ++k) {
            size_t i = hashes_[k] & mask_;
            while (slots_[i] != 0) {
                i = (i + 1) & mask_;
            }
            slots_[i] = hashes_[k];
        }
    }

    static constexpr size_t kInitialSlots = 16;
    static constexpr size_t kSlots = 2 * 8192;  // at least twice kMaxRecords, a power of two
    static_assert(kSlots >= 2 * kMaxRecords);
    uint64_t slots_[kSlots];
    uint64_t hashes_[kMaxRecords];
    size_t count_ = 0;
    size_t mask_ = 0;
};

// One query being answered: every name resolved and every RR offered to the writer goes through
// here, so AnswerWork counts them.
struct Answerer {
    Answerer(const Snapshot& s, ResponseWriter& writer, AnswerWork& counts) noexcept
        : snapshot(s), config(s.config()), w(writer), work(counts) {}

    const Snapshot& snapshot;
    const SnapshotConfig& config;
    ResponseWriter& w;
    AnswerWork& work;
    Distinct distinct;
    // The targets of the SRV records in the answer (an endpoint index or kServiceTarget), for
    // the additional section.
    uint32_t targets[kMaxRecords];
    size_t target_count = 0;

    Node find(const Labels& l, const Apex& apex) noexcept {
        ++work.lookups;
        return resolve(snapshot, l, apex);
    }
};

// Writes one RRset record by record, skipping duplicates. Stops at the first record refused: once
// one does not fit (or TC is set), offering the rest of a 50,000-record RRset only costs time.
class RrsetWriter {
public:
    RrsetWriter(Answerer& a, Section section, WireName owner, RrType type, uint32_t ttl,
                bool record_targets = false) noexcept
        : a_(a),
          section_(section),
          owner_(owner),
          type_(type),
          ttl_(ttl),
          record_targets_(record_targets) {
        a_.distinct.clear();
    }
    // False once a record was refused: the caller stops offering.
    bool offer(std::span<const uint8_t> rdata, uint32_t target = kServiceTarget) noexcept {
        found_ = true;
        if (!a_.distinct.insert(rdata)) {
            return true;
        }
        ++a_.work.rrs_offered;
        if (!a_.w.add(section_, owner_, type_, ttl_, rdata)) {
            refused_ = true;
            return false;
        }
        if (record_targets_ && a_.target_count < kMaxRecords) {
            a_.targets[a_.target_count++] = target;
        }
        return true;
    }
    bool found() const noexcept { return found_; }
    bool refused() const noexcept { return refused_; }

private:
    Answerer& a_;
    Section section_;
    WireName owner_;
    RrType type_;
    uint32_t ttl_;
    bool record_targets_;
    bool found_ = false;
    bool refused_ = false;
};

void put32(uint8_t* p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// SOA as CoreDNS's kubernetes plugin writes it: ns.dns.<apex> hostmaster.<apex> serial 7200 1800
// 86400 <ttl>.
void offer_soa(RrsetWriter& out, const Apex& apex, const SnapshotConfig& config) noexcept {
    uint8_t rdata[2 * kMaxNameWire + 20];
    NameBuf mname;
    NameBuf rname;
    if (!join(mname, {"ns", "dns"}, apex.name) || !join(rname, {kHostmasterLabel}, apex.name)) {
        return;  // validate_zone_name refuses an origin this long
    }
    std::memcpy(rdata, mname.data, mname.size);
    std::memcpy(rdata + mname.size, rname.data, rname.size);
    uint8_t* p = rdata + mname.size + rname.size;
    for (const uint32_t v : {config.serial, 7200u, 1800u, 86400u, config.ttl_seconds}) {
        put32(p, v);
        p += 4;
    }
    out.offer({rdata, static_cast<size_t>(p - rdata)});
}

// SRV records of a Service (empty `port`) or of one of its named ports. CoreDNS's weight is 100
// divided by the number N of entries answering the name, at least 1, with N counted before
// duplicates are merged; the targets are the Service (ClusterIP) or each endpoint (headless).
void offer_srv(RrsetWriter& out, const ServiceView& s, std::string_view port,
               std::string_view protocol, WireName origin) noexcept {
    NameBuf base;
    if (!service_name(s, origin, base)) {
        return;
    }
    uint8_t rdata[6 + kMaxNameWire] = {0, 0};
    const auto record = [&](uint16_t weight, uint16_t number, WireName target) {
        rdata[2] = static_cast<uint8_t>(weight >> 8);
        rdata[3] = static_cast<uint8_t>(weight);
        rdata[4] = static_cast<uint8_t>(number >> 8);
        rdata[5] = static_cast<uint8_t>(number);
        std::memcpy(rdata + 6, target.data(), target.size());
        return std::span<const uint8_t>(rdata, 6 + target.size());
    };
    if (!s.headless()) {
        // One entry per port and ClusterIP, all pointing at the Service: after duplicates are
        // merged, one record per port number.
        const std::span<const PortView> ports = s.ports();
        const auto matching = static_cast<size_t>(
            std::count_if(ports.begin(), ports.end(),
                          [&](const PortView& p) { return port_matches(p, port, protocol); }));
        const size_t n = matching * s.cluster_ips().size();
        if (n == 0) {
            return;
        }
        const auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / n));
        for (const PortView& p : ports) {
            if (port_matches(p, port, protocol) &&
                !out.offer(record(weight, p.port(), base.wire()))) {
                return;
            }
        }
        return;
    }
    // From N = 51 on the weight is 1: counting further would cost time in proportion to the
    // endpoints, not to the answer.
    constexpr size_t kWeightFloorCount = 51;
    size_t n = 0;
    for_each_endpoint_with_port(s, port, protocol, [&](uint32_t, const EndpointView& e) {
        for (const PortView& p : e.ports()) {
            n += port_matches(p, port, protocol);
        }
        return n < kWeightFloorCount;
    });
    if (n == 0) {
        return;
    }
    const auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / n));
    for_each_endpoint_with_port(s, port, protocol, [&](uint32_t i, const EndpointView& e) {
        char buf[INET6_ADDRSTRLEN];
        NameBuf target;
        if (!join(target, {label_of(e, buf)}, base.wire())) {
            return true;  // a name too long to exist
        }
        for (const PortView& p : e.ports()) {
            if (port_matches(p, port, protocol) &&
                !out.offer(record(weight, p.port(), target.wire()), i)) {
                return false;
            }
        }
        return true;
    });
}

void offer_addresses(RrsetWriter& out, std::span<const IpAddress> addresses, bool v6) noexcept {
    for (const IpAddress& ip : addresses) {
        if (ip.v6 == v6 && !out.offer(ip.octets())) {
            return;
        }
    }
}

// Offers the records of `node`'s RRset of `type` (none if it has no such RRset).
void offer_rrset(RrsetWriter& out, Answerer& a, const Node& node, const Apex& apex,
                 RrType type) noexcept {
    const SnapshotConfig& config = a.config;
    const WireName origin = config.origin.wire();
    const bool address = type == RrType::A || type == RrType::Aaaa;
    const bool v6 = type == RrType::Aaaa;
    const ServiceView* s = node.service;
    switch (node.kind) {
        case Kind::Missing:
        case Kind::Empty:
            return;
        case Kind::Apex:
            if (type == RrType::Soa) {
                offer_soa(out, apex, config);
            } else if (type == RrType::Ns) {
                NameBuf ns;
                if (join(ns, {"ns", "dns"}, origin)) {
                    out.offer(ns.wire());
                }
            }
            return;
        case Kind::Version:
            if (type == RrType::Txt) {
                uint8_t txt[1 + sizeof kDnsSchemaVersion];
                txt[0] = sizeof kDnsSchemaVersion - 1;
                std::memcpy(txt + 1, kDnsSchemaVersion, txt[0]);
                out.offer({txt, 1u + txt[0]});
            }
            return;
        case Kind::NameServer:
            if (address) {
                offer_addresses(out, config.ns_addresses, v6);
            }
            return;
        case Kind::Service:
            if (s->type() == ServiceType::ExternalName) {
                NameBuf target;
                if (type == RrType::Cname && cname_target(*s, target)) {
                    out.offer(target.wire());
                }
                return;
            }
            if (type == RrType::Srv) {
                offer_srv(out, *s, {}, {}, origin);
            } else if (address && !s->headless()) {
                offer_addresses(out, s->cluster_ips(), v6);
            } else if (address) {
                // One family's endpoints are one run: the other family's are never walked.
                const size_t first = v6 ? s->first_v6() : 0;
                const size_t end = v6 ? s->endpoint_count() : s->first_v6();
                for (size_t i = first; i < end; ++i) {
                    if (!out.offer(s->endpoint(i).address.octets())) {
                        return;
                    }
                }
            }
            return;
        case Kind::Endpoint:
            if (address) {
                for (uint32_t k = node.first; k < node.last; ++k) {
                    const EndpointView& e = s->endpoint(s->by_label()[k]);
                    if (e.address.v6 == v6 && !out.offer(e.address.octets())) {
                        return;
                    }
                }
            }
            return;
        case Kind::Port:
            if (type == RrType::Srv) {
                offer_srv(out, *s, node.port, node.protocol, origin);
            } else if (address && !s->headless()) {
                offer_addresses(out, s->cluster_ips(), v6);  // CoreDNS answers A/AAAA here too
            } else if (address) {
                for_each_endpoint_with_port(
                    s[0], node.port, node.protocol, [&](uint32_t, const EndpointView& e) {
                        return e.address.v6 != v6 || out.offer(e.address.octets());
                    });
            }
            return;
        case Kind::Pod:
            if (address && node.address.v6 == v6) {
                out.offer(node.address.octets());
            }
            return;
        case Kind::Ptr:
            if (type != RrType::Ptr) {
                return;
            }
            // A ClusterIP names its Service; any other address every endpoint name it has.
            for (const PtrTarget& t : a.snapshot.ptr_targets(node.address)) {
                NameBuf target;
                if (a.snapshot.exposes(t.service->ns()) && ptr_name(t, origin, target) &&
                    !out.offer(target.wire())) {
                    return;
                }
            }
            return;
    }
}

uint32_t ttl_of(const SnapshotConfig& config, RrType type) noexcept {
    switch (type) {
        case RrType::Soa:
            return std::min(config.ttl_seconds, 300u);
        case RrType::Txt:
            return kDnsVersionTtlSeconds;
        default:
            return config.ttl_seconds;  // pod records too: the zone's TTL, the SOA minimum
    }
}

struct Emitted {
    bool found = false;     // the name has this RRset
    bool complete = false;  // every record of it went in
};

Emitted emit(Answerer& a, const Node& node, const Apex& apex, RrType type, Section section,
             WireName owner, bool record_targets = false) noexcept {
    RrsetWriter out(a, section, owner, type, ttl_of(a.config, type), record_targets);
    offer_rrset(out, a, node, apex, type);
    return {out.found(), out.found() && !out.refused()};
}

void add_soa(Answerer& a, const Apex& apex) noexcept {
    emit(a, Node{.kind = Kind::Apex}, apex, RrType::Soa, Section::Authority, apex.name);
}

// NXDOMAIN for a Missing node, NODATA for another, each with the SOA; or, for a cluster-zone name
// while the zone is not complete (SnapshotConfig::complete), SERVFAIL: its objects may only be
// late, and resolvers keep a negative answer (RFC 2308) where they retry a failure. The zone's
// own names (apex, dns-version, ns.dns) need no objects.
AnswerStatus negative(Answerer& a, const Apex& apex, Kind kind) noexcept {
    if (!a.config.complete && apex.kind == ZoneKind::Cluster && kind != Kind::Apex &&
        kind != Kind::Version && kind != Kind::NameServer) {
        a.w.set_rcode(Rcode::ServFail);
        a.w.set_authoritative(false);
        return AnswerStatus::Answered;
    }
    if (kind == Kind::Missing) {
        a.w.set_rcode(Rcode::NxDomain);  // RFC 6604: the RCODE is that of the last name
    }
    add_soa(a, apex);  // NODATA (RFC 2308 2.2) or NXDOMAIN
    return AnswerStatus::Answered;
}

// Both address RRsets of a target in the additional section, each whole or not at all (RFC 2181
// 9). False once one did not fit: the section is full.
bool add_addresses(Answerer& a, const Node& node, const Apex& apex, WireName owner) noexcept {
    for (const RrType type : {RrType::A, RrType::Aaaa}) {
        const ResponseWriter::Mark before = a.w.mark();
        const Emitted e = emit(a, node, apex, type, Section::Additional, owner);
        if (e.found && !e.complete) {
            a.w.rewind(before);
            return false;
        }
    }
    return true;
}

// RFC 2782 / RFC 1034 3.6.2: addresses of the names an SRV or NS answer points at, so the client
// needs no second query. Only the targets of records that went into the answer are looked up, and
// the first address RRset that does not fit whole ends the section.
void add_target_addresses(Answerer& a, const Node& node, const Apex& apex, RrType type) noexcept {
    const WireName origin = a.config.origin.wire();
    const Apex cluster{ZoneKind::Cluster, origin, name_label_count(origin)};
    if (type == RrType::Ns) {
        ++a.work.lookups;
        NameBuf ns;
        if (!a.config.ns_addresses.empty() && join(ns, {"ns", "dns"}, origin)) {
            add_addresses(a, Node{.kind = Kind::NameServer}, cluster, ns.wire());
        }
        return;
    }
    const ServiceView& s = *node.service;
    NameBuf base;
    if (!service_name(s, origin, base)) {
        return;
    }
    uint32_t seen[kMaxAdditionalTargets];
    size_t seen_count = 0;
    uint32_t last = kServiceTarget - 1;  // an endpoint's SRV records come side by side
    for (size_t i = 0; i < a.target_count; ++i) {
        ++a.work.lookups;
        Node target{.kind = Kind::Service, .service = &s};
        NameBuf owner = base;
        uint32_t key = kServiceTarget;
        if (a.targets[i] != kServiceTarget) {
            char buf[INET6_ADDRSTRLEN];
            const std::string_view label = label_of(s.endpoint(a.targets[i]), buf);
            const auto [first, end] = label_range(s, label);
            if (first == end || !join(owner, {label}, base.wire())) {
                continue;
            }
            target = {.kind = Kind::Endpoint, .service = &s, .first = first, .last = end};
            key = first;  // every endpoint of one label is one name
        }
        if (key == last || std::find(seen, seen + seen_count, key) != seen + seen_count) {
            continue;
        }
        if (seen_count < kMaxAdditionalTargets) {
            seen[seen_count++] = key;
        }
        last = key;
        if (!add_addresses(a, target, cluster, owner.wire())) {
            return;
        }
    }
    (void)apex;
}

// The RRset types a name can have, in type order: ANY answers them in this order.
constexpr RrType kTypes[] = {RrType::A,   RrType::Ns,  RrType::Cname, RrType::Soa,
                             RrType::Ptr, RrType::Txt, RrType::Aaaa,  RrType::Srv};

}  // namespace

AnswerStatus answer_query(const Snapshot& snapshot, const Query& q, ResponseWriter& w,
                          AnswerWork* work, bool reverse_fallthrough,
                          Name* external_target) noexcept {
    AnswerWork unused;
    if (snapshot.config().node_local) {
        return AnswerStatus::NotOurs;
    }
    if (const auto& external = snapshot.config().external;
        external && answer_external(*external, q, snapshot.config().ttl_seconds,
                                    snapshot.config().serial, snapshot.config().ns_addresses,
                                    w)) {
        return AnswerStatus::Answered;
    }
    if (q.qclass != static_cast<uint16_t>(RrClass::In) || q.qtype == RrType::Axfr ||
        q.qtype == RrType::Ixfr) {
        w.set_rcode(Rcode::Refused);  // zone transfers are not offered
        return AnswerStatus::Answered;
    }
    Answerer a(snapshot, w, work != nullptr ? *work : unused);
    WireName name = q.qname_lower.wire();
    Labels labels(name);  // of `name`, found once per name of the chain
    Apex apex;
    if (!find_apex(a.config, labels, apex)) {
        return AnswerStatus::NotOurs;
    }
    if (reverse_fallthrough && apex.kind != ZoneKind::Cluster &&
        a.find(labels, apex).kind == Kind::Missing) {
        return AnswerStatus::NotOurs;
    }
    w.set_authoritative(true);
    NameBuf targets[2];                                 // CNAME targets, used in turn
    const ServiceView* chain[kMaxCnameChain + 1] = {};  // CNAMEs followed: a loop stops at a repeat
    for (int hop = 0; hop <= kMaxCnameChain; ++hop) {
        const Node node = a.find(labels, apex);
        if (node.kind == Kind::Service &&
            std::find(chain, chain + hop, node.service) != chain + hop) {
            // A loop: each CNAME once, and the client's resolver gives up on it.
            return AnswerStatus::Answered;
        }
        chain[hop] = node.kind == Kind::Service ? node.service : nullptr;
        if (node.kind == Kind::Missing) {
            return negative(a, apex, node.kind);
        }
        if (q.qtype != RrType::Cname && q.qtype != RrType::Any && node.kind == Kind::Service &&
            node.service->type() == ServiceType::ExternalName) {
            NameBuf& target = targets[hop % 2];
            if (!cname_target(*node.service, target)) {
                return AnswerStatus::Answered;
            }
            if (!emit(a, node, apex, RrType::Cname, Section::Answer, name).complete) {
                return AnswerStatus::Answered;  // truncated: what follows could not go in either
            }
            labels = Labels(target.wire());
            if (!find_apex(a.config, labels, apex)) {
                // Leaves our zones: the caller resolves the target, or the client's resolver.
                if (external_target != nullptr && Name::from_wire(target.wire(), *external_target)) {
                    return AnswerStatus::External;
                }
                return AnswerStatus::Answered;
            }
            name = target.wire();
            continue;
        }
        bool answered = false;
        RrType with_targets = RrType::Any;  // SRV or NS: its targets' addresses follow
        const RrType asked[] = {q.qtype};
        for (const RrType type : q.qtype == RrType::Any ? std::span<const RrType>(kTypes)
                                                        : std::span<const RrType>(asked)) {
            // Not for ANY: its answer already holds the name's own addresses.
            const bool targets_follow =
                type == q.qtype && (type == RrType::Srv || type == RrType::Ns);
            const Emitted e = emit(a, node, apex, type, Section::Answer, name, targets_follow);
            if (!e.found) {
                continue;
            }
            answered = true;
            if (targets_follow) {
                with_targets = type;
            }
            if (!e.complete) {
                break;  // TC is set: no later RRset goes in
            }
        }
        if (!answered) {
            return negative(a, apex, node.kind);
        }
        if (with_targets != RrType::Any && !w.truncated()) {
            add_target_addresses(a, node, apex, with_targets);
        }
        return AnswerStatus::Answered;
    }
    return AnswerStatus::Answered;  // a chain longer than we follow: NOERROR, as far as it went
}

}  // namespace clusterdns
