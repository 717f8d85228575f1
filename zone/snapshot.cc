#include "zone/snapshot.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "zone/persistent_map.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"
#include "zone/store.h"

namespace clusterdns {
namespace {

constexpr std::string_view kBuiltinNamespaces[] = {"default", "kube-system", "kube-public",
                                                   "kube-node-lease"};

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

uint64_t key_hash(std::string_view ns, std::string_view name) noexcept {
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
std::string_view protocol_name(std::string_view protocol) {
    for (const std::string_view known : {"tcp", "udp", "sctp"}) {
        if (protocol == known) {
            return known;
        }
    }
    return "tcp";
}

size_t ports_text_size(const std::vector<ServicePort>& ports) {
    size_t size = 0;
    for (const ServicePort& p : ports) {
        size += p.name.size();
    }
    return size;
}

std::span<const PortView> port_views(const std::vector<ServicePort>& ports, PortView* out,
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

    std::span<const SetRecord* const> sets() const noexcept {
        return {reinterpret_cast<const SetRecord* const*>(this + 1), set_count};
    }
    std::span<const EndpointView> endpoints() const noexcept { return view.endpoints; }

    // Takes the references to `object` and `sets` that the caller holds.
    static ServiceRecord* make(const ServiceObject* object,
                               const std::vector<const SetRecord*>& sets,
                               const std::vector<EndpointView>& endpoints, uint32_t first_v6,
                               const std::vector<PortView>& endpoint_ports,
                               const std::vector<uint32_t>& by_label) {
        const size_t sets_at = sizeof(ServiceRecord);
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
        std::uninitialized_copy(sets.begin(), sets.end(),
                                reinterpret_cast<const SetRecord**>(block + sets_at));
        auto* endpoint_views = reinterpret_cast<EndpointView*>(block + endpoints_at);
        std::uninitialized_copy(endpoints.begin(), endpoints.end(), endpoint_views);
        auto* port_views = reinterpret_cast<PortView*>(block + ports_at);
        std::uninitialized_copy(endpoint_ports.begin(), endpoint_ports.end(), port_views);
        auto* order = reinterpret_cast<uint32_t*>(block + by_label_at);
        std::uninitialized_copy(by_label.begin(), by_label.end(), order);
        const ServiceObject::Fields& service = object->service;
        r->view = {.ns = service.ns,
                   .name = service.name,
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

uint8_t bit(Source source) {
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

IpAddress masked(IpAddress ip, unsigned bits) noexcept {
    for (unsigned bit = bits; bit < 128; ++bit) {
        ip.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    }
    return ip;
}

bool ptr_order(const PtrTarget& a, const PtrTarget& b) {
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

}  // namespace

// The derived maps a snapshot answers from; the store's working copy has the same shape.
struct DerivedMaps {
    PersistentMap<ServiceRecord> services;
    PersistentMap<NamespaceRecord> namespaces;
    PersistentMap<PtrRecord> ptrs;
    PersistentMap<PrefixRecord> prefixes;
    PersistentMap<PodAddressRecord> pod_addresses;
    size_t endpoint_count = 0;
};

class Snapshot::Impl {
public:
    SnapshotConfig config;
    DerivedMaps maps;
};

Snapshot::Snapshot(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {
}

Snapshot::~Snapshot() = default;

const SnapshotConfig& Snapshot::config() const noexcept {
    return impl_->config;
}

bool Snapshot::exposes(std::string_view ns) const noexcept {
    const auto& exposed = impl_->config.namespaces;
    return exposed.empty() || std::find(exposed.begin(), exposed.end(), ns) != exposed.end();
}

bool Snapshot::has_namespace(std::string_view ns) const noexcept {
    if (!exposes(ns)) {
        return false;
    }
    if (std::find(std::begin(kBuiltinNamespaces), std::end(kBuiltinNamespaces), ns) !=
        std::end(kBuiltinNamespaces)) {
        return true;
    }
    return impl_->maps.namespaces.find(Hasher().add(ns).done(), [&](const NamespaceRecord& r) {
        return r.name == ns;
    }) != nullptr;
}

const ServiceView* Snapshot::service(std::string_view ns, std::string_view name) const noexcept {
    if (!exposes(ns)) {
        return nullptr;
    }
    const ServiceRecord* r = impl_->maps.services.find(
        key_hash(ns, name),
        [&](const ServiceRecord& s) { return s.view.name == name && s.view.ns == ns; });
    return r == nullptr ? nullptr : &r->view;
}

std::span<const PtrTarget> Snapshot::ptr_targets(const IpAddress& address) const noexcept {
    const PtrRecord* r = impl_->maps.ptrs.find(
        Hasher().add(address).done(), [&](const PtrRecord& p) { return p.address == address; });
    return r == nullptr ? std::span<const PtrTarget>() : r->targets().first(r->visible);
}

bool Snapshot::has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept {
    const IpAddress key = masked(prefix, bits);
    return impl_->maps.prefixes.find(Hasher().add(key, bits).done(), [&](const PrefixRecord& p) {
        return p.bits == bits && p.prefix == key;
    }) != nullptr;
}

bool Snapshot::has_pod(std::string_view ns, const IpAddress& address) const noexcept {
    return impl_->maps.pod_addresses.find(
               Hasher().add(ns).add(address).done(), [&](const PodAddressRecord& r) {
                   return r.address == address && r.ns == ns;
               }) != nullptr;
}

size_t Snapshot::service_count() const noexcept {
    return impl_->maps.services.size();
}

size_t Snapshot::endpoint_count() const noexcept {
    return impl_->maps.endpoint_count;
}

std::string endpoint_label(const EndpointView& e) {
    return e.hostname.empty() ? dashed_address(e.address) : std::string(e.hostname);
}

// --- Store -------------------------------------------------------------------------------------

class Store::Maps {
public:
    SnapshotConfig config;
    PersistentMap<ServiceObject> objects;
    PersistentMap<SetRecord> sets;
    PersistentMap<SetRecord> sets_by_service;  // the same sets, by the Service they name
    PersistentMap<PodRecord> pods;
    DerivedMaps derived;
    std::set<std::pair<std::string, std::string>> dirty;  // Services whose view must be derived

    static uint64_t pod_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api pod" : "pod").done();
    }
    static uint64_t object_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api" : "manifests").done();
    }
    static auto same_object(std::string_view ns, std::string_view name, Source source) {
        return [=](const ServiceObject& o) {
            return o.source == source && o.service.name == name && o.service.ns == ns;
        };
    }
    const ServiceObject* find_object(std::string_view ns, std::string_view name,
                                     Source source) const {
        return objects.find(object_hash(ns, name, source), same_object(ns, name, source));
    }
    // What DNS publishes of a Service: the API's version if it has one, else the manifests'.
    const ServiceObject* effective_object(std::string_view ns, std::string_view name) const {
        const ServiceObject* api = find_object(ns, name, Source::Api);
        return api != nullptr ? api : find_object(ns, name, Source::Manifests);
    }
    static auto same_set(std::string_view ns, std::string_view name, bool legacy, Source source) {
        return [=](const SetRecord& r) {
            return r.source == source && r.set.legacy == legacy && r.set.name == name &&
                   r.set.ns == ns;
        };
    }
    static uint64_t set_hash(std::string_view ns, std::string_view name, bool legacy,
                             Source source) {
        return Hasher()
            .add(ns)
            .add(name)
            .add(legacy ? "legacy" : "slice")
            .add(source == Source::Api ? "api" : "manifests")
            .done();
    }
    // The sets that name a Service, in order: by kind and name, the API's after the manifests'.
    std::vector<const SetRecord*> sets_of(std::string_view ns, std::string_view service) const {
        std::vector<const SetRecord*> out;
        sets_by_service.for_each_with_hash(key_hash(ns, service), [&](const SetRecord& r) {
            if (r.set.service == service && r.set.ns == ns) {
                out.push_back(&r);
            }
        });
        std::sort(out.begin(), out.end(), [](const SetRecord* a, const SetRecord* b) {
            return std::tie(a->order, a->source) < std::tie(b->order, b->source);
        });
        return out;
    }

    const NamespaceRecord* find_namespace(std::string_view name) const {
        return derived.namespaces.find(Hasher().add(name).done(),
                                       [&](const NamespaceRecord& r) { return r.name == name; });
    }

    // Changes how many objects use a namespace, or whether `source` declares it; the namespace
    // exists while either holds.
    void change_namespace(std::string_view name, int uses_delta, std::optional<Source> source,
                          bool declared) {
        const uint64_t h = Hasher().add(name).done();
        const auto same = [&](const NamespaceRecord& r) { return r.name == name; };
        auto* next = new NamespaceRecord();
        if (const NamespaceRecord* old = derived.namespaces.find(h, same)) {
            *next = *old;
        } else {
            next->name = std::string(name);
        }
        next->uses = static_cast<uint32_t>(static_cast<int>(next->uses) + uses_delta);
        if (source) {
            next->declared_by =
                declared ? next->declared_by | bit(*source) : next->declared_by & ~bit(*source);
        }
        if (next->uses == 0 && next->declared_by == 0) {
            delete next;
            derived.namespaces.erase(h, same);
            return;
        }
        derived.namespaces.set(h, same, next);
    }

    // Adds a set to, or takes it out of, the index of the Service it names.
    void relist(const SetRecord& record, bool add) {
        const uint64_t h = key_hash(record.set.ns, record.set.service);
        const auto same =
            same_set(record.set.ns, record.set.name, record.set.legacy, record.source);
        if (add) {
            sets_by_service.set(h, same, &record);
        } else {
            sets_by_service.erase(h, same);
        }
        dirty.emplace(record.set.ns, record.set.service);
    }

    void count_pod_addresses(const PodRecord& pod, int delta) {
        for (const IpAddress& address : pod.ips) {
            const uint64_t h = Hasher().add(pod.ns).add(address).done();
            const auto same = [&](const PodAddressRecord& r) {
                return r.address == address && r.ns == pod.ns;
            };
            const PodAddressRecord* old = derived.pod_addresses.find(h, same);
            const auto count =
                static_cast<uint32_t>(static_cast<int>(old != nullptr ? old->count : 0) + delta);
            if (count == 0) {
                derived.pod_addresses.erase(h, same);
                continue;
            }
            auto* next = new PodAddressRecord();
            next->ns = pod.ns;
            next->address = address;
            next->count = count;
            derived.pod_addresses.set(h, same, next);
        }
    }

    bool erase_set(std::string_view ns, std::string_view name, bool legacy, Source source) {
        const uint64_t h = set_hash(ns, name, legacy, source);
        const auto same = same_set(ns, name, legacy, source);
        const SetRecord* old = sets.find(h, same);
        if (old == nullptr) {
            return false;
        }
        relist(*old, false);
        sets.erase(h, same);
        return true;
    }

    void change_ptr(const IpAddress& address, const ServiceRecord* remove, const PtrTarget* add) {
        const uint64_t h = Hasher().add(address).done();
        const auto same = [&](const PtrRecord& p) { return p.address == address; };
        const PtrRecord* old = derived.ptrs.find(h, same);
        std::vector<PtrTarget> targets;
        if (old != nullptr) {
            targets.assign(old->targets().begin(), old->targets().end());
        }
        if (remove != nullptr) {
            std::erase_if(targets, [&](const PtrTarget& t) { return t.service == &remove->view; });
        }
        if (add != nullptr) {
            targets.insert(std::upper_bound(targets.begin(), targets.end(), *add, ptr_order), *add);
        }
        const bool had = old != nullptr;
        const bool has = !targets.empty();
        if (has) {
            derived.ptrs.set(h, same, PtrRecord::make(address, targets));
        } else {
            derived.ptrs.erase(h, same);
        }
        if (had != has) {
            count_prefixes(address, has ? 1 : -1);
        }
    }

    // The reverse names above an address exist while some address below them has a PTR.
    void count_prefixes(const IpAddress& address, int delta) {
        const unsigned step = address.v6 ? 4 : 8;
        const unsigned total = address.v6 ? 128 : 32;
        for (unsigned bits = step; bits < total; bits += step) {
            const IpAddress key = masked(address, bits);
            const uint64_t h = Hasher().add(key, bits).done();
            const auto same = [&](const PrefixRecord& p) {
                return p.bits == bits && p.prefix == key;
            };
            const PrefixRecord* old = derived.prefixes.find(h, same);
            const uint32_t count =
                static_cast<uint32_t>(static_cast<int>(old ? old->count : 0) + delta);
            if (count == 0) {
                derived.prefixes.erase(h, same);
                continue;
            }
            auto* next = new PrefixRecord();
            next->prefix = key;
            next->bits = bits;
            next->count = count;
            derived.prefixes.set(h, same, next);
        }
    }

    void unpublish(const ServiceRecord& old) {
        for (const IpAddress& ip : old.view.cluster_ips) {
            change_ptr(ip, &old, nullptr);
        }
        for (const EndpointView& e : old.endpoints()) {
            change_ptr(e.address, &old, nullptr);
        }
        derived.endpoint_count -= old.endpoints().size();
    }

    void publish(const ServiceRecord& record) {
        for (const IpAddress& ip : record.view.cluster_ips) {
            const PtrTarget t{&record.view, nullptr};
            change_ptr(ip, nullptr, &t);
        }
        for (const EndpointView& e : record.endpoints()) {
            const PtrTarget t{&record.view, &e};
            change_ptr(e.address, nullptr, &t);
        }
        derived.endpoint_count += record.endpoints().size();
    }

    // Derives the view of one Service from its object and the sets that name it.
    void derive(const std::string& ns, const std::string& name) {
        const uint64_t h = key_hash(ns, name);
        const auto same = [&](const ServiceRecord& r) {
            return r.view.name == name && r.view.ns == ns;
        };
        if (const ServiceRecord* old = derived.services.find(h, same)) {
            unpublish(*old);
        }
        const ServiceObject* object = effective_object(ns, name);
        if (object == nullptr) {
            derived.services.erase(h, same);
            return;
        }
        hold_ref(object);
        std::vector<const SetRecord*> used;  // the sets its endpoints come from, held
        std::vector<EndpointView> endpoints;
        const ServiceObject::Fields& service = object->service;
        if (const std::vector<const SetRecord*> list = sets_of(ns, name); !list.empty()) {
            // Legacy Endpoints count only for a Service without EndpointSlices.
            const bool has_slices = std::any_of(list.begin(), list.end(),
                                                [](const SetRecord* s) { return !s->set.legacy; });
            std::set<std::pair<IpAddress, std::string_view>> seen;
            for (size_t i = 0; i < list.size(); ++i) {
                const SetRecord* s = list[i];
                // The API's version of a set hides the manifests' (it sorts right after it).
                const bool hidden = i + 1 < list.size() && list[i + 1]->order == s->order &&
                                    list[i + 1]->source == Source::Api;
                if (s->set.legacy == has_slices || hidden) {
                    continue;
                }
                hold_ref(s);
                used.push_back(s);
                for (const SetRecord::Address& endpoint : s->addresses) {
                    if (!endpoint.ready && !service.publish_not_ready_addresses) {
                        continue;
                    }
                    // Specification 2.4.1: the hostname names an endpoint; with CoreDNS's
                    // endpoint_pod_names its Pod does, when that is a DNS label.
                    std::string_view hostname = s->hostname(endpoint);
                    const std::string_view pod = s->pod(endpoint);
                    if (hostname.empty() && config.endpoint_pod_names && !pod.empty() &&
                        check_dns1123_label("", pod)) {
                        hostname = pod;
                    }
                    if (seen.emplace(endpoint.address, hostname).second) {
                        endpoints.push_back({endpoint.address, hostname, s->ports});
                    }
                }
            }
        }
        std::vector<std::string> labels;
        // IPv4 first, so either family is one contiguous run.
        std::stable_partition(endpoints.begin(), endpoints.end(),
                              [](const EndpointView& e) { return !e.address.v6; });
        const auto first_v6 = static_cast<uint32_t>(
            std::count_if(endpoints.begin(), endpoints.end(),
                          [](const EndpointView& e) { return !e.address.v6; }));
        std::vector<PortView> endpoint_ports;
        const PortView* previous = nullptr;
        for (const EndpointView& e : endpoints) {
            if (e.ports.data() == previous) {
                continue;  // the same slice's ports
            }
            previous = e.ports.data();
            for (const PortView& p : e.ports) {
                const bool known = std::any_of(
                    endpoint_ports.begin(), endpoint_ports.end(), [&](const PortView& q) {
                        return q.name == p.name && q.protocol == p.protocol && q.port == p.port;
                    });
                if (!p.name.empty() && !known) {
                    endpoint_ports.push_back(p);
                }
            }
        }
        std::vector<uint32_t> by_label;
        labels.reserve(endpoints.size());
        for (uint32_t i = 0; i < endpoints.size(); ++i) {
            labels.push_back(endpoint_label(endpoints[i]));
            by_label.push_back(i);
        }
        std::stable_sort(by_label.begin(), by_label.end(),
                         [&](uint32_t a, uint32_t b) { return labels[a] < labels[b]; });
        const ServiceRecord* r =
            ServiceRecord::make(object, used, endpoints, first_v6, endpoint_ports, by_label);
        derived.services.set(h, same, r);
        publish(*r);
    }
};

Store::Store(SnapshotConfig config) : maps_(std::make_unique<Maps>()) {
    maps_->config = std::move(config);
}

Store::~Store() = default;

Store::Checkpoint::Checkpoint(std::unique_ptr<Maps> maps) : maps_(std::move(maps)) {
}

Store::Checkpoint::Checkpoint(const Checkpoint& other)
    : maps_(std::make_unique<Maps>(*other.maps_)) {
}

Store::Checkpoint::~Checkpoint() = default;

Store::Checkpoint Store::checkpoint() const {
    return Checkpoint(std::make_unique<Maps>(*maps_));
}

void Store::restore(const Checkpoint& saved) {
    *maps_ = *saved.maps_;
}

void Store::upsert(Service service, Source source) {
    Maps& m = *maps_;
    const std::string ns = service.ns;
    const std::string name = service.name;
    const bool existed = m.find_object(ns, name, source) != nullptr;
    auto* object = ServiceObject::make(service, source);
    m.objects.set(Maps::object_hash(ns, name, source), Maps::same_object(ns, name, source), object);
    if (!existed) {
        m.change_namespace(ns, 1, std::nullopt, false);
    }
    m.dirty.emplace(ns, name);
}

void Store::upsert(EndpointSet set, Source source) {
    Maps& m = *maps_;
    const uint64_t h = Maps::set_hash(set.ns, set.name, set.legacy, source);
    const auto same = Maps::same_set(set.ns, set.name, set.legacy, source);
    if (const SetRecord* old = m.sets.find(h, same)) {
        m.relist(*old, false);  // it may have named another Service before
    }
    auto* record = SetRecord::make(set, m.config.endpoint_pod_names, source);
    m.sets.set(h, same, record);
    m.relist(*record, true);
}

void Store::upsert(Namespace ns, Source source) {
    maps_->change_namespace(ns.name, 0, source, true);
}

void Store::upsert(Pod pod, Source source) {
    Maps& m = *maps_;
    const std::string ns = pod.ns;
    const std::string name = pod.name;
    const auto same = [&](const PodRecord& p) {
        return p.source == source && p.name == name && p.ns == ns;
    };
    const uint64_t h = Maps::pod_hash(ns, name, source);
    const PodRecord* old = m.pods.find(h, same);
    if (old != nullptr) {
        m.count_pod_addresses(*old, -1);
    }
    auto* record = new PodRecord();
    record->ns = ns;
    record->name = name;
    record->ips = std::move(pod.ips);
    record->source = source;
    m.count_pod_addresses(*record, 1);
    m.pods.set(h, same, record);
    if (old == nullptr) {
        m.change_namespace(ns, 1, std::nullopt, false);
    }
}

bool Store::erase(ObjectKind kind, std::string_view ns, std::string_view name, Source source) {
    Maps& m = *maps_;
    switch (kind) {
        case ObjectKind::Namespace: {
            const NamespaceRecord* r = m.find_namespace(name);
            if (r == nullptr || (r->declared_by & bit(source)) == 0) {
                return false;
            }
            m.change_namespace(name, 0, source, false);
            return true;
        }
        case ObjectKind::Service: {
            if (!m.objects.erase(Maps::object_hash(ns, name, source),
                                 Maps::same_object(ns, name, source))) {
                return false;
            }
            m.change_namespace(ns, -1, std::nullopt, false);
            m.dirty.emplace(ns, name);
            return true;
        }
        case ObjectKind::EndpointSlice:
            return m.erase_set(ns, name, false, source);
        case ObjectKind::Endpoints: {
            // One set per subset, named "<name>/<index>" from 0 up.
            bool found = false;
            for (size_t i = 0; m.erase_set(ns, fmt::format("{}/{}", name, i), true, source); ++i) {
                found = true;
            }
            return found;
        }
        case ObjectKind::Pod: {
            const auto same = [&](const PodRecord& p) {
                return p.name == name && p.ns == ns && p.source == source;
            };
            const PodRecord* old = m.pods.find(Maps::pod_hash(ns, name, source), same);
            if (old == nullptr) {
                return false;
            }
            m.count_pod_addresses(*old, -1);
            m.pods.erase(Maps::pod_hash(ns, name, source), same);
            m.change_namespace(ns, -1, std::nullopt, false);
            return true;
        }
    }
    return false;
}

void Store::replace(ObjectKind kind, Cluster&& from, Source source) {
    Maps& m = *maps_;
    // What `source` has of this kind now and the list does not: gone.
    std::vector<std::pair<std::string, std::string>> gone;
    switch (kind) {
        case ObjectKind::Namespace:
            m.derived.namespaces.for_each([&](const NamespaceRecord& r) {
                if ((r.declared_by & bit(source)) != 0 && from.namespaces.count(r.name) == 0) {
                    gone.emplace_back("", r.name);
                }
            });
            break;
        case ObjectKind::Service:
            m.objects.for_each([&](const ServiceObject& o) {
                if (o.source == source &&
                    from.services.count(fmt::format("{}/{}", o.service.ns, o.service.name)) == 0) {
                    gone.emplace_back(o.service.ns, o.service.name);
                }
            });
            break;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints: {
            const bool legacy = kind == ObjectKind::Endpoints;
            m.sets.for_each([&](const SetRecord& r) {
                const std::string key =
                    fmt::format("{}:{}/{}", legacy ? "legacy" : "slice", r.set.ns, r.set.name);
                if (r.source == source && r.set.legacy == legacy &&
                    from.endpoint_sets.count(key) == 0) {
                    gone.emplace_back(r.set.ns, r.set.name);
                }
            });
            for (const auto& [ns, name] : gone) {
                m.erase_set(ns, name, legacy, source);
            }
            gone.clear();
            break;
        }
        case ObjectKind::Pod:
            m.pods.for_each([&](const PodRecord& p) {
                if (p.source == source && from.pods.count(p.ns + "/" + p.name) == 0) {
                    gone.emplace_back(p.ns, p.name);
                }
            });
            break;
    }
    for (const auto& [ns, name] : gone) {
        erase(kind, ns, name, source);
    }
    switch (kind) {
        case ObjectKind::Namespace:
            for (auto& [key, ns] : from.namespaces) {
                upsert(std::move(ns), source);
            }
            break;
        case ObjectKind::Service:
            for (auto& [key, service] : from.services) {
                upsert(std::move(service), source);
            }
            break;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints:
            for (auto& [key, set] : from.endpoint_sets) {
                if (set.legacy == (kind == ObjectKind::Endpoints)) {
                    upsert(std::move(set), source);
                }
            }
            break;
        case ObjectKind::Pod:
            for (auto& [key, pod] : from.pods) {
                upsert(std::move(pod), source);
            }
            break;
    }
}

void Store::upsert_all(const Cluster& cluster) {
    for (const auto& [key, ns] : cluster.namespaces) {
        upsert(ns);
    }
    for (const auto& [key, service] : cluster.services) {
        upsert(service);
    }
    for (const auto& [key, set] : cluster.endpoint_sets) {
        upsert(set);
    }
    for (const auto& [key, pod] : cluster.pods) {
        upsert(pod);
    }
}

void Store::set_config(SnapshotConfig config) {
    maps_->config = std::move(config);
}

const SnapshotConfig& Store::config() const noexcept {
    return maps_->config;
}

std::shared_ptr<const Snapshot> Store::snapshot() {
    Maps& m = *maps_;
    for (const auto& [ns, name] : m.dirty) {
        m.derive(ns, name);
    }
    m.dirty.clear();
    auto impl = std::make_unique<Snapshot::Impl>();
    impl->config = m.config;
    impl->maps = m.derived;
    return std::make_shared<const Snapshot>(std::move(impl));
}

Store::Counts Store::counts() const noexcept {
    const Maps& m = *maps_;
    Counts out{.services = m.objects.size(), .endpoint_sets = m.sets.size(), .pods = m.pods.size()};
    m.derived.namespaces.for_each(
        [&](const NamespaceRecord& r) { out.namespaces += r.declared_by != 0; });
    return out;
}

std::shared_ptr<const Snapshot> build_snapshot(const Cluster& cluster, SnapshotConfig config) {
    Store store(std::move(config));
    store.upsert_all(cluster);
    return store.snapshot();
}

}  // namespace clusterdns
