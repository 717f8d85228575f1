#include "plugins/manifests/yaml_document.h"

#include <yaml.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

namespace clusterdns {
namespace {

// A place in the text: 0-based line and column, as libyaml counts them.
struct Mark {
    size_t line = 0;
    size_t column = 0;
};

std::string where(const Mark& mark) {
    return fmt::format("{}:{}", mark.line + 1, mark.column + 1);
}

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
    std::vector<Mark> key_marks;  // where each member's key is, for duplicate errors
    bool have_key = false;
    std::string_view key;
    Mark key_mark;
    Cost cost;
};

struct Anchored {
    DocNode node;
    Cost cost;
};

// YAML 1.2 core schema nulls; everything else plain stays a scalar for the converter to read.
bool is_plain_null(std::string_view text) {
    switch (text.size()) {
        case 0:
            return true;
        case 1:
            return text[0] == '~';
        case 4:
            return text == "null" || text == "Null" || text == "NULL";
        default:
            return false;
    }
}

// Two keys alike, the first character compared before the rest.
bool same_key(std::string_view a, std::string_view b) {
    return a.size() == b.size() && (a.empty() || (a[0] == b[0] && a == b));
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
                if (same_key(frame.members[first].key, frame.members[again].key)) {
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

// Makes the documents' trees from parse events, whichever reader reads them: libyaml's, or the
// block reader below.
class TreeBuilder {
public:
    // With `each`, every document goes to it as soon as it is complete, and its nodes are
    // released from the arena once it returns; else take() returns them all.
    explicit TreeBuilder(DocArena& arena, const YamlDocumentVisitor* each = nullptr)
        : arena_(arena), each_(each) {}

    void start_document() {
        anchors_.clear();  // anchors are local to a document
        parsed_ = 0;
    }

    // A scalar; with `copy`, its text is copied into the arena (else it outlives the tree).
    Status scalar(std::string_view value, bool quoted, bool copy, const Mark& mark,
                  const std::string& anchor = {}) {
        DocNode node;
        node.line = static_cast<uint32_t>(mark.line + 1);
        node.quoted = quoted;
        if (quoted || !is_plain_null(value)) {
            node.kind = DocNode::Kind::Scalar;
            node.text = copy ? arena_.copy(value) : value;
        }
        ++parsed_;
        return finish(node, anchor, mark, {});
    }

    Status alias(const std::string& anchor, const Mark& mark) {
        const auto it = anchors_.find(anchor);
        if (it == anchors_.end()) {
            return Error{fmt::format("{}: unknown alias {}", where(mark), quoted(anchor))};
        }
        return finish(it->second.node, {}, mark, it->second.cost);
    }

    Status start(DocNode::Kind kind, const Mark& mark, std::string anchor = {}) {
        if (depth_ >= kMaxYamlDepth) {
            return Error{
                fmt::format("{}: nested deeper than {} levels", where(mark), kMaxYamlDepth)};
        }
        if (depth_ == frames_.size()) {
            frames_.emplace_back();
        }
        Frame& frame = frames_[depth_++];
        frame.kind = kind;
        frame.line = static_cast<uint32_t>(mark.line + 1);
        frame.anchor = std::move(anchor);
        frame.items.clear();
        frame.members.clear();
        frame.key_marks.clear();
        frame.have_key = false;
        frame.cost = {};
        return {};
    }

    Status end(const Mark& mark) {
        const Frame& frame = frames_[--depth_];
        if (Status s = check_unique_keys(frame); !s) {
            return s;
        }
        DocNode node;
        node.kind = frame.kind;
        node.line = frame.line;
        node.items = arena_.copy(std::span<const DocNode>(frame.items));
        node.members = arena_.copy(std::span<const DocMember>(frame.members));
        ++parsed_;
        return finish(node, frame.anchor, mark, frame.cost);
    }

    std::vector<DocNode> take() { return std::move(documents_); }

    // What `each` failed with, if it did: the reading stops there.
    const Status& visitor_status() const { return visitor_status_; }

private:
    // Places a finished node in its parent, or makes it the document's root.
    Status finish(DocNode node, const std::string& anchor, const Mark& mark, Cost cost) {
        if (!anchor.empty()) {
            anchors_[anchor] = {node, cost};
        }
        if (depth_ == 0) {
            if (each_ == nullptr) {
                documents_.push_back(node);
                return {};
            }
            visitor_status_ = (*each_)(visited_++, node);
            arena_.release();
            return visitor_status_;
        }
        Frame& parent = frames_[depth_ - 1];
        parent.cost.expanded += cost.expanded;
        if (parent.cost.expanded > parsed_ + kMaxAliasExpansion) {
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
    }

    DocArena& arena_;
    const YamlDocumentVisitor* each_;
    size_t visited_ = 0;
    Status visitor_status_;
    std::vector<DocNode> documents_;
    // The open collections: frames_[0, depth_). Frames past the depth keep their vectors'
    // capacity for the next collection at that depth, so a document allocates few of them.
    std::vector<Frame> frames_;
    size_t depth_ = 0;
    std::unordered_map<std::string, Anchored> anchors_;
    uint64_t parsed_ = 0;  // nodes written out in the current document
};

// --- libyaml -------------------------------------------------------------------------------------

// Owns a libyaml event for one loop iteration.
struct Event {
    yaml_event_t event;
    ~Event() { yaml_event_delete(&event); }
};

std::string anchor_of(const yaml_char_t* anchor) {
    return anchor == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(anchor));
}

Mark mark_of(const yaml_mark_t& mark) {
    return {mark.line, mark.column};
}

// --- The block reader ----------------------------------------------------------------------------

// What a character may be in the block reader's plain scalars (keys are the stricter kind). A
// character outside these makes it give up: libyaml reads the text.
enum : uint8_t {
    kKeyFirst = 1,  // first of a key or a plain value: a letter, a digit, _ . /
    kKey = 2,       // the rest of a key: also -
    kPlain = 4,     // the rest of a plain value: also + = @ , ~ ( ), and : or a space inside
};

constexpr std::array<uint8_t, 256> kClasses = [] {
    std::array<uint8_t, 256> c{};
    for (int ch = 0; ch < 256; ++ch) {
        const bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (alnum || ch == '_' || ch == '.' || ch == '/') {
            c[ch] = kKeyFirst | kKey | kPlain;
        }
    }
    c['-'] = kKey | kPlain;
    for (const char ch : {'+', '=', '@', ',', '~', '(', ')'}) {
        c[static_cast<uint8_t>(ch)] = kPlain;
    }
    return c;
}();

uint8_t class_of(char c) {
    return kClasses[static_cast<uint8_t>(c)];
}

// Longest key the reader takes (libyaml refuses a key of more than 1,024 characters).
constexpr size_t kMaxKey = 256;

// Reads block YAML of one-line scalars: a document is a block mapping or sequence at column 0,
// of block mappings and sequences (a sequence may sit at its key's indentation), whose keys are
// plain and whose values are plain, single- or double-quoted scalars on one line (quotes without
// escapes), {} or []. Lines may be empty or comments; "---" alone starts a document. Only
// printable ASCII and line feeds. Anything else, or what libyaml would refuse, and it gives up.
class BlockReader {
public:
    BlockReader(std::string_view text, TreeBuilder& builder, bool text_kept)
        : text_(text), builder_(builder), copy_(!text_kept) {}

    bool read() {
        unsigned bad = 0;  // one pass the compiler vectorizes
        for (const char c : text_) {
            const auto u = static_cast<unsigned char>(c);
            bad |= static_cast<unsigned>(u - 0x20u >= 0x5fu && u != '\n');
        }
        if (bad != 0) {
            return false;
        }
        size_t at = 0;
        for (line_ = 0; at < text_.size(); ++line_) {
            const void* lf = std::memchr(text_.data() + at, '\n', text_.size() - at);
            const size_t end =
                lf != nullptr ? static_cast<const char*>(lf) - text_.data() : text_.size();
            if (!read_line(text_.substr(at, end - at))) {
                return false;
            }
            at = end + 1;
        }
        return end_document() && documents_ > 0;
    }

private:
    struct Block {
        bool sequence;
        size_t indent;  // the column of its keys or its "-"
    };

    bool read_line(std::string_view line) {
        const size_t indent = line.find_first_not_of(' ');
        if (indent == std::string_view::npos) {
            return line.empty();  // blank; spaces alone are not worth the cases
        }
        const std::string_view content = line.substr(indent);
        if (content[0] == '#') {
            return true;  // a comment line
        }
        if (indent == 0 && (content.starts_with("---") || content.starts_with("..."))) {
            if (content != "---") {
                return false;  // content after the marker, or a document end
            }
            if (!end_document()) {
                return false;
            }
            builder_.start_document();
            in_document_ = explicit_ = true;
            return true;
        }
        if (!in_document_) {
            builder_.start_document();
            in_document_ = true;
            explicit_ = false;
        }
        if (indent > max_indent_) {
            return false;  // the scalar above goes on here: a multi-line scalar
        }
        max_indent_ = SIZE_MAX;
        if (pending_) {
            pending_ = false;
            if (indent > pending_indent_ || (indent == pending_indent_ && is_entry(content))) {
                return open(indent, content);  // the key's value: a block below it
            }
            if (!ok(builder_.scalar({}, false, false, pending_mark_))) {
                return false;  // no value: null
            }
        }
        if (!has_root_) {
            has_root_ = true;
            return indent == 0 && open(0, content);
        }
        while (!open_.empty() && open_.back().indent > indent) {
            if (!close()) {
                return false;
            }
        }
        if (open_.empty() || open_.back().indent != indent) {
            return false;
        }
        if (is_entry(content)) {
            return open_.back().sequence && entry(indent, content);
        }
        if (open_.back().sequence) {
            // A key ends a sequence at its key's indentation.
            if (!close() || open_.empty() || open_.back().sequence ||
                open_.back().indent != indent) {
                return false;
            }
        }
        return key(indent, content);
    }

    static bool is_entry(std::string_view content) {
        return content[0] == '-' && (content.size() == 1 || content[1] == ' ');
    }

    // Whether `content` starts with a key: key characters, then ':' at the end or before a space.
    static size_t key_size(std::string_view content) {
        if ((class_of(content[0]) & kKeyFirst) == 0) {
            return 0;
        }
        size_t i = 1;
        while (i < content.size() && (class_of(content[i]) & kKey) != 0) {
            ++i;
        }
        const bool key = i < content.size() && content[i] == ':' &&
                         (i + 1 == content.size() || content[i + 1] == ' ') && i <= kMaxKey;
        return key ? i : 0;
    }

    // A block mapping or sequence starting with the line's content at `indent`.
    bool open(size_t indent, std::string_view content) {
        const bool sequence = is_entry(content);
        if (!ok(builder_.start(sequence ? DocNode::Kind::Sequence : DocNode::Kind::Mapping,
                               {line_, indent}))) {
            return false;
        }
        open_.push_back({sequence, indent});
        return sequence ? entry(indent, content) : key(indent, content);
    }

    bool close() {
        open_.pop_back();
        return ok(builder_.end({line_, 0}));
    }

    // "- VALUE" or "- KEY: ..." (a mapping in the sequence, at the key's column).
    bool entry(size_t indent, std::string_view content) {
        size_t i = 1;
        while (i < content.size() && content[i] == ' ') {
            ++i;
        }
        if (i == content.size()) {
            return false;  // the item is on the lines below, or null
        }
        const std::string_view rest = content.substr(i);
        if (key_size(rest) != 0) {
            return open(indent + i, rest);
        }
        return !is_entry(rest) && value(rest, indent + i);
    }

    // "KEY:", "KEY: VALUE".
    bool key(size_t indent, std::string_view content) {
        size_t i = key_size(content);
        if (i == 0 || !ok(builder_.scalar(content.substr(0, i), false, copy_, {line_, indent}))) {
            return false;
        }
        ++i;  // the ':'
        if (i == content.size()) {
            pending_ = true;
            pending_indent_ = indent;
            pending_mark_ = {line_, indent + i};
            return true;
        }
        while (i < content.size() && content[i] == ' ') {
            ++i;
        }
        return i < content.size() && value(content.substr(i), indent + i);
    }

    // A scalar, {} or [], which the line ends with.
    bool value(std::string_view text, size_t column) {
        const Mark mark{line_, column};
        max_indent_ = open_.back().indent;
        const char first = text[0];
        if (first == '"' || first == '\'') {
            const size_t close = text.find(first, 1);
            if (close + 1 != text.size()) {
                return false;  // not closed on this line, or more after it ('' included)
            }
            const std::string_view inner = text.substr(1, close - 1);
            if (first == '"' && inner.find('\\') != std::string_view::npos) {
                return false;
            }
            return ok(builder_.scalar(inner, true, copy_, mark));
        }
        if (text == "{}" || text == "[]") {
            const auto kind = first == '{' ? DocNode::Kind::Mapping : DocNode::Kind::Sequence;
            return ok(builder_.start(kind, mark)) && ok(builder_.end(mark));
        }
        const bool dash = first == '-' && text.size() > 1 && (class_of(text[1]) & kKeyFirst) != 0;
        if ((class_of(first) & kKeyFirst) == 0 && !dash) {
            return false;
        }
        for (size_t i = 1; i < text.size(); ++i) {
            const char c = text[i];
            if ((class_of(c) & kPlain) != 0) {
                continue;
            }
            // ':' and spaces only inside, before a plain character: ": ", " #" and trailing
            // spaces end a plain scalar.
            if (c != ':' && c != ' ') {
                return false;
            }
            while (c == ' ' && i + 1 < text.size() && text[i + 1] == ' ') {
                ++i;
            }
            if (i + 1 == text.size() || (class_of(text[i + 1]) & kPlain) == 0) {
                return false;
            }
        }
        return ok(builder_.scalar(text, false, copy_, mark));
    }

    // Closes the document: a key without value is null, an explicit document without content too.
    bool end_document() {
        if (!in_document_) {
            return true;
        }
        in_document_ = false;
        if (pending_) {
            pending_ = false;
            if (!ok(builder_.scalar({}, false, false, pending_mark_))) {
                return false;
            }
        }
        while (!open_.empty()) {
            if (!close()) {
                return false;
            }
        }
        if (!has_root_ && !(explicit_ && ok(builder_.scalar({}, false, false, {line_, 0})))) {
            return false;
        }
        has_root_ = false;
        max_indent_ = SIZE_MAX;
        ++documents_;
        return true;
    }

    static bool ok(const Status& s) { return s.has_value(); }

    std::string_view text_;
    TreeBuilder& builder_;
    bool copy_;
    size_t line_ = 0;  // the line being read, from 0
    std::vector<Block> open_;
    bool in_document_ = false;
    bool explicit_ = false;  // started by "---"
    bool has_root_ = false;
    size_t documents_ = 0;
    // After a scalar ends a line, the next may not be indented more than the scalar's block.
    size_t max_indent_ = SIZE_MAX;
    // A key whose value is below it (a block more indented, or a sequence at its indentation),
    // or null: its mapping's indentation, and where its ':' ends.
    bool pending_ = false;
    size_t pending_indent_ = 0;
    Mark pending_mark_;
};

// Reads `text` with libyaml into `builder`.
Status read_with_libyaml(std::string_view text, TreeBuilder& builder) {
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    struct ParserGuard {
        yaml_parser_t* p;
        ~ParserGuard() { yaml_parser_delete(p); }
    } guard{&parser};

    for (;;) {
        Event e;
        if (!yaml_parser_parse(&parser, &e.event)) {
            return Error{
                fmt::format("{}: invalid YAML: {}{}{}", where(mark_of(parser.problem_mark)),
                            parser.problem ? parser.problem : "invalid YAML",
                            parser.context ? " " : "", parser.context ? parser.context : "")};
        }
        const yaml_event_t& ev = e.event;
        const Mark mark = mark_of(ev.start_mark);
        Status s;
        switch (ev.type) {
            case YAML_STREAM_END_EVENT:
                return {};
            case YAML_DOCUMENT_START_EVENT:
                builder.start_document();
                break;
            case YAML_SCALAR_EVENT:
                s = builder.scalar(
                    std::string_view(reinterpret_cast<const char*>(ev.data.scalar.value),
                                     ev.data.scalar.length),
                    ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE, true, mark,
                    anchor_of(ev.data.scalar.anchor));
                break;
            case YAML_ALIAS_EVENT:
                s = builder.alias(anchor_of(ev.data.alias.anchor), mark);
                break;
            case YAML_SEQUENCE_START_EVENT:
                s = builder.start(DocNode::Kind::Sequence, mark,
                                  anchor_of(ev.data.sequence_start.anchor));
                break;
            case YAML_MAPPING_START_EVENT:
                s = builder.start(DocNode::Kind::Mapping, mark,
                                  anchor_of(ev.data.mapping_start.anchor));
                break;
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT:
                s = builder.end(mark);
                break;
            default:
                break;
        }
        if (!s) {
            return s;
        }
    }
}

}  // namespace

Result<std::vector<DocNode>> parse_yaml_with_libyaml(std::string_view text, DocArena& arena) {
    TreeBuilder builder(arena);
    if (Status s = read_with_libyaml(text, builder); !s) {
        return s.error();
    }
    return builder.take();
}

std::optional<std::vector<DocNode>> read_block_yaml(std::string_view text, DocArena& arena,
                                                    bool text_kept) {
    TreeBuilder builder(arena);
    if (!BlockReader(text, builder, text_kept).read()) {
        return std::nullopt;
    }
    return builder.take();
}

Result<std::vector<DocNode>> parse_yaml(std::string_view text, DocArena& arena, bool text_kept) {
    if (auto documents = read_block_yaml(text, arena, text_kept)) {
        return std::move(*documents);
    }
    return parse_yaml_with_libyaml(text, arena);
}

Status parse_yaml_each(std::string_view text, DocArena& arena, bool text_kept,
                       const YamlDocumentVisitor& each) {
    {
        TreeBuilder builder(arena, &each);
        if (BlockReader(text, builder, text_kept).read()) {
            return {};
        }
        if (!builder.visitor_status()) {
            return builder.visitor_status();
        }
    }
    arena.release();  // the nodes of the document the block reader gave up in
    TreeBuilder builder(arena, &each);
    return read_with_libyaml(text, builder);
}

}  // namespace clusterdns
