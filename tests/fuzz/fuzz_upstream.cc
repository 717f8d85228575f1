// Fuzzes what the server does with an upstream's response, which it cannot trust: the cache keeps
// it and serves it again (TTLs patched in place), the forwarded response takes it to the client,
// and an ExternalName chase copies its answer records after the zone's CNAME. Whatever reaches a
// client must be a well-formed message within its transport's limit, with the client's id.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "plugins/cache/cache.h"
#include "dns/message.h"
#include "server/handler.h"
#include "tests/fuzz/response_check.h"
#include "zone/snapshot_build.h"

namespace {

using namespace clusterdns;

std::shared_ptr<const Snapshot> make_zone() {
    Cluster c;
    c.upsert(Service{.ns = "shop",
                     .name = "web-ext",
                     .type = ServiceType::ExternalName,
                     .external_name = "www.example.test"});
    SnapshotConfig config;
    config.origin = *Name::from_text("cluster.local");
    return build_snapshot(c, std::move(config));
}

// A query as a client sends it: id 0x1234, RD, the name, type A, and an OPT when `edns`.
std::vector<uint8_t> client_query(std::initializer_list<std::string_view> labels, bool edns) {
    std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? uint8_t{1} : uint8_t{0}};
    for (const std::string_view label : labels) {
        q.push_back(static_cast<uint8_t>(label.size()));
        q.insert(q.end(), label.begin(), label.end());
    }
    q.insert(q.end(), {0, 0, 1, 0, 1});
    if (edns) {
        q.insert(q.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0});
    }
    return q;
}

void check(std::span<const uint8_t> out, size_t n, size_t limit) {
    if (n == 0) {
        return;
    }
    clusterdns::fuzz::require(n <= limit);
    const clusterdns::fuzz::ResponseHeader h = clusterdns::fuzz::check_response(out.first(n));
    clusterdns::fuzz::require(h.id == 0x1234);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::shared_ptr<const Snapshot> zone = make_zone();
    static uint8_t out[kMaxMessageSize];
    const std::span<const uint8_t> response(data, size);
    for (const bool edns : {false, true}) {
        const std::vector<uint8_t> www = client_query({"www", "example", "test"}, edns);
        Query q;
        clusterdns::fuzz::require(parse_query(www, q) == ParseStatus::Ok);
        for (const Transport t : {Transport::Udp, Transport::Tcp}) {
            check(out, forwarded_response(www, response, out, t), response_limit(q, t));
        }
        AnswerCache cache({.capacity = 4});  // a larger index would cost every input
        cache.store(q, response, 1000);
        check(out, cache.lookup(q, 3000, out, kMaxUdpResponse), kMaxUdpResponse);

        const std::vector<uint8_t> ext =
            client_query({"web-ext", "shop", "svc", "cluster", "local"}, edns);
        Query eq;
        clusterdns::fuzz::require(parse_query(ext, eq) == ParseStatus::Ok);
        for (const Transport t : {Transport::Udp, Transport::Tcp}) {
            check(out, chased_response(zone.get(), eq, nullptr, response, out, t),
                  response_limit(eq, t));
        }
    }
    return 0;
}
