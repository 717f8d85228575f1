#include "zone/document.h"

#include <cstring>

namespace clusterdns {

const DocNode* find_path(const DocNode& node, std::initializer_list<std::string_view> path) {
    const DocNode* at = &node;
    for (const std::string_view key : path) {
        at = at->find(key);
        if (at == nullptr) {
            return nullptr;
        }
    }
    return at;
}

std::string_view scalar_at(const DocNode& node, std::initializer_list<std::string_view> path) {
    const DocNode* found = find_path(node, path);
    return found != nullptr && found->is_scalar() ? found->text : std::string_view();
}

std::span<const DocNode> items_at(const DocNode& node, std::initializer_list<std::string_view> path) {
    const DocNode* found = find_path(node, path);
    return found != nullptr && found->is_sequence() ? found->items : std::span<const DocNode>();
}

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
