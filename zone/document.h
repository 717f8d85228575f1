#pragma once
// A parsed YAML or JSON document as a plain, read-only tree: what the Kubernetes object converter
// (zone/convert.h) reads. The manifest source builds it from YAML and the API source will build it
// from JSON, so both feed one converter. Nodes and strings live in the Document's arena, freed in
// one piece.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <memory_resource>
#include <span>
#include <string_view>

namespace clusterdns {

struct DocMember;

struct DocNode {
    enum class Kind : uint8_t { Null, Scalar, Sequence, Mapping };

    Kind kind = Kind::Null;
    bool quoted = false;    // a quoted scalar is always a string, never null, a bool or a number
    uint32_t line = 0;      // 1-based; 0 when unknown
    std::string_view text;  // Scalar
    std::span<const DocNode> items;      // Sequence
    std::span<const DocMember> members;  // Mapping, in document order

    bool is_null() const { return kind == Kind::Null; }
    bool is_scalar() const { return kind == Kind::Scalar; }
    bool is_sequence() const { return kind == Kind::Sequence; }
    bool is_mapping() const { return kind == Kind::Mapping; }

    // The value of `key` in a mapping (merge keys "<<" included), or nullptr.
    const DocNode* find(std::string_view key) const;
};

struct DocMember {
    std::string_view key;
    DocNode value;
};

// Reading a document leniently, for what only looks (the API's watch events, `clusterdns
// check`, `clusterdns explain`): the node at `path` (mapping keys in turn) or nullptr, the text of
// the scalar there or empty, the items of the sequence there or none.
const DocNode* find_path(const DocNode& node, std::initializer_list<std::string_view> path);
std::string_view scalar_at(const DocNode& node, std::initializer_list<std::string_view> path);
std::span<const DocNode> items_at(const DocNode& node, std::initializer_list<std::string_view> path);

// Owns the memory of every node and string of the documents parsed into it.
class DocArena {
public:
    DocArena() = default;
    // Starting with a block of `bytes`, which release() keeps: documents read one at a time,
    // each released once read, reuse it instead of allocating.
    explicit DocArena(size_t bytes) : first_(new std::byte[bytes]), arena_(first_.get(), bytes) {}
    // Frees every node and string at once.
    void release() { arena_.release(); }

    std::pmr::memory_resource* resource() { return &arena_; }
    std::string_view copy(std::string_view text);
    template <class T>
    std::span<const T> copy(std::span<const T> items) {
        if (items.empty()) {
            return {};
        }
        T* out = static_cast<T*>(arena_.allocate(items.size() * sizeof(T), alignof(T)));
        std::uninitialized_copy(items.begin(), items.end(), out);
        return {out, items.size()};
    }

private:
    std::unique_ptr<std::byte[]> first_;
    std::pmr::monotonic_buffer_resource arena_{64 * 1024};
};

}  // namespace clusterdns
