// Fuzzes the manifest loader, the workloads' Pods and endpoints made from it, and the snapshot
// builder behind them: any text either loads into a snapshot or is refused with an Error;
// nothing crashes, hangs or throws. The lenient visit (`clusterdns check`) reads the same text:
// each document is either visited or a problem, never both, in order.

#include <cstddef>
#include <cstdint>
#include <set>
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
    std::set<size_t> problems;
    size_t next = 0;  // documents are visited in order, each once
    (void)visit_manifest_text(
        text, "fuzz",
        [&](const std::string&, size_t index, const DocNode&) -> Status {
            if (index < next || problems.count(index) != 0) {
                __builtin_trap();
            }
            next = index + 1;
            return {};
        },
        [&](const ManifestProblem& p) {
            if (p.document != ManifestProblem::kWholeFile && !problems.insert(p.document).second) {
                __builtin_trap();
            }
        });
    if (!load_manifest_text(text, "fuzz", workloads) || !workloads.synthesize()) {
        return 0;
    }
    SnapshotConfig config;
    config.origin = *Name::from_text("cluster.local");
    (void)build_snapshot(cluster, std::move(config));
    return 0;
}
