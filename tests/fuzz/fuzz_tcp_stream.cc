// Fuzzes TCP framing and the query path behind it: the input's first two bytes seed the sizes of
// the reads (1 to 700 bytes, so messages straddle reads and outgrow the inline buffer), the rest
// is the byte stream a client sends. Every complete message is answered with handle_query over a
// small zone. Checks: the framer hands out exactly the messages a plain reading of the stream
// finds, byte for byte; it fails exactly when that reading meets a bad length; every reply is a
// well-formed response to its query; replies + dropped (no header, or QR set) = messages.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "dns/message.h"
#include "server/handler.h"
#include "server/tcp_stream.h"
#include "tests/fuzz/response_check.h"
#include "zone/snapshot_build.h"

namespace {

using namespace clusterdns;

std::shared_ptr<const Snapshot> make_zone() {
    Cluster c;
    c.upsert(Namespace{"production"});
    c.upsert(Service{.ns = "production",
                     .name = "api-service",
                     .cluster_ips = {*parse_ip("10.96.10.100")},
                     .ports = {{"http", "tcp", 80}}});
    SnapshotConfig config;
    config.origin = *Name::from_text("cluster.local");
    return build_snapshot(c, std::move(config));
}

size_t read_length(const uint8_t* p) {
    return size_t{p[0]} << 8 | p[1];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::shared_ptr<const Snapshot> zone = make_zone();
    static WorkerStats stats;
    static uint8_t out[kMaxMessageSize];
    if (size < 2) {
        return 0;
    }
    uint32_t seed = (uint32_t{data[0]} << 8 | data[1]) + 1;
    const std::span<const uint8_t> stream = std::span(data, size).subspan(2);

    TcpStream framer;
    size_t fed = 0;       // bytes of `stream` given to the framer
    size_t expected = 0;  // where the next message starts in `stream`, by a plain reading
    size_t messages = 0;
    size_t replies = 0;
    size_t dropped = 0;
    while (fed < stream.size()) {
        const std::span<uint8_t> space = framer.input_space();
        if (space.empty()) {
            break;
        }
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        const size_t n = std::min({size_t{seed % 700} + 1, space.size(), stream.size() - fed});
        std::memcpy(space.data(), stream.data() + fed, n);
        framer.commit(n);
        fed += n;
        for (auto message = framer.next(); !message.empty(); message = framer.next()) {
            // The same message the plain reading finds next, at the same bytes.
            fuzz::require(expected + 2 <= fed);
            const size_t length = read_length(stream.data() + expected);
            fuzz::require(length == message.size() && expected + 2 + length <= fed);
            fuzz::require(std::memcmp(message.data(), stream.data() + expected + 2, length) == 0);
            expected += 2 + length;
            ++messages;
            const size_t reply = handle_query(zone.get(), message, out, Transport::Tcp, stats).size;
            if (reply == 0) {
                fuzz::require(message.size() < 12 || (message[2] & 0x80) != 0);
                ++dropped;
                continue;
            }
            ++replies;
            const fuzz::ResponseHeader h = fuzz::check_response({out, reply});
            fuzz::require(h.id == read_length(message.data()));
            fuzz::require((h.flags & 0x8000) != 0);  // QR
        }
    }
    fuzz::require(replies + dropped == messages);
    // What is left: a bad length (failed), an incomplete message (in progress), or nothing.
    const size_t left = fed - expected;
    const bool bad_length =
        left >= 2 && (read_length(stream.data() + expected) == 0 ||
                      read_length(stream.data() + expected) > TcpStream::kMaxMessage);
    fuzz::require(framer.failed() == bad_length);
    fuzz::require(framer.failed() || framer.in_message() == (left > 0));
    fuzz::require(framer.failed() || fed == stream.size());
    return 0;
}
