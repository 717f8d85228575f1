// Fuzzes the manifest loader and the snapshot builder behind it: any text either loads into a
// snapshot or is refused with an Error; nothing crashes, hangs or throws.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/manifests/manifests.h"
#include "zone/snapshot_build.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    clusterdns::Cluster cluster;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (!clusterdns::load_manifest_text(text, "fuzz", cluster)) {
        return 0;
    }
    clusterdns::SnapshotConfig config;
    config.origin = *clusterdns::Name::from_text("cluster.local");
    (void)clusterdns::build_snapshot(cluster, std::move(config));
    return 0;
}
