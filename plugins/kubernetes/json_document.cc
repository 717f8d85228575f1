#include "plugins/kubernetes/json_document.h"

#include <array>
#include <charconv>
#include <new>
#include <vector>

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

// Depth is bounded by the parser's max_depth, so the recursion is too.
DocNode to_node(simdjson::dom::element element, DocArena& arena) {
    using Type = simdjson::dom::element_type;
    DocNode node;
    node.kind = DocNode::Kind::Scalar;
    switch (element.type()) {
        case Type::ARRAY: {
            std::vector<DocNode> items;
            for (simdjson::dom::element child : simdjson::dom::array(element)) {
                items.push_back(to_node(child, arena));
            }
            node.kind = DocNode::Kind::Sequence;
            node.items = arena.copy(std::span<const DocNode>(items));
            break;
        }
        case Type::OBJECT: {
            std::vector<DocMember> members;
            for (simdjson::dom::key_value_pair field : simdjson::dom::object(element)) {
                members.push_back({arena.copy(field.key), to_node(field.value, arena)});
            }
            node.kind = DocNode::Kind::Mapping;
            node.members = arena.copy(std::span<const DocMember>(members));
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
    simdjson::dom::element root;
    // realloc_if_needed: simdjson reads up to SIMDJSON_PADDING bytes past the end, so it copies
    // the text into a padded buffer of its own.
    if (const auto error = impl_->parser.parse(text.data(), text.size(), true).get(root)) {
        if (text.size() > kKeptDocumentBytes) {
            release();
        }
        return Error{fmt::format("invalid JSON: {}", simdjson::error_message(error))};
    }
    DocNode node = to_node(root, arena);
    if (text.size() > kKeptDocumentBytes) {
        release();  // the tree is in the arena; the buffers would stay as big as this document
    }
    return node;
}

}  // namespace clusterdns
