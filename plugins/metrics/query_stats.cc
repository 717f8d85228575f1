#include "plugins/metrics/query_stats.h"

#include "dns/types.h"

namespace clusterdns {

namespace {

// The types CoreDNS gives a series of their own; the last slot is "other".
constexpr uint16_t kTypes[kQueryTypes - 1] = {1,  28, 2,  5,  6,  12, 15,  16,  33,  35,
                                              43, 46, 47, 48, 50, 64, 65, 251, 252, 255};

}  // namespace

size_t type_slot(uint16_t qtype) noexcept {
    for (size_t i = 0; i < kQueryTypes - 1; ++i) {
        if (kTypes[i] == qtype) {
            return i;
        }
    }
    return kQueryTypes - 1;
}

std::string_view type_slot_name(size_t slot) noexcept {
    return slot < kQueryTypes - 1 ? rr_type_name(kTypes[slot]) : "other";
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
