// Fuzzes loadbalance's rotation (plugins/loadbalance), which runs on every response sent,
// forwarded ones included: whatever the message, it reads and writes only inside it; a
// well-formed response stays well-formed, with its header, question, authority and additional
// sections unchanged and the same answer records, only reordered. Except where a compression
// pointer aims into an address record's TTL, RDLENGTH or address, which moves: no encoder writes
// one (a pointer names an earlier name), and the rotation does not look for them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "dns/message.h"
#include "plugins/loadbalance/loadbalance.h"
#include "tests/fuzz/response_check.h"

namespace {

using namespace clusterdns;

struct Record {
    std::vector<uint8_t> owner;  // decompressed, lowercased
    uint16_t type;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
    auto operator<=>(const Record&) const = default;
};

struct Range {
    size_t begin, end;
};

// The answer records, and where the answer section ends; false if the message is not one.
// `moving`, when given, gets the TTL-to-RDATA-end range of each A and AAAA record.
bool answers(std::span<const uint8_t> message, std::vector<Record>& out, size_t& end,
             std::vector<Range>* moving = nullptr) {
    WireReader r(message);
    r.skip(4);
    const uint16_t questions = r.u16();
    const uint16_t count = r.u16();
    r.skip(4);
    for (uint16_t i = 0; i < questions; ++i) {
        Name::read(r);
        r.skip(4);
    }
    uint8_t buf[kMaxNamedRdata];
    for (uint16_t i = 0; i < count && r.ok(); ++i) {
        WireRecord rr;
        if (!read_record(r, buf, rr)) {
            return false;
        }
        const bool address = (rr.type == RrType::A && rr.rdata.size() == 4) ||
                             (rr.type == RrType::Aaaa && rr.rdata.size() == 16);
        if (moving != nullptr && address) {
            moving->push_back({r.pos() - rr.rdata.size() - 6, r.pos()});
        }
        Name owner = rr.owner;
        owner.to_lower();
        out.push_back({{owner.wire().begin(), owner.wire().end()},
                       static_cast<uint16_t>(rr.type),
                       rr.ttl,
                       {rr.rdata.begin(), rr.rdata.end()}});
    }
    end = r.pos();
    return r.ok();
}

bool inside(const std::vector<Range>& ranges, size_t begin, size_t end) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const Range& r) { return begin < r.end && r.begin < end; });
}

// Whether a name read from any two octets that look like a compression pointer (octets of RDATA
// that only look like one count too: a few inputs fewer are checked) reads octets in `ranges`.
bool points_into(std::span<const uint8_t> message, const std::vector<Range>& ranges) {
    for (size_t i = kHeaderSize; i + 1 < message.size(); ++i) {
        if ((message[i] & 0xC0) != 0xC0) {
            continue;
        }
        size_t pos = (message[i] & 0x3F) << 8 | message[i + 1];
        for (int hops = 0; pos < message.size() && hops < 256; ++hops) {
            const uint8_t length = message[pos];
            if ((length & 0xC0) == 0xC0) {
                if (inside(ranges, pos, pos + 2) || pos + 1 >= message.size()) {
                    return inside(ranges, pos, pos + 2);
                }
                pos = (length & 0x3F) << 8 | message[pos + 1];
                continue;
            }
            if (inside(ranges, pos, pos + 1 + length)) {
                return true;
            }
            if (length == 0) {
                break;
            }
            pos += 1 + length;
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > kMaxMessageSize) {
        return 0;
    }
    std::vector<uint8_t> message(data, data + size);
    const bool well_formed = well_formed_response(message);
    // Turned as a response: QR set and NOERROR, or it is left as it is.
    if (size >= 4) {
        message[2] |= 0x80;
        message[3] &= 0xF0;
    }
    const std::vector<uint8_t> before = message;
    std::vector<Record> records_before;
    size_t end_before = 0;
    std::vector<Range> moving;
    const bool readable = answers(before, records_before, end_before, &moving);
    uint64_t turns = size;
    for (int i = 0; i < 3; ++i) {
        rotate_addresses(message, turns);
    }
    fuzz::require(message.size() == before.size());
    if (!well_formed || !readable || points_into(before, moving)) {
        return 0;
    }
    fuzz::check_response(message);
    std::vector<Record> records_after;
    size_t end_after = 0;
    fuzz::require(answers(message, records_after, end_after));
    fuzz::require(end_after == end_before);
    std::sort(records_before.begin(), records_before.end());
    std::sort(records_after.begin(), records_after.end());
    fuzz::require(records_before == records_after);
    // Everything but the answer section's records is untouched: header, question, the rest.
    WireReader r(before);
    r.skip(kHeaderSize);
    for (uint16_t i = 0; i < (before[4] << 8 | before[5]); ++i) {
        Name::read(r);
        r.skip(4);
    }
    fuzz::require(std::memcmp(message.data(), before.data(), r.pos()) == 0);
    fuzz::require(std::memcmp(message.data() + end_before, before.data() + end_before,
                              before.size() - end_before) == 0);
    return 0;
}
