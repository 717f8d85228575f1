#include "plugins/metrics/query_stats.h"

namespace clusterdns {

namespace {

struct TypeName {
    uint16_t type;
    const char* name;
};

// The types CoreDNS gives a series of their own; the last slot is "other".
constexpr TypeName kTypes[kQueryTypes - 1] = {
    {1, "A"},       {28, "AAAA"},  {2, "NS"},     {5, "CNAME"},   {6, "SOA"},
    {12, "PTR"},    {15, "MX"},    {16, "TXT"},   {33, "SRV"},    {35, "NAPTR"},
    {43, "DS"},     {46, "RRSIG"}, {47, "NSEC"},  {48, "DNSKEY"}, {50, "NSEC3"},
    {64, "SVCB"},   {65, "HTTPS"}, {251, "IXFR"}, {252, "AXFR"},  {255, "ANY"}};

constexpr const char* kRcodeNames[kRcodes] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};

}  // namespace

size_t type_slot(uint16_t qtype) noexcept {
    for (size_t i = 0; i < kQueryTypes - 1; ++i) {
        if (kTypes[i].type == qtype) {
            return i;
        }
    }
    return kQueryTypes - 1;
}

const char* type_slot_name(size_t slot) noexcept {
    return slot < kQueryTypes - 1 ? kTypes[slot].name : "other";
}

const char* rcode_name(size_t rcode) noexcept {
    return rcode < kRcodes ? kRcodeNames[rcode] : "other";
}

const char* responder_name(Responder r) noexcept {
    switch (r) {
        case Responder::Kubernetes:
            return "kubernetes";
        case Responder::Forward:
            return "forward";
        case Responder::Cache:
            return "cache";
        case Responder::Server:
            break;
    }
    return "";
}

}  // namespace clusterdns
