#include "server/tcp_stream.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

std::vector<uint8_t> frame(size_t length, uint8_t fill) {
    std::vector<uint8_t> out(2 + length, fill);
    out[0] = static_cast<uint8_t>(length >> 8);
    out[1] = static_cast<uint8_t>(length);
    return out;
}

// A loop of push_back: g++ 12 warns falsely (-Warray-bounds) about vector::insert at -O2.
void append(std::vector<uint8_t>& to, const std::vector<uint8_t>& bytes) {
    for (const uint8_t b : bytes) {
        to.push_back(b);
    }
}

// Feeds `bytes` in pieces of at most `piece` bytes (as reads would) and collects every message.
std::vector<std::vector<uint8_t>> feed(TcpStream& s, const std::vector<uint8_t>& bytes,
                                       size_t piece) {
    std::vector<std::vector<uint8_t>> out;
    size_t done = 0;
    while (done < bytes.size()) {
        const std::span<uint8_t> space = s.input_space();
        if (space.empty()) {
            break;
        }
        const size_t n = std::min({piece, space.size(), bytes.size() - done});
        std::memcpy(space.data(), bytes.data() + done, n);
        s.commit(n);
        done += n;
        for (auto m = s.next(); !m.empty(); m = s.next()) {
            out.emplace_back(m.begin(), m.end());
        }
    }
    return out;
}

TEST_CASE("tcp_stream: pipelined messages come out whole, in order, however the bytes arrive") {
    std::vector<uint8_t> bytes;
    for (uint8_t i = 1; i <= 5; ++i) {
        const auto f = frame(20 + i, i);
        append(bytes, f);
    }
    for (const size_t piece :
         {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{4096}}) {
        CAPTURE(piece);
        TcpStream s;
        const auto messages = feed(s, bytes, piece);
        REQUIRE(messages.size() == 5);
        for (uint8_t i = 1; i <= 5; ++i) {
            CHECK(messages[i - 1] == std::vector<uint8_t>(20 + i, i));
        }
        CHECK_FALSE(s.in_message());
        CHECK_FALSE(s.failed());
    }
}

TEST_CASE("tcp_stream: a partial message is in progress until its last byte") {
    TcpStream s;
    const auto f = frame(30, 7);
    CHECK(feed(s, {f.begin(), f.end() - 1}, 4096).empty());
    CHECK(s.in_message());
    CHECK(feed(s, {f.back()}, 1).size() == 1);
    CHECK_FALSE(s.in_message());
}

TEST_CASE("tcp_stream: a message longer than the inline buffer grows it, up to the cap") {
    for (const size_t length : {TcpStream::kInlineSize - 2, TcpStream::kInlineSize, size_t{4000},
                                TcpStream::kMaxMessage}) {
        CAPTURE(length);
        TcpStream s;
        auto bytes = frame(length, 0xAB);
        const auto small = frame(12, 1);
        append(bytes, small);
        const auto messages = feed(s, bytes, 1000);
        REQUIRE(messages.size() == 2);
        CHECK(messages[0] == std::vector<uint8_t>(length, 0xAB));
        CHECK(messages[1] == std::vector<uint8_t>(12, 1));
        CHECK_FALSE(s.failed());
    }
}

TEST_CASE("tcp_stream: length 0 or over the cap fails the stream") {
    for (const size_t length : {size_t{0}, TcpStream::kMaxMessage + 1, size_t{65535}}) {
        CAPTURE(length);
        TcpStream s;
        const auto good = frame(12, 1);
        std::vector<uint8_t> bytes(good);
        bytes.push_back(static_cast<uint8_t>(length >> 8));
        bytes.push_back(static_cast<uint8_t>(length));
        bytes.resize(bytes.size() + 40, 0);
        const auto messages = feed(s, bytes, 4096);
        CHECK(messages.size() == 1);  // what came before is still answered
        CHECK(s.failed());
        CHECK(s.input_space().empty());
        CHECK(s.next().empty());
    }
}

TEST_CASE("tcp_stream: reset empties it and returns to the inline buffer") {
    TcpStream s;
    const auto big = frame(2000, 3);
    feed(s, {big.begin(), big.begin() + 100}, 4096);
    CHECK(s.in_message());
    s.reset();
    CHECK_FALSE(s.in_message());
    CHECK(s.input_space().size() == TcpStream::kInlineSize);
    CHECK(feed(s, frame(12, 9), 4096).size() == 1);
}

}  // namespace
}  // namespace clusterdns
