#include "plugins/kubernetes/json_document.h"

#include <array>
#include <charconv>
#include <new>

#include <fmt/format.h>
#include <simdjson.h>

namespace clusterdns {

struct JsonParser::Impl {
    simdjson::dom::parser parser;
};

namespace {

std::string_view number_text(DocArena& arena, auto value) {
    std::array<char, 32> buf;
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    return ec == std::errc() ? arena.copy(std::string_view(buf.data(), end)) : std::string_view();
}

// How many children an array or object has: simdjson counts up to 0xFFFFFF, then they are counted.
template <class Container>
size_t children(Container container) {
    size_t count = container.size();
    if (count == 0xFFFFFF) {
        count = 0;
        for ([[maybe_unused]] const auto& child : container) {
            ++count;
        }
    }
    return count;
}

// Room in the arena for `count` Ts, built in place as they are read: no vector per mapping.
template <class T>
T* room(DocArena& arena, size_t count) {
    return static_cast<T*>(arena.resource()->allocate(count * sizeof(T), alignof(T)));
}

// Depth is bounded by the parser's max_depth, so the recursion is too.
DocNode to_node(simdjson::dom::element element, DocArena& arena) {
    using Type = simdjson::dom::element_type;
    DocNode node;
    node.kind = DocNode::Kind::Scalar;
    switch (element.type()) {
        case Type::ARRAY: {
            const simdjson::dom::array array(element);
            node.kind = DocNode::Kind::Sequence;
            if (const size_t count = children(array); count != 0) {
                DocNode* items = room<DocNode>(arena, count);
                size_t i = 0;
                for (simdjson::dom::element child : array) {
                    new (&items[i++]) DocNode(to_node(child, arena));
                }
                node.items = {items, count};
            }
            break;
        }
        case Type::OBJECT: {
            const simdjson::dom::object object(element);
            node.kind = DocNode::Kind::Mapping;
            if (const size_t count = children(object); count != 0) {
                DocMember* members = room<DocMember>(arena, count);
                size_t i = 0;
                for (simdjson::dom::key_value_pair field : object) {
                    new (&members[i++])
                        DocMember{arena.copy(field.key), to_node(field.value, arena)};
                }
                node.members = {members, count};
            }
            break;
        }
        case Type::STRING:
            node.quoted = true;
            node.text = arena.copy(std::string_view(element));
            break;
        case Type::INT64:
            node.text = number_text(arena, int64_t(element));
            break;
        case Type::UINT64:
            node.text = number_text(arena, uint64_t(element));
            break;
        case Type::DOUBLE:
            node.text = number_text(arena, double(element));
            break;
        case Type::BOOL:
            node.text = bool(element) ? "true" : "false";
            break;
        case Type::NULL_VALUE:
            node.kind = DocNode::Kind::Null;
            break;
    }
    return node;
}

std::string_view text_at(simdjson::dom::element element, const char* key) {
    std::string_view text;
    return element[key].get(text) == simdjson::SUCCESS ? text : std::string_view();
}

// A list's tree, the items of its (first) "items" built only where `want` says.
DocNode to_list_node(simdjson::dom::element root, DocArena& arena, const WantItem& want) {
    if (!root.is_object()) {
        return to_node(root, arena);
    }
    const simdjson::dom::object object(root);
    DocNode node{.kind = DocNode::Kind::Mapping};
    const size_t count = children(object);
    DocMember* members = room<DocMember>(arena, count);
    size_t i = 0;
    bool items_seen = false;
    for (simdjson::dom::key_value_pair field : object) {
        DocNode value;
        if (field.key == "items" && !items_seen && field.value.is_array()) {
            items_seen = true;
            const simdjson::dom::array array(field.value);
            value.kind = DocNode::Kind::Sequence;
            if (const size_t n = children(array); n != 0) {
                DocNode* items = room<DocNode>(arena, n);
                size_t j = 0;
                for (simdjson::dom::element item : array) {
                    simdjson::dom::element metadata;
                    const bool skip =
                        item.is_object() && item["metadata"].get(metadata) == simdjson::SUCCESS &&
                        !want({text_at(metadata, "namespace"), text_at(metadata, "name"),
                               text_at(metadata, "resourceVersion")});
                    if (!skip) {
                        new (&items[j++]) DocNode(to_node(item, arena));
                    }
                }
                value.items = {items, j};
            }
        } else {
            items_seen = items_seen || field.key == "items";
            value = to_node(field.value, arena);
        }
        new (&members[i++]) DocMember{arena.copy(field.key), value};
    }
    node.members = {members, count};
    return node;
}

}  // namespace

JsonParser::JsonParser() : impl_(std::make_unique<Impl>()) {
    release();
}

void JsonParser::release() {
    // A new parser: allocate() alone would keep the copy of the largest document parsed.
    impl_->parser = simdjson::dom::parser();
    // Only the depth matters here; the capacity grows with the first document that needs it.
    if (impl_->parser.allocate(64 * 1024, kMaxJsonDepth) != simdjson::SUCCESS) {
        throw std::bad_alloc();
    }
}

JsonParser::~JsonParser() = default;

Result<DocNode> JsonParser::parse(std::string_view text, DocArena& arena) {
    return parse_list(text, arena, nullptr);
}

Result<DocNode> JsonParser::parse_list(std::string_view text, DocArena& arena,
                                       const WantItem& want) {
    simdjson::dom::element root;
    // realloc_if_needed: simdjson reads up to SIMDJSON_PADDING bytes past the end, so it copies
    // the text into a padded buffer of its own.
    if (const auto error = impl_->parser.parse(text.data(), text.size(), true).get(root)) {
        if (text.size() > kKeptDocumentBytes) {
            release();
        }
        return Error{fmt::format("invalid JSON: {}", simdjson::error_message(error))};
    }
    DocNode node = want ? to_list_node(root, arena, want) : to_node(root, arena);
    if (text.size() > kKeptDocumentBytes) {
        release();  // the tree is in the arena; the buffers would stay as big as this document
    }
    return node;
}

}  // namespace clusterdns
