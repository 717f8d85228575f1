#pragma once
// JSON text to the parsed-document tree (zone/document.h) with simdjson, so objects from the API
// server feed the converter (zone/convert.h) exactly as manifests do.

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "zone/document.h"

namespace clusterdns {

// Nesting deeper than this is refused: a Kubernetes object is a few levels deep, and the tree is
// built recursively.
constexpr size_t kMaxJsonDepth = 128;

// Documents up to this size leave the parser's buffers (up to 15 times the document) in place for
// the next one; a larger one's are freed once it is parsed.
constexpr size_t kKeptDocumentBytes = 1u << 20;

// What an item of a list says of itself (its metadata's namespace, name and resourceVersion; empty
// where absent), read before its tree is built.
struct ItemHeader {
    std::string_view ns;
    std::string_view name;
    std::string_view resource_version;
};
// Whether an item's tree is wanted: a re-list builds only the objects that changed.
using WantItem = std::function<bool(const ItemHeader&)>;

// One reusable simdjson parser: its buffers grow to the document, and stay only while the
// documents are at most kKeptDocumentBytes (a list page, a watch event).
class JsonParser {
public:
    JsonParser();
    ~JsonParser();
    JsonParser(const JsonParser&) = delete;
    JsonParser& operator=(const JsonParser&) = delete;

    // Parses one JSON document into nodes and strings of `arena`. A JSON string is a quoted
    // scalar (never read as a number or a boolean, like a quoted YAML "80"); numbers and true and
    // false are plain scalars in their JSON spelling; null is a Null node. Lines are 0 (unknown).
    // Fails with simdjson's reason on invalid JSON, or when nested deeper than kMaxJsonDepth.
    Result<DocNode> parse(std::string_view text, DocArena& arena);
    // As parse(), for a list (a mapping whose "items" is a sequence): an item (a mapping with a
    // metadata mapping) that `want` refuses is left out, its tree never built. The header's views
    // last until the next parse.
    Result<DocNode> parse_list(std::string_view text, DocArena& arena, const WantItem& want);
    // Gives back every buffer the documents so far grew the parser to; the next one grows it
    // again. Watch events are small: a few MiB held after a list would be waste.
    void release();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace clusterdns
