// Fuzzes the whole query path: handle_query over a small fixed snapshot, on UDP and TCP. A response
// must parse back, fit its transport's limit and echo the query id.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "dns/message.h"
#include "server/handler.h"
#include "tests/fuzz/response_check.h"
#include "zone/snapshot_build.h"

namespace {

using namespace clusterdns;

IpAddress ip(const char* text) {
    return *parse_ip(text);
}

// Built once, with the names the seed queries ask for (from examples/): a dual-stack ClusterIP
// Service with named ports, a headless Service with endpoints (with and without hostname, one
// not ready), an ExternalName, and a pod.
std::shared_ptr<const Snapshot> make_zone() {
    Cluster c;
    c.upsert(Namespace{"production"});
    c.upsert(Service{.ns = "production",
                     .name = "api-service",
                     .cluster_ips = {ip("10.96.10.100"), ip("fd00:10:96::a65")},
                     .ports = {{"http", "tcp", 80}, {"dns", "udp", 53}}});
    c.upsert(Service{.ns = "production",
                     .name = "postgres",
                     .headless = true,
                     .ports = {{"postgres", "tcp", 5432}}});
    c.upsert(EndpointSet{.ns = "production",
                         .name = "postgres-x1",
                         .service = "postgres",
                         .endpoints = {{{ip("10.244.1.5")}, "postgres-0", true},
                                       {{ip("10.244.1.6")}, "", true},
                                       {{ip("fd00::6")}, "postgres-2", false}},
                         .ports = {{"postgres", "tcp", 5432}}});
    c.upsert(Service{.ns = "production",
                     .name = "db-service",
                     .type = ServiceType::ExternalName,
                     .external_name = "db.example.com"});
    c.upsert(Pod{"production", "web-1", {ip("10.244.1.5")}});
    SnapshotConfig config;
    config.origin = *Name::from_text("cluster.local");
    config.ns_addresses = {ip("127.0.0.1")};
    return build_snapshot(c, std::move(config));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::shared_ptr<const Snapshot> zone = make_zone();
    static WorkerStats stats;
    static uint8_t out[kMaxMessageSize];
    const std::span<const uint8_t> packet(data, size);
    Query q;
    parse_query(packet, q);
    for (const Transport t : {Transport::Udp, Transport::Tcp}) {
        const size_t n = handle_query(zone.get(), packet, out, t, stats).size;
        if (n == 0) {
            continue;
        }
        // RFC 6891 6.2.5 / RFC 1035 4.2.1: over UDP, 512 without EDNS, else what both sides take.
        const size_t limit = t == Transport::Tcp ? kMaxMessageSize
                             : q.has_edns ? std::min<size_t>(q.udp_payload_size, kMaxUdpResponse)
                                          : kClassicUdpSize;
        fuzz::require(n <= limit);
        const fuzz::ResponseHeader h = fuzz::check_response({out, n});
        fuzz::require(size < 2 || h.id == (data[0] << 8 | data[1]));
        fuzz::require((h.flags & 0x8000) != 0);  // QR
    }
    return 0;
}
