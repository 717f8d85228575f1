// Answers synthesized from a snapshot built by build_snapshot() out of a Cluster made in code,
// asked the way the front end asks: parse_query, ResponseWriter, answer_query. The fixture
// follows CoreDNS's plugin/kubernetes/handler_test.go (svc1, svc6, hdls1, external...), the
// behaviour we match.

#include "zone/answer.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/unit/test_util.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"

namespace clusterdns {
namespace {

using test::ask;
using test::Decoded;
using test::texts;
using Lines = std::vector<std::string>;

constexpr uint16_t kA = 1, kNs = 2, kCname = 5, kSoa = 6, kPtr = 12, kMx = 15, kTxt = 16,
                   kAaaa = 28, kSrv = 33, kAxfr = 252, kIxfr = 251, kHinfo = 13;
constexpr uint16_t kNoError = 0, kServFail = 2, kNxDomain = 3, kRefused = 5;

IpAddress ip(std::string_view text) {
    auto parsed = parse_ip(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

ServicePort port(std::string name, uint16_t number, std::string protocol = "tcp") {
    return {.name = std::move(name), .protocol = std::move(protocol), .port = number};
}

Service cluster_ip(std::string ns, std::string name, std::vector<std::string> ips,
                   std::vector<ServicePort> ports) {
    Service s;
    s.ns = std::move(ns);
    s.name = std::move(name);
    for (const auto& text : ips) {
        s.cluster_ips.push_back(ip(text));
    }
    s.ports = std::move(ports);
    return s;
}

Service headless(std::string ns, std::string name, std::vector<ServicePort> ports) {
    Service s;
    s.ns = std::move(ns);
    s.name = std::move(name);
    s.headless = true;
    s.ports = std::move(ports);
    return s;
}

Service external(std::string ns, std::string name, std::string target) {
    Service s;
    s.ns = std::move(ns);
    s.name = std::move(name);
    s.type = ServiceType::ExternalName;
    s.external_name = std::move(target);
    return s;
}

Endpoint endpoint(std::string address, std::string hostname = "", bool ready = true) {
    return {.addresses = {ip(address)}, .hostname = std::move(hostname), .ready = ready};
}

EndpointSet slice(std::string ns, std::string name, std::string service,
                  std::vector<Endpoint> endpoints, std::vector<ServicePort> ports,
                  bool legacy = false) {
    return {.ns = std::move(ns),
            .name = std::move(name),
            .service = std::move(service),
            .legacy = legacy,
            .endpoints = std::move(endpoints),
            .ports = std::move(ports)};
}

Cluster fixture() {
    Cluster c;
    c.upsert(Namespace{"testns"});
    c.upsert(Namespace{"podns"});
    c.upsert(cluster_ip("testns", "svc1", {"10.0.0.1"}, {port("http", 80)}));
    c.upsert(
        slice("testns", "svc1-abcde", "svc1", {endpoint("172.0.0.1", "ep1a")}, {port("http", 80)}));
    c.upsert(cluster_ip("testns", "svc6", {"1234:abcd::1"}, {port("http", 80)}));
    c.upsert(cluster_ip("testns", "svc-dual-stack", {"10.0.0.3", "10::3"}, {port("http", 80)}));
    c.upsert(cluster_ip("testns", "svcempty", {"10.0.0.4"}, {port("http", 80)}));
    c.upsert(
        cluster_ip("testns", "multiport", {"10.0.0.5"},
                   {port("http", 80), port("https", 443), port("", 8080), port("dns", 53, "udp")}));
    c.upsert(headless("testns", "hdls1", {port("http", 80)}));
    c.upsert(slice("testns", "hdls1-v4", "hdls1",
                   {endpoint("172.0.0.2"), endpoint("172.0.0.3"), endpoint("172.0.0.4", "dup-name"),
                    endpoint("172.0.0.5", "dup-name")},
                   {port("http", 80)}));
    c.upsert(slice("testns", "hdls1-v6", "hdls1",
                   {endpoint("5678:abcd::1"), endpoint("5678:abcd::2")}, {port("http", 80)}));
    c.upsert(headless("testns", "hdls-unready", {port("http", 80)}));
    c.upsert(slice("testns", "hdls-unready-1", "hdls-unready", {endpoint("172.0.1.1", "", false)},
                   {port("http", 80)}));
    Service published = headless("testns", "hdls-published", {port("http", 80)});
    published.publish_not_ready_addresses = true;
    c.upsert(published);
    c.upsert(slice("testns", "hdls-published-1", "hdls-published",
                   {endpoint("172.0.2.1", "", false), endpoint("172.0.2.2")}, {port("http", 80)}));
    c.upsert(headless("testns", "legacy-only", {port("http", 80)}));
    c.upsert(slice("testns", "legacy-only/0", "legacy-only",
                   {endpoint("172.0.3.1"), endpoint("172.0.3.9", "", false)}, {port("http", 80)},
                   true));
    c.upsert(headless("testns", "both", {port("http", 80)}));
    c.upsert(slice("testns", "both/0", "both", {endpoint("172.0.4.2")}, {port("http", 80)}, true));
    c.upsert(slice("testns", "both-xyz", "both", {endpoint("172.0.4.1")}, {port("http", 80)}));
    c.upsert(external("testns", "external", "ext.interwebs.test"));
    c.upsert(external("testns", "external-to-service", "svc1.testns.svc.cluster.local"));
    c.upsert(external("testns", "loop-a", "loop-b.testns.svc.cluster.local"));
    c.upsert(external("testns", "loop-b", "loop-a.testns.svc.cluster.local"));
    return c;
}

std::shared_ptr<const Snapshot> build(const Cluster& c,
                                      SnapshotConfig config = test::snapshot_config()) {
    return build_snapshot(c, std::move(config));
}

const Snapshot& zone() {
    static const std::shared_ptr<const Snapshot> z = [] {
        SnapshotConfig config = test::snapshot_config();
        config.ttl_seconds = 30;
        config.serial = 1700000000;
        config.ns_addresses = {ip("127.0.0.1")};
        return build(fixture(), config);
    }();
    return *z;
}

Decoded q(std::string_view name, uint16_t type) {
    return ask(zone(), name, type);
}

const std::string kSoaText =
    "ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30";

// NOERROR, AA, the answer given, no authority.
void check_answer(const Decoded& d, const Lines& answer) {
    REQUIRE(d.ok);
    CHECK(d.rcode() == kNoError);
    CHECK(d.aa());
    CHECK_FALSE(d.tc());
    CHECK(texts(d.answer) == answer);
    CHECK(d.authority.empty());
}

// rcode, AA, empty answer, the zone's SOA alone in authority.
void check_negative(const Decoded& d, uint16_t rcode,
                    std::string_view soa_owner = "cluster.local.") {
    REQUIRE(d.ok);
    CHECK(d.rcode() == rcode);
    CHECK(d.aa());
    CHECK(d.answer.empty());
    REQUIRE(d.authority.size() == 1);
    CHECK(d.authority[0].type == kSoa);
    CHECK(d.authority[0].owner == soa_owner);
    CHECK(d.authority[0].ttl == 30);
    CHECK(d.additional.empty());
}

void check_nodata(const Decoded& d) {
    check_negative(d, kNoError);
}
void check_nxdomain(const Decoded& d) {
    check_negative(d, kNxDomain);
}

}  // namespace

TEST_CASE("answer: ClusterIP A and AAAA") {
    check_answer(q("svc1.testns.svc.cluster.local", kA),
                 {"svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});
    check_answer(q("svc6.testns.svc.cluster.local", kAaaa),
                 {"svc6.testns.svc.cluster.local. 30 AAAA 1234:abcd::1"});
    // A ClusterIP answers even without endpoints (CoreDNS without "ignore empty_service").
    check_answer(q("svcempty.testns.svc.cluster.local", kA),
                 {"svcempty.testns.svc.cluster.local. 30 A 10.0.0.4"});
    CHECK(q("svc1.testns.svc.cluster.local", kA).additional.empty());
}

TEST_CASE("answer: a dual-stack Service has both A and AAAA") {
    check_answer(q("svc-dual-stack.testns.svc.cluster.local", kA),
                 {"svc-dual-stack.testns.svc.cluster.local. 30 A 10.0.0.3"});
    check_answer(q("svc-dual-stack.testns.svc.cluster.local", kAaaa),
                 {"svc-dual-stack.testns.svc.cluster.local. 30 AAAA 10::3"});
}

TEST_CASE("answer: the other address family of a single-stack Service is NODATA") {
    check_nodata(q("svc1.testns.svc.cluster.local", kAaaa));
    check_nodata(q("svc6.testns.svc.cluster.local", kA));
}

TEST_CASE("answer: SRV on a named port, weight 100, with the target's address") {
    const Decoded d = q("_http._tcp.svc1.testns.svc.cluster.local", kSrv);
    check_answer(d, {"_http._tcp.svc1.testns.svc.cluster.local. 30 SRV 0 100 80 "
                     "svc1.testns.svc.cluster.local."});
    CHECK(texts(d.additional) == Lines{"svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});

    SUBCASE("IPv6: the additional record is AAAA") {
        const Decoded d6 = q("_http._tcp.svc6.testns.svc.cluster.local", kSrv);
        check_answer(d6, {"_http._tcp.svc6.testns.svc.cluster.local. 30 SRV 0 100 80 "
                          "svc6.testns.svc.cluster.local."});
        CHECK(texts(d6.additional) == Lines{"svc6.testns.svc.cluster.local. 30 AAAA 1234:abcd::1"});
    }
    SUBCASE("UDP port") {
        check_answer(q("_dns._udp.multiport.testns.svc.cluster.local", kSrv),
                     {"_dns._udp.multiport.testns.svc.cluster.local. 30 SRV 0 100 53 "
                      "multiport.testns.svc.cluster.local."});
    }
}

TEST_CASE("answer: SRV on a port name or protocol the Service lacks is NXDOMAIN") {
    check_nxdomain(q("_https._tcp.svc1.testns.svc.cluster.local", kSrv));
    check_nxdomain(q("_http._udp.svc1.testns.svc.cluster.local", kSrv));
    check_nxdomain(q("_http._tcp.svc0.testns.svc.cluster.local", kSrv));
}

TEST_CASE("answer: A on a port name answers the ClusterIP (CoreDNS extension)") {
    check_answer(q("_http._tcp.svc1.testns.svc.cluster.local", kA),
                 {"_http._tcp.svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});
}

TEST_CASE("answer: SRV on the bare Service name lists every port") {
    const Decoded d = q("svc1.testns.svc.cluster.local", kSrv);
    check_answer(d, {"svc1.testns.svc.cluster.local. 30 SRV 0 100 80 "
                     "svc1.testns.svc.cluster.local."});
    CHECK(texts(d.additional) == Lines{"svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});

    SUBCASE("four ports, one unnamed: weight floor(100/4)") {
        const Decoded m = q("multiport.testns.svc.cluster.local", kSrv);
        const std::string target = "multiport.testns.svc.cluster.local.";
        check_answer(m, {
                            "multiport.testns.svc.cluster.local. 30 SRV 0 25 80 " + target,
                            "multiport.testns.svc.cluster.local. 30 SRV 0 25 443 " + target,
                            "multiport.testns.svc.cluster.local. 30 SRV 0 25 8080 " + target,
                            "multiport.testns.svc.cluster.local. 30 SRV 0 25 53 " + target,
                        });
        CHECK(texts(m.additional) == Lines{"multiport.testns.svc.cluster.local. 30 A 10.0.0.5"});
    }
    SUBCASE("dual stack: one SRV of weight 50, both addresses in additional") {
        const Decoded ds = q("svc-dual-stack.testns.svc.cluster.local", kSrv);
        check_answer(ds, {"svc-dual-stack.testns.svc.cluster.local. 30 SRV 0 50 80 "
                          "svc-dual-stack.testns.svc.cluster.local."});
        CHECK(texts(ds.additional) ==
              Lines{"svc-dual-stack.testns.svc.cluster.local. 30 A 10.0.0.3",
                    "svc-dual-stack.testns.svc.cluster.local. 30 AAAA 10::3"});
    }
}

TEST_CASE("answer: headless A and AAAA list the ready endpoints") {
    check_answer(q("hdls1.testns.svc.cluster.local", kA),
                 {"hdls1.testns.svc.cluster.local. 30 A 172.0.0.2",
                  "hdls1.testns.svc.cluster.local. 30 A 172.0.0.3",
                  "hdls1.testns.svc.cluster.local. 30 A 172.0.0.4",
                  "hdls1.testns.svc.cluster.local. 30 A 172.0.0.5"});
    check_answer(q("hdls1.testns.svc.cluster.local", kAaaa),
                 {"hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::1",
                  "hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::2"});
}

TEST_CASE("answer: endpoint names are the hostname, else the dashed address") {
    check_answer(q("dup-name.hdls1.testns.svc.cluster.local", kA),
                 {"dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.4",
                  "dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.5"});
    check_answer(q("172-0-0-2.hdls1.testns.svc.cluster.local", kA),
                 {"172-0-0-2.hdls1.testns.svc.cluster.local. 30 A 172.0.0.2"});
    check_answer(q("5678-abcd--1.hdls1.testns.svc.cluster.local", kAaaa),
                 {"5678-abcd--1.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::1"});
    // An endpoint of a ClusterIP Service has a name too (CoreDNS answers it).
    check_answer(q("ep1a.svc1.testns.svc.cluster.local", kA),
                 {"ep1a.svc1.testns.svc.cluster.local. 30 A 172.0.0.1"});
    check_nxdomain(q("bogus.svc1.testns.svc.cluster.local", kA));
    check_nxdomain(q("172-0-0-9.hdls1.testns.svc.cluster.local", kA));
    check_nodata(q("172-0-0-2.hdls1.testns.svc.cluster.local", kAaaa));

    CHECK(dashed_address(ip("10.244.1.5")) == "10-244-1-5");
    CHECK(dashed_address(ip("fd00:10::5")) == "fd00-10--5");
}

TEST_CASE("answer: headless SRV points at each endpoint with weight floor(100/N)") {
    const Decoded d = q("_http._tcp.hdls1.testns.svc.cluster.local", kSrv);
    // Six addresses make N = 6 (weight 16); the two dup-name endpoints share one SRV record.
    const std::string owner = "_http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 ";
    REQUIRE(d.ok);
    CHECK(d.rcode() == kNoError);
    CHECK(d.aa());
    Lines answer = texts(d.answer);
    std::sort(answer.begin(), answer.end());
    CHECK(answer == Lines{owner + "172-0-0-2.hdls1.testns.svc.cluster.local.",
                          owner + "172-0-0-3.hdls1.testns.svc.cluster.local.",
                          owner + "5678-abcd--1.hdls1.testns.svc.cluster.local.",
                          owner + "5678-abcd--2.hdls1.testns.svc.cluster.local.",
                          owner + "dup-name.hdls1.testns.svc.cluster.local."});
    Lines additional = texts(d.additional);
    std::sort(additional.begin(), additional.end());
    CHECK(additional == Lines{"172-0-0-2.hdls1.testns.svc.cluster.local. 30 A 172.0.0.2",
                              "172-0-0-3.hdls1.testns.svc.cluster.local. 30 A 172.0.0.3",
                              "5678-abcd--1.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::1",
                              "5678-abcd--2.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::2",
                              "dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.4",
                              "dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.5"});

    SUBCASE("the bare headless name answers the same SRV set") {
        const Decoded bare = q("hdls1.testns.svc.cluster.local", kSrv);
        REQUIRE(bare.ok);
        CHECK(bare.answer.size() == 5);
        for (const auto& rr : bare.answer) {
            CHECK(rr.text.starts_with("0 16 80 "));
        }
    }
}

TEST_CASE("answer: a headless Service without ready endpoints is NXDOMAIN") {
    check_nxdomain(q("hdls-unready.testns.svc.cluster.local", kA));
    check_nxdomain(q("_http._tcp.hdls-unready.testns.svc.cluster.local", kSrv));
    check_nxdomain(q("172-0-1-1.hdls-unready.testns.svc.cluster.local", kA));
}

TEST_CASE("answer: publishNotReadyAddresses publishes endpoints that are not ready") {
    check_answer(q("hdls-published.testns.svc.cluster.local", kA),
                 {"hdls-published.testns.svc.cluster.local. 30 A 172.0.2.1",
                  "hdls-published.testns.svc.cluster.local. 30 A 172.0.2.2"});
}

TEST_CASE("answer: legacy Endpoints count only when the Service has no EndpointSlice") {
    check_answer(q("legacy-only.testns.svc.cluster.local", kA),
                 {"legacy-only.testns.svc.cluster.local. 30 A 172.0.3.1"});
    check_answer(q("both.testns.svc.cluster.local", kA),
                 {"both.testns.svc.cluster.local. 30 A 172.0.4.1"});
    check_nxdomain(q("172-0-4-2.both.testns.svc.cluster.local", kA));
}

TEST_CASE("answer: ExternalName is a CNAME to the external name") {
    check_answer(q("external.testns.svc.cluster.local", kCname),
                 {"external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test."});
    // Outside our zones the client's resolver follows the CNAME.
    check_answer(q("external.testns.svc.cluster.local", kA),
                 {"external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test."});
    check_nxdomain(q("endpoint.external.testns.svc.cluster.local", kA));
    check_nxdomain(q("_http._tcp.external.testns.svc.cluster.local", kSrv));
}

TEST_CASE("answer: a CNAME into the cluster zone is chased") {
    const Decoded d = q("external-to-service.testns.svc.cluster.local", kA);
    check_answer(d, {"external-to-service.testns.svc.cluster.local. 30 CNAME "
                     "svc1.testns.svc.cluster.local.",
                     "svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});
    CHECK(d.additional.empty());
    check_answer(q("external-to-service.testns.svc.cluster.local", kCname),
                 {"external-to-service.testns.svc.cluster.local. 30 CNAME "
                  "svc1.testns.svc.cluster.local."});
}

TEST_CASE("answer: a CNAME loop gives each CNAME once") {
    const Decoded d = q("loop-a.testns.svc.cluster.local", kA);
    REQUIRE(d.ok);
    CHECK(d.rcode() == 0);
    CHECK(d.aa());
    // loop-a -> loop-b -> loop-a: the chain stops where it comes back.
    check_answer(d, {"loop-a.testns.svc.cluster.local. 30 CNAME loop-b.testns.svc.cluster.local.",
                     "loop-b.testns.svc.cluster.local. 30 CNAME loop-a.testns.svc.cluster.local."});
}

TEST_CASE("answer: PTR for ClusterIPs and endpoint addresses") {
    check_answer(q("1.0.0.10.in-addr.arpa", kPtr),
                 {"1.0.0.10.in-addr.arpa. 30 PTR svc1.testns.svc.cluster.local."});
    check_answer(q("1.0.0.172.in-addr.arpa", kPtr),
                 {"1.0.0.172.in-addr.arpa. 30 PTR ep1a.svc1.testns.svc.cluster.local."});
    check_answer(q("2.0.0.172.in-addr.arpa", kPtr),
                 {"2.0.0.172.in-addr.arpa. 30 PTR 172-0-0-2.hdls1.testns.svc.cluster.local."});
    check_answer(q("4.0.0.172.in-addr.arpa", kPtr),
                 {"4.0.0.172.in-addr.arpa. 30 PTR dup-name.hdls1.testns.svc.cluster.local."});

    SUBCASE("IPv6 in nibble form") {
        const std::string svc6 =
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa";
        check_answer(q(svc6, kPtr), {svc6 + ". 30 PTR svc6.testns.svc.cluster.local."});
        const std::string ep =
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa";
        check_answer(q(ep, kPtr), {ep + ". 30 PTR 5678-abcd--2.hdls1.testns.svc.cluster.local."});
        const std::string dual =
            "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa";
        check_answer(q(dual, kPtr), {dual + ". 30 PTR svc-dual-stack.testns.svc.cluster.local."});
    }
    SUBCASE("unknown addresses: NXDOMAIN with the reverse zone's SOA") {
        check_negative(q("101.0.0.10.in-addr.arpa", kPtr), kNxDomain, "in-addr.arpa.");
        check_negative(
            q("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.2.ip6.arpa", kPtr),
            kNxDomain, "ip6.arpa.");
    }
    SUBCASE("an unready endpoint has no PTR") {
        check_negative(q("1.1.0.172.in-addr.arpa", kPtr), kNxDomain, "in-addr.arpa.");
    }
    SUBCASE("PTR on a forward name is NODATA") {
        check_nodata(q("svc1.testns.svc.cluster.local", kPtr));
    }
}

TEST_CASE("answer: pod names a-b-c-d.<ns>.pod.<zone> answer the address they spell") {
    check_answer(q("10-240-0-1.podns.pod.cluster.local", kA),
                 {"10-240-0-1.podns.pod.cluster.local. 30 A 10.240.0.1"});
    check_answer(q("172-0-0-2.testns.pod.cluster.local", kA),
                 {"172-0-0-2.testns.pod.cluster.local. 30 A 172.0.0.2"});
    check_nodata(q("10-240-0-1.podns.pod.cluster.local", kAaaa));

    SUBCASE("IPv6 pod") {
        check_answer(q("fd00-10-244--5.podns.pod.cluster.local", kAaaa),
                     {"fd00-10-244--5.podns.pod.cluster.local. 30 AAAA fd00:10:244::5"});
        check_nodata(q("fd00-10-244--5.podns.pod.cluster.local", kA));
    }
    SUBCASE("a label that is no address is NXDOMAIN") {
        for (const char* label :
             {"blah", "1-2-3", "1-2-3-4-5", "256-0-0-1", "01-2-3-4", "a-b-c-d", "1-2-3-4-"}) {
            CAPTURE(label);
            check_nxdomain(q(fmt::format("{}.podns.pod.cluster.local", label), kA));
        }
    }
    SUBCASE("a namespace that does not exist is NXDOMAIN") {
        check_nxdomain(q("10-240-0-1.pod-nons.pod.cluster.local", kA));
        check_nxdomain(q("blah.pod-nons.pod.cluster.local", kA));
    }
    SUBCASE("more labels are NXDOMAIN") {
        check_nxdomain(q("x.10-240-0-1.podns.pod.cluster.local", kA));
    }
    SUBCASE("the built-in namespaces exist") {
        check_answer(q("10-0-0-7.kube-system.pod.cluster.local", kA),
                     {"10-0-0-7.kube-system.pod.cluster.local. 30 A 10.0.0.7"});
    }
}

TEST_CASE("answer: dns-version TXT with TTL 28800") {
    check_answer(q("dns-version.cluster.local", kTxt),
                 {"dns-version.cluster.local. 28800 TXT \"1.1.0\""});
    check_nodata(q("dns-version.cluster.local", kA));
}

TEST_CASE("answer: SOA and NS at the apex") {
    const Decoded soa = q("cluster.local", kSoa);
    check_answer(soa, {"cluster.local. 30 SOA " + kSoaText});
    CHECK(soa.additional.empty());

    const Decoded ns = q("cluster.local", kNs);
    check_answer(ns, {"cluster.local. 30 NS ns.dns.cluster.local."});
    CHECK(texts(ns.additional) == Lines{"ns.dns.cluster.local. 30 A 127.0.0.1"});

    check_answer(q("ns.dns.cluster.local", kA), {"ns.dns.cluster.local. 30 A 127.0.0.1"});
    check_answer(q("in-addr.arpa", kSoa),
                 {"in-addr.arpa. 30 SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1700000000 "
                  "7200 1800 86400 30"});
    SUBCASE("SOA below the apex is NODATA") {
        check_nodata(q("svc1.testns.svc.cluster.local", kSoa));
    }
}

TEST_CASE("answer: the SOA TTL is the TTL, at most 300, and its minimum is the TTL") {
    for (const uint32_t ttl : {5u, 3600u}) {
        CAPTURE(ttl);
        SnapshotConfig config = test::snapshot_config();
        config.ttl_seconds = ttl;
        const auto built = build(fixture(), config);
        const Decoded d = ask(*built, "nope.testns.svc.cluster.local", kA);
        REQUIRE(d.authority.size() == 1);
        CHECK(d.authority[0].ttl == std::min(ttl, 300u));
        CHECK(d.authority[0].text.ends_with(fmt::format(" {}", ttl)));
        const Decoded a = ask(*built, "svc1.testns.svc.cluster.local", kA);
        REQUIRE(a.answer.size() == 1);
        CHECK(a.answer[0].ttl == ttl);
        const Decoded pod = ask(*built, "1-2-3-4.testns.pod.cluster.local", kA);
        REQUIRE(pod.answer.size() == 1);
        CHECK(pod.answer[0].ttl == ttl);
    }
}

TEST_CASE("answer: empty non-terminals are NODATA, names that do not exist NXDOMAIN") {
    SUBCASE("NODATA") {
        for (const char* name :
             {"cluster.local", "svc.cluster.local", "pod.cluster.local", "testns.svc.cluster.local",
              "podns.pod.cluster.local", "default.svc.cluster.local",
              "_tcp.svc1.testns.svc.cluster.local", "_tcp.hdls1.testns.svc.cluster.local"}) {
            CAPTURE(name);
            check_nodata(q(name, kA));
        }
        check_nodata(q("svc.cluster.local", kNs));
        check_nodata(q("testns.svc.cluster.local", kSrv));
        check_nodata(q("cluster.local", kAaaa));
    }
    SUBCASE("other types on an existing name are NODATA") {
        for (const uint16_t type : {kTxt, kMx, kCname, kHinfo, kNs}) {
            CAPTURE(type);
            check_nodata(q("svc1.testns.svc.cluster.local", type));
        }
    }
    SUBCASE("NXDOMAIN") {
        for (const char* name :
             {"foo.cluster.local", "foo.svc.cluster.local", "nonexist-ns.svc.cluster.local",
              "svc0.testns.svc.cluster.local", "svc0.svc-nons.svc.cluster.local",
              "a.b.c.svc1.testns.svc.cluster.local", "*.testns.svc.cluster.local",
              "svc1.*.svc.cluster.local", "_http._tcp.nope.testns.svc.cluster.local"}) {
            CAPTURE(name);
            check_nxdomain(q(name, kA));
        }
        check_nxdomain(q("foo.cluster.local", kNs));
        check_nxdomain(q("foo.cluster.local", kHinfo));
    }
}

TEST_CASE("answer: the response keeps the query's case") {
    const Decoded d = q("SVC1.TestNS.svc.Cluster.Local", kA);
    check_answer(d, {"SVC1.TestNS.svc.Cluster.Local. 30 A 10.0.0.1"});
    CHECK(d.qname == "SVC1.TestNS.svc.Cluster.Local.");

    SUBCASE("the SOA owner echoes the zone as asked") {
        const Decoded n = q("Nope.TestNS.svc.Cluster.LOCAL", kA);
        check_negative(n, kNxDomain, "Cluster.LOCAL.");
    }
    SUBCASE("SRV: owner as asked, target the same name in any case") {
        const Decoded s = q("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL", kSrv);
        REQUIRE(s.ok);
        REQUIRE(s.answer.size() == 1);
        CHECK(s.answer[0].owner == "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.");
        auto target = Name::from_text(s.answer[0].text.substr(9));
        auto expected = Name::from_text("svc1.testns.svc.cluster.local.");
        REQUIRE(target.has_value());
        CHECK(s.answer[0].text.starts_with("0 100 80 "));
        CHECK(name_equal(target->wire(), expected->wire()));
        REQUIRE(s.additional.size() == 1);
        CHECK(s.additional[0].text == "10.0.0.1");
    }
    SUBCASE("pod names") {
        check_answer(q("10-240-0-1.PodNS.POD.cluster.local", kA),
                     {"10-240-0-1.PodNS.POD.cluster.local. 30 A 10.240.0.1"});
    }
}

TEST_CASE("answer: names outside our zones are REFUSED") {
    for (const char* name : {"example.com", "local", "cluster.local.example.com", "arpa", "."}) {
        CAPTURE(name);
        const Decoded d = q(name, kA);
        REQUIRE(d.ok);
        CHECK(d.rcode() == kRefused);
        CHECK_FALSE(d.aa());
        CHECK(d.answer.empty());
        CHECK(d.authority.empty());
    }
}

TEST_CASE("answer: names outside our zones, and with fallthrough unknown reverse names, are not ours") {
    const auto status = [](std::string_view name, uint16_t type, bool fallthrough) {
        const std::vector<uint8_t> packet =
            test::make_query({.name = std::string(name), .type = type});
        Query query;
        REQUIRE(parse_query(packet, query) == ParseStatus::Ok);
        std::vector<uint8_t> out(512);
        ResponseWriter w(out, out.size());
        w.begin(query);
        return answer_query(zone(), query, w, nullptr, fallthrough);
    };
    CHECK(status("example.com", kA, false) == AnswerStatus::NotOurs);
    CHECK(status("www.example.com", kAaaa, true) == AnswerStatus::NotOurs);
    CHECK(status("nope.testns.svc.cluster.local", kA, true) == AnswerStatus::Answered);  // NXDOMAIN
    CHECK(status("9.9.9.9.in-addr.arpa", kPtr, false) == AnswerStatus::Answered);       // NXDOMAIN
    CHECK(status("9.9.9.9.in-addr.arpa", kPtr, true) == AnswerStatus::NotOurs);
    CHECK(status("example.com", kAxfr, true) == AnswerStatus::Answered);  // REFUSED
}

TEST_CASE("answer: a class other than IN is REFUSED") {
    for (const uint16_t qclass : {uint16_t{3}, uint16_t{4}, uint16_t{255}}) {
        CAPTURE(qclass);
        const Decoded d =
            ask(zone(), {.name = "dns-version.cluster.local", .type = kTxt, .qclass = qclass});
        REQUIRE(d.ok);
        CHECK(d.rcode() == kRefused);
        CHECK(d.answer.empty());
        CHECK(d.authority.empty());
    }
}

TEST_CASE("answer: zone transfers are REFUSED") {
    for (const uint16_t type : {kAxfr, kIxfr}) {
        CAPTURE(type);
        const Decoded d = q("cluster.local", type);
        REQUIRE(d.ok);
        CHECK(d.rcode() == kRefused);
        CHECK(d.answer.empty());
    }
}

TEST_CASE("answer: a headless answer too big for 512 octets sets TC") {
    Cluster c;
    c.upsert(headless("big", "many", {port("http", 80)}));
    std::vector<Endpoint> endpoints;
    for (int i = 0; i < 100; ++i) {
        endpoints.push_back(endpoint(fmt::format("10.1.0.{}", i + 1)));
    }
    c.upsert(slice("big", "many-1", "many", endpoints, {port("http", 80)}));
    const auto built = build(c);
    const Decoded udp = ask(*built, "many.big.svc.cluster.local", kA, 512);
    REQUIRE(udp.ok);
    CHECK(udp.tc());
    CHECK(udp.rcode() == kNoError);
    CHECK(udp.answer.size() < 100);
    const Decoded tcp = ask(*built, "many.big.svc.cluster.local", kA);
    CHECK_FALSE(tcp.tc());
    CHECK(tcp.answer.size() == 100);
    SUBCASE("SRV weight is floor(100/100) = 1") {
        const Decoded srv = ask(*built, "many.big.svc.cluster.local", kSrv);
        REQUIRE(srv.answer.size() == 100);
        CHECK(srv.answer[0].text.starts_with("0 1 80 "));
    }
}

TEST_CASE("answer: another origin serves its own apex") {
    const auto built = build(fixture(), test::snapshot_config("Example.Internal"));
    check_answer(ask(*built, "svc1.testns.svc.example.internal", kA),
                 {"svc1.testns.svc.example.internal. 30 A 10.0.0.1"});
    const Decoded refused = ask(*built, "svc1.testns.svc.cluster.local", kA);
    CHECK(refused.rcode() == kRefused);
}

}  // namespace clusterdns

namespace clusterdns {

TEST_CASE("answer: a pod label must spell an address to its last byte") {
    check_negative(q(std::string("10-1-2-3\0junk.podns.pod.cluster.local", 37), kA), kNxDomain);
    check_answer(q("10-1-2-3.podns.pod.cluster.local", kA),
                 {"10-1-2-3.podns.pod.cluster.local. 30 A 10.1.2.3"});
}

TEST_CASE("answer: ANY adds no additional records") {
    const Decoded d = q("svc-dual-stack.testns.svc.cluster.local", 255);
    REQUIRE(d.ok);
    CHECK(d.rcode() == kNoError);
    CHECK(d.additional.empty());
}

TEST_CASE("answer: an SRV answer's addresses appear once each, however many targets") {
    Cluster c;
    c.upsert(headless("bulk", "many", {port("http", 80), port("metrics", 9100)}));
    std::vector<Endpoint> endpoints;
    for (int i = 1; i <= 40; ++i) {
        endpoints.push_back(endpoint("10.9.0." + std::to_string(i)));
    }
    c.upsert(slice("bulk", "many-1", "many", endpoints, {port("http", 80), port("metrics", 9100)}));
    const auto built = build(c);
    const Decoded d = ask(*built, "many.bulk.svc.cluster.local", kSrv);
    REQUIRE(d.ok);
    CHECK(d.answer.size() == 80);  // 40 endpoints x 2 ports
    const Lines additional = texts(d.additional);
    CHECK(additional.size() == 40);
    CHECK(std::set<std::string>(additional.begin(), additional.end()).size() == 40);
}

}  // namespace clusterdns

namespace clusterdns {
namespace {

// A headless Service "big.bulk" whose `count` ready endpoints (no hostnames) all serve port http.
std::shared_ptr<const Snapshot> big_headless(int count) {
    Cluster c;
    c.upsert(headless("bulk", "big", {port("http", 80)}));
    std::vector<Endpoint> endpoints;
    for (int i = 0; i < count; ++i) {
        endpoints.push_back(
            endpoint(fmt::format("10.{}.{}.{}", 64 + i / 65536, i / 256 % 256, i % 256)));
    }
    c.upsert(slice("bulk", "big-1", "big", endpoints, {port("http", 80)}));
    c.upsert(cluster_ip("bulk", "small", {"10.0.0.9"}, {port("http", 80)}));
    return build(c);
}

// test::ask, counting the work answer_query did.
Decoded ask_counting(const Snapshot& zone, std::string_view name, uint16_t type, size_t limit,
                     AnswerWork& work) {
    Query q;
    REQUIRE(parse_query(test::make_query({.name = std::string(name), .type = type}), q) ==
            ParseStatus::Ok);
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, limit);
    w.begin(q);
    answer_query(zone, q, w, &work);
    return test::decode(std::span<const uint8_t>(out).first(w.finish()));
}

}  // namespace

TEST_CASE("answer: work is bounded by the response, not by the size of an RRset") {
    constexpr int kEndpoints = 5000;
    static const auto zone = big_headless(kEndpoints);
    const std::string big = "big.bulk.svc.cluster.local";
    for (const std::string& name : {big, "_http._tcp." + big}) {
        for (const uint16_t type : {kSrv, kA, uint16_t{255}}) {
            for (const size_t limit : {size_t{512}, size_t{1232}, size_t{65535}}) {
                CAPTURE(name);
                CAPTURE(type);
                CAPTURE(limit);
                AnswerWork work;
                const Decoded d = ask_counting(*zone, name, type, limit, work);
                REQUIRE(d.ok);
                CHECK(d.rcode() == kNoError);
                CHECK(d.tc());  // not even 65,535 octets hold 5,000 records
                CHECK(d.answer.size() > 0);
                CHECK(d.answer.size() < kEndpoints);
                const size_t written = d.answer.size() + d.authority.size() + d.additional.size();
                // One record refused ends the answer, and with it the response.
                CHECK(work.rrs_offered <= written + 1);
                // The name itself, then at most one target per SRV record that went in.
                CHECK(work.lookups <= 1 + d.answer.size());
            }
        }
    }
}

TEST_CASE("answer: SRV targets are looked up only for the records in the answer") {
    // 15 SRV records take about 900 octets (RFC 2782: targets are not compressed), their
    // addresses about 400 more.
    static const auto zone = big_headless(15);
    const std::string name = "_http._tcp.big.bulk.svc.cluster.local";
    SUBCASE("the answer is cut: no target goes in") {
        AnswerWork work;
        const Decoded d = ask_counting(*zone, name, kSrv, 512, work);
        REQUIRE(d.ok);
        CHECK(d.tc());
        CHECK(d.answer.size() < 15);
        CHECK(d.additional.empty());
        CHECK(work.lookups == 1);
        CHECK(work.rrs_offered == d.answer.size() + 1);
    }
    SUBCASE("the answer fits, the additional section fills up: the first refusal ends it") {
        AnswerWork work;
        const Decoded d = ask_counting(*zone, name, kSrv, 1232, work);
        REQUIRE(d.ok);
        CHECK_FALSE(d.tc());  // RFC 2181 9: a cut additional section is no truncation
        CHECK(d.answer.size() == 15);
        CHECK(d.additional.size() > 0);
        CHECK(d.additional.size() < 15);
        CHECK(work.rrs_offered == 15 + d.additional.size() + 1);
        CHECK(work.lookups == 1 + d.additional.size() + 1);
    }
    SUBCASE("everything fits over TCP: one lookup per target") {
        AnswerWork work;
        const Decoded d = ask_counting(*zone, name, kSrv, 65535, work);
        REQUIRE(d.ok);
        CHECK(d.answer.size() == 15);
        CHECK(d.additional.size() == 15);
        CHECK(work.lookups == 16);
        CHECK(work.rrs_offered == 30);
    }
}

TEST_CASE("answer: a normal name answers in a zone with a huge headless Service") {
    static const auto zone = big_headless(5000);
    check_answer(ask(*zone, "small.bulk.svc.cluster.local", kA),
                 {"small.bulk.svc.cluster.local. 30 A 10.0.0.9"});
    check_answer(ask(*zone, "10-64-19-135.big.bulk.svc.cluster.local", kA),
                 {"10-64-19-135.big.bulk.svc.cluster.local. 30 A 10.64.19.135"});
}

TEST_CASE("answer: an additional RRset goes in whole or not at all (RFC 2181 9)") {
    // ns.dns.cluster.local with 60 addresses: 60 * 16 bytes do not fit in 512 beside the NS.
    SnapshotConfig config = test::snapshot_config();
    for (int i = 1; i <= 60; ++i) {
        config.ns_addresses.push_back(ip(fmt::format("10.0.0.{}", i)));
    }
    const auto built = build(Cluster{}, config);
    const Decoded small = ask(*built, "cluster.local", kNs, 512);
    CHECK(small.answer.size() == 1);
    CHECK_FALSE(small.tc());
    CHECK(small.additional_without_opt().empty());  // not the first 28 of the 60
    const Decoded big = ask(*built, "cluster.local", kNs, 65535);
    CHECK(big.additional_without_opt().size() == 60);
}

}  // namespace clusterdns

namespace clusterdns {

TEST_CASE("answer: with endpoint_pod_names an endpoint without hostname is named by its Pod") {
    Cluster c;
    c.upsert(headless("prod", "db", {port("pg", 5432)}));
    Endpoint named = endpoint("10.244.1.5", "db-0");
    named.pod = "ignored-pod";
    Endpoint by_pod = endpoint("10.244.1.6");
    by_pod.pod = "db-1";
    Endpoint not_a_label = endpoint("10.244.1.7");
    not_a_label.pod = "Not.A.Label";
    c.upsert(slice("prod", "db-x", "db", {named, by_pod, not_a_label}, {port("pg", 5432)}));
    SnapshotConfig config = test::snapshot_config();
    config.endpoint_pod_names = true;
    const auto on = build(c, config);
    check_answer(ask(*on, "db-0.db.prod.svc.cluster.local", kA),
                 {"db-0.db.prod.svc.cluster.local. 30 A 10.244.1.5"});
    check_answer(ask(*on, "db-1.db.prod.svc.cluster.local", kA),
                 {"db-1.db.prod.svc.cluster.local. 30 A 10.244.1.6"});
    check_answer(ask(*on, "10-244-1-7.db.prod.svc.cluster.local", kA),
                 {"10-244-1-7.db.prod.svc.cluster.local. 30 A 10.244.1.7"});
    check_answer(ask(*on, "6.1.244.10.in-addr.arpa", kPtr),
                 {"6.1.244.10.in-addr.arpa. 30 PTR db-1.db.prod.svc.cluster.local."});
    const auto off = build(c);
    check_nxdomain(ask(*off, "db-1.db.prod.svc.cluster.local", kA));
    check_answer(ask(*off, "10-244-1-6.db.prod.svc.cluster.local", kA),
                 {"10-244-1-6.db.prod.svc.cluster.local. 30 A 10.244.1.6"});
}

TEST_CASE("answer: a CNAME is chased to any name of our zones") {
    Cluster c = fixture();
    c.upsert(external("testns", "to-version", "dns-version.cluster.local"));
    c.upsert(external("testns", "to-pod", "10-1-2-3.testns.pod.cluster.local"));
    c.upsert(external("testns", "to-ptr", "1.0.0.10.in-addr.arpa"));
    c.upsert(external("testns", "to-nothing", "nope.testns.svc.cluster.local"));
    c.upsert(external("testns", "to-address", "10.0.0.1"));
    const auto built = build(c);
    check_answer(ask(*built, "to-version.testns.svc.cluster.local", kTxt),
                 {"to-version.testns.svc.cluster.local. 30 CNAME dns-version.cluster.local.",
                  "dns-version.cluster.local. 28800 TXT \"1.1.0\""});
    check_answer(ask(*built, "to-pod.testns.svc.cluster.local", kA),
                 {"to-pod.testns.svc.cluster.local. 30 CNAME 10-1-2-3.testns.pod.cluster.local.",
                  "10-1-2-3.testns.pod.cluster.local. 30 A 10.1.2.3"});
    check_answer(ask(*built, "to-ptr.testns.svc.cluster.local", kPtr),
                 {"to-ptr.testns.svc.cluster.local. 30 CNAME 1.0.0.10.in-addr.arpa.",
                  "1.0.0.10.in-addr.arpa. 30 PTR svc1.testns.svc.cluster.local."});
    const Decoded nx = ask(*built, "to-nothing.testns.svc.cluster.local", kA);
    CHECK(nx.rcode() == kNxDomain);
    CHECK(texts(nx.answer) ==
          Lines{"to-nothing.testns.svc.cluster.local. 30 CNAME nope.testns.svc.cluster.local."});
    REQUIRE(nx.authority.size() == 1);
    CHECK(nx.authority[0].type == kSoa);
    // An address is no host name to alias: no record at all.
    check_nxdomain(ask(*built, "to-address.testns.svc.cluster.local", kA));
}

TEST_CASE("answer: partial reverse names of existing addresses are NODATA") {
    for (const char* name : {"10.in-addr.arpa", "0.10.in-addr.arpa", "0.0.10.in-addr.arpa",
                             "4.3.2.1.ip6.arpa", "d.c.b.a.4.3.2.1.ip6.arpa"}) {
        CAPTURE(name);
        check_negative(
            q(name, kPtr), kNoError,
            std::string_view(name).ends_with("ip6.arpa") ? "ip6.arpa." : "in-addr.arpa.");
    }
    for (const char* name : {"11.in-addr.arpa", "010.in-addr.arpa", "1.0.0.0.10.in-addr.arpa",
                             "x.10.in-addr.arpa", "5.4.3.2.1.ip6.arpa", "A.ip6.arpa"}) {
        CAPTURE(name);
        check_negative(
            q(name, kPtr), kNxDomain,
            std::string_view(name).ends_with("ip6.arpa") ? "ip6.arpa." : "in-addr.arpa.");
    }
}

TEST_CASE("answer: until the zone is complete, a cluster name without records is SERVFAIL") {
    SnapshotConfig config = test::snapshot_config();
    config.ttl_seconds = 30;
    config.complete = false;  // the API's first sync is not done
    const auto partial = build(fixture(), config);
    const auto rcode = [&](std::string_view name, uint16_t type) {
        const Decoded d = ask(*partial, name, type);
        REQUIRE(d.ok);
        return d.rcode();
    };
    SUBCASE("what the zone holds answers as ever") {
        const Decoded d = ask(*partial, "svc1.testns.svc.cluster.local", kA);
        check_answer(d, {"svc1.testns.svc.cluster.local. 30 A 10.0.0.1"});
        CHECK(rcode("external-to-service.testns.svc.cluster.local", kA) == kNoError);
        CHECK(rcode("cluster.local", kSoa) == kNoError);
        CHECK(rcode("dns-version.cluster.local", kTxt) == kNoError);
    }
    SUBCASE("NXDOMAIN and NODATA of objects become SERVFAIL, without SOA or AA") {
        for (const char* name : {"svc0.testns.svc.cluster.local", "nonexist-ns.svc.cluster.local",
                                 "hdls-unready.testns.svc.cluster.local", "foo.cluster.local"}) {
            CAPTURE(name);
            const Decoded d = ask(*partial, name, kA);
            REQUIRE(d.ok);
            CHECK(d.rcode() == kServFail);
            CHECK_FALSE(d.aa());
            CHECK(d.authority.empty());
        }
        CHECK(rcode("svc1.testns.svc.cluster.local", kAaaa) == kServFail);
        CHECK(rcode("testns.svc.cluster.local", kA) == kServFail);
    }
    SUBCASE("the zone's own names and the reverse zones answer negatively as ever") {
        CHECK(rcode("cluster.local", kA) == kNoError);
        CHECK(rcode("dns-version.cluster.local", kA) == kNoError);
        CHECK(rcode("11.in-addr.arpa", kPtr) == kNxDomain);
    }
}

}  // namespace clusterdns
