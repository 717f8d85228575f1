#include "plugins/loadbalance/loadbalance.h"

#include <algorithm>
#include <cstring>

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

// Moves past the name at the reader's position, compressed or not, without following pointers.
void skip_name(WireReader& r) noexcept {
    for (uint8_t len = r.u8(); len != 0 && r.ok(); len = r.u8()) {
        if ((len & 0xC0) == 0xC0) {
            r.u8();
            return;
        }
        if ((len & 0xC0) != 0) {
            r.fail();
            return;
        }
        r.skip(len);
    }
}

// Whether the owners at `a` and `b` are one name: the same octets (pointers to one place,
// usually), else equal once decompressed.
bool same_owner(std::span<const uint8_t> message, size_t a, size_t a_size, size_t b,
                size_t b_size) noexcept {
    if (a_size == b_size && std::memcmp(&message[a], &message[b], a_size) == 0) {
        return true;
    }
    WireReader ra(message, a);
    WireReader rb(message, b);
    const Name na = Name::read(ra);
    const Name nb = Name::read(rb);
    return ra.ok() && rb.ok() && name_equal(na.wire(), nb.wire());
}

// Reverses the order of the run's records [first, last): each one's TTL, RDLENGTH and RDATA
// (`size` octets, the same for every record of the run) changes place with its mirror's.
void reverse(std::span<uint8_t> message, const uint16_t* tails, size_t first, size_t last,
             size_t size) noexcept {
    while (first + 1 < last) {
        --last;
        std::swap_ranges(&message[tails[first]], &message[tails[first]] + size,
                         &message[tails[last]]);
        ++first;
    }
}

}  // namespace

void rotate_addresses(std::span<uint8_t> response, uint64_t& turns) noexcept {
    if (response.size() < kHeaderSize || response.size() > kMaxMessageSize ||
        (response[2] & 0x80) == 0 || (response[3] & 0x0F) != static_cast<uint8_t>(Rcode::NoError)) {
        return;
    }
    WireReader r(response);
    r.skip(4);
    const uint16_t questions = r.u16();
    const uint16_t answers = r.u16();
    if (answers < 2) {
        return;
    }
    r.skip(4);
    for (uint16_t i = 0; i < questions; ++i) {
        skip_name(r);
        r.skip(4);
    }
    // The run being read: its records' TTL offsets, its first owner, type and class.
    uint16_t tails[kMaxRun];
    size_t count = 0;
    size_t owner = 0;
    size_t owner_size = 0;
    uint16_t run_type = 0;
    uint16_t run_class = 0;
    size_t tail_size = 0;
    const auto rotate_run = [&] {
        if (count >= 2) {
            const size_t start = start_of_turn(turns++, count);
            if (start != 0) {
                // Three reversals make a rotation in place.
                reverse(response, tails, 0, start, tail_size);
                reverse(response, tails, start, count, tail_size);
                reverse(response, tails, 0, count, tail_size);
            }
        }
        count = 0;
    };
    for (uint16_t i = 0; i < answers; ++i) {
        const size_t at = r.pos();
        skip_name(r);
        const size_t at_size = r.pos() - at;
        const uint16_t type = r.u16();
        const uint16_t klass = r.u16();
        const size_t tail = r.pos();
        r.skip(4);
        const uint16_t length = r.u16();
        r.skip(length);
        if (!r.ok()) {
            break;
        }
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
            tail_size = 4 + 2 + length;
        }
    }
    rotate_run();
}

}  // namespace clusterdns
