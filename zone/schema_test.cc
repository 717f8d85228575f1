#include "zone/schema.h"

#include <string>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"
#include "zone/snapshot_build.h"

namespace clusterdns {
namespace {

// A zone of `length` characters in labels of at most 63: "aaa...a.aaa...a...".
std::string zone_of_length(size_t length) {
    std::string out;
    while (out.size() < length) {
        if (!out.empty()) {
            out += '.';
        }
        out.append(std::min<size_t>(63, length - out.size()), 'a');
    }
    if (out.back() == '.') {  // never end on an empty label
        out.back() = 'b';
    }
    return out;
}

bool too_long(const Status& status) {
    return !status && status.error().message.find("zone name too long") != std::string::npos;
}

}  // namespace

TEST_CASE("schema: validate_zone_name takes ordinary cluster domains") {
    for (const char* zone :
         {"cluster.local", "cluster.local.", "Example.Internal", "k8s", "my-cluster.example.com",
          "_internal.example", "a1.b-2.c3", "0.example"}) {
        CAPTURE(zone);
        CHECK(validate_zone_name(zone).has_value());
    }
}

TEST_CASE("schema: validate_zone_name refuses what is no domain name") {
    for (const char* zone : {"",
                             ".",
                             "..",
                             "bad..zone",
                             ".cluster.local",
                             "cluster.local..",
                             "cluster local",
                             " cluster.local",
                             "cluster.local ",
                             "-cluster.local",
                             "cluster-.local",
                             "cluster.-local",
                             "clu*ster.local",
                             "clu\\.ster.local",
                             "cluster/local",
                             "caf\xc3\xa9.local",
                             "in-addr.arpa",
                             "ip6.arpa",
                             "arpa",
                             "ARPA",
                             "cluster.Arpa."}) {
        CAPTURE(zone);
        const Status status = validate_zone_name(zone);
        CHECK_FALSE(status.has_value());
        CHECK_FALSE(too_long(status));
    }
    CHECK_FALSE(validate_zone_name(std::string_view("cluster\0local", 13)).has_value());
    CHECK_FALSE(validate_zone_name(std::string(64, 'a') + ".local").has_value());
    CHECK(validate_zone_name(std::string(63, 'a') + ".local").has_value());
    CHECK(validate_zone_name("arpa.local").has_value());  // only inside arpa is refused
}

TEST_CASE("schema: validate_zone_name refuses a zone whose derived names exceed 255 octets") {
    // dns-version.<zone> is the longest derived name: 12 octets more than the zone's wire form,
    // which is its length + 2; so 241 characters is the longest zone that works.
    for (size_t length = 200; length <= 241; ++length) {
        CAPTURE(length);
        const std::string zone = zone_of_length(length);
        REQUIRE(zone.size() == length);
        CHECK(validate_zone_name(zone).has_value());
        CHECK(validate_zone_name(zone + ".").has_value());
    }
    for (size_t length = 242; length <= 255; ++length) {
        CAPTURE(length);
        const std::string zone = zone_of_length(length);
        REQUIRE(zone.size() == length);
        CHECK(too_long(validate_zone_name(zone)));
        CHECK(too_long(validate_zone_name(zone + ".")));
    }
}

TEST_CASE("schema: the longest zone serves, a Service name too long for it is left out") {
    Cluster cluster;
    Service service;
    service.ns = "default";
    service.name = "api";
    service.cluster_ips = {*parse_ip("10.96.0.20")};
    cluster.upsert(service);
    for (size_t length = 236; length <= 253; ++length) {
        CAPTURE(length);
        const std::string zone = zone_of_length(length);
        const Status valid = validate_zone_name(zone);
        CHECK(valid.has_value() == (length <= 241));
        if (!valid) {
            CHECK(too_long(valid));
            continue;
        }
        const auto snapshot = build_snapshot(cluster, test::snapshot_config(zone));
        const test::Decoded soa = test::ask(*snapshot, zone, 6);
        CHECK(soa.rcode() == 0);
        CHECK(soa.answer.size() == 1);
        // From 238 characters on, api.default.svc.<zone> would take more than 255 octets: no
        // query can name it, and its ClusterIP has no PTR.
        const test::Decoded ptr = test::ask(*snapshot, "20.0.96.10.in-addr.arpa", 12);
        CHECK(ptr.rcode() == (length <= 237 ? 0 : 3));
        CHECK(ptr.answer.size() == (length <= 237 ? 1 : 0));
    }
}

}  // namespace clusterdns
