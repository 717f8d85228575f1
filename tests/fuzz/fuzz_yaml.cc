// Fuzzes parse_yaml's block reader against libyaml: whatever text the block reader reads, libyaml
// reads too, into the same documents (kinds, quoting, lines, text, keys, in order). What it
// leaves to libyaml is fuzz_manifest's.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/manifests/yaml_document.h"

namespace {

bool same(const clusterdns::DocNode& a, const clusterdns::DocNode& b) {
    if (a.kind != b.kind || a.quoted != b.quoted || a.line != b.line || a.text != b.text ||
        a.items.size() != b.items.size() || a.members.size() != b.members.size()) {
        return false;
    }
    for (size_t i = 0; i < a.items.size(); ++i) {
        if (!same(a.items[i], b.items[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < a.members.size(); ++i) {
        if (a.members[i].key != b.members[i].key || !same(a.members[i].value, b.members[i].value)) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clusterdns;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    DocArena block_arena;
    const auto block = read_block_yaml(text, block_arena, true);
    if (!block) {
        return 0;
    }
    DocArena libyaml_arena;
    const auto libyaml = parse_yaml_with_libyaml(text, libyaml_arena);
    if (!libyaml || libyaml->size() != block->size()) {
        __builtin_trap();
    }
    for (size_t i = 0; i < block->size(); ++i) {
        if (!same((*block)[i], (*libyaml)[i])) {
            __builtin_trap();
        }
    }
    return 0;
}
