#pragma once
// The records behind snapshots and the store (zone/snapshot.h, zone/store.h): what the store keeps
// of each object, the views derived from them, and the maps a snapshot holds. Internal to zone/:
// snapshot.cc reads them, store.cc writes them.

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "zone/persistent_map.h"
#include "zone/snapshot.h"
#include "zone/store.h"

namespace clusterdns {
namespace records {

// Hashes keys a word at a time: every query hashes a namespace and a name, so this is on the
// query path (mix_hash() spreads the result before it picks a path).
class Hasher {
public:
    Hasher& add(std::string_view text) noexcept {
        size_t i = 0;
        for (; i + 8 <= text.size(); i += 8) {
            uint64_t word;
            std::memcpy(&word, text.data() + i, 8);
            step(word);
        }
        uint64_t tail = 0;
        if (i < text.size()) {
            std::memcpy(&tail, text.data() + i, text.size() - i);
        }
        step(tail ^ (uint64_t{text.size()} << 56));  // the length: "ab","c" and "a","bc" differ
        return *this;
    }
    Hasher& add(const IpAddress& ip, unsigned bits = 128) noexcept {
        uint64_t words[2];
        std::memcpy(words, ip.bytes.data(), 16);
        step(words[0]);
        step(words[1]);
        step((ip.v6 ? 6u : 4u) | uint64_t{bits} << 8);
        return *this;
    }
    uint64_t done() const noexcept { return mix_hash(h_); }

private:
    void step(uint64_t word) noexcept {
        h_ = (h_ ^ word) * 0x9E3779B97F4A7C15ull;
        h_ ^= h_ >> 29;
    }
    uint64_t h_ = 0x243F6A8885A308D3ull;
};

inline uint64_t key_hash(std::string_view ns, std::string_view name) noexcept {
    return Hasher().add(ns).add(name).done();
}

// --- Objects, as the store keeps them -----------------------------------------------------

// One allocation for a record and everything it points to: the record, then its arrays, then
// the bytes of its strings. A record costs its bytes and one block, not a std::string of 32
// bytes (and often a heap block) per field and a heap block per vector. Planned first, then
// filled; views into it stay valid for the record's life.
class Block {
public:
    explicit Block(size_t header) : size_(header) {}
    template <class T>
    size_t array(size_t count) {
        size_ = (size_ + alignof(T) - 1) / alignof(T) * alignof(T);
        const size_t at = size_;
        size_ += count * sizeof(T);
        return at;
    }
    size_t bytes(size_t count) {
        const size_t at = size_;
        size_ += count;
        return at;
    }
    size_t size() const { return size_; }

private:
    size_t size_;
};

// Copies strings into a block's text, handing out views of the copies.
class TextWriter {
public:
    TextWriter(char* at, size_t size) : at_(at), end_(at + size) {}
    std::string_view add(std::string_view text) {
        if (text.size() > static_cast<size_t>(end_ - at_)) {
            throw std::logic_error("TextWriter: more than the block was planned for");
        }
        char* start = at_;
        at_ = std::copy(text.begin(), text.end(), at_);
        return {start, text.size()};
    }

private:
    char* at_;
    char* end_;
};

template <class T>
void free_block(const T* record) noexcept {
    record->~T();
    ::operator delete(const_cast<T*>(record));
}

// The protocol names are three: no copy of them per port.
inline std::string_view protocol_name(std::string_view protocol) {
    for (const std::string_view known : {"tcp", "udp", "sctp"}) {
        if (protocol == known) {
            return known;
        }
    }
    return "tcp";
}

inline size_t ports_text_size(const std::vector<ServicePort>& ports) {
    size_t size = 0;
    for (const ServicePort& p : ports) {
        size += p.name.size();
    }
    return size;
}

inline std::span<const PortView> port_views(const std::vector<ServicePort>& ports, PortView* out,
                                            TextWriter& text) {
    for (size_t i = 0; i < ports.size(); ++i) {
        new (&out[i])
            PortView{text.add(ports[i].name), protocol_name(ports[i].protocol), ports[i].port};
    }
    return {out, ports.size()};
}

// A Service as the store keeps it: what DNS reads of it, and nothing else, in one block.
struct ServiceObject : Counted {
    struct Fields {
        std::string_view ns;
        std::string_view name;
        std::string_view external_name;
        ServiceType type = ServiceType::ClusterIp;
        bool headless = false;
        bool publish_not_ready_addresses = false;
    };
    Fields service;
    std::span<const IpAddress> cluster_ips;
    std::span<const PortView> ports;
    Source source = Source::Manifests;

    static ServiceObject* make(const Service& s, Source source) {
        Block plan(sizeof(ServiceObject));
        const size_t ports_at = plan.array<PortView>(s.ports.size());
        const size_t ips_at = plan.array<IpAddress>(s.cluster_ips.size());
        const size_t text_size =
            s.ns.size() + s.name.size() + s.external_name.size() + ports_text_size(s.ports);
        const size_t text_at = plan.bytes(text_size);
        auto* block = static_cast<char*>(::operator new(plan.size()));
        auto* o = new (block) ServiceObject();
        TextWriter text(block + text_at, text_size);
        o->service = {.ns = text.add(s.ns),
                      .name = text.add(s.name),
                      .external_name = text.add(s.external_name),
                      .type = s.type,
                      .headless = s.headless,
                      .publish_not_ready_addresses = s.publish_not_ready_addresses};
        auto* ips = reinterpret_cast<IpAddress*>(block + ips_at);
        std::uninitialized_copy(s.cluster_ips.begin(), s.cluster_ips.end(), ips);
        o->cluster_ips = {ips, s.cluster_ips.size()};
        o->ports = port_views(s.ports, reinterpret_cast<PortView*>(block + ports_at), text);
        o->source = source;
        return o;
    }
    static void destroy(const ServiceObject* o) noexcept { free_block(o); }
};

// An EndpointSlice (or one subset of a legacy Endpoints) as the store keeps it, in one block:
// one entry per address.
struct SetRecord : Counted {
    struct Fields {
        std::string_view ns;
        std::string_view name;
        std::string_view service;
        bool legacy = false;
    };
    // 32 bytes: the strings are offsets into the record's text.
    struct Address {
        IpAddress address;
        bool ready = true;
        uint16_t hostname_size = 0;
        uint16_t pod_size = 0;  // targetRef's Pod, kept only for endpoint_pod_names
        uint32_t hostname_at = 0;
        uint32_t pod_at = 0;
    };
    static_assert(sizeof(Address) == 32);

    Fields set;
    std::string_view order;  // where it sorts among a Service's sets: kind, then name
    std::span<const Address> addresses;
    std::span<const PortView> ports;
    const char* text = nullptr;
    Source source = Source::Manifests;

    std::string_view hostname(const Address& a) const {
        return {text + a.hostname_at, a.hostname_size};
    }
    std::string_view pod(const Address& a) const { return {text + a.pod_at, a.pod_size}; }

    static SetRecord* make(const EndpointSet& s, bool keep_pods, Source source) {
        size_t count = 0;
        size_t text_size =
            s.ns.size() + s.name.size() * 2 + s.service.size() + 7 + ports_text_size(s.ports);
        for (const Endpoint& e : s.endpoints) {
            count += e.addresses.size();
            text_size += e.hostname.size() + (keep_pods ? e.pod.size() : 0);
        }
        Block plan(sizeof(SetRecord));
        const size_t ports_at = plan.array<PortView>(s.ports.size());
        const size_t addresses_at = plan.array<Address>(count);
        const size_t text_at = plan.bytes(text_size);
        auto* block = static_cast<char*>(::operator new(plan.size()));
        auto* r = new (block) SetRecord();
        r->text = block + text_at;
        TextWriter text(block + text_at, text_size);
        r->set = {.ns = text.add(s.ns),
                  .name = text.add(s.name),
                  .service = text.add(s.service),
                  .legacy = s.legacy};
        const std::string_view prefix = text.add(s.legacy ? "legacy:" : "slice:");
        r->order = {prefix.data(), prefix.size() + text.add(s.name).size()};
        auto* out = reinterpret_cast<Address*>(block + addresses_at);
        size_t n = 0;
        const auto offset = [&](std::string_view view) {
            return static_cast<uint32_t>(view.data() - r->text);
        };
        for (const Endpoint& e : s.endpoints) {
            // Names are DNS labels (63 bytes at most), so their sizes fit in 16 bits.
            const std::string_view hostname = text.add(e.hostname);
            const std::string_view pod = keep_pods ? text.add(e.pod) : std::string_view();
            for (const IpAddress& ip : e.addresses) {
                new (&out[n++]) Address{.address = ip,
                                        .ready = e.ready,
                                        .hostname_size = static_cast<uint16_t>(hostname.size()),
                                        .pod_size = static_cast<uint16_t>(pod.size()),
                                        .hostname_at = offset(hostname),
                                        .pod_at = pod.empty() ? 0 : offset(pod)};
            }
        }
        r->addresses = {out, count};
        r->ports = port_views(s.ports, reinterpret_cast<PortView*>(block + ports_at), text);
        r->source = source;
        return r;
    }
    static void destroy(const SetRecord* r) noexcept { free_block(r); }
};

struct PodRecord : Counted {
    std::string ns;
    std::string name;
    std::vector<IpAddress> ips;
    Source source = Source::Manifests;
};

// How many Pods of a namespace have an address (for `pods verified`).
struct PodAddressRecord : Counted {
    std::string ns;
    IpAddress address;
    uint32_t count = 0;
};

// --- What snapshots hold --------------------------------------------------------------------

// A Service's view and what it points into: its object and the sets its endpoints came from.
// One block: the header, then the sets it holds, its endpoints and their order by label.
struct ServiceRecord : Counted {
    const ServiceObject* object = nullptr;
    ServiceView view;
    uint32_t set_count = 0;
    uint32_t sets_at = 0;  // from the start of the block, after the names

    std::span<const SetRecord* const> sets() const noexcept {
        return {reinterpret_cast<const SetRecord* const*>(reinterpret_cast<const char*>(this) +
                                                          sets_at),
                set_count};
    }
    std::span<const EndpointView> endpoints() const noexcept { return view.endpoints; }

    // Takes the references to `object` and `sets` that the caller holds.
    static ServiceRecord* make(const ServiceObject* object,
                               const std::vector<const SetRecord*>& sets,
                               const std::vector<EndpointView>& endpoints, uint32_t first_v6,
                               const std::vector<PortView>& endpoint_ports,
                               const std::vector<uint32_t>& by_label) {
        // The names first, beside the header: a lookup compares them without touching the object.
        const ServiceObject::Fields& service = object->service;
        const size_t names_at = sizeof(ServiceRecord);
        const size_t names_size = service.ns.size() + service.name.size();
        const size_t sets_at = (names_at + names_size + 7) / 8 * 8;
        const size_t endpoints_at = sets_at + sets.size() * sizeof(const SetRecord*);
        const size_t ports_at = endpoints_at + endpoints.size() * sizeof(EndpointView);
        const size_t by_label_at = ports_at + endpoint_ports.size() * sizeof(PortView);
        static_assert(sizeof(ServiceRecord) % alignof(EndpointView) == 0 &&
                      sizeof(EndpointView) % alignof(PortView) == 0 &&
                      sizeof(PortView) % alignof(uint32_t) == 0);
        auto* block =
            static_cast<uint8_t*>(::operator new(by_label_at + by_label.size() * sizeof(uint32_t)));
        auto* r = new (block) ServiceRecord();
        r->object = object;
        r->set_count = static_cast<uint32_t>(sets.size());
        r->sets_at = static_cast<uint32_t>(sets_at);
        std::uninitialized_copy(sets.begin(), sets.end(),
                                reinterpret_cast<const SetRecord**>(block + sets_at));
        auto* endpoint_views = reinterpret_cast<EndpointView*>(block + endpoints_at);
        std::uninitialized_copy(endpoints.begin(), endpoints.end(), endpoint_views);
        auto* port_views = reinterpret_cast<PortView*>(block + ports_at);
        std::uninitialized_copy(endpoint_ports.begin(), endpoint_ports.end(), port_views);
        auto* order = reinterpret_cast<uint32_t*>(block + by_label_at);
        std::uninitialized_copy(by_label.begin(), by_label.end(), order);
        TextWriter names(reinterpret_cast<char*>(block + names_at), names_size);
        r->view = {.ns = names.add(service.ns),
                   .name = names.add(service.name),
                   .type = service.type,
                   .headless = service.headless,
                   .cluster_ips = object->cluster_ips,
                   .external_name = service.external_name,
                   .ports = object->ports,
                   .endpoints = {endpoint_views, endpoints.size()},
                   .first_v6 = first_v6,
                   .endpoint_ports = {port_views, endpoint_ports.size()},
                   .by_label = {order, by_label.size()}};
        return r;
    }
    static void destroy(const ServiceRecord* r) noexcept {
        release_ref(r->object);
        for (const SetRecord* s : r->sets()) {
            release_ref(s);
        }
        r->~ServiceRecord();
        ::operator delete(const_cast<ServiceRecord*>(r));
    }
};

struct NamespaceRecord : Counted {
    std::string name;
    uint8_t declared_by = 0;  // a bit per Source that has a Namespace object of this name
    uint32_t uses = 0;        // Services and Pods in it
};

inline uint8_t bit(Source source) {
    return static_cast<uint8_t>(1u << static_cast<unsigned>(source));
}

// The PTR targets of one address: every Service it is a ClusterIP of first, then the endpoints;
// only the first `visible` are answered (the Services, if any).
// One block: the header, then the targets (most addresses have one).
struct PtrRecord : Counted {
    IpAddress address;
    uint32_t count = 0;
    uint32_t visible = 0;

    std::span<const PtrTarget> targets() const noexcept {
        return {reinterpret_cast<const PtrTarget*>(this + 1), count};
    }
    static PtrRecord* make(const IpAddress& address, std::span<const PtrTarget> targets) {
        void* block = ::operator new(sizeof(PtrRecord) + targets.size() * sizeof(PtrTarget));
        auto* r = new (block) PtrRecord();
        r->address = address;
        r->count = static_cast<uint32_t>(targets.size());
        std::uninitialized_copy(targets.begin(), targets.end(),
                                reinterpret_cast<PtrTarget*>(r + 1));
        // The Services (ClusterIPs) sort first; endpoints show only where there is none.
        r->visible = static_cast<uint32_t>(std::count_if(
            targets.begin(), targets.end(), [](const PtrTarget& t) { return !t.endpoint; }));
        if (r->visible == 0) {
            r->visible = r->count;
        }
        return r;
    }
    static void destroy(const PtrRecord* r) noexcept {
        r->~PtrRecord();
        ::operator delete(const_cast<PtrRecord*>(r));
    }
};
static_assert(sizeof(PtrRecord) % alignof(PtrTarget) == 0);

// How many addresses with PTR records start with `bits` bits of `prefix`.
struct PrefixRecord : Counted {
    IpAddress prefix;
    unsigned bits = 0;
    uint32_t count = 0;
};

inline IpAddress masked(IpAddress ip, unsigned bits) noexcept {
    for (unsigned bit = bits; bit < 128; ++bit) {
        ip.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    }
    return ip;
}

inline bool ptr_order(const PtrTarget& a, const PtrTarget& b) {
    if ((a.endpoint != nullptr) != (b.endpoint != nullptr)) {
        return a.endpoint == nullptr;
    }
    if (a.service->ns != b.service->ns) {
        return a.service->ns < b.service->ns;
    }
    if (a.service->name != b.service->name) {
        return a.service->name < b.service->name;
    }
    return a.endpoint < b.endpoint;  // the same Service's endpoints lie in one array
}

}  // namespace records

// The derived maps a snapshot answers from; the store's working copy has the same shape.
struct DerivedMaps {
    PersistentMap<records::ServiceRecord> services;
    PersistentMap<records::NamespaceRecord> namespaces;
    PersistentMap<records::PtrRecord> ptrs;
    PersistentMap<records::PrefixRecord> prefixes;
    PersistentMap<records::PodAddressRecord> pod_addresses;
    size_t endpoint_count = 0;
};

class Snapshot::Impl {
public:
    SnapshotConfig config;
    DerivedMaps maps;
};

}  // namespace clusterdns
