// Fuzzes the manifest loader, the workloads' Pods and endpoints made from it, and the snapshot
// builder behind them: any text either loads into a snapshot or is refused with an Error;
// nothing crashes, hangs or throws.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/manifests/manifests.h"
#include "zone/snapshot_build.h"
#include "zone/workloads.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clusterdns;
    Cluster cluster;
    // Small CIDRs: a Deployment of many replicas runs them out, as it may.
    WorkloadSink workloads(cluster, {*parse_prefix("10.244.0.0/28"), *parse_prefix("fd00::/124")});
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (!load_manifest_text(text, "fuzz", workloads) || !workloads.synthesize()) {
        return 0;
    }
    SnapshotConfig config;
    config.origin = *Name::from_text("cluster.local");
    (void)build_snapshot(cluster, std::move(config));
    return 0;
}
