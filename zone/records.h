#pragma once
// The records behind snapshots and the store (zone/snapshot.h, zone/store.h): what the store keeps
// of each object, the views derived from them, and the maps a snapshot holds. Internal to zone/:
// snapshot.cc reads them, store.cc writes them.

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "zone/flat_map.h"
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

inline size_t ports_text_size(const std::vector<ServicePort>& ports) {
    size_t size = 0;
    for (const ServicePort& p : ports) {
        size += p.name.size();
    }
    return size;
}

inline const PortView* port_views(const std::vector<ServicePort>& ports, PortView* out,
                                  TextWriter& text) {
    for (size_t i = 0; i < ports.size(); ++i) {
        new (&out[i]) PortView(text.add(ports[i].name), ports[i].protocol, ports[i].port);
    }
    return out;
}

// Sizes the converter has validated (DNS labels and names), checked again where they narrow.
template <class T>
T narrow_size(size_t size) {
    if (size > std::numeric_limits<T>::max()) {
        throw std::length_error("records: a name longer than the API allows");
    }
    return static_cast<T>(size);
}

// Writes one of a record's arrays where its header says it lies.
template <class T>
T* writable(std::span<const T> where) noexcept {
    return const_cast<T*>(where.data());
}

// A header planned on the stack with the alignment of a heap block: its arrays' places, found
// from its counts, lie at the offsets they will have in the block.
template <class T>
struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) Plan {
    T header;
    // A block holding a copy of the header and room up to `end`, a place in the planned arrays.
    T* allocate(const void* end) const {
        const size_t size =
            reinterpret_cast<uintptr_t>(end) - reinterpret_cast<uintptr_t>(&header);
        return new (::operator new(size)) T(header);
    }
};

// What the store keeps of an object besides its fields: who holds it, where it came from.
struct StoreHeader : Counted {
    Source source = Source::Manifests;
};

// A Service as the store keeps it: what DNS reads of it, and nothing else, in one block. Its
// fields come last and have no member after them, as their arrays follow them; a view that
// holds the fields finds the object with of().
struct ServiceObject : StoreHeader, ServiceFields {
    static const ServiceObject* of(const ServiceFields* fields) noexcept {
        return static_cast<const ServiceObject*>(fields);
    }

    static ServiceObject* make(const Service& s, Source source) {
        const size_t text_size =
            s.ns.size() + s.name.size() + s.external_name.size() + ports_text_size(s.ports);
        Plan<ServiceObject> plan;
        plan.header.source = source;
        ServiceFields& f = plan.header;
        f.ns_size = narrow_size<uint8_t>(s.ns.size());
        f.name_size = narrow_size<uint8_t>(s.name.size());
        f.external_name_size = narrow_size<uint8_t>(s.external_name.size());
        f.cluster_ip_count = narrow_size<uint8_t>(s.cluster_ips.size());
        f.port_count = narrow_size<uint16_t>(s.ports.size());
        f.type = s.type;
        f.headless = s.headless;
        f.publish_not_ready_addresses = s.publish_not_ready_addresses;
        f.allocated_ips = s.allocated_ips;
        ServiceObject* o = plan.allocate(f.text() + text_size);
        std::uninitialized_copy(s.cluster_ips.begin(), s.cluster_ips.end(),
                                writable(o->cluster_ips()));
        TextWriter text(const_cast<char*>(o->text()), text_size);
        text.add(s.ns);
        text.add(s.name);
        text.add(s.external_name);
        port_views(s.ports, writable(o->ports()), text);
        return o;
    }
    static void destroy(const ServiceObject* o) noexcept { free_block(o); }
};

// An EndpointSlice (or one subset of a legacy Endpoints) as the store keeps it, in one block:
// its ports, one EndpointView per address (which the views of its Service point at), then its
// text (the namespace, the Service, the set's name, then port names and hostnames).
struct SetRecord : Counted {
    uint32_t address_count = 0;
    uint16_t name_size = 0;  // a DNS subdomain: 253 bytes at most
    uint16_t port_count = 0;
    uint8_t ns_size = 0;
    uint8_t service_size = 0;
    bool legacy = false;
    Source source = Source::Manifests;

    std::span<const PortView> ports() const noexcept {
        return {array_after<PortView>(this), port_count};
    }
    std::span<const EndpointView> addresses() const noexcept {
        return {array_after<EndpointView>(ports().data(), port_count), address_count};
    }
    const char* text() const noexcept {
        return array_after<char>(addresses().data(), address_count);
    }
    std::string_view ns() const noexcept { return {text(), ns_size}; }
    std::string_view service() const noexcept { return {text() + ns_size, service_size}; }
    std::string_view name() const noexcept {
        return {text() + ns_size + service_size, name_size};
    }
    // Where it sorts among a Service's sets: slices before legacy subsets, then by name.
    auto order() const noexcept { return std::make_tuple(legacy, name()); }

    // An endpoint's hostname as kept. With `pod_names` (CoreDNS's endpoint_pod_names) an
    // endpoint without hostname is named by its Pod, when that is a DNS label (specification
    // 2.4.1: else its dashed address).
    static std::string_view label(const Endpoint& e, bool pod_names) {
        if (e.hostname.empty() && pod_names && !e.pod.empty() && check_dns1123_label("", e.pod)) {
            return e.pod;
        }
        return e.hostname;
    }

    static SetRecord* make(const EndpointSet& s, bool pod_names, Source source) {
        const auto label = [&](const Endpoint& e) { return SetRecord::label(e, pod_names); };
        size_t count = 0;
        size_t text_size = s.ns.size() + s.service.size() + s.name.size() + ports_text_size(s.ports);
        for (const Endpoint& e : s.endpoints) {
            count += e.addresses.size();
            text_size += label(e).size();
        }
        Plan<SetRecord> plan;
        SetRecord& h = plan.header;
        h.ns_size = narrow_size<uint8_t>(s.ns.size());
        h.service_size = narrow_size<uint8_t>(s.service.size());
        h.name_size = narrow_size<uint16_t>(s.name.size());
        h.port_count = narrow_size<uint16_t>(s.ports.size());
        h.address_count = narrow_size<uint32_t>(count);
        h.legacy = s.legacy;
        h.source = source;
        SetRecord* r = plan.allocate(h.text() + text_size);
        TextWriter text(const_cast<char*>(r->text()), text_size);
        text.add(s.ns);
        text.add(s.service);
        text.add(s.name);
        const PortView* ports = port_views(s.ports, writable(r->ports()), text);
        EndpointView* out = writable(r->addresses());
        for (const Endpoint& e : s.endpoints) {
            const std::string_view hostname = text.add(label(e));
            for (const IpAddress& ip : e.addresses) {
                new (out++) EndpointView(ip, e.ready, hostname, {ports, r->port_count});
            }
        }
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
// One block: the header, the view's arrays (ServiceView), then the sets it holds.
struct ServiceRecord : Counted {
    uint32_t set_count = 0;
    // What a worker answers from; last, as its arrays follow it.
    class View : public ServiceView {
        friend struct ServiceRecord;
    } view;

    const ServiceObject* object() const noexcept { return ServiceObject::of(view.fields_); }
    // What a lookup reads after the record: the object, for its name (FlatMap::find fetches both
    // at once).
    const void* companion() const noexcept { return view.fields_; }
    std::span<const SetRecord* const> sets() const noexcept {
        const std::span<const uint32_t> by_address = view.by_address();
        return {array_after<const SetRecord*>(by_address.data(), by_address.size()), set_count};
    }

    // Takes the references to `object` and `sets` that the caller holds.
    static ServiceRecord* make(const ServiceObject* object,
                               const std::vector<const SetRecord*>& sets,
                               const std::vector<const EndpointView*>& endpoints,
                               uint32_t first_v6,
                               const std::vector<const PortView*>& endpoint_ports,
                               const std::vector<uint32_t>& by_label,
                               const std::vector<uint32_t>& by_address) {
        Plan<ServiceRecord> plan;
        ServiceRecord& h = plan.header;
        h.set_count = static_cast<uint32_t>(sets.size());
        h.view.fields_ = object;
        h.view.endpoint_count_ = static_cast<uint32_t>(endpoints.size());
        h.view.first_v6_ = first_v6;
        h.view.endpoint_port_count_ = static_cast<uint32_t>(endpoint_ports.size());
        ServiceRecord* r = plan.allocate(h.sets().data() + h.set_count);
        const View& v = r->view;
        std::uninitialized_copy(endpoints.begin(), endpoints.end(), writable(v.endpoints()));
        std::uninitialized_copy(endpoint_ports.begin(), endpoint_ports.end(),
                                writable(v.endpoint_ports()));
        std::uninitialized_copy(by_label.begin(), by_label.end(), writable(v.by_label()));
        std::uninitialized_copy(by_address.begin(), by_address.end(), writable(v.by_address()));
        std::uninitialized_copy(sets.begin(), sets.end(), writable(r->sets()));
        return r;
    }
    static void destroy(const ServiceRecord* r) noexcept {
        release_ref(r->object());
        for (const SetRecord* s : r->sets()) {
            release_ref(s);
        }
        free_block(r);
    }
};

// The indices of the endpoints of `s` with `address`: a binary search of by_address().
inline std::span<const uint32_t> endpoints_with_address(const ServiceView& s,
                                                        const IpAddress& address) noexcept {
    const std::span<const uint32_t> order = s.by_address();
    const auto first = std::lower_bound(
        order.begin(), order.end(), address,
        [&s](uint32_t i, const IpAddress& a) { return s.endpoint(i).address < a; });
    const auto last = std::upper_bound(
        first, order.end(), address,
        [&s](const IpAddress& a, uint32_t i) { return a < s.endpoint(i).address; });
    return {first, last};
}

// Whether `address` is one of the ClusterIPs or endpoints of `s`: it has PTR records from it.
inline bool holds_address(const ServiceView& s, const IpAddress& address) noexcept {
    const std::span<const IpAddress> ips = s.cluster_ips();
    return std::find(ips.begin(), ips.end(), address) != ips.end() ||
           !endpoints_with_address(s, address).empty();
}

struct NamespaceRecord : Counted {
    std::string name;
    uint8_t declared_by = 0;  // a bit per Source that has a Namespace object of this name
    uint32_t uses = 0;        // Services and Pods in it
};

inline uint8_t bit(Source source) {
    return static_cast<uint8_t>(1u << static_cast<unsigned>(source));
}

// How many addresses with PTR records start with `bits` bits of `prefix`.
struct PrefixRecord : Counted {
    IpAddress prefix;
    unsigned bits = 0;
    uint32_t count = 0;
};

inline IpAddress masked(IpAddress ip, unsigned bits) noexcept {
    if (bits % 8 != 0) {
        ip.bytes[bits / 8] &= static_cast<uint8_t>(0xFF00u >> (bits % 8));
    }
    std::fill(ip.bytes.begin() + (bits + 7) / 8, ip.bytes.end(), uint8_t{0});
    return ip;
}

inline bool ptr_order(const PtrTarget& a, const PtrTarget& b) {
    if ((a.endpoint != nullptr) != (b.endpoint != nullptr)) {
        return a.endpoint == nullptr;
    }
    if (a.service->ns() != b.service->ns()) {
        return a.service->ns() < b.service->ns();
    }
    if (a.service->name() != b.service->name()) {
        return a.service->name() < b.service->name();
    }
    if (a.endpoint == nullptr) {
        return false;
    }
    return std::make_tuple(a.endpoint->hostname(), a.endpoint->address) <
           std::make_tuple(b.endpoint->hostname(), b.endpoint->address);
}

}  // namespace records

// The derived maps a snapshot answers from; the store's working copy has the same shape. Every
// Service query looks its Service up in `services`: a FlatMap reads one line of its table before
// the record, where a PersistentMap walks three nodes.
struct DerivedMaps {
    FlatMap<records::ServiceRecord> services;
    PersistentMap<records::NamespaceRecord> namespaces;
    // The Services an address has PTR records from: one entry per Service and address it holds
    // (a ClusterIP or an endpoint's), by the address's hash.
    PersistentMap<records::ServiceRecord> ptrs;
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
