#include "dns/types.h"

namespace clusterdns {

namespace {

struct Mnemonic {
    uint16_t type;
    std::string_view name;
};

constexpr Mnemonic kMnemonics[] = {
    {1, "A"},      {2, "NS"},      {5, "CNAME"},  {6, "SOA"},    {12, "PTR"},  {15, "MX"},
    {16, "TXT"},   {28, "AAAA"},   {33, "SRV"},   {35, "NAPTR"}, {39, "DNAME"}, {41, "OPT"},
    {43, "DS"},    {46, "RRSIG"},  {47, "NSEC"},  {48, "DNSKEY"}, {50, "NSEC3"}, {64, "SVCB"},
    {65, "HTTPS"}, {251, "IXFR"},  {252, "AXFR"}, {255, "ANY"}};

constexpr std::string_view kRcodeNames[16] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};

}  // namespace

std::string_view rr_type_name(uint16_t type) noexcept {
    for (const Mnemonic& m : kMnemonics) {
        if (m.type == type) {
            return m.name;
        }
    }
    return {};
}

uint16_t rr_type_from_name(std::string_view name) noexcept {
    for (const Mnemonic& m : kMnemonics) {
        if (m.name == name) {
            return m.type;
        }
    }
    return 0;
}

std::string_view rcode_name(uint8_t rcode) noexcept {
    return rcode < std::size(kRcodeNames) ? kRcodeNames[rcode] : std::string_view("RCODE?");
}

}  // namespace clusterdns
