#pragma once
// Domain names in uncompressed wire form: the one place that reads, writes, lowercases and
// compares them. A Name lives inline (no heap), so the query path can keep them on the stack.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/types.h"
#include "dns/wire.h"

namespace clusterdns {

using WireName = std::span<const uint8_t>;

class Name {
public:
    Name() noexcept { data_[0] = 0; }  // the root name

    // Reads a possibly compressed name at the reader's position in a whole message (RFC 1035
    // 4.1.4). Pointers must point backwards, so loops are impossible. Fails the reader on a
    // malformed or over-long name.
    static Name read(WireReader& r) noexcept;

    // Parses presentation form ("api.example.com." or without the final dot). Cold path: refuses
    // empty labels, labels over 63 octets, names over 255 octets and backslash escapes.
    static Result<Name> from_text(std::string_view text);

    // Copies an uncompressed wire name; returns false if it is not one.
    static bool from_wire(WireName wire, Name& out) noexcept;

    WireName wire() const noexcept { return {data_, size_}; }
    size_t size() const noexcept { return size_; }
    bool is_root() const noexcept { return size_ == 1; }
    size_t label_count() const noexcept;
    std::string to_text() const;  // "a.b.c." ; cold path
    void to_lower() noexcept;
    // Makes this the lowercase form of `other`, copying only its bytes.
    void assign_lower(const Name& other) noexcept;

    // Prepends one label; false if it would be too long.
    bool prepend(std::string_view label) noexcept;

private:
    uint8_t data_[kMaxNameWire];
    uint8_t size_ = 1;
};

// ASCII-only lowercase: DNS names compare case-insensitively in ASCII only (RFC 4343).
constexpr uint8_t lower_ascii(uint8_t c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

// Case-insensitive equality of two uncompressed wire names.
bool name_equal(WireName a, WireName b) noexcept;

// The suffix of a wire name after its first `skip` labels (the root name if skip is too big).
WireName name_parent(WireName name, size_t skip = 1) noexcept;

// Size of the uncompressed wire name at the start of `data` (all of it if it never ends).
size_t name_wire_size(std::span<const uint8_t> data) noexcept;

// Number of labels, not counting the root.
size_t name_label_count(WireName name) noexcept;

// True if `name` equals `zone` or lies below it (case-insensitive).
bool name_in_zone(WireName name, WireName zone) noexcept;

// The first label's text (no length octet).
std::string_view name_first_label(WireName name) noexcept;

// A hash of the lowercased wire form: equal for names that compare equal.
uint64_t name_hash(WireName name) noexcept;

std::string name_to_text(WireName name);

// The names of settings already checked, lowercase, in order; a text that is no name is left out.
std::vector<Name> lowercase_names(std::span<const std::string> texts);

}  // namespace clusterdns
