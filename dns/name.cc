#include "dns/name.h"

#include <algorithm>
#include <cstring>

namespace clusterdns {

namespace {

// Eight bytes of a wire name at once, ASCII letters lowercased (SWAR): length octets are below
// 64, so they never look like letters.
uint64_t lower8(uint64_t x) noexcept {
    const uint64_t heptets = x & 0x7F7F7F7F7F7F7F7Full;
    const uint64_t above_z = heptets + 0x2525252525252525ull;  // high bit set if > 'Z'
    const uint64_t from_a = heptets + 0x3F3F3F3F3F3F3F3Full;   // high bit set if >= 'A'
    const uint64_t upper = ~x & (from_a ^ above_z) & 0x8080808080808080ull;
    return x | upper >> 2;  // 0x80 >> 2 is the 0x20 that makes a letter lowercase
}

uint64_t load8(const uint8_t* p) noexcept {
    uint64_t x;
    std::memcpy(&x, p, 8);
    return x;
}

}  // namespace

Name Name::read(WireReader& r) noexcept {
    Name out;
    const std::span<const uint8_t> msg = r.data();
    size_t pos = r.pos();
    size_t end_after_name = 0;  // where the reader resumes: after the first pointer, if any
    size_t out_len = 0;
    size_t earliest = pos;  // pointers must go strictly before every label read so far
    for (;;) {
        if (pos >= msg.size()) {
            r.fail();
            return Name();
        }
        const uint8_t len = msg[pos];
        if ((len & 0xC0) == 0xC0) {
            if (pos + 1 >= msg.size()) {
                r.fail();
                return Name();
            }
            const size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[pos + 1];
            if (end_after_name == 0) {
                end_after_name = pos + 2;
            }
            // A name never starts inside the header: a pointer there is an attack, and would
            // read differently once the ID is rewritten.
            if (target >= earliest || target < kHeaderSize) {
                r.fail();
                return Name();
            }
            earliest = target;
            pos = target;
            continue;
        }
        if ((len & 0xC0) != 0) {  // 0x40 and 0x80 label types are obsolete (RFC 6891 5)
            r.fail();
            return Name();
        }
        if (pos + 1 + len > msg.size() || out_len + 1 + len > kMaxNameWire) {
            r.fail();
            return Name();
        }
        std::memcpy(out.data_ + out_len, msg.data() + pos, 1 + len);
        out_len += 1 + len;
        pos += 1 + len;
        if (len == 0) {
            break;
        }
    }
    out.size_ = static_cast<uint8_t>(out_len);
    const size_t resume = end_after_name != 0 ? end_after_name : pos;
    r.skip(resume - r.pos());
    return out;
}

Result<Name> Name::from_text(std::string_view text) {
    Name out;
    if (text == "." || text.empty()) {
        if (text.empty()) {
            return Error{"empty name"};
        }
        return out;
    }
    if (text.back() == '.') {
        text.remove_suffix(1);
    }
    size_t len = 0;
    while (true) {
        const size_t dot = text.find('.');
        const std::string_view label = text.substr(0, dot);
        if (label.empty()) {
            return Error{"empty label"};
        }
        if (label.size() > kMaxLabel) {
            return Error{"label longer than 63 octets"};
        }
        if (label.find('\\') != std::string_view::npos) {
            return Error{"escapes are not supported"};
        }
        if (len + 1 + label.size() + 1 > kMaxNameWire) {
            return Error{"name longer than 255 octets"};
        }
        out.data_[len] = static_cast<uint8_t>(label.size());
        std::memcpy(out.data_ + len + 1, label.data(), label.size());
        len += 1 + label.size();
        if (dot == std::string_view::npos) {
            break;
        }
        text.remove_prefix(dot + 1);
    }
    out.data_[len] = 0;
    out.size_ = static_cast<uint8_t>(len + 1);
    return out;
}

bool Name::from_wire(WireName wire, Name& out) noexcept {
    size_t pos = 0;
    while (pos < wire.size()) {
        const uint8_t len = wire[pos];
        if (len > kMaxLabel) {
            return false;
        }
        if (len == 0) {
            if (pos + 1 != wire.size()) {
                return false;
            }
            std::memcpy(out.data_, wire.data(), wire.size());
            out.size_ = static_cast<uint8_t>(wire.size());
            return true;
        }
        pos += 1 + len;
        if (pos >= kMaxNameWire) {
            return false;
        }
    }
    return false;
}

size_t Name::label_count() const noexcept {
    return name_label_count(wire());
}

std::string Name::to_text() const {
    return name_to_text(wire());
}

void Name::to_lower() noexcept {
    assign_lower(*this);
}

void Name::assign_lower(const Name& other) noexcept {
    size_t i = 0;
    for (; i + 8 <= other.size_; i += 8) {
        const uint64_t word = lower8(load8(other.data_ + i));
        std::memcpy(data_ + i, &word, 8);
    }
    for (; i < other.size_; ++i) {
        data_[i] = lower_ascii(other.data_[i]);
    }
    size_ = other.size_;
}

bool Name::prepend(std::string_view label) noexcept {
    if (label.empty() || label.size() > kMaxLabel || size_ + 1 + label.size() > kMaxNameWire) {
        return false;
    }
    const size_t shift = 1 + label.size();
    std::memmove(data_ + shift, data_, size_);
    data_[0] = static_cast<uint8_t>(label.size());
    std::memcpy(data_ + 1, label.data(), label.size());
    size_ = static_cast<uint8_t>(size_ + shift);
    return true;
}

bool name_equal(WireName a, WireName b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    size_t i = 0;
    for (; i + 8 <= a.size(); i += 8) {
        const uint64_t x = load8(a.data() + i);
        const uint64_t y = load8(b.data() + i);
        if (x != y && lower8(x) != lower8(y)) {
            return false;
        }
    }
    for (; i < a.size(); ++i) {
        if (lower_ascii(a[i]) != lower_ascii(b[i])) {
            return false;
        }
    }
    return true;
}

WireName name_parent(WireName name, size_t skip) noexcept {
    size_t pos = 0;
    while (skip > 0 && pos < name.size() && name[pos] != 0) {
        pos += 1 + name[pos];
        --skip;
    }
    if (pos >= name.size()) {
        pos = name.size() - 1;
    }
    return name.subspan(pos);
}

size_t name_wire_size(std::span<const uint8_t> data) noexcept {
    size_t pos = 0;
    while (pos < data.size() && data[pos] != 0) {
        pos += 1 + data[pos];
    }
    return std::min(pos + 1, data.size());
}

size_t name_label_count(WireName name) noexcept {
    size_t count = 0;
    for (size_t pos = 0; pos < name.size() && name[pos] != 0; pos += 1 + name[pos]) {
        ++count;
    }
    return count;
}

bool name_in_zone(WireName name, WireName zone) noexcept {
    const size_t name_labels = name_label_count(name);
    const size_t zone_labels = name_label_count(zone);
    if (name_labels < zone_labels) {
        return false;
    }
    return name_equal(name_parent(name, name_labels - zone_labels), zone);
}

std::string_view name_first_label(WireName name) noexcept {
    if (name.empty() || name[0] == 0) {
        return {};
    }
    return {reinterpret_cast<const char*>(name.data() + 1), name[0]};
}

uint64_t name_hash(WireName name) noexcept {
    const auto mix = [](uint64_t h, uint64_t word) {
        h = (h ^ lower8(word)) * 0xFF51AFD7ED558CCDull;
        return h ^ (h >> 32);
    };
    uint64_t h = 0x9E3779B97F4A7C15ull ^ name.size();
    const size_t n = name.size();
    if (n < 8) {
        uint64_t word = 0;
        for (size_t i = 0; i < n; ++i) {
            word |= static_cast<uint64_t>(name[i]) << (8 * i);
        }
        return mix(h, word);
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        h = mix(h, load8(name.data() + i));
    }
    return mix(h, load8(name.data() + n - 8));  // the last word, overlapping the one before
}

std::string name_to_text(WireName name) {
    if (name.size() <= 1) {
        return ".";
    }
    std::string out;
    for (size_t pos = 0; pos < name.size() && name[pos] != 0; pos += 1 + name[pos]) {
        out.append(reinterpret_cast<const char*>(name.data() + pos + 1), name[pos]);
        out.push_back('.');
    }
    return out;
}

std::vector<Name> lowercase_names(std::span<const std::string> texts) {
    std::vector<Name> out;
    for (const std::string& text : texts) {
        if (auto name = Name::from_text(text)) {
            name->to_lower();
            out.push_back(*name);
        }
    }
    return out;
}

}  // namespace clusterdns
