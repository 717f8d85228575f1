#include "zone/store.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "zone/records.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"

namespace clusterdns {

using namespace records;

namespace {

// Changes the record `same` accepts in `map` with `edit` (starting from `fresh` when there is
// none), and removes it once `empty` holds. A record only this store can see is changed in place:
// loading 100,000 Services into a namespace allocates its record once, not 100,000 times.
template <class V, class Same, class Fresh, class Edit, class Empty>
void change_record(PersistentMap<V>& map, uint64_t hash, const Same& same, Fresh&& fresh,
                   Edit&& edit, Empty&& empty) {
    if (V* owned = map.find_writable(hash, same)) {
        edit(*owned);
        if (empty(*owned)) {
            map.erase(hash, same);
        }
        return;
    }
    const V* old = map.find(hash, same);
    V* next = old != nullptr ? new V(*old) : fresh();
    edit(*next);
    if (!empty(*next)) {
        map.set(hash, same, next);
        return;
    }
    delete next;
    if (old != nullptr) {
        map.erase(hash, same);
    }
}

// Drops repeated (address, hostname) pairs, keeping the first of each, in order: an endpoint in
// two slices is published once.
void drop_repeats(std::vector<const EndpointView*>& endpoints) {
    const auto same = [](const EndpointView* a, const EndpointView* b) {
        return a->address == b->address && a->hostname() == b->hostname();
    };
    std::vector<bool> repeated(endpoints.size());
    if (endpoints.size() <= 32) {  // the usual few: compared pairwise
        for (size_t i = 1; i < endpoints.size(); ++i) {
            for (size_t j = 0; j < i && !repeated[i]; ++j) {
                repeated[i] = same(endpoints[i], endpoints[j]);
            }
        }
    } else {
        std::vector<uint32_t> order(endpoints.size());
        for (uint32_t i = 0; i < order.size(); ++i) {
            order[i] = i;
        }
        std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
            return std::make_tuple(endpoints[a]->address, endpoints[a]->hostname()) <
                   std::make_tuple(endpoints[b]->address, endpoints[b]->hostname());
        });
        for (size_t k = 1; k < order.size(); ++k) {
            repeated[order[k]] = same(endpoints[order[k]], endpoints[order[k - 1]]);
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < endpoints.size(); ++i) {
        if (!repeated[i]) {
            endpoints[kept++] = endpoints[i];
        }
    }
    endpoints.resize(kept);
}

// Whether a kept port is `port` as PortView keeps it (a protocol other than udp or sctp reads as
// tcp).
bool same_port(const PortView& kept, const ServicePort& port) {
    const std::string_view protocol =
        port.protocol == "udp" || port.protocol == "sctp" ? std::string_view(port.protocol) : "tcp";
    return kept.port() == port.port && kept.name() == port.name && kept.protocol() == protocol;
}

bool same_ports(std::span<const PortView> kept, const std::vector<ServicePort>& ports) {
    return std::equal(kept.begin(), kept.end(), ports.begin(), ports.end(), same_port);
}

}  // namespace

class Store::Maps {
public:
    SnapshotConfig config;
    PersistentMap<ServiceObject> objects;
    PersistentMap<SetRecord> sets;
    PersistentMap<SetRecord> sets_by_service;  // the same sets, by the Service they name
    PersistentMap<PodRecord> pods;
    DerivedMaps derived;
    NameSet dirty;  // the Services whose view must be derived

    static uint64_t pod_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api pod" : "pod").done();
    }
    static uint64_t object_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api" : "manifests").done();
    }
    static auto same_object(std::string_view ns, std::string_view name, Source source) {
        return [=](const ServiceObject& o) {
            return o.source == source && o.name() == name && o.ns() == ns;
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
            return r.source == source && r.legacy == legacy && r.name() == name && r.ns() == ns;
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
            if (r.service() == service && r.ns() == ns) {
                out.push_back(&r);
            }
        });
        std::sort(out.begin(), out.end(), [](const SetRecord* a, const SetRecord* b) {
            return std::make_tuple(a->order(), a->source) < std::make_tuple(b->order(), b->source);
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
        change_record(
            derived.namespaces, Hasher().add(name).done(),
            [&](const NamespaceRecord& r) { return r.name == name; },
            [&] {
                auto* fresh = new NamespaceRecord();
                fresh->name = std::string(name);
                return fresh;
            },
            [&](NamespaceRecord& r) {
                r.uses = static_cast<uint32_t>(static_cast<int>(r.uses) + uses_delta);
                if (source) {
                    r.declared_by =
                        declared ? r.declared_by | bit(*source) : r.declared_by & ~bit(*source);
                }
            },
            [](const NamespaceRecord& r) { return r.uses == 0 && r.declared_by == 0; });
    }

    // Adds a set to, or takes it out of, the index of the Service it names.
    void relist(const SetRecord& record, bool add) {
        const uint64_t h = key_hash(record.ns(), record.service());
        const auto same = same_set(record.ns(), record.name(), record.legacy, record.source);
        if (add) {
            sets_by_service.set(h, same, &record);
        } else {
            sets_by_service.erase(h, same);
        }
        dirty.add(record.ns(), record.service());
    }

    void count_pod_addresses(const PodRecord& pod, int delta) {
        for (const IpAddress& address : pod.ips) {
            change_record(
                derived.pod_addresses, Hasher().add(pod.ns).add(address).done(),
                [&](const PodAddressRecord& r) { return r.address == address && r.ns == pod.ns; },
                [&] {
                    auto* fresh = new PodAddressRecord();
                    fresh->ns = pod.ns;
                    fresh->address = address;
                    return fresh;
                },
                [&](PodAddressRecord& r) {
                    r.count = static_cast<uint32_t>(static_cast<int>(r.count) + delta);
                },
                [](const PodAddressRecord& r) { return r.count == 0; });
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

    static uint64_t address_hash(const IpAddress& address) { return Hasher().add(address).done(); }

    // Whether some Service has PTR records for `address`.
    bool has_ptr(const IpAddress& address) const {
        bool found = false;
        derived.ptrs.for_each_with_hash(address_hash(address), [&](const ServiceRecord& r) {
            found = found || holds_address(r.view, address);
        });
        return found;
    }

    // Adds `record` to, or takes it out of, the PTR index of each distinct address it holds.
    void index_addresses(const ServiceRecord& record, bool add) {
        const auto change = [&](const IpAddress& address) {
            const uint64_t h = address_hash(address);
            const auto same = [&](const ServiceRecord& r) { return &r == &record; };
            if (add) {
                const bool first = !has_ptr(address);
                derived.ptrs.set(h, same, &record);
                if (first) {
                    count_prefixes(address, 1);
                }
            } else {
                derived.ptrs.erase(h, same);
                if (!has_ptr(address)) {
                    count_prefixes(address, -1);
                }
            }
        };
        const std::span<const IpAddress> ips = record.view.cluster_ips();
        for (size_t i = 0; i < ips.size(); ++i) {
            const std::span<const IpAddress> earlier = ips.first(i);
            if (std::find(earlier.begin(), earlier.end(), ips[i]) == earlier.end()) {
                change(ips[i]);
            }
        }
        const IpAddress* previous = nullptr;
        for (const uint32_t i : record.view.by_address()) {
            const IpAddress& address = record.view.endpoint(i).address;
            const bool repeated = previous != nullptr && *previous == address;
            previous = &address;
            if (!repeated && std::find(ips.begin(), ips.end(), address) == ips.end()) {
                change(address);
            }
        }
    }

    // The reverse names above an address exist while some address below them has a PTR.
    void count_prefixes(const IpAddress& address, int delta) {
        const unsigned step = address.v6 ? 4 : 8;
        const unsigned total = address.v6 ? 128 : 32;
        for (unsigned bits = step; bits < total; bits += step) {
            const IpAddress key = masked(address, bits);
            change_record(
                derived.prefixes, Hasher().add(key, bits).done(),
                [&](const PrefixRecord& p) { return p.bits == bits && p.prefix == key; },
                [&] {
                    auto* fresh = new PrefixRecord();
                    fresh->prefix = key;
                    fresh->bits = bits;
                    return fresh;
                },
                [&](PrefixRecord& p) {
                    p.count = static_cast<uint32_t>(static_cast<int>(p.count) + delta);
                },
                [](const PrefixRecord& p) { return p.count == 0; });
        }
    }

    void unpublish(const ServiceRecord& old) {
        index_addresses(old, false);
        derived.endpoint_count -= old.view.endpoint_count();
    }

    void publish(const ServiceRecord& record) {
        index_addresses(record, true);
        derived.endpoint_count += record.view.endpoint_count();
    }

    // Derives the view of one Service from its object and the sets that name it.
    void derive(const std::string& ns, const std::string& name) {
        const uint64_t h = key_hash(ns, name);
        const auto same = [&](const ServiceRecord& r) {
            return r.view.name() == name && r.view.ns() == ns;
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
        std::vector<const EndpointView*> endpoints;
        if (const std::vector<const SetRecord*> list = sets_of(ns, name); !list.empty()) {
            // Legacy Endpoints count only for a Service without EndpointSlices.
            const bool has_slices = std::any_of(list.begin(), list.end(),
                                                [](const SetRecord* s) { return !s->legacy; });
            for (size_t i = 0; i < list.size(); ++i) {
                const SetRecord* s = list[i];
                // The API's version of a set hides the manifests' (it sorts right after it).
                const bool hidden = i + 1 < list.size() && list[i + 1]->order() == s->order() &&
                                    list[i + 1]->source == Source::Api;
                if (s->legacy == has_slices || hidden) {
                    continue;
                }
                hold_ref(s);
                used.push_back(s);
                for (const EndpointView& endpoint : s->addresses()) {
                    if (endpoint.ready || object->publish_not_ready_addresses) {
                        endpoints.push_back(&endpoint);
                    }
                }
            }
            drop_repeats(endpoints);
        }
        // IPv4 first, so either family is one contiguous run.
        std::stable_partition(endpoints.begin(), endpoints.end(),
                              [](const EndpointView* e) { return !e->address.v6; });
        const auto first_v6 = static_cast<uint32_t>(
            std::count_if(endpoints.begin(), endpoints.end(),
                          [](const EndpointView* e) { return !e->address.v6; }));
        // Only a headless Service's SRV names come from its endpoints' ports (has_named_port).
        std::vector<const PortView*> endpoint_ports;
        const PortView* previous = nullptr;
        for (const EndpointView* e : object->headless ? endpoints : decltype(endpoints)()) {
            if (e->ports().data() == previous) {
                continue;  // the same slice's ports
            }
            previous = e->ports().data();
            for (const PortView& p : e->ports()) {
                const bool known = std::any_of(
                    endpoint_ports.begin(), endpoint_ports.end(), [&](const PortView* q) {
                        return q->name() == p.name() && q->protocol() == p.protocol() &&
                               q->port() == p.port();
                    });
                if (!p.name().empty() && !known) {
                    endpoint_ports.push_back(&p);
                }
            }
        }
        std::vector<std::string> labels;
        std::vector<uint32_t> by_label;
        labels.reserve(endpoints.size());
        for (uint32_t i = 0; i < endpoints.size(); ++i) {
            labels.push_back(endpoint_label(*endpoints[i]));
            by_label.push_back(i);
        }
        std::vector<uint32_t> by_address = by_label;
        std::stable_sort(by_label.begin(), by_label.end(),
                         [&](uint32_t a, uint32_t b) { return labels[a] < labels[b]; });
        std::stable_sort(by_address.begin(), by_address.end(), [&](uint32_t a, uint32_t b) {
            return endpoints[a]->address < endpoints[b]->address;
        });
        const ServiceRecord* r = ServiceRecord::make(object, used, endpoints, first_v6,
                                                     endpoint_ports, by_label, by_address);
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

bool Store::holds(const Namespace& ns, Source source) const {
    const NamespaceRecord* r = maps_->find_namespace(ns.name);
    return r != nullptr && (r->declared_by & bit(source)) != 0;
}

bool Store::holds(const Service& s, Source source) const {
    const ServiceObject* o = maps_->find_object(s.ns, s.name, source);
    return o != nullptr && o->type == s.type && o->headless == s.headless &&
           o->publish_not_ready_addresses == s.publish_not_ready_addresses &&
           o->allocated_ips == s.allocated_ips && o->external_name() == s.external_name &&
           std::ranges::equal(o->cluster_ips(), s.cluster_ips) && same_ports(o->ports(), s.ports);
}

bool Store::holds(const EndpointSet& s, Source source) const {
    const Maps& m = *maps_;
    const SetRecord* r = m.sets.find(Maps::set_hash(s.ns, s.name, s.legacy, source),
                                     Maps::same_set(s.ns, s.name, s.legacy, source));
    if (r == nullptr || r->service() != s.service || !same_ports(r->ports(), s.ports)) {
        return false;
    }
    const std::span<const EndpointView> kept = r->addresses();
    size_t i = 0;
    for (const Endpoint& e : s.endpoints) {
        const std::string_view label = SetRecord::label(e, m.config.endpoint_pod_names);
        for (const IpAddress& address : e.addresses) {
            if (i == kept.size() || kept[i].address != address || kept[i].ready != e.ready ||
                kept[i].hostname() != label) {
                return false;
            }
            ++i;
        }
    }
    return i == kept.size();
}

bool Store::holds(const Pod& pod, Source source) const {
    const PodRecord* r =
        maps_->pods.find(Maps::pod_hash(pod.ns, pod.name, source), [&](const PodRecord& p) {
            return p.source == source && p.name == pod.name && p.ns == pod.ns;
        });
    return r != nullptr && r->ips == pod.ips;
}

void Store::upsert(Service service, Source source) {
    if (holds(service, source)) {
        return;  // a re-list or a watch event that changes nothing DNS reads
    }
    Maps& m = *maps_;
    const std::string ns = service.ns;
    const std::string name = service.name;
    const bool existed = m.find_object(ns, name, source) != nullptr;
    auto* object = ServiceObject::make(service, source);
    m.objects.set(Maps::object_hash(ns, name, source), Maps::same_object(ns, name, source), object);
    if (!existed) {
        m.change_namespace(ns, 1, std::nullopt, false);
    }
    m.dirty.add(ns, name);
}

void Store::upsert(EndpointSet set, Source source) {
    if (!config().endpoints || holds(set, source)) {
        return;
    }
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
    if (holds(ns, source)) {
        return;
    }
    maps_->change_namespace(ns.name, 0, source, true);
}

void Store::upsert(Pod pod, Source source) {
    if (holds(pod, source)) {
        return;
    }
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
            m.dirty.add(ns, name);
            return true;
        }
        case ObjectKind::EndpointSlice:
            return m.erase_set(ns, name, false, source);
        case ObjectKind::Endpoints: {
            // One set per subset, named "<name>/<index>" from 0 up.
            bool found = false;
            for (size_t i = 0; m.erase_set(ns, legacy_set_name(name, i), true, source); ++i) {
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

void Store::keep_only(ObjectKind kind, const NameSet& listed, Source source) {
    Maps& m = *maps_;
    // What `source` has of this kind and the list did not name: gone.
    NameSet gone;
    switch (kind) {
        case ObjectKind::Namespace:
            m.derived.namespaces.for_each([&](const NamespaceRecord& r) {
                if ((r.declared_by & bit(source)) != 0 && !listed.contains("", r.name)) {
                    gone.add("", r.name);
                }
            });
            break;
        case ObjectKind::Service:
            m.objects.for_each([&](const ServiceObject& o) {
                if (o.source == source && !listed.contains(o.ns(), o.name())) {
                    gone.add(o.ns(), o.name());
                }
            });
            break;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints: {
            const bool legacy = kind == ObjectKind::Endpoints;
            m.sets.for_each([&](const SetRecord& r) {
                const std::string_view name = legacy ? legacy_object_name(r.name()) : r.name();
                if (r.source == source && r.legacy == legacy && !listed.contains(r.ns(), name)) {
                    gone.add(r.ns(), name);
                }
            });
            break;
        }
        case ObjectKind::Pod:
            m.pods.for_each([&](const PodRecord& p) {
                if (p.source == source && !listed.contains(p.ns, p.name)) {
                    gone.add(p.ns, p.name);
                }
            });
            break;
    }
    gone.seal();  // and an Endpoints object with several subsets is erased once
    gone.for_each([&](std::string_view ns, std::string_view name) { erase(kind, ns, name, source); });
}

bool Store::change_cluster_ips(std::string_view ns, std::string_view name,
                               std::span<const IpAddress> from, std::span<const IpAddress> to,
                               uint8_t allocated, Source source) {
    const ServiceObject* o = maps_->find_object(ns, name, source);
    if (o == nullptr || o->allocated_ips != allocated ||
        !std::equal(from.begin(), from.end(), o->cluster_ips().begin(), o->cluster_ips().end())) {
        return false;
    }
    // The Service again from what the store kept of it (all DNS reads), with the new addresses.
    Service service;
    service.ns = std::string(ns);
    service.name = std::string(name);
    service.type = o->type;
    service.headless = o->headless;
    service.publish_not_ready_addresses = o->publish_not_ready_addresses;
    service.external_name = std::string(o->external_name());
    for (const PortView& port : o->ports()) {
        service.ports.push_back(
            {std::string(port.name()), std::string(port.protocol()), port.port(), {}});
    }
    service.cluster_ips.assign(to.begin(), to.end());
    service.allocated_ips = allocated;
    upsert(std::move(service), source);
    return true;
}

void Store::for_each_service(const std::function<void(const ServiceFields&)>& visit) const {
    maps_->objects.for_each([&](const ServiceObject& o) { visit(o); });
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
    m.dirty.seal();
    m.derived.services.reserve(m.dirty.size());  // a first load sizes its index once
    m.dirty.for_each([&](std::string_view ns, std::string_view name) {
        m.derive(std::string(ns), std::string(name));
    });
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
