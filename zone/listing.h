#pragma once
// Every record the zone holds, as the server answers it: for `clusterdns records` and the zone
// files knot can load. Each candidate name (apex, Services, ports, endpoints, reverse names) is
// asked of answer_query() itself, so the list cannot disagree with the answers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zone/snapshot.h"

namespace clusterdns {

struct ZoneRecord {
    std::string name;  // presentation form, with the final dot
    std::string type;  // "A", "SRV", ...
    uint32_t ttl = 0;
    std::string data;  // presentation form, as dig prints it
    std::string zone;  // the served zone it belongs to: the cluster domain, in-addr.arpa, ip6.arpa
    // list_records(): the A or AAAA record of a ClusterIP allocated here (its Service gave none,
    // zone/allocate.h), or its PTR record.
    bool allocated = false;
};

// Sorted by zone, then name, then type; the apex SOA and NS of each zone first.
std::vector<ZoneRecord> list_records(const Snapshot& snapshot);

// One question asked of the zone: whether it is ours, the RCODE, and the answer section.
struct ZoneAnswer {
    bool ours = false;          // false: a name outside the served zones (forwarded)
    std::string rcode;          // "NOERROR", "NXDOMAIN", ...
    std::vector<ZoneRecord> answers;
};
ZoneAnswer ask_zone(const Snapshot& snapshot, const std::string& name, RrType type);

// The reverse name of an address: "4.3.2.1.in-addr.arpa." or the nibbles under ip6.arpa.
std::string reverse_text(const IpAddress& ip);

// "A" -> RrType::A; nullopt for a type it does not know.
std::optional<RrType> rr_type_of(std::string_view text);

}  // namespace clusterdns
