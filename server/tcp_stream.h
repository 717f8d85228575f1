#pragma once
// DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 6.2.1.1): every message is preceded by its length
// in two bytes, and a client may pipeline many. TcpStream collects the bytes one connection reads
// and hands out whole messages. No sockets and no libuv here, so it can be unit-tested and fuzzed
// on its own.
//
// Memory: most queries are under 100 bytes, so the buffer starts inline and small; it moves to the
// heap only when a message announces a length that does not fit, up to kMaxMessage.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace clusterdns {

class TcpStream {
public:
    static constexpr size_t kInlineSize = 512;
    // A longer length cannot be a query we answer: the stream fails and the connection closes.
    static constexpr size_t kMaxMessage = 16 * 1024 - 2;

    TcpStream() = default;
    TcpStream(const TcpStream&) = delete;
    TcpStream& operator=(const TcpStream&) = delete;

    // Where the next bytes read go; empty once failed(). Moves what is left of a partly read
    // message to the front first, and grows the buffer (the only allocation) when that message is
    // longer than the buffer. Fails if that allocation fails.
    std::span<uint8_t> input_space() noexcept;
    // `n` bytes were written at the start of the last input_space().
    void commit(size_t n) noexcept;

    // The next complete message, consumed; empty when none is complete (or failed()). The bytes
    // stay valid until the next input_space() or reset().
    std::span<const uint8_t> next() noexcept;

    // A message announced length 0 or more than kMaxMessage: nothing more comes out.
    bool failed() const noexcept { return failed_; }
    // Once next() returned empty: some bytes of a message not yet complete are buffered.
    bool in_message() const noexcept { return end_ > begin_; }

    // Empty again, back to the inline buffer (frees a grown one).
    void reset() noexcept;

private:
    uint8_t* data() noexcept { return heap_ ? heap_.get() : inline_; }

    std::unique_ptr<uint8_t[]> heap_;  // set once a message did not fit inline
    size_t capacity_ = kInlineSize;
    size_t begin_ = 0;  // first byte not handed out yet
    size_t end_ = 0;    // one past the last byte read
    bool failed_ = false;
    uint8_t inline_[kInlineSize];
};

}  // namespace clusterdns
