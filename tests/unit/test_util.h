#pragma once
// Helpers shared by the unit tests: loading captured packets, building queries, and decoding
// responses independently of the codec under test (its own decompressor, so a writer bug cannot
// hide behind the same reader).

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "zone/snapshot.h"

namespace clusterdns::test {

// Reads tests/data/NAME: hex digits, whitespace ignored, '#' starts a comment line.
std::vector<uint8_t> load_hex(std::string_view name);

// Concatenates byte strings (RDATA built from parts). A loop of push_back, because g++ 12 warns
// falsely (-Warray-bounds) about vector::insert of a small vector at -O2.
std::vector<uint8_t> concat(std::initializer_list<std::span<const uint8_t>> parts);

// Builds a query packet: header, one question, and an OPT record if `edns_version` >= 0.
struct QuerySpec {
    std::string name;
    uint16_t type = 1;
    uint16_t qclass = 1;
    int edns_version = -1;  // -1: no OPT
    uint16_t udp_size = 1232;
    bool dnssec_ok = false;
    uint16_t id = 0x1234;
    uint16_t flags = 0x0100;  // RD
};
std::vector<uint8_t> make_query(const QuerySpec& spec);

struct DecodedRr {
    std::string owner;  // presentation form, as on the wire (case kept), "a.b."
    uint16_t type = 0;
    uint16_t rrclass = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;  // raw, possibly with compression pointers
    std::string text;            // decoded RDATA: "10.0.0.1", "0 100 80 svc.", "\"1.1.0\""...
    size_t owner_offset = 0;     // where the owner starts in the message
};

struct Decoded {
    bool ok = false;
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t qdcount = 0;
    std::string qname;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    std::vector<DecodedRr> answer, authority, additional;

    uint16_t rcode() const { return flags & 0xF; }
    bool qr() const { return (flags & 0x8000) != 0; }
    bool aa() const { return (flags & 0x0400) != 0; }
    bool tc() const { return (flags & 0x0200) != 0; }
    bool rd() const { return (flags & 0x0100) != 0; }
    bool ra() const { return (flags & 0x0080) != 0; }
    uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xF); }
    // The additional records other than OPT, and the OPT record if any.
    std::vector<DecodedRr> additional_without_opt() const;
    const DecodedRr* opt() const;
};

// Decodes a whole response; ok is false if anything is malformed or bytes are left over.
Decoded decode(std::span<const uint8_t> message);

// "answer A 10.0.0.1" style lines for whole-section assertions, in message order.
std::vector<std::string> texts(const std::vector<DecodedRr>& rrs);

// parse_query + ResponseWriter + answer_query, as the front end does, and decode the result.
// `limit` is the response size limit (65535 as over TCP by default).
Decoded ask(const Snapshot& snapshot, const QuerySpec& spec, size_t limit = 65535);
Decoded ask(const Snapshot& snapshot, std::string_view name, uint16_t type, size_t limit = 65535);

// The configuration of a test snapshot: the cluster domain `origin` (lowercased), TTL 30.
SnapshotConfig snapshot_config(std::string_view origin = "cluster.local");

}  // namespace clusterdns::test
