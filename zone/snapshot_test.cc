// Finding Services by name in a snapshot (Snapshot::service, and answer_query through it) at the
// edges of what a name can be: case, labels that look like wildcards, names that are prefixes of
// others or split at another label, endpoints and reverse names; and at the scale where the
// index spans many pages and changes one Service at a time.

#include "zone/snapshot.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "dns/message.h"
#include "tests/unit/test_util.h"
#include "zone/answer.h"
#include "zone/schema.h"
#include "zone/snapshot_build.h"
#include "zone/store.h"

namespace clusterdns {
namespace {

using test::ask;
using test::texts;

constexpr uint16_t kA = 1, kPtr = 12, kSrv = 33;
constexpr uint16_t kNoError = 0, kNxDomain = 3;

IpAddress ip(std::string_view text) {
    auto parsed = parse_ip(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

Service service(std::string ns, std::string name, std::string address) {
    return {.ns = std::move(ns),
            .name = std::move(name),
            .cluster_ips = {ip(address)},
            .ports = {{"http", "tcp", 80}}};
}

// The answer section of an A query, or its RCODE when it has none.
std::vector<std::string> a_of(const Snapshot& s, std::string_view name) {
    const test::Decoded d = ask(s, name, kA);
    REQUIRE(d.ok);
    if (d.answer.empty()) {
        return {d.rcode() == kNxDomain ? "NXDOMAIN" : fmt::format("rcode {}", d.rcode())};
    }
    return texts(d.answer);
}

std::string address_of(const Snapshot& s, std::string_view ns, std::string_view name) {
    const ServiceView* v = s.service(ns, name);
    return v == nullptr ? "-" : ip_to_text(v->cluster_ips()[0]);
}

// Asks A of a name given as labels, which may hold any octet ('.', NUL).
test::Decoded ask_labels(const Snapshot& s, std::initializer_list<std::string_view> labels) {
    std::vector<uint8_t> packet = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    for (const std::string_view label : labels) {
        packet.push_back(static_cast<uint8_t>(label.size()));
        for (const char c : label) {
            packet.push_back(static_cast<uint8_t>(c));
        }
    }
    for (const int b : {0, 0, int{kA}, 0, 1}) {  // the root, type A, class IN
        packet.push_back(static_cast<uint8_t>(b));
    }
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, 65535);
    w.begin(q);
    CHECK(answer_query(s, q, w) == AnswerStatus::Answered);
    const size_t size = w.finish();
    return test::decode(std::span<const uint8_t>(out).first(size));
}

std::shared_ptr<const Snapshot> prefixes() {
    Cluster c;
    c.upsert(service("a", "bc", "10.0.0.1"));
    c.upsert(service("ab", "c", "10.0.0.2"));
    c.upsert(service("shop", "web", "10.0.1.1"));
    c.upsert(service("shop", "web2", "10.0.1.2"));
    c.upsert(service("shop", "we", "10.0.1.3"));
    c.upsert(service("shop", "web-api", "10.0.1.4"));
    c.upsert(service("shopping", "web", "10.0.2.1"));
    c.upsert(service("web", "shop", "10.0.3.1"));  // the same two labels the other way round
    // Names of 8 and 16 characters: the hash reads them a word at a time.
    c.upsert(service("12345678", "abcdefgh", "10.0.4.1"));
    c.upsert(service("12345678", "abcdefghabcdefgh", "10.0.4.2"));
    c.upsert(service("1234567", "8abcdefgh", "10.0.4.3"));
    Service headless{.ns = "shop", .name = "db", .headless = true, .ports = {{"pg", "tcp", 5432}}};
    c.upsert(headless);
    c.upsert(EndpointSet{.ns = "shop",
                         .name = "db-1",
                         .service = "db",
                         .endpoints = {{.addresses = {ip("10.244.0.1")}, .hostname = "db-0"},
                                       {.addresses = {ip("10.244.0.2")}, .hostname = "db-01"},
                                       {.addresses = {ip("10.244.0.3")}}},
                         .ports = {{"pg", "tcp", 5432}}});
    return build_snapshot(c, test::snapshot_config());
}

}  // namespace

TEST_CASE("snapshot: names that are prefixes of others, or split at another label, are told "
          "apart") {
    const auto s = prefixes();
    CHECK(address_of(*s, "a", "bc") == "10.0.0.1");
    CHECK(address_of(*s, "ab", "c") == "10.0.0.2");
    CHECK(address_of(*s, "a", "b") == "-");
    CHECK(address_of(*s, "abc", "") == "-");
    CHECK(address_of(*s, "", "abc") == "-");
    CHECK(address_of(*s, "shop", "web") == "10.0.1.1");
    CHECK(address_of(*s, "shop", "web2") == "10.0.1.2");
    CHECK(address_of(*s, "shop", "we") == "10.0.1.3");
    CHECK(address_of(*s, "shop", "web-api") == "10.0.1.4");
    CHECK(address_of(*s, "shop", "w") == "-");
    CHECK(address_of(*s, "shop", "web-ap") == "-");
    CHECK(address_of(*s, "shop", "eb") == "-");
    CHECK(address_of(*s, "shopping", "web") == "10.0.2.1");
    CHECK(address_of(*s, "shopping", "we") == "-");
    CHECK(address_of(*s, "shoppin", "web") == "-");
    CHECK(address_of(*s, "web", "shop") == "10.0.3.1");
    CHECK(address_of(*s, "12345678", "abcdefgh") == "10.0.4.1");
    CHECK(address_of(*s, "12345678", "abcdefghabcdefgh") == "10.0.4.2");
    CHECK(address_of(*s, "1234567", "8abcdefgh") == "10.0.4.3");
    CHECK(address_of(*s, "12345678", "abcdefghabcdefg") == "-");
    CHECK(address_of(*s, "123456781", "abcdefgh") == "-");

    CHECK(a_of(*s, "web.shop.svc.cluster.local") ==
          std::vector<std::string>{"web.shop.svc.cluster.local. 30 A 10.0.1.1"});
    CHECK(a_of(*s, "web.shopping.svc.cluster.local") ==
          std::vector<std::string>{"web.shopping.svc.cluster.local. 30 A 10.0.2.1"});
    CHECK(a_of(*s, "shop.web.svc.cluster.local") ==
          std::vector<std::string>{"shop.web.svc.cluster.local. 30 A 10.0.3.1"});
    CHECK(a_of(*s, "we.shopping.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
    CHECK(a_of(*s, "c.b.a.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
}

TEST_CASE("snapshot: names are found in any case, and wildcard-like labels are names like others") {
    const auto s = prefixes();
    CHECK(a_of(*s, "WEB.SHOP.SVC.CLUSTER.LOCAL") ==
          std::vector<std::string>{"WEB.SHOP.SVC.CLUSTER.LOCAL. 30 A 10.0.1.1"});
    CHECK(a_of(*s, "Web2.sHoP.svc.cluster.local") ==
          std::vector<std::string>{"Web2.sHoP.svc.cluster.local. 30 A 10.0.1.2"});
    CHECK(a_of(*s, "DB-0.Db.Shop.svc.cluster.local") ==
          std::vector<std::string>{"DB-0.Db.Shop.svc.cluster.local. 30 A 10.244.0.1"});
    // The snapshot is asked lowercase names: a name with capitals is not one.
    CHECK(address_of(*s, "shop", "WEB") == "-");
    for (const char* name :
         {"*.shop.svc.cluster.local", "web.*.svc.cluster.local", "*.*.svc.cluster.local",
          "we*.shop.svc.cluster.local", "*.db.shop.svc.cluster.local",
          "db-*.db.shop.svc.cluster.local", "_*._tcp.web.shop.svc.cluster.local"}) {
        CAPTURE(name);
        CHECK(a_of(*s, name) == std::vector<std::string>{"NXDOMAIN"});
    }
    // Labels holding a dot or a NUL: one label each, no name of ours.
    using namespace std::string_view_literals;
    CHECK(ask_labels(*s, {"web.shop"sv, "svc"sv, "cluster"sv, "local"sv}).rcode() == kNxDomain);
    CHECK(ask_labels(*s, {"web"sv, "shop.svc"sv, "cluster"sv, "local"sv}).rcode() == kNxDomain);
    CHECK(ask_labels(*s, {"web\0"sv, "shop"sv, "svc"sv, "cluster"sv, "local"sv}).rcode() ==
          kNxDomain);
    CHECK(ask_labels(*s, {"web"sv, "shop\0"sv, "svc"sv, "cluster"sv, "local"sv}).rcode() ==
          kNxDomain);
    CHECK(ask_labels(*s, {"web"sv, "shop"sv, "svc"sv, "cluster"sv, "local"sv}).rcode() ==
          kNoError);
    CHECK(s->service("shop", "web\0"sv) == nullptr);
    CHECK(s->service("shop\0"sv, "web") == nullptr);
}

TEST_CASE("snapshot: endpoint names that are prefixes of others, and reverse names") {
    const auto s = prefixes();
    CHECK(a_of(*s, "db-0.db.shop.svc.cluster.local") ==
          std::vector<std::string>{"db-0.db.shop.svc.cluster.local. 30 A 10.244.0.1"});
    CHECK(a_of(*s, "db-01.db.shop.svc.cluster.local") ==
          std::vector<std::string>{"db-01.db.shop.svc.cluster.local. 30 A 10.244.0.2"});
    CHECK(a_of(*s, "10-244-0-3.db.shop.svc.cluster.local") ==
          std::vector<std::string>{"10-244-0-3.db.shop.svc.cluster.local. 30 A 10.244.0.3"});
    CHECK(a_of(*s, "db-.db.shop.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
    CHECK(a_of(*s, "db-010.db.shop.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
    CHECK(a_of(*s, "10-244-0-3.web.shop.svc.cluster.local") ==
          std::vector<std::string>{"NXDOMAIN"});
    const test::Decoded srv = ask(*s, "_pg._tcp.db.shop.svc.cluster.local", kSrv);
    REQUIRE(srv.ok);
    CHECK(srv.answer.size() == 3);

    const auto ptr = [&](std::string_view name) {
        const test::Decoded d = ask(*s, name, kPtr);
        REQUIRE(d.ok);
        return d.answer.empty() ? std::vector<std::string>{fmt::format("rcode {}", d.rcode())}
                                : texts(d.answer);
    };
    CHECK(ptr("1.1.0.10.in-addr.arpa") ==
          std::vector<std::string>{"1.1.0.10.in-addr.arpa. 30 PTR web.shop.svc.cluster.local."});
    CHECK(ptr("1.2.0.10.in-addr.arpa") ==
          std::vector<std::string>{
              "1.2.0.10.in-addr.arpa. 30 PTR web.shopping.svc.cluster.local."});
    CHECK(ptr("2.0.244.10.in-addr.arpa") ==
          std::vector<std::string>{
              "2.0.244.10.in-addr.arpa. 30 PTR db-01.db.shop.svc.cluster.local."});
    CHECK(ptr("3.0.244.10.in-addr.arpa") ==
          std::vector<std::string>{
              "3.0.244.10.in-addr.arpa. 30 PTR 10-244-0-3.db.shop.svc.cluster.local."});
    CHECK(ptr("4.0.244.10.in-addr.arpa") == std::vector<std::string>{"rcode 3"});
    CHECK(ptr("0.244.10.in-addr.arpa") == std::vector<std::string>{"rcode 0"});  // NODATA
}

TEST_CASE("snapshot: an endpoint without hostname is found by its dashed address, whatever its "
          "octets") {
    // Octets of one, two and three digits, so the labels sort as text, not as numbers: the
    // binary search over them writes each label as dashed_address() does.
    Cluster c;
    c.upsert(Service{.ns = "n", .name = "h", .headless = true, .ports = {{"p", "tcp", 1}}});
    std::mt19937 rng(3);
    std::vector<IpAddress> addresses;
    EndpointSet set{.ns = "n", .name = "h-1", .service = "h", .ports = {{"p", "tcp", 1}}};
    for (const int edge : {0, 9, 10, 99, 100, 199, 200, 255}) {
        addresses.push_back(ip(fmt::format("{}.{}.{}.{}", edge, 255 - edge, edge, 1 + edge % 7)));
    }
    for (int i = 0; i < 300; ++i) {
        IpAddress a;
        for (size_t b = 0; b < 4; ++b) {
            a.bytes[b] = static_cast<uint8_t>(rng() % (b % 2 == 0 ? 256 : 12));
        }
        addresses.push_back(a);
    }
    addresses.push_back(ip("fd00:10::5"));
    for (const IpAddress& a : addresses) {
        set.endpoints.push_back({.addresses = {a}});
    }
    c.upsert(set);
    const auto s = build_snapshot(c, test::snapshot_config());
    for (const IpAddress& a : addresses) {
        const std::string name = dashed_address(a) + ".h.n.svc.cluster.local";
        CAPTURE(name);
        const test::Decoded d = ask(*s, name, a.v6 ? 28 : kA);
        REQUIRE(d.ok);
        CHECK(d.rcode() == kNoError);
        REQUIRE(d.answer.size() == 1);
        CHECK(d.answer[0].text == ip_to_text(a));
    }
    CHECK(a_of(*s, "10-0-0-01.h.n.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
    CHECK(a_of(*s, "0-255-0-1-.h.n.svc.cluster.local") == std::vector<std::string>{"NXDOMAIN"});
    // The SRV targets are the same names.
    const test::Decoded srv = ask(*s, "_p._tcp.h.n.svc.cluster.local", kSrv, 1 << 16);
    REQUIRE(srv.ok);
    CHECK_FALSE(srv.answer.empty());
    for (const test::DecodedRr& rr : srv.answer) {
        const std::string target = rr.text.substr(rr.text.rfind(' ') + 1);
        const std::string label = target.substr(0, target.find('.'));
        const auto found = std::find_if(addresses.begin(), addresses.end(), [&](const IpAddress& a) {
            return dashed_address(a) == label;
        });
        CAPTURE(target);
        CHECK(found != addresses.end());
    }
}

TEST_CASE("snapshot: thousands of Services changed one at a time, each snapshot finds exactly "
          "its own") {
    Store store(test::snapshot_config());
    std::mt19937 rng(11);
    // ns/name -> address, or absent; and the versions published along the way.
    std::map<std::pair<std::string, std::string>, std::string> model;
    std::vector<std::pair<std::shared_ptr<const Snapshot>, decltype(model)>> versions;
    const auto key = [](int i) {
        return std::make_pair(fmt::format("ns-{}", i % 23), fmt::format("svc-{}", i));
    };
    for (int i = 0; i < 4000; ++i) {
        const auto [ns, name] = key(i);
        const std::string address = fmt::format("10.{}.{}.{}", 96 + i / 65536, i / 256 % 256, i % 256);
        store.upsert(service(ns, name, address));
        model[{ns, name}] = address;
    }
    versions.emplace_back(store.snapshot(), model);
    for (int change = 0; change < 3000; ++change) {
        const int i = static_cast<int>(rng() % 5000);  // some never existed: added
        const auto [ns, name] = key(i);
        if (rng() % 3 == 0) {
            store.erase(ObjectKind::Service, ns, name);
            model.erase({ns, name});
        } else {
            const std::string address = fmt::format("10.200.{}.{}", change / 256, change % 256);
            store.upsert(service(ns, name, address));
            model[{ns, name}] = address;
        }
        if (change % 10 == 0) {  // a publish after one change, or after a few
            versions.emplace_back(store.snapshot(), model);
        }
    }
    versions.emplace_back(store.snapshot(), model);
    for (size_t v = 0; v < versions.size(); v += 15) {
        const auto& [snapshot, expected] = versions[v];
        CAPTURE(v);
        CHECK(snapshot->service_count() == expected.size());
        for (int i = 0; i < 5000; ++i) {
            const auto [ns, name] = key(i);
            const auto it = expected.find({ns, name});
            CHECK(address_of(*snapshot, ns, name) == (it == expected.end() ? "-" : it->second));
        }
    }
    // The last one, asked as a client asks, in another case.
    const auto& [last, expected] = versions.back();
    for (int i = 0; i < 5000; i += 7) {
        const auto [ns, name] = key(i);
        const test::Decoded d = ask(*last, fmt::format("{}.{}.SVC.cluster.local", name, ns), kA);
        REQUIRE(d.ok);
        const auto it = expected.find({ns, name});
        if (it == expected.end()) {
            CHECK(d.rcode() == kNxDomain);
        } else {
            CHECK(d.rcode() == kNoError);
            REQUIRE(d.answer.size() == 1);
            CHECK(d.answer[0].text == it->second);
        }
    }
}

}  // namespace clusterdns
