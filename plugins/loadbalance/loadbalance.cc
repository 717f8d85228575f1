#include "plugins/loadbalance/loadbalance.h"

#include <cstring>
#include <numeric>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace clusterdns {
namespace {

// A 64 KiB message holds at most this many records of 16 octets (a pointer for an owner and an
// IPv4 address): a run never has more.
constexpr size_t kMaxRun = kMaxMessageSize / 16 + 1;

// Where the turn starts a run of `n`: the turn counter through splitmix64's finalizer. The
// counter alone would alias: a client whose A and AAAA questions (getaddrinfo asks both, on one
// socket, so one worker) each take a turn would see its A answers always advanced by two, and a
// run of two never move.
size_t start_of_turn(uint64_t turn, size_t n) noexcept {
    uint64_t z = turn + 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return static_cast<size_t>((z ^ (z >> 31)) % n);
}

// Where the name at `pos` ends, compressed or not (pointers are not followed); 0 if it runs
// past the message or has a label type that does not exist.
size_t after_name(std::span<const uint8_t> message, size_t pos) noexcept {
    while (pos < message.size()) {
        const uint8_t length = message[pos];
        if (length == 0) {
            return pos + 1;
        }
        if ((length & 0xC0) == 0xC0) {
            return pos + 2 <= message.size() ? pos + 2 : 0;
        }
        if ((length & 0xC0) != 0) {
            return 0;
        }
        pos += 1 + length;
    }
    return 0;
}

uint16_t u16_at(std::span<const uint8_t> message, size_t pos) noexcept {
    return static_cast<uint16_t>(message[pos] << 8 | message[pos + 1]);
}

// Whether the owners at `a` and `b` are one name: the same octets (pointers to one place,
// usually), else equal once decompressed.
bool same_owner(std::span<const uint8_t> message, size_t a, size_t a_size, size_t b,
                size_t b_size) noexcept {
    if (a_size == b_size && (a_size == 2 ? u16_at(message, a) == u16_at(message, b)
                                         : std::memcmp(&message[a], &message[b], a_size) == 0)) {
        return true;
    }
    WireReader ra(message, a);
    WireReader rb(message, b);
    const Name na = Name::read(ra);
    const Name nb = Name::read(rb);
    return ra.ok() && rb.ok() && name_equal(na.wire(), nb.wire());
}

// Rotates the run's records so that the one at `start` comes first: each one's TTL, RDLENGTH
// and RDATA (kSize octets, the same for every record of the run) moves, its owner stays. Each
// cycle of places start apart moves one place back, with one record held aside: a move per
// record, of a size known at compile time.
template <size_t kSize>
void rotate_records(uint8_t* message, const uint16_t* tails, size_t count, size_t start) noexcept {
    const size_t cycles = std::gcd(count, start);
    for (size_t first = 0; first < cycles; ++first) {
        uint8_t held[kSize];
        std::memcpy(held, message + tails[first], kSize);
        size_t to = first;
        for (size_t from = first + start;; from += start) {
            if (from >= count) {
                from -= count;
            }
            if (from == first) {
                break;
            }
            std::memcpy(message + tails[to], message + tails[from], kSize);
            to = from;
        }
        std::memcpy(message + tails[to], held, kSize);
    }
}

}  // namespace

void rotate_addresses(std::span<uint8_t> response, uint64_t& turns) noexcept {
    if (response.size() < kHeaderSize || response.size() > kMaxMessageSize ||
        (response[2] & 0x80) == 0 || (response[3] & 0x0F) != static_cast<uint8_t>(Rcode::NoError)) {
        return;
    }
    const uint16_t questions = u16_at(response, 4);
    const uint16_t answers = u16_at(response, 6);
    if (answers < 2) {
        return;
    }
    size_t pos = kHeaderSize;
    for (uint16_t i = 0; i < questions; ++i) {
        pos = after_name(response, pos) + 4;
        if (pos == 4 || pos > response.size()) {
            return;
        }
    }
    // The run being read: its records' TTL offsets, its first owner, type and class.
    uint16_t tails[kMaxRun];
    size_t count = 0;
    size_t owner = 0;
    size_t owner_size = 0;
    uint16_t run_type = 0;
    uint16_t run_class = 0;
    const auto rotate_run = [&] {
        if (count >= 2) {
            const size_t start = start_of_turn(turns++, count);
            if (start != 0 && run_type == static_cast<uint16_t>(RrType::A)) {
                rotate_records<4 + 2 + 4>(response.data(), tails, count, start);
            } else if (start != 0) {
                rotate_records<4 + 2 + 16>(response.data(), tails, count, start);
            }
        }
        count = 0;
    };
    for (uint16_t i = 0; i < answers; ++i) {
        // Owner, TYPE, CLASS, TTL, RDLENGTH, RDATA.
        const size_t at = pos;
        pos = after_name(response, pos);
        if (pos == 0 || response.size() - pos < 10) {
            break;
        }
        const size_t at_size = pos - at;
        const uint16_t type = u16_at(response, pos);
        const uint16_t klass = u16_at(response, pos + 2);
        const size_t tail = pos + 4;
        const uint16_t length = u16_at(response, pos + 8);
        pos += 10;
        if (response.size() - pos < length) {
            break;
        }
        pos += length;
        const bool address = (type == static_cast<uint16_t>(RrType::A) && length == 4) ||
                             (type == static_cast<uint16_t>(RrType::Aaaa) && length == 16);
        if (address && count != 0 && count < kMaxRun && type == run_type && klass == run_class &&
            same_owner(response, owner, owner_size, at, at_size)) {
            tails[count++] = static_cast<uint16_t>(tail);
            continue;
        }
        rotate_run();
        if (address) {
            tails[count++] = static_cast<uint16_t>(tail);
            owner = at;
            owner_size = at_size;
            run_type = type;
            run_class = klass;
        }
    }
    rotate_run();
}

}  // namespace clusterdns
