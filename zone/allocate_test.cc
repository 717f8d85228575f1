#include "zone/allocate.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

namespace clusterdns {
namespace {

IpPrefix range(std::string_view text) {
    auto parsed = parse_prefix(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

Service service(std::string ns, std::string name, std::vector<std::string> ips = {}) {
    Service s;
    s.ns = std::move(ns);
    s.name = std::move(name);
    s.ports = {{"http", "tcp", 80, {}}};
    for (const std::string& text : ips) {
        s.cluster_ips.push_back(*parse_ip(text));
    }
    return s;
}

// Each Service's addresses after one load, as "ns/name" -> "ip,ip" ("*" after an allocated one).
using Addresses = std::map<std::string, std::string>;

Result<Addresses> load(const std::vector<Service>& services, std::vector<IpPrefix> ranges) {
    Cluster out;
    ClusterIpAllocator allocator(out, std::move(ranges));
    for (const Service& s : services) {
        try {
            allocator.upsert(s);
        } catch (const ObjectRefused& e) {
            return Error{fmt::format("Service {}/{}: {}", s.ns, s.name, e.message)};
        }
    }
    if (Status s = allocator.finish(); !s) {
        return s.error();
    }
    Addresses addresses;
    for (const auto& [key, s] : out.services) {
        std::string text;
        for (size_t i = 0; i < s.cluster_ips.size(); ++i) {
            text += fmt::format("{}{}{}", i == 0 ? "" : ",", ip_to_text(s.cluster_ips[i]),
                                (s.allocated_ips >> i & 1) != 0 ? "*" : "");
        }
        addresses[key] = text;
    }
    return addresses;
}

std::vector<Service> many(size_t count, std::string_view prefix = "svc") {
    std::vector<Service> out;
    for (size_t i = 0; i < count; ++i) {
        out.push_back(service(fmt::format("ns{}", i % 7), fmt::format("{}-{}", prefix, i)));
    }
    return out;
}

// The offset of an address in 10.96.0.0/12-like IPv4 ranges, for bounds checks.
uint32_t v4(const std::string& text) {
    const IpAddress ip = *parse_ip(text.substr(0, text.find_first_of(",*")));
    return uint32_t{ip.bytes[0]} << 24 | uint32_t{ip.bytes[1]} << 16 | uint32_t{ip.bytes[2]} << 8 |
           ip.bytes[3];
}

TEST_CASE("allocate: a Service without clusterIP gets one from the range, others keep theirs") {
    const auto got = load({service("prod", "api"), service("prod", "db", {"10.96.5.5"}),
                           service("prod", "outside", {"192.168.1.1"})},
                          {range("10.96.0.0/12")});
    REQUIRE(got.has_value());
    CHECK(got->at("prod/db") == "10.96.5.5");
    CHECK(got->at("prod/outside") == "192.168.1.1");  // outside the range: taken as given
    const std::string api = got->at("prod/api");
    REQUIRE(api.ends_with("*"));
    // In the upper part of the range: above the 256 addresses left to addresses given by hand.
    CHECK(v4(api) >= v4("10.96.1.0"));
    CHECK(v4(api) <= v4("10.111.255.254"));
    CHECK(ip_to_text(ClusterIpAllocator::home(range("10.96.0.0/12"), "prod", "api")) + "*" == api);
}

TEST_CASE("allocate: headless and ExternalName Services get no address") {
    Service headless = service("prod", "db");
    headless.headless = true;
    Service external = service("prod", "ext");
    external.type = ServiceType::ExternalName;
    external.external_name = "db.example.com";
    Service node_port = service("prod", "np");
    node_port.type = ServiceType::NodePort;
    Service balancer = service("prod", "lb");
    balancer.type = ServiceType::LoadBalancer;
    const auto got = load({headless, external, node_port, balancer}, {range("10.96.0.0/12")});
    REQUIRE(got.has_value());
    CHECK(got->at("prod/db").empty());
    CHECK(got->at("prod/ext").empty());
    CHECK(got->at("prod/np").ends_with("*"));  // NodePort and LoadBalancer have a ClusterIP too
    CHECK(got->at("prod/lb").ends_with("*"));
}

TEST_CASE("allocate: the same Services in any order get the same addresses") {
    // A crowded range, so that homes collide and probing decides.
    std::vector<Service> services = many(400);
    services.push_back(service("ns1", "given-a", {"10.96.1.7"}));
    services.push_back(service("ns1", "given-b", {"10.96.2.200"}));
    const auto first = load(services, {range("10.96.0.0/22")});
    REQUIRE(first.has_value());
    std::set<std::string> distinct;
    for (const auto& [key, text] : *first) {
        distinct.insert(text.substr(0, text.find('*')));
    }
    CHECK(distinct.size() == services.size());
    std::mt19937 random(15);
    for (int round = 0; round < 20; ++round) {
        std::shuffle(services.begin(), services.end(), random);
        const auto again = load(services, {range("10.96.0.0/22")});
        REQUIRE(again.has_value());
        CHECK(*again == *first);
    }
}

TEST_CASE("allocate: adding or removing a Service moves no other one") {
    const std::vector<Service> base = many(500);
    const auto before = load(base, {range("10.96.0.0/12")});
    REQUIRE(before.has_value());
    for (size_t extra = 0; extra < 50; ++extra) {
        std::vector<Service> more = base;
        more.push_back(service("ns3", fmt::format("extra-{}", extra)));
        const auto after = load(more, {range("10.96.0.0/12")});
        REQUIRE(after.has_value());
        for (const auto& [key, text] : *before) {
            CHECK_MESSAGE(after->at(key) == text, key, " moved when extra-", extra, " came");
        }
    }
    for (size_t gone = 0; gone < 50; ++gone) {
        std::vector<Service> fewer = base;
        fewer.erase(fewer.begin() + static_cast<long>(gone * 10));
        const auto after = load(fewer, {range("10.96.0.0/12")});
        REQUIRE(after.has_value());
        for (const auto& [key, text] : *after) {
            CHECK_MESSAGE(before->at(key) == text, key, " moved when one went");
        }
    }
}

TEST_CASE("allocate: in a crowded range, a Service at its home moves only for one sharing it") {
    // Half of the upper part taken: homes collide often, and probing runs are long.
    const IpPrefix crowded = range("10.96.0.0/22");
    const std::vector<Service> base = many(500);
    const auto before = load(base, {crowded});
    REQUIRE(before.has_value());
    size_t moved_total = 0;
    for (size_t extra = 0; extra < 100; ++extra) {
        std::vector<Service> more = base;
        more.push_back(service("ns2", fmt::format("extra-{}", extra)));
        const IpAddress newcomer = ClusterIpAllocator::home(crowded, "ns2", more.back().name);
        const auto after = load(more, {crowded});
        REQUIRE(after.has_value());
        for (const Service& s : base) {
            const std::string key = s.ns + "/" + s.name;
            if (after->at(key) == before->at(key)) {
                continue;
            }
            ++moved_total;
            // It moves only if it was not at its home already, or the newcomer shares it.
            const IpAddress home = ClusterIpAllocator::home(crowded, s.ns, s.name);
            const std::string at_home = ip_to_text(home) + "*";
            CHECK_MESSAGE((before->at(key) != at_home || home == newcomer), key);
        }
    }
    CHECK(moved_total < 100 * 5);  // a few, not the crowd
}

TEST_CASE("allocate: Services sharing a home get distinct addresses, the first by name keeps it") {
    const IpPrefix small = range("10.96.0.0/27");  // 30 addresses, upper part from 10.96.0.16
    // Two names with the same home.
    std::map<std::string, std::string> by_home;
    std::pair<std::string, std::string> pair;
    for (int i = 0; pair.first.empty(); ++i) {
        const std::string name = fmt::format("s{}", i);
        const std::string home = ip_to_text(ClusterIpAllocator::home(small, "ns", name));
        if (const auto it = by_home.find(home); it != by_home.end()) {
            pair = {it->second, name};
        }
        by_home.emplace(home, name);
    }
    const std::string home = ip_to_text(ClusterIpAllocator::home(small, "ns", pair.first));
    const auto got = load({service("ns", pair.second), service("ns", pair.first)}, {small});
    REQUIRE(got.has_value());
    const auto& [a, b] = std::minmax(pair.first, pair.second);
    CHECK(got->at("ns/" + a) == home + "*");
    CHECK(got->at("ns/" + b) != home + "*");
    CHECK(got->at("ns/" + b).ends_with("*"));
}

TEST_CASE("allocate: given addresses are never handed out") {
    // 10.96.0.0/29: 10.96.0.1-6; five given, one left.
    std::vector<Service> services = {service("ns", "new")};
    for (int i = 1; i <= 5; ++i) {
        services.push_back(service("ns", fmt::format("given{}", i), {fmt::format("10.96.0.{}", i + (i >= 3))}));
    }
    const auto got = load(services, {range("10.96.0.0/29")});
    REQUIRE(got.has_value());
    CHECK(got->at("ns/new") == "10.96.0.3*");
}

TEST_CASE("allocate: a full range is an error that names it") {
    const auto fits = load(many(6), {range("10.96.0.0/29")});
    REQUIRE(fits.has_value());
    const auto full = load(many(7), {range("10.96.0.0/29")});
    REQUIRE(!full.has_value());
    CHECK(full.error().message.find("10.96.0.0/29") != std::string::npos);
    CHECK(full.error().message.find("full") != std::string::npos);
    // Given addresses count: five given leave room for one.
    std::vector<Service> services = many(2);
    for (int i = 1; i <= 5; ++i) {
        services.push_back(service("ns", fmt::format("given{}", i), {fmt::format("10.96.0.{}", i)}));
    }
    CHECK(!load(services, {range("10.96.0.0/29")}).has_value());
}

TEST_CASE("allocate: kubeadm's conventions for kubernetes.default and kube-dns") {
    auto got = load({service("default", "kubernetes"), service("kube-system", "kube-dns"),
                     service("kube-system", "metrics-server")},
                    {range("10.96.0.0/12")});
    REQUIRE(got.has_value());
    CHECK(got->at("default/kubernetes") == "10.96.0.1*");
    CHECK(got->at("kube-system/kube-dns") == "10.96.0.10*");
    // A manifest that gives kube-dns's address to another Service keeps it; kube-dns goes on.
    got = load({service("kube-system", "kube-dns"), service("kube-system", "coredns", {"10.96.0.10"})},
               {range("10.96.0.0/12")});
    REQUIRE(got.has_value());
    CHECK(got->at("kube-system/coredns") == "10.96.0.10");
    CHECK(got->at("kube-system/kube-dns") != "10.96.0.10*");
    CHECK(got->at("kube-system/kube-dns").ends_with("*"));
    // In another range, the same places: its first and tenth addresses.
    got = load({service("default", "kubernetes"), service("kube-system", "kube-dns")},
               {range("172.20.0.0/16")});
    REQUIRE(got.has_value());
    CHECK(got->at("default/kubernetes") == "172.20.0.1*");
    CHECK(got->at("kube-system/kube-dns") == "172.20.0.10*");
}

TEST_CASE("allocate: ipFamilyPolicy and ipFamilies, single and dual stack") {
    const std::vector<IpPrefix> dual = {range("10.96.0.0/12"), range("fd00:10:96::/112")};
    const std::vector<IpPrefix> v4_only = {range("10.96.0.0/12")};
    const auto with = [](std::string name, IpFamilyPolicy policy, std::vector<bool> families,
                         std::vector<std::string> ips = {}) {
        Service s = service("ns", std::move(name), std::move(ips));
        s.ip_family_policy = policy;
        s.ip_families_v6 = std::move(families);
        return s;
    };
    using P = IpFamilyPolicy;
    const auto got = load({with("single", P::SingleStack, {}),
                           with("single-v6", P::SingleStack, {true}),
                           with("prefer", P::PreferDualStack, {}),
                           with("prefer-v6-first", P::PreferDualStack, {true, false}),
                           with("require", P::RequireDualStack, {}),
                           with("require-given-v4", P::RequireDualStack, {}, {"10.96.3.3"})},
                          dual);
    REQUIRE(got.has_value());
    const auto families = [&](const std::string& key) {
        std::string out;
        const std::string& text = got->at(key);
        for (size_t at = 0; at < text.size();) {
            const size_t comma = text.find(',', at);
            const std::string ip = text.substr(at, comma - at);
            out += fmt::format("{}{}{}", out.empty() ? "" : ",",
                               ip.find(':') != std::string::npos ? "v6" : "v4",
                               ip.ends_with("*") ? "*" : "");
            at = comma == std::string::npos ? text.size() : comma + 1;
        }
        return out;
    };
    CHECK(families("ns/single") == "v4*");  // the first range's family
    CHECK(families("ns/single-v6") == "v6*");
    CHECK(families("ns/prefer") == "v4*,v6*");
    CHECK(families("ns/prefer-v6-first") == "v6*,v4*");
    CHECK(families("ns/require") == "v4*,v6*");
    CHECK(got->at("ns/require-given-v4").starts_with("10.96.3.3,fd00:10:96::"));
    CHECK(families("ns/require-given-v4") == "v4,v6*");
    // An IPv6 range first makes IPv6 the family of a Service that names none.
    const auto v6_first = load({with("single", P::SingleStack, {})},
                               {range("fd00:10:96::/112"), range("10.96.0.0/12")});
    REQUIRE(v6_first.has_value());
    CHECK(v6_first->at("ns/single").starts_with("fd00:10:96::"));

    // With one range: PreferDualStack gets one address, RequireDualStack is an error.
    const auto single = load({with("prefer", P::PreferDualStack, {})}, v4_only);
    REQUIRE(single.has_value());
    CHECK(single->at("ns/prefer").find(':') == std::string::npos);
    const auto required = load({with("require", P::RequireDualStack, {})}, v4_only);
    REQUIRE(!required.has_value());
    CHECK(required.error().message.find("Service ns/require") != std::string::npos);
    CHECK(required.error().message.find("RequireDualStack") != std::string::npos);
    CHECK(required.error().message.find("10.96.0.0/12") != std::string::npos);
    const auto no_v6 = load({with("v6", P::SingleStack, {true})}, v4_only);
    REQUIRE(!no_v6.has_value());
    CHECK(no_v6.error().message.find("IPv6") != std::string::npos);
    // A Service that gives its address needs no range of its family.
    CHECK(load({with("given", P::SingleStack, {true}, {"fd00::5"})}, v4_only).has_value());
}

TEST_CASE("allocate: a change to a loaded zone keeps the addresses it holds") {
    Cluster out;
    ClusterIpAllocator allocator(out, {range("10.96.0.0/29")});  // 10.96.0.1-6
    const IpAddress kept = *parse_ip("10.96.0.6");
    allocator.existing("ns", "old", {&kept, 1}, 1);  // allocated earlier
    const std::vector<IpAddress> given = {*parse_ip("10.96.0.1"), *parse_ip("10.96.0.2"),
                                          *parse_ip("10.96.0.3"), *parse_ip("10.96.0.4")};
    for (size_t i = 0; i < given.size(); ++i) {
        allocator.existing("ns", fmt::format("given{}", i), {&given[i], 1}, 0);
    }
    allocator.upsert(service("ns", "old"));  // applied again, without clusterIP
    allocator.upsert(service("ns", "new"));
    REQUIRE(allocator.finish());
    CHECK(out.services.at("ns/old").cluster_ips == std::vector<IpAddress>{kept});
    CHECK(out.services.at("ns/new").cluster_ips ==
          std::vector<IpAddress>{*parse_ip("10.96.0.5")});  // the one address no one holds
}

TEST_CASE("allocate: a Service given its address later in the load keeps it") {
    // The same Service twice: the last one stands, and its address is not taken from it.
    const auto got = load({service("ns", "a"), service("ns", "a", {"10.96.0.3"})},
                          {range("10.96.0.0/29")});
    REQUIRE(got.has_value());
    CHECK(got->at("ns/a") == "10.96.0.3");
}

TEST_CASE("allocate: service ranges, one per family, comma-separated or repeated") {
    auto ranges = parse_service_cidrs({"10.96.0.0/12,fd00:10:96::/112"});
    REQUIRE(ranges.has_value());
    CHECK(ranges->size() == 2);
    CHECK(ranges->at(1).base.v6);
    ranges = parse_service_cidrs({"fd00::/108", "10.0.0.0/16"});
    REQUIRE(ranges.has_value());
    CHECK(ranges->front().base.v6);
    const auto twice = parse_service_cidrs({"10.96.0.0/12", "10.100.0.0/16"});
    REQUIRE(!twice.has_value());
    CHECK(twice.error().message.find("second IPv4 range") != std::string::npos);
    CHECK(!parse_service_cidrs({"10.96.0.0"}).has_value());
    CHECK(!parse_service_cidrs({"10.96.0.0/31"}).has_value());
    CHECK(!parse_service_cidrs({"nonsense/12"}).has_value());
    CHECK(!parse_service_cidrs({}).has_value());
}

}  // namespace
}  // namespace clusterdns
