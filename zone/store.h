#pragma once
// The object store: every object DNS needs, kept as persistent maps (zone/persistent_map.h), and
// the snapshots workers answer from. A change updates the objects at once and marks the Services
// whose views it touches; snapshot() then derives only those views (endpoints, PTR targets) and
// returns a new Snapshot that shares everything else with the previous one. A change therefore
// costs what the objects it touches cost, whatever the size of the cluster, and a burst of changes
// (a re-list, a rollout) costs one derivation per touched Service.
//
// One writer: a Store is not thread-safe. Snapshots it returns are immutable and may be read from
// any thread while the store goes on changing.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "zone/objects.h"
#include "zone/snapshot.h"

namespace clusterdns {

// Which source an object came from. The API's version of an object replaces the manifests' and
// is not replaced by them; a re-list replaces only the objects of its own source.
enum class Source : uint8_t { Manifests, Api };

class Store {
public:
    explicit Store(SnapshotConfig config = {});
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    void upsert(Service service, Source source = Source::Manifests);
    void upsert(EndpointSet set, Source source = Source::Manifests);
    void upsert(Namespace ns, Source source = Source::Manifests);
    void upsert(Pod pod, Source source = Source::Manifests);
    // Removes an object of `source` (a namespace by its name, `ns` ignored; for Endpoints every
    // set made from its subsets); false if it has none.
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name,
               Source source = Source::Manifests);
    // Every object of `kind` and `source` that `listed` does not name goes (ObjectSink::keep_only).
    void keep_only(ObjectKind kind, const NameSet& listed, Source source);
    // Whether the store has this object of `source` exactly as upsert() would keep it. An upsert
    // of what the store holds changes nothing, and derives and publishes nothing.
    bool holds(const Namespace& ns, Source source) const;
    bool holds(const Service& service, Source source) const;
    bool holds(const EndpointSet& set, Source source) const;
    bool holds(const Pod& pod, Source source) const;
    // ObjectSink::change_cluster_ips, for a Service of `source`.
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated, Source source);
    // Visits every Service of either source, in no particular order (cold path: the addresses a
    // change must not hand out again, the start-up summary).
    void for_each_service(const std::function<void(const ServiceFields&)>& visit) const;

    // Every object of a Cluster (a manifest load), as upserts.
    void upsert_all(const Cluster& cluster);

    // The store as an ObjectSink for one source: what sources and the converter write through.
    class Writer;
    Writer writer(Source source);

    // A copy of the store's state, O(1): restore() takes the store back to it (a manifest load
    // that fails half-way leaves nothing behind).
    class Checkpoint;
    Checkpoint checkpoint() const;
    void restore(const Checkpoint& saved);

    void set_config(SnapshotConfig config);
    const SnapshotConfig& config() const noexcept;

    // The objects as they are now, derived where they changed since the last call.
    std::shared_ptr<const Snapshot> snapshot();

    struct Counts {
        size_t namespaces = 0;  // declared by a Namespace object
        size_t services = 0;
        size_t endpoint_sets = 0;
        size_t pods = 0;
    };
    Counts counts() const noexcept;

private:
    class Maps;
    std::unique_ptr<Maps> maps_;
};

class Store::Writer : public ObjectSink {
public:
    Writer(Store& store, Source source) : store_(store), source_(source) {}
    void upsert(Namespace ns) override { store_.upsert(std::move(ns), source_); }
    void upsert(Service service) override { store_.upsert(std::move(service), source_); }
    void upsert(EndpointSet set) override { store_.upsert(std::move(set), source_); }
    void upsert(Pod pod) override { store_.upsert(std::move(pod), source_); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override {
        return store_.erase(kind, ns, name, source_);
    }
    void keep_only(ObjectKind kind, const NameSet& listed) override {
        store_.keep_only(kind, listed, source_);
    }
    bool change_cluster_ips(std::string_view ns, std::string_view name,
                            std::span<const IpAddress> from, std::span<const IpAddress> to,
                            uint8_t allocated) override {
        return store_.change_cluster_ips(ns, name, from, to, allocated, source_);
    }
    bool holds(const Namespace& ns) const override { return store_.holds(ns, source_); }
    bool holds(const Service& service) const override { return store_.holds(service, source_); }
    bool holds(const EndpointSet& set) const override { return store_.holds(set, source_); }
    bool holds(const Pod& pod) const override { return store_.holds(pod, source_); }

private:
    Store& store_;
    Source source_;
};

inline Store::Writer Store::writer(Source source) {
    return Writer(*this, source);
}

class Store::Checkpoint {
public:
    Checkpoint(const Checkpoint&);
    ~Checkpoint();

private:
    friend class Store;
    explicit Checkpoint(std::unique_ptr<Maps> maps);
    std::unique_ptr<Maps> maps_;
};

}  // namespace clusterdns
