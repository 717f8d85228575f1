#pragma once
// The manifest source: reads the YAML (or JSON) files `kubectl apply` takes and adds the objects
// DNS needs (Namespace, Service, EndpointSlice, Endpoints, Pod) to a Cluster. Other kinds are
// skipped. A document it cannot use fails the load with a message naming the file, the document,
// its kind/name and the field. The path "-" is standard input, as kubectl's `-f -`.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "zone/document.h"
#include "zone/objects.h"

namespace clusterdns {

// A manifest file larger than this is refused: the API server's own object limit is 1.5 MiB, so
// even a List of thousands of objects fits.
constexpr uint64_t kMaxManifestFileBytes = 256ull << 20;

// The path that names standard input, and what messages call it.
constexpr std::string_view kStdinPath = "-";
constexpr std::string_view kStdinName = "<stdin>";

// Loads one file, or every *.yaml, *.yml and *.json file below a directory (sorted by path), or
// standard input for "-". Standard input is read once, at the first load that names it; its text
// is kept and every later load of "-" (a reload) applies that same text again.
Status load_manifests(const std::string& path, ObjectSink& cluster);

// From now on a load that would read standard input for the first time fails instead: the server
// calls it once serving, so a reload that newly names "-" never waits on a terminal. What was
// read stays.
void stop_reading_standard_input();

// Paths as given (--manifests, a config's manifests): "-" at most once, as it can be read once.
Status check_manifest_paths(const std::vector<std::string>& paths);

// Whether a file of this name inside a directory is read as a manifest (*.yaml, *.yml, *.json).
bool is_manifest_file_name(std::string_view name);

// Each non-empty document of the files load_manifests reads for `path`, in the same order, with
// its file and index (from 0): for tools that read more of the manifests than DNS does
// (`clusterdns check`). Stops at a file that does not parse, or at the first error of `visit`.
using DocumentVisitor =
    std::function<Status(const std::string& file, size_t index, const DocNode& doc)>;
Status visit_manifest_documents(const std::string& path, const DocumentVisitor& visit);

// What visiting leniently could not read: a path, a file, or one document of a file.
struct ManifestProblem {
    static constexpr size_t kWholeFile = SIZE_MAX;
    std::string file;              // the path as found, or kStdinName
    size_t document = kWholeFile;  // from 0, as DocumentVisitor's index
    uint32_t line = 0;             // 1-based; 0 when unknown
    std::string message;           // names the file (and line) as load_manifests would
};
using ProblemVisitor = std::function<void(const ManifestProblem& problem)>;

// As visit_manifest_documents, for a tool that reports every problem of a run: a path that does
// not exist or a file that cannot be read goes to `problem` and the visit goes on with the next
// file; a document that is not valid YAML goes to `problem` and the visit goes on with the
// file's other documents (each starts at a "---" line), numbered as if all were valid. A file's
// problems come before its documents. Stops only at an error of `visit`.
Status visit_manifest_documents(const std::string& path, const DocumentVisitor& visit,
                                const ProblemVisitor& problem);

// The same for manifest text; `source` names it.
Status visit_manifest_text(std::string_view text, const std::string& source,
                           const DocumentVisitor& visit, const ProblemVisitor& problem);

// Loads manifest text; `source` names it in error messages.
Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster);

}  // namespace clusterdns
