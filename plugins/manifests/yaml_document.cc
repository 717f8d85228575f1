#include "plugins/manifests/yaml_document.h"

#include <yaml.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

namespace clusterdns {
namespace {

// What reading a node costs once aliases are followed: its node count with every alias expanded
// (which bounds DocNode::find's visits too, since merge sources are counted), and how many merge
// keys DocNode::find may recurse through.
struct Cost {
    uint64_t expanded = 1;
    uint32_t merge_depth = 0;
};

struct Frame {
    DocNode::Kind kind;
    uint32_t line;
    std::string anchor;
    std::vector<DocNode> items;
    std::vector<DocMember> members;
    std::vector<yaml_mark_t> key_marks;  // where each member's key is, for duplicate errors
    bool have_key = false;
    std::string_view key;
    yaml_mark_t key_mark{};
    Cost cost;
};

struct Anchored {
    DocNode node;
    Cost cost;
};

// Owns a libyaml event for one loop iteration.
struct Event {
    yaml_event_t event;
    ~Event() { yaml_event_delete(&event); }
};

// YAML 1.2 core schema nulls; everything else plain stays a scalar for the converter to read.
bool is_plain_null(std::string_view text) {
    return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

std::string anchor_of(const yaml_char_t* anchor) {
    return anchor == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(anchor));
}

std::string where(const yaml_mark_t& mark) {
    return fmt::format("{}:{}", mark.line + 1, mark.column + 1);
}

Status duplicate_key(const Frame& frame, size_t first, size_t again) {
    return Error{fmt::format("{}: duplicate key {} (first on line {})",
                             where(frame.key_marks[again]), quoted(frame.members[again].key),
                             frame.key_marks[first].line + 1)};
}

// YAML forbids a key twice in one mapping, and kubectl refuses such a manifest ("key already set
// in map"): which value would win is not something to guess. Sorting finds repeats in n log n;
// the few keys of most mappings are compared pairwise, without allocating.
Status check_unique_keys(const Frame& frame) {
    constexpr size_t kPairwise = 16;
    if (frame.members.size() <= kPairwise) {
        for (size_t again = 1; again < frame.members.size(); ++again) {
            for (size_t first = 0; first < again; ++first) {
                if (frame.members[first].key == frame.members[again].key) {
                    return duplicate_key(frame, first, again);
                }
            }
        }
        return {};
    }
    std::vector<size_t> order(frame.members.size());
    for (size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return std::pair(frame.members[a].key, a) < std::pair(frame.members[b].key, b);
    });
    for (size_t i = 1; i < order.size(); ++i) {
        const size_t first = order[i - 1];
        const size_t again = order[i];
        if (frame.members[first].key == frame.members[again].key) {
            return duplicate_key(frame, first, again);
        }
    }
    return {};
}

}  // namespace

Result<std::vector<DocNode>> parse_yaml(std::string_view text, DocArena& arena) {
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    struct ParserGuard {
        yaml_parser_t* p;
        ~ParserGuard() { yaml_parser_delete(p); }
    } guard{&parser};

    std::vector<DocNode> documents;
    // The open collections: frames[0, depth). Frames past the depth keep their vectors'
    // capacity for the next collection at that depth, so a document allocates few of them.
    std::vector<Frame> frames;
    size_t depth = 0;
    std::unordered_map<std::string, Anchored> anchors;
    uint64_t parsed = 0;  // nodes written out in the current document

    // Places a finished node in its parent, or makes it the document's root.
    auto finish = [&](DocNode node, const std::string& anchor, const yaml_mark_t& mark,
                      Cost cost) -> Status {
        if (!anchor.empty()) {
            anchors[anchor] = {node, cost};
        }
        if (depth == 0) {
            documents.push_back(node);
            return {};
        }
        Frame& parent = frames[depth - 1];
        parent.cost.expanded += cost.expanded;
        if (parent.cost.expanded > parsed + kMaxAliasExpansion) {
            return Error{fmt::format("{}: aliases expand the document by more than {} nodes",
                                     where(mark), kMaxAliasExpansion)};
        }
        if (parent.kind == DocNode::Kind::Sequence) {
            // DocNode::find reads the items of a merge key's list: pass their depth on.
            parent.cost.merge_depth = std::max(parent.cost.merge_depth, cost.merge_depth);
            parent.items.push_back(node);
        } else if (!parent.have_key) {
            if (!node.is_scalar() && !node.is_null()) {
                return Error{fmt::format("{}: a mapping key must be a plain value", where(mark))};
            }
            parent.key = node.text;
            parent.key_mark = mark;
            parent.have_key = true;
        } else {
            if (parent.key == "<<") {
                parent.cost.merge_depth = std::max(parent.cost.merge_depth, cost.merge_depth + 1);
                if (parent.cost.merge_depth > kMaxYamlDepth) {
                    return Error{fmt::format("{}: merge keys chained deeper than {} levels",
                                             where(mark), kMaxYamlDepth)};
                }
            }
            parent.members.push_back({parent.key, node});
            parent.key_marks.push_back(parent.key_mark);
            parent.have_key = false;
        }
        return {};
    };

    for (;;) {
        Event e;
        if (!yaml_parser_parse(&parser, &e.event)) {
            return Error{fmt::format("{}: invalid YAML: {}{}{}", where(parser.problem_mark),
                                     parser.problem ? parser.problem : "invalid YAML",
                                     parser.context ? " " : "",
                                     parser.context ? parser.context : "")};
        }
        const yaml_event_t& ev = e.event;
        const uint32_t line = static_cast<uint32_t>(ev.start_mark.line + 1);
        switch (ev.type) {
            case YAML_STREAM_END_EVENT:
                return documents;
            case YAML_DOCUMENT_START_EVENT:
                anchors.clear();  // anchors are local to a document
                parsed = 0;
                break;
            case YAML_SCALAR_EVENT: {
                const std::string_view value(reinterpret_cast<const char*>(ev.data.scalar.value),
                                             ev.data.scalar.length);
                DocNode node;
                node.line = line;
                node.quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                if (node.quoted || !is_plain_null(value)) {
                    node.kind = DocNode::Kind::Scalar;
                    node.text = arena.copy(value);
                }
                ++parsed;
                if (Status s = finish(node, anchor_of(ev.data.scalar.anchor), ev.start_mark, {});
                    !s) {
                    return s.error();
                }
                break;
            }
            case YAML_ALIAS_EVENT: {
                const auto it = anchors.find(anchor_of(ev.data.alias.anchor));
                if (it == anchors.end()) {
                    return Error{fmt::format("{}: unknown alias {}", where(ev.start_mark),
                                             quoted(anchor_of(ev.data.alias.anchor)))};
                }
                if (Status s = finish(it->second.node, {}, ev.start_mark, it->second.cost); !s) {
                    return s.error();
                }
                break;
            }
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT:
            {
                if (depth >= kMaxYamlDepth) {
                    return Error{fmt::format("{}: nested deeper than {} levels",
                                             where(ev.start_mark), kMaxYamlDepth)};
                }
                if (depth == frames.size()) {
                    frames.emplace_back();
                }
                Frame& frame = frames[depth++];
                frame.kind = ev.type == YAML_SEQUENCE_START_EVENT ? DocNode::Kind::Sequence
                                                                  : DocNode::Kind::Mapping;
                frame.line = line;
                frame.anchor = anchor_of(ev.type == YAML_SEQUENCE_START_EVENT
                                             ? ev.data.sequence_start.anchor
                                             : ev.data.mapping_start.anchor);
                frame.items.clear();
                frame.members.clear();
                frame.key_marks.clear();
                frame.have_key = false;
                frame.cost = {};
                break;
            }
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT: {
                const Frame& frame = frames[--depth];
                if (Status s = check_unique_keys(frame); !s) {
                    return s.error();
                }
                DocNode node;
                node.kind = frame.kind;
                node.line = frame.line;
                node.items = arena.copy(std::span<const DocNode>(frame.items));
                node.members = arena.copy(std::span<const DocMember>(frame.members));
                ++parsed;
                if (Status s = finish(node, frame.anchor, ev.start_mark, frame.cost); !s) {
                    return s.error();
                }
                break;
            }
            default:
                break;
        }
    }
}

}  // namespace clusterdns
