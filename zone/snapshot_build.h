#pragma once
// Building snapshots from objects (the cold side of zone/snapshot.h).

#include <memory>
#include <string>

#include "zone/objects.h"
#include "zone/snapshot.h"

namespace clusterdns {

// A snapshot of every object in `cluster`, which it copies.
std::shared_ptr<const Snapshot> build_snapshot(const Cluster& cluster, SnapshotConfig config);

// An endpoint's label under its Service: its hostname, else its dashed address.
std::string endpoint_label(const EndpointView& endpoint);

}  // namespace clusterdns
