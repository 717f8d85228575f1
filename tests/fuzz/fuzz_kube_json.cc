// Fuzzes the kubernetes source's decoding: any bytes as a list page and as watch-stream lines,
// through JSON -> DocNode -> the converter, and each line as an EndpointSlice's trigger time.
// Nothing crashes, hangs or throws; bad input is an Error. A list whose items are all wanted is
// the document parsed as any other.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "plugins/kubernetes/kubernetes.h"

namespace {

std::string dump(const clusterdns::DocNode& node) {
    using Kind = clusterdns::DocNode::Kind;
    std::string out;
    switch (node.kind) {
        case Kind::Null:
            return "~";
        case Kind::Scalar:
            return (node.quoted ? "'" : "") + std::string(node.text);
        case Kind::Sequence:
            for (const clusterdns::DocNode& item : node.items) {
                out += dump(item) + ",";
            }
            return "[" + out + "]";
        case Kind::Mapping:
            for (const clusterdns::DocMember& m : node.members) {
                out += std::string(m.key) + ":" + dump(m.value) + ",";
            }
            return "{" + out + "}";
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clusterdns;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    JsonParser parser;
    Cluster cluster;
    DocArena arena;
    {
        auto whole = parser.parse(text, arena);
        auto split = parser.parse_list(text, arena, [](const ItemHeader&) { return true; });
        if (whole.has_value() != split.has_value() || (whole && dump(*whole) != dump(*split))) {
            abort();
        }
    }
    if (auto page = decode_list(text, "Service", "v1", parser, arena)) {
        for (const DocNode& item : page->items) {
            (void)apply_object(item, false, {}, cluster);
        }
    }
    for (size_t start = 0; start < text.size();) {
        const size_t end = std::min(text.find('\n', start), text.size());
        (void)parse_rfc3339(text.substr(start, end - start));
        if (auto event = decode_watch_event(text.substr(start, end - start), parser, arena)) {
            (void)apply_object(event->object, event->type == WatchEvent::Type::Deleted, {"prod"},
                               cluster);
            (void)apply_object(event->object, event->type == WatchEvent::Type::Deleted, {},
                               cluster);
        }
        start = end + 1;
    }
    (void)status_message(text, parser);
    return 0;
}
