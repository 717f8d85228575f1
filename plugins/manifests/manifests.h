#pragma once
// The manifest source: reads the YAML (or JSON) files `kubectl apply` takes and adds the objects
// DNS needs (Namespace, Service, EndpointSlice, Endpoints, Pod) to a Cluster. Other kinds are
// skipped. A document it cannot use fails the load with a message naming the file, the document,
// its kind/name and the field.

#include <cstdint>
#include <string>
#include <string_view>

#include "server/codec/result.h"
#include "zone/objects.h"

namespace clusterdns {

// A manifest file larger than this is refused: the API server's own object limit is 1.5 MiB, so
// even a List of thousands of objects fits.
constexpr uint64_t kMaxManifestFileBytes = 256ull << 20;

// Loads one file, or every *.yaml, *.yml and *.json file below a directory (sorted by path).
Status load_manifests(const std::string& path, ObjectSink& cluster);

// Loads manifest text; `source` names it in error messages.
Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster);

}  // namespace clusterdns
