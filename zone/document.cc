#include "zone/document.h"

#include <cstring>

namespace clusterdns {

const DocNode* DocNode::find(std::string_view key) const {
    if (kind != Kind::Mapping) {
        return nullptr;
    }
    for (const DocMember& m : members) {
        if (m.key == key) {
            return &m.value;
        }
    }
    // YAML merge keys: "<<: *base" (or a list of them) supplies members not given here.
    for (const DocMember& m : members) {
        if (m.key != "<<") {
            continue;
        }
        if (const DocNode* found = m.value.find(key)) {
            return found;
        }
        for (const DocNode& base : m.value.items) {
            if (const DocNode* found = base.find(key)) {
                return found;
            }
        }
    }
    return nullptr;
}

std::string_view DocArena::copy(std::string_view text) {
    if (text.empty()) {
        return {};
    }
    char* out = static_cast<char*>(arena_.allocate(text.size(), 1));
    std::memcpy(out, text.data(), text.size());
    return {out, text.size()};
}

}  // namespace clusterdns
