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

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "zone/objects.h"
#include "zone/snapshot.h"

namespace clusterdns {

class Store {
public:
    explicit Store(SnapshotConfig config = {});
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    void upsert(Service service);
    void upsert(EndpointSet set);
    void upsert(Namespace ns);
    void upsert(Pod pod);
    // Each returns false if there was no such object.
    bool erase_service(std::string_view ns, std::string_view name);
    bool erase_endpoint_set(std::string_view ns, std::string_view name, bool legacy);
    bool erase_namespace(std::string_view name);
    bool erase_pod(std::string_view ns, std::string_view name);

    // Every object of a Cluster (a manifest load), as upserts.
    void upsert_all(const Cluster& cluster);

    void set_config(SnapshotConfig config);
    const SnapshotConfig& config() const noexcept;

    // The objects as they are now, derived where they changed since the last call.
    std::shared_ptr<const Snapshot> snapshot();

    size_t service_count() const noexcept;

private:
    class Maps;
    std::unique_ptr<Maps> maps_;
};

}  // namespace clusterdns
