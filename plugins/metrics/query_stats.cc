#include "plugins/metrics/query_stats.h"

#include "dns/types.h"
#include "plugins/chain.h"

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

std::string_view responder_name(Responder r) noexcept {
    switch (r) {
        case Responder::Kubernetes:
            return link_name(Link::Kubernetes);
        case Responder::Forward:
            return link_name(Link::Forward);
        case Responder::Cache:
            return link_name(Link::Cache);
        case Responder::Hosts:
            return link_name(Link::Hosts);
        case Responder::Server:
            break;
    }
    return "";
}

}  // namespace clusterdns
