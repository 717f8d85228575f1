#pragma once
// Every record the zone holds, as the server answers it: for `clusterdns records` and the zone
// files knot can load. Each candidate name (apex, Services, ports, endpoints, reverse names) is
// asked of answer_query() itself, so the list cannot disagree with the answers.

#include <cstdint>
#include <string>
#include <vector>

#include "zone/snapshot.h"

namespace clusterdns {

struct ZoneRecord {
    std::string name;  // presentation form, with the final dot
    std::string type;  // "A", "SRV", ...
    uint32_t ttl = 0;
    std::string data;  // presentation form, as dig prints it
    std::string zone;  // the served zone it belongs to: the cluster domain, in-addr.arpa, ip6.arpa
};

// Sorted by zone, then name, then type; the apex SOA and NS of each zone first.
std::vector<ZoneRecord> list_records(const Snapshot& snapshot);

}  // namespace clusterdns
