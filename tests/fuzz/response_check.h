#pragma once
// Shared by the codec fuzz targets: walks a response the way a client would and aborts (so
// libFuzzer reports a crash) if it is not a well-formed DNS message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "dns/name.h"
#include "dns/wire.h"

namespace clusterdns::fuzz {

inline void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

// Header counts match the records present, every owner name (and the names inside
// NS/CNAME/PTR/SOA/SRV RDATA) decompresses, each RDATA is exactly RDLENGTH long and nothing
// trails the last record. Returns the header.
struct ResponseHeader {
    uint16_t id, flags, qdcount, ancount, nscount, arcount;
};

inline ResponseHeader check_response(std::span<const uint8_t> msg) {
    WireReader r(msg);
    ResponseHeader h{r.u16(), r.u16(), r.u16(), r.u16(), r.u16(), r.u16()};
    require(r.ok());
    require(h.qdcount <= 1);
    if (h.qdcount == 1) {
        Name::read(r);
        r.u16();
        r.u16();
        require(r.ok());
    }
    const uint32_t records = static_cast<uint32_t>(h.ancount) + h.nscount + h.arcount;
    for (uint32_t i = 0; i < records; ++i) {
        Name::read(r);
        const uint16_t type = r.u16();
        r.u16();
        r.u32();
        const uint16_t rdlength = r.u16();
        require(r.ok() && r.remaining() >= rdlength);
        const size_t rdata_end = r.pos() + rdlength;
        switch (type) {
            case 2:   // NS
            case 5:   // CNAME
            case 12:  // PTR
                Name::read(r);
                break;
            case 6:  // SOA: two names, five 32-bit numbers
                Name::read(r);
                Name::read(r);
                r.skip(20);
                break;
            case 33:  // SRV: priority, weight, port, target (never compressed by us, RFC 2782)
                r.skip(6);
                Name::read(r);
                break;
            default:
                r.skip(rdlength);
                break;
        }
        require(r.ok() && r.pos() == rdata_end);
    }
    require(r.ok() && r.remaining() == 0);
    return h;
}

}  // namespace clusterdns::fuzz
