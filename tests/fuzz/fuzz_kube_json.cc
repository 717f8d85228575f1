// Fuzzes the kubernetes source's decoding: any bytes as a list page and as watch-stream lines,
// through JSON -> DocNode -> the converter, and each line as an EndpointSlice's trigger time.
// Nothing crashes, hangs or throws; bad input is an Error.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/kubernetes/kubernetes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clusterdns;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    JsonParser parser;
    Cluster cluster;
    DocArena arena;
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
