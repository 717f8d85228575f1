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

// The Services whose view must be derived, as (namespace, name) pairs in one buffer: a load marks
// every Service, and a block per key would leave 100,000 holes between the records when freed.
class DirtyServices {
public:
    void emplace(std::string_view ns, std::string_view name) {
        keys_.push_back({static_cast<uint32_t>(text_.size()), static_cast<uint8_t>(ns.size()),
                         static_cast<uint8_t>(name.size())});
        text_.append(ns).append(name);
    }
    // Calls f(ns, name) once for each distinct pair, then forgets them all.
    template <class F>
    void drain(F&& f) {
        const auto pair = [this](const Key& k) {
            const std::string_view all(text_);
            return std::make_pair(all.substr(k.at, k.ns_size),
                                  all.substr(k.at + k.ns_size, k.name_size));
        };
        std::sort(keys_.begin(), keys_.end(),
                  [&](const Key& a, const Key& b) { return pair(a) < pair(b); });
        for (size_t i = 0; i < keys_.size(); ++i) {
            if (i == 0 || pair(keys_[i]) != pair(keys_[i - 1])) {
                const auto [ns, name] = pair(keys_[i]);
                f(std::string(ns), std::string(name));
            }
        }
        std::vector<Key>().swap(keys_);
        std::string().swap(text_);
    }

private:
    struct Key {
        uint32_t at;
        uint8_t ns_size;  // namespaces and Service names are DNS labels
        uint8_t name_size;
    };
    std::string text_;
    std::vector<Key> keys_;
};

}  // namespace

class Store::Maps {
public:
    SnapshotConfig config;
    PersistentMap<ServiceObject> objects;
    PersistentMap<SetRecord> sets;
    PersistentMap<SetRecord> sets_by_service;  // the same sets, by the Service they name
    PersistentMap<PodRecord> pods;
    DerivedMaps derived;
    DirtyServices dirty;

    static uint64_t pod_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api pod" : "pod").done();
    }
    static uint64_t object_hash(std::string_view ns, std::string_view name, Source source) {
        return Hasher().add(ns).add(name).add(source == Source::Api ? "api" : "manifests").done();
    }
    static auto same_object(std::string_view ns, std::string_view name, Source source) {
        return [=](const ServiceObject& o) {
            return o.source == source && o.fields.name() == name && o.fields.ns() == ns;
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
        const uint64_t h = key_hash(record.ns(), record.service());
        const auto same = same_set(record.ns(), record.name(), record.legacy, record.source);
        if (add) {
            sets_by_service.set(h, same, &record);
        } else {
            sets_by_service.erase(h, same);
        }
        dirty.emplace(record.ns(), record.service());
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
            const bool had = has_ptr(address);
            if (add) {
                derived.ptrs.set(h, same, &record);
            } else {
                derived.ptrs.erase(h, same);
            }
            if (had != has_ptr(address)) {
                count_prefixes(address, add ? 1 : -1);
            }
        };
        const std::span<const IpAddress> ips = record.view.cluster_ips();
        for (size_t i = 0; i < ips.size(); ++i) {
            if (std::find(ips.begin(), ips.begin() + i, ips[i]) == ips.begin() + i) {
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
            std::set<std::pair<IpAddress, std::string_view>> seen;
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
                    if ((endpoint.ready || object->fields.publish_not_ready_addresses) &&
                        seen.emplace(endpoint.address, endpoint.hostname()).second) {
                        endpoints.push_back(&endpoint);
                    }
                }
            }
        }
        // IPv4 first, so either family is one contiguous run.
        std::stable_partition(endpoints.begin(), endpoints.end(),
                              [](const EndpointView* e) { return !e->address.v6; });
        const auto first_v6 = static_cast<uint32_t>(
            std::count_if(endpoints.begin(), endpoints.end(),
                          [](const EndpointView* e) { return !e->address.v6; }));
        std::vector<const PortView*> endpoint_ports;
        const PortView* previous = nullptr;
        for (const EndpointView* e : endpoints) {
            if (e->port_data == previous) {
                continue;  // the same slice's ports
            }
            previous = e->port_data;
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
                    from.services.count(fmt::format("{}/{}", o.fields.ns(), o.fields.name())) == 0) {
                    gone.emplace_back(o.fields.ns(), o.fields.name());
                }
            });
            break;
        case ObjectKind::EndpointSlice:
        case ObjectKind::Endpoints: {
            const bool legacy = kind == ObjectKind::Endpoints;
            m.sets.for_each([&](const SetRecord& r) {
                const std::string key =
                    fmt::format("{}:{}/{}", legacy ? "legacy" : "slice", r.ns(), r.name());
                if (r.source == source && r.legacy == legacy && from.endpoint_sets.count(key) == 0) {
                    gone.emplace_back(r.ns(), r.name());
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
    m.dirty.drain([&](const std::string& ns, const std::string& name) { m.derive(ns, name); });
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
