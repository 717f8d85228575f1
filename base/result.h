#pragma once
// Cold-path error handling: a value or an Error. Member names follow std::expected so this can
// become an alias once we build as C++23.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace clusterdns {

struct Error {
    std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const { return state_.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() & { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    const T& value() const& { return std::get<0>(state_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const { return std::get<1>(state_); }

private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

// A value from input made safe to put in a message: quotes, backslashes and control characters
// (NUL included) escaped, and cut after its first bytes when long, so an error is always one
// readable line. escaped() is for names inside a message, quoted() for a value on its own.
constexpr size_t kMaxShown = 64;

inline std::string escaped(std::string_view text) {
    size_t shown = text.size();
    if (shown > kMaxShown) {
        shown = kMaxShown - 8;
        while (shown > 0 && (static_cast<unsigned char>(text[shown]) & 0xC0) == 0x80) {
            --shown;  // never cut a UTF-8 sequence in two
        }
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : text.substr(0, shown)) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += {'\\', c};
        } else if (byte < 0x20 || byte == 0x7F) {
            out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]};
        } else {
            out += c;
        }
    }
    return shown < text.size() ? out + "..." : out;
}

inline std::string quoted(std::string_view text) {
    std::string out = '"' + escaped(text) + '"';
    if (text.size() > kMaxShown) {
        out += " (" + std::to_string(text.size()) + " bytes)";
    }
    return out;
}
// Exact matches for strings, so an unqualified call never picks std::quoted through ADL.
inline std::string quoted(const std::string& text) {
    return quoted(std::string_view(text));
}
inline std::string quoted(const char* text) {
    return quoted(std::string_view(text));
}

}  // namespace clusterdns
