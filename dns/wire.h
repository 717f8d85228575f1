#pragma once
// Bounds-checked cursors over wire data with a sticky error: every read or write past the end
// sets ok() to false and yields zeros, so a parser checks once at the end (as knot's wire_ctx).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace clusterdns {

class WireReader {
public:
    explicit WireReader(std::span<const uint8_t> data, size_t pos = 0) noexcept
        : data_(data), pos_(pos), ok_(pos <= data.size()) {}

    uint8_t u8() noexcept {
        if (!need(1)) {
            return 0;
        }
        return data_[pos_++];
    }
    uint16_t u16() noexcept {
        if (!need(2)) {
            return 0;
        }
        uint16_t v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    uint32_t u32() noexcept {
        uint32_t hi = u16();
        return hi << 16 | u16();
    }
    void skip(size_t n) noexcept {
        if (need(n)) {
            pos_ += n;
        }
    }

    bool ok() const noexcept { return ok_; }
    void fail() noexcept { ok_ = false; }
    size_t pos() const noexcept { return pos_; }
    size_t remaining() const noexcept { return ok_ ? data_.size() - pos_ : 0; }
    std::span<const uint8_t> data() const noexcept { return data_; }

private:
    bool need(size_t n) noexcept {
        if (!ok_ || data_.size() - pos_ < n) {
            ok_ = false;
            return false;
        }
        return true;
    }

    std::span<const uint8_t> data_;
    size_t pos_;
    bool ok_;
};

class WireWriter {
public:
    explicit WireWriter(std::span<uint8_t> out) noexcept : out_(out) {}

    void u8(uint8_t v) noexcept {
        if (need(1)) {
            out_[pos_++] = v;
        }
    }
    void u16(uint16_t v) noexcept {
        if (need(2)) {
            out_[pos_] = static_cast<uint8_t>(v >> 8);
            out_[pos_ + 1] = static_cast<uint8_t>(v);
            pos_ += 2;
        }
    }
    void u32(uint32_t v) noexcept {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    }
    void bytes(std::span<const uint8_t> b) noexcept {
        if (need(b.size())) {
            if (!b.empty()) {
                std::memcpy(out_.data() + pos_, b.data(), b.size());
            }
            pos_ += b.size();
        }
    }
    // Overwrites two bytes already written (RDLENGTH, header counts).
    void patch_u16(size_t at, uint16_t v) noexcept {
        if (at + 2 <= pos_) {
            out_[at] = static_cast<uint8_t>(v >> 8);
            out_[at + 1] = static_cast<uint8_t>(v);
        }
    }

    bool ok() const noexcept { return ok_; }
    size_t pos() const noexcept { return pos_; }
    // Rolls back to an earlier position and clears the error: used to drop an RR that did not fit.
    void rewind(size_t pos) noexcept {
        pos_ = pos;
        ok_ = true;
    }
    size_t capacity() const noexcept { return out_.size(); }
    std::span<uint8_t> buffer() const noexcept { return out_; }

private:
    bool need(size_t n) noexcept {
        if (!ok_ || out_.size() - pos_ < n) {
            ok_ = false;
            return false;
        }
        return true;
    }

    std::span<uint8_t> out_;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace clusterdns
