// Fuzzes the manifest loader and the zone builder behind it: any text either loads into a zone
// or is refused with an Error; nothing crashes, hangs or throws.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/manifests/manifests.h"
#include "zone/cluster_zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    clusterdns::Cluster cluster;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (!clusterdns::load_manifest_text(text, "fuzz", cluster)) {
        return 0;
    }
    (void)clusterdns::build_zone(cluster, clusterdns::ZoneOptions{});
    return 0;
}
