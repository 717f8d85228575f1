#pragma once
// The manifest source: reads the YAML (or JSON) files `kubectl apply` takes and adds the objects
// DNS needs (Namespace, Service, EndpointSlice, Endpoints, Pod) to a Cluster. Other kinds are
// skipped. A document it cannot use fails the load with a message naming the file, the document,
// its kind/name and the field.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "server/codec/result.h"
#include "zone/document.h"
#include "zone/objects.h"

namespace clusterdns {

// A manifest file larger than this is refused: the API server's own object limit is 1.5 MiB, so
// even a List of thousands of objects fits.
constexpr uint64_t kMaxManifestFileBytes = 256ull << 20;

// Loads one file, or every *.yaml, *.yml and *.json file below a directory (sorted by path).
Status load_manifests(const std::string& path, ObjectSink& cluster);

// Whether a file of this name inside a directory is read as a manifest (*.yaml, *.yml, *.json).
bool is_manifest_file_name(std::string_view name);

// Each non-empty document of the files load_manifests reads for `path`, in the same order, with
// its file and index (from 0): for tools that read more of the manifests than DNS does
// (`clusterdns check`). Stops at a file that does not parse, or at the first error of `visit`.
using DocumentVisitor =
    std::function<Status(const std::string& file, size_t index, const DocNode& doc)>;
Status visit_manifest_documents(const std::string& path, const DocumentVisitor& visit);

// Loads manifest text; `source` names it in error messages.
Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster);

}  // namespace clusterdns
