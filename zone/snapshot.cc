#include "zone/snapshot.h"

#include <algorithm>
#include <set>
#include <string>

#include "zone/schema.h"
#include "zone/persistent_map.h"
#include "zone/snapshot_build.h"
#include "zone/store.h"

namespace clusterdns {
namespace {

constexpr std::string_view kBuiltinNamespaces[] = {"default", "kube-system", "kube-public",
                                                   "kube-node-lease"};

class Hasher {
public:
    Hasher& add(std::string_view text) noexcept {
        for (const char c : text) {
            byte(static_cast<uint8_t>(c));
        }
        byte(0);  // "ab","c" and "a","bc" differ
        return *this;
    }
    Hasher& add(const IpAddress& ip, unsigned bits = 128) noexcept {
        byte(ip.v6 ? 6 : 4);
        byte(static_cast<uint8_t>(bits));
        for (const uint8_t b : ip.octets()) {
            byte(b);
        }
        return *this;
    }
    uint64_t done() const noexcept { return mix_hash(h_); }

private:
    void byte(uint8_t b) noexcept { h_ = (h_ ^ b) * 1099511628211ull; }  // FNV-1a
    uint64_t h_ = 1469598103934665603ull;
};

uint64_t key_hash(std::string_view ns, std::string_view name) noexcept {
    return Hasher().add(ns).add(name).done();
}

// --- Objects, as the store keeps them -----------------------------------------------------

struct ServiceObject : Counted {
    Service service;
};

struct SetRecord : Counted {
    EndpointSet set;
    std::vector<PortView> ports;  // views of set.ports
    std::string order;            // where it sorts among a Service's sets: kind, then name
};

// The sets that name one Service, in order; holds each.
struct SetList : Counted {
    std::string ns;
    std::string service;
    std::vector<const SetRecord*> sets;
    SetList() = default;
    SetList(const SetList& other)
        : Counted(), ns(other.ns), service(other.service), sets(other.sets) {
        for (const SetRecord* s : sets) {
            hold_ref(s);
        }
    }
    SetList& operator=(const SetList&) = delete;
    ~SetList() {
        for (const SetRecord* s : sets) {
            release_ref(s);
        }
    }
};

struct PodRecord : Counted {
    std::string ns;
    std::string name;
};

// --- What snapshots hold --------------------------------------------------------------------

// A Service's view and what it points into: its object and the sets its endpoints came from.
struct ServiceRecord : Counted {
    const ServiceObject* object = nullptr;
    std::vector<const SetRecord*> sets;
    std::vector<PortView> ports;
    std::vector<EndpointView> endpoints;
    std::vector<uint32_t> by_label;
    ServiceView view;
    ServiceRecord() = default;
    ServiceRecord(const ServiceRecord&) = delete;
    ~ServiceRecord() {
        release_ref(object);
        for (const SetRecord* s : sets) {
            release_ref(s);
        }
    }
};

struct NamespaceRecord : Counted {
    std::string name;
    bool declared = false;  // a Namespace object
    uint32_t uses = 0;      // Services and Pods in it
};

// The PTR targets of one address: every Service it is a ClusterIP of first, then the endpoints;
// only the first `visible` are answered (the Services, if any).
struct PtrRecord : Counted {
    IpAddress address;
    std::vector<PtrTarget> targets;
    size_t visible = 0;
};

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

bool Snapshot::has_namespace(std::string_view ns) const noexcept {
    if (std::find(std::begin(kBuiltinNamespaces), std::end(kBuiltinNamespaces), ns) !=
        std::end(kBuiltinNamespaces)) {
        return true;
    }
    return impl_->maps.namespaces.find(Hasher().add(ns).done(), [&](const NamespaceRecord& r) {
        return r.name == ns;
    }) != nullptr;
}

const ServiceView* Snapshot::service(std::string_view ns, std::string_view name) const noexcept {
    const ServiceRecord* r = impl_->maps.services.find(
        key_hash(ns, name),
        [&](const ServiceRecord& s) { return s.view.name == name && s.view.ns == ns; });
    return r == nullptr ? nullptr : &r->view;
}

std::span<const PtrTarget> Snapshot::ptr_targets(const IpAddress& address) const noexcept {
    const PtrRecord* r = impl_->maps.ptrs.find(
        Hasher().add(address).done(), [&](const PtrRecord& p) { return p.address == address; });
    return r == nullptr ? std::span<const PtrTarget>() : std::span(r->targets).first(r->visible);
}

bool Snapshot::has_reverse_prefix(const IpAddress& prefix, unsigned bits) const noexcept {
    const IpAddress key = masked(prefix, bits);
    return impl_->maps.prefixes.find(Hasher().add(key, bits).done(), [&](const PrefixRecord& p) {
        return p.bits == bits && p.prefix == key;
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
    PersistentMap<SetList> set_lists;  // by the Service they name
    PersistentMap<PodRecord> pods;
    DerivedMaps derived;
    std::set<std::pair<std::string, std::string>> dirty;  // Services whose view must be derived

    const ServiceObject* find_object(std::string_view ns, std::string_view name) const {
        return objects.find(key_hash(ns, name), [&](const ServiceObject& o) {
            return o.service.name == name && o.service.ns == ns;
        });
    }
    static auto same_set(std::string_view ns, std::string_view name, bool legacy) {
        return [=](const SetRecord& r) {
            return r.set.legacy == legacy && r.set.name == name && r.set.ns == ns;
        };
    }
    static uint64_t set_hash(std::string_view ns, std::string_view name, bool legacy) {
        return Hasher().add(ns).add(name).add(legacy ? "legacy" : "slice").done();
    }
    const SetList* find_list(std::string_view ns, std::string_view service) const {
        return set_lists.find(key_hash(ns, service), [&](const SetList& l) {
            return l.service == service && l.ns == ns;
        });
    }

    void use_namespace(std::string_view name, int uses_delta, int declared) {
        const uint64_t h = Hasher().add(name).done();
        const auto same = [&](const NamespaceRecord& r) { return r.name == name; };
        auto* next = new NamespaceRecord();
        if (const NamespaceRecord* old = derived.namespaces.find(h, same)) {
            *next = *old;
        } else {
            next->name = std::string(name);
        }
        next->uses = static_cast<uint32_t>(static_cast<int>(next->uses) + uses_delta);
        if (declared >= 0) {
            next->declared = declared != 0;
        }
        if (next->uses == 0 && !next->declared) {
            delete next;
            derived.namespaces.erase(h, same);
            return;
        }
        derived.namespaces.set(h, same, next);
    }

    // Adds a set to, or takes it out of, the list of the Service it names.
    void relist(const SetRecord& record, bool add) {
        const std::string_view ns = record.set.ns;
        const std::string_view service = record.set.service;
        const SetList* old = find_list(ns, service);
        auto* next = old != nullptr ? new SetList(*old) : new SetList();
        if (old == nullptr) {
            next->ns = std::string(ns);
            next->service = std::string(service);
        }
        auto& listed = next->sets;
        const auto it = std::find_if(listed.begin(), listed.end(), [&](const SetRecord* s) {
            return s->order == record.order;
        });
        if (it != listed.end()) {
            release_ref(*it);
            listed.erase(it);
        }
        if (add) {
            hold_ref(&record);
            listed.insert(std::upper_bound(listed.begin(), listed.end(), &record,
                                         [](const SetRecord* a, const SetRecord* b) {
                                             return a->order < b->order;
                                         }),
                        &record);
        }
        const auto same = [&](const SetList& l) { return l.service == service && l.ns == ns; };
        if (listed.empty()) {
            delete next;
            set_lists.erase(key_hash(ns, service), same);
        } else {
            set_lists.set(key_hash(ns, service), same, next);
        }
        dirty.emplace(ns, service);
    }

    void change_ptr(const IpAddress& address, const ServiceRecord* remove, const PtrTarget* add) {
        const uint64_t h = Hasher().add(address).done();
        const auto same = [&](const PtrRecord& p) { return p.address == address; };
        const PtrRecord* old = derived.ptrs.find(h, same);
        auto* next = new PtrRecord();
        next->address = address;
        if (old != nullptr) {
            next->targets = old->targets;
        }
        auto& targets = next->targets;
        if (remove != nullptr) {
            std::erase_if(targets, [&](const PtrTarget& t) { return t.service == &remove->view; });
        }
        if (add != nullptr) {
            targets.insert(std::upper_bound(targets.begin(), targets.end(), *add, ptr_order),
                           *add);
        }
        next->visible = static_cast<size_t>(std::count_if(
            targets.begin(), targets.end(), [](const PtrTarget& t) { return !t.endpoint; }));
        if (next->visible == 0) {
            next->visible = targets.size();
        }
        const bool had = old != nullptr;
        const bool has = !targets.empty();
        if (has) {
            derived.ptrs.set(h, same, next);
        } else {
            delete next;
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
        for (const EndpointView& e : old.endpoints) {
            change_ptr(e.address, &old, nullptr);
        }
        derived.endpoint_count -= old.endpoints.size();
    }

    void publish(const ServiceRecord& record) {
        for (const IpAddress& ip : record.view.cluster_ips) {
            const PtrTarget t{&record.view, nullptr};
            change_ptr(ip, nullptr, &t);
        }
        for (const EndpointView& e : record.endpoints) {
            const PtrTarget t{&record.view, &e};
            change_ptr(e.address, nullptr, &t);
        }
        derived.endpoint_count += record.endpoints.size();
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
        const ServiceObject* object = find_object(ns, name);
        if (object == nullptr) {
            derived.services.erase(h, same);
            return;
        }
        auto* r = new ServiceRecord();
        hold_ref(object);
        r->object = object;
        const Service& service = object->service;
        for (const ServicePort& p : service.ports) {
            r->ports.push_back({p.name, p.protocol, p.port});
        }
        if (const SetList* list = find_list(ns, name)) {
            // Legacy Endpoints count only for a Service without EndpointSlices.
            const bool has_slices = std::any_of(list->sets.begin(), list->sets.end(),
                                                [](const SetRecord* s) { return !s->set.legacy; });
            std::set<std::pair<IpAddress, std::string_view>> seen;
            for (const SetRecord* s : list->sets) {
                if (s->set.legacy == has_slices) {
                    continue;
                }
                hold_ref(s);
                r->sets.push_back(s);
                for (const Endpoint& endpoint : s->set.endpoints) {
                    if (!endpoint.ready && !service.publish_not_ready_addresses) {
                        continue;
                    }
                    // Specification 2.4.1: the hostname names an endpoint; with CoreDNS's
                    // endpoint_pod_names its Pod does, when that is a DNS label.
                    std::string_view hostname = endpoint.hostname;
                    if (hostname.empty() && config.endpoint_pod_names && !endpoint.pod.empty() &&
                        check_dns1123_label("", endpoint.pod)) {
                        hostname = endpoint.pod;
                    }
                    for (const IpAddress& ip : endpoint.addresses) {
                        if (seen.emplace(ip, hostname).second) {
                            r->endpoints.push_back({ip, hostname, s->ports});
                        }
                    }
                }
            }
        }
        std::vector<std::string> labels;
        labels.reserve(r->endpoints.size());
        for (uint32_t i = 0; i < r->endpoints.size(); ++i) {
            labels.push_back(endpoint_label(r->endpoints[i]));
            r->by_label.push_back(i);
        }
        std::stable_sort(r->by_label.begin(), r->by_label.end(),
                         [&](uint32_t a, uint32_t b) { return labels[a] < labels[b]; });
        r->view = {.ns = service.ns,
                   .name = service.name,
                   .type = service.type,
                   .headless = service.headless,
                   .cluster_ips = service.cluster_ips,
                   .external_name = service.external_name,
                   .ports = r->ports,
                   .endpoints = r->endpoints,
                   .by_label = r->by_label};
        derived.services.set(h, same, r);
        publish(*r);
    }
};

Store::Store(SnapshotConfig config) : maps_(std::make_unique<Maps>()) {
    maps_->config = std::move(config);
}

Store::~Store() = default;

void Store::upsert(Service service) {
    Maps& m = *maps_;
    const uint64_t h = key_hash(service.ns, service.name);
    const std::string ns = service.ns;
    const std::string name = service.name;
    const bool existed = m.find_object(ns, name) != nullptr;
    auto* object = new ServiceObject();
    object->service = std::move(service);
    m.objects.set(
        h, [&](const ServiceObject& o) { return o.service.name == name && o.service.ns == ns; },
        object);
    if (!existed) {
        m.use_namespace(ns, 1, -1);
    }
    m.dirty.emplace(ns, name);
}

bool Store::erase_service(std::string_view ns, std::string_view name) {
    Maps& m = *maps_;
    if (!m.objects.erase(key_hash(ns, name), [&](const ServiceObject& o) {
            return o.service.name == name && o.service.ns == ns;
        })) {
        return false;
    }
    m.use_namespace(ns, -1, -1);
    m.dirty.emplace(ns, name);
    return true;
}

void Store::upsert(EndpointSet set) {
    Maps& m = *maps_;
    const uint64_t h = Maps::set_hash(set.ns, set.name, set.legacy);
    const auto same = Maps::same_set(set.ns, set.name, set.legacy);
    if (const SetRecord* old = m.sets.find(h, same)) {
        m.relist(*old, false);  // it may have named another Service before
    }
    auto* record = new SetRecord();
    record->set = std::move(set);
    for (const ServicePort& p : record->set.ports) {
        record->ports.push_back({p.name, p.protocol, p.port});
    }
    record->order = (record->set.legacy ? "legacy:" : "slice:") + record->set.name;
    m.sets.set(h, Maps::same_set(record->set.ns, record->set.name, record->set.legacy), record);
    m.relist(*record, true);
}

bool Store::erase_endpoint_set(std::string_view ns, std::string_view name, bool legacy) {
    Maps& m = *maps_;
    const uint64_t h = Maps::set_hash(ns, name, legacy);
    const auto same = Maps::same_set(ns, name, legacy);
    const SetRecord* old = m.sets.find(h, same);
    if (old == nullptr) {
        return false;
    }
    m.relist(*old, false);
    m.sets.erase(h, same);
    return true;
}

void Store::upsert(Namespace ns) {
    maps_->use_namespace(ns.name, 0, 1);
}

bool Store::erase_namespace(std::string_view name) {
    Maps& m = *maps_;
    const auto same = [&](const NamespaceRecord& r) { return r.name == name; };
    const NamespaceRecord* r = m.derived.namespaces.find(Hasher().add(name).done(), same);
    if (r == nullptr || !r->declared) {
        return false;
    }
    m.use_namespace(name, 0, 0);
    return true;
}

void Store::upsert(Pod pod) {
    Maps& m = *maps_;
    const std::string ns = pod.ns;
    const std::string name = pod.name;
    const auto same = [&](const PodRecord& p) { return p.name == name && p.ns == ns; };
    const uint64_t h = key_hash(ns, name);
    const bool existed = m.pods.find(h, same) != nullptr;
    auto* record = new PodRecord();
    record->ns = ns;
    record->name = name;
    m.pods.set(h, same, record);
    if (!existed) {
        m.use_namespace(ns, 1, -1);
    }
}

bool Store::erase_pod(std::string_view ns, std::string_view name) {
    Maps& m = *maps_;
    if (!m.pods.erase(key_hash(ns, name),
                      [&](const PodRecord& p) { return p.name == name && p.ns == ns; })) {
        return false;
    }
    m.use_namespace(ns, -1, -1);
    return true;
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
    // ClusterIPs first: a Service's endpoint PTRs hide behind any Service's ClusterIP, which
    // change_ptr works out whatever the order; deriving in key order keeps results repeatable.
    for (const auto& [ns, name] : m.dirty) {
        m.derive(ns, name);
    }
    m.dirty.clear();
    auto impl = std::make_unique<Snapshot::Impl>();
    impl->config = m.config;
    impl->maps = m.derived;
    return std::make_shared<const Snapshot>(std::move(impl));
}

size_t Store::service_count() const noexcept {
    return maps_->objects.size();
}

std::shared_ptr<const Snapshot> build_snapshot(const Cluster& cluster, SnapshotConfig config) {
    Store store(std::move(config));
    store.upsert_all(cluster);
    return store.snapshot();
}

}  // namespace clusterdns
