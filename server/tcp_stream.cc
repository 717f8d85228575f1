#include "server/tcp_stream.h"

#include <cassert>
#include <cstring>
#include <new>

namespace clusterdns {
namespace {

size_t read_length(const uint8_t* p) {
    return size_t{p[0]} << 8 | p[1];
}

bool valid_length(size_t length) {
    return length != 0 && length <= TcpStream::kMaxMessage;
}

}  // namespace

std::span<uint8_t> TcpStream::input_space() noexcept {
    if (failed_) {
        return {};
    }
    uint8_t* d = data();
    if (begin_ > 0) {
        std::memmove(d, d + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ >= 2) {
        const size_t length = read_length(d);
        if (!valid_length(length)) {
            failed_ = true;
            return {};
        }
        if (2 + length > capacity_) {
            // Sized to this message: a client cannot make us hold more than it announced.
            std::unique_ptr<uint8_t[]> grown(new (std::nothrow) uint8_t[2 + length]);
            if (!grown) {
                failed_ = true;
                return {};
            }
            std::memcpy(grown.get(), d, end_);
            heap_ = std::move(grown);
            capacity_ = 2 + length;
            d = heap_.get();
        }
    }
    return {d + end_, capacity_ - end_};
}

void TcpStream::commit(size_t n) noexcept {
    assert(n <= capacity_ - end_);
    end_ += n;
}

std::span<const uint8_t> TcpStream::next() noexcept {
    if (failed_ || end_ - begin_ < 2) {
        return {};
    }
    const uint8_t* p = data() + begin_;
    const size_t length = read_length(p);
    if (!valid_length(length)) {
        failed_ = true;
        return {};
    }
    if (end_ - begin_ < 2 + length) {
        return {};
    }
    begin_ += 2 + length;
    return {p + 2, length};
}

void TcpStream::reset() noexcept {
    heap_.reset();
    capacity_ = kInlineSize;
    begin_ = 0;
    end_ = 0;
    failed_ = false;
}

}  // namespace clusterdns
