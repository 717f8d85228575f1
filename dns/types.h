#pragma once
// DNS constants (RFC 1035, 2782, 3596, 6891). Enumerators are PascalCase because the RFC
// mnemonics collide with <arpa/nameser_compat.h> macros.

#include <cstdint>
#include <string_view>

namespace clusterdns {

enum class RrType : uint16_t {
    A = 1,
    Ns = 2,
    Cname = 5,
    Soa = 6,
    Ptr = 12,
    Mx = 15,
    Txt = 16,
    Aaaa = 28,
    Srv = 33,
    Dname = 39,
    Opt = 41,
    Rrsig = 46,
    Ixfr = 251,
    Axfr = 252,
    Any = 255,
};

enum class RrClass : uint16_t {
    In = 1,
    Ch = 3,
    Hs = 4,
    None = 254,
    Any = 255,
};

enum class Opcode : uint8_t {
    Query = 0,
};

// Extended RCODEs (> 15) carry their upper 8 bits in the OPT record (RFC 6891 6.1.3).
enum class Rcode : uint16_t {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    BadVers = 16,
};

enum class Section : uint8_t { Answer, Authority, Additional };

constexpr uint16_t kHeaderSize = 12;
constexpr uint16_t kMaxNameWire = 255;
constexpr uint16_t kMaxLabel = 63;
constexpr uint16_t kClassicUdpSize = 512;    // RFC 1035 4.2.1
constexpr uint16_t kMaxMessageSize = 65535;  // TCP frames carry a 16-bit length

// Presentation names, as dig prints them: a type's mnemonic ("A", "SRV"; empty for one without,
// printed TYPEnn as RFC 3597 has it), the type a mnemonic names (0: none), a header RCODE's name.
std::string_view rr_type_name(uint16_t type) noexcept;
uint16_t rr_type_from_name(std::string_view name) noexcept;
std::string_view rcode_name(uint8_t rcode) noexcept;

}  // namespace clusterdns
