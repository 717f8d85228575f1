#include "zone/store.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "zone/persistent_map.h"
#include "zone/snapshot_build.h"

namespace clusterdns {
namespace {

IpAddress ip(std::string_view text) {
    auto parsed = parse_ip(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

// Everything a snapshot says about the names and addresses a test uses, as sorted lines, so two
// snapshots compare whole.
std::vector<std::string> dump(const Snapshot& s, const std::set<std::string>& namespaces,
                              const std::set<std::pair<std::string, std::string>>& services,
                              const std::set<IpAddress>& addresses) {
    std::vector<std::string> out;
    for (const std::string& ns : namespaces) {
        out.push_back(fmt::format("ns {} {}", ns, s.has_namespace(ns)));
    }
    for (const auto& [ns, name] : services) {
        const ServiceView* v = s.service(ns, name);
        if (v == nullptr) {
            continue;
        }
        std::string line = fmt::format("svc {}/{} headless={} ips=", ns, name, v->headless());
        for (const IpAddress& a : v->cluster_ips()) {
            line += ip_to_text(a) + ",";
        }
        line += " ports=";
        for (const PortView& p : v->ports()) {
            line += fmt::format("{}/{}/{},", p.name(), p.protocol(), p.port());
        }
        line += " endpoints=";
        for (size_t i = 0; i < v->endpoint_count(); ++i) {
            const EndpointView& e = v->endpoint(i);
            line += fmt::format("{}:{}[", ip_to_text(e.address), e.hostname());
            for (const PortView& p : e.ports()) {
                line += fmt::format("{}/{},", p.name(), p.port());
            }
            line += "],";
        }
        line += " by_label=";
        for (const uint32_t i : v->by_label()) {
            line += fmt::format("{},", i);
        }
        out.push_back(line);
    }
    for (const IpAddress& a : addresses) {
        std::string line = "ptr " + ip_to_text(a) + ":";
        for (const PtrTarget& t : s.ptr_targets(a)) {
            line += fmt::format(" {}/{}/{}", t.service->ns(), t.service->name(),
                                t.endpoint ? endpoint_label(*t.endpoint) : "-");
        }
        out.push_back(line);
        for (unsigned bits = 8; bits < 32; bits += 8) {
            out.push_back(fmt::format("prefix {}/{} {}", ip_to_text(a), bits,
                                      s.has_reverse_prefix(a, bits)));
        }
    }
    out.push_back(fmt::format("counts {} {}", s.service_count(), s.endpoint_count()));
    std::sort(out.begin(), out.end());
    return out;
}

struct Counter : Counted {
    static inline int alive = 0;
    int value;
    explicit Counter(int v) : value(v) { ++alive; }
    ~Counter() { --alive; }
};

}  // namespace

TEST_CASE("persistent map: versions share structure and never see each other's changes") {
    {
        PersistentMap<Counter> a;
        const auto is = [](int v) { return [v](const Counter& c) { return c.value == v; }; };
        for (int i = 0; i < 5000; ++i) {
            a.set(mix_hash(static_cast<uint64_t>(i)), is(i), new Counter(i));
        }
        CHECK(a.size() == 5000);
        PersistentMap<Counter> b = a;  // a version
        for (int i = 0; i < 5000; i += 2) {
            CHECK(b.erase(mix_hash(static_cast<uint64_t>(i)), is(i)));
        }
        b.set(mix_hash(7), is(7), new Counter(7));  // replaces
        CHECK(a.size() == 5000);
        CHECK(b.size() == 2500);
        for (int i = 0; i < 5000; ++i) {
            CHECK(a.find(mix_hash(static_cast<uint64_t>(i)), is(i)) != nullptr);
            CHECK((b.find(mix_hash(static_cast<uint64_t>(i)), is(i)) != nullptr) == (i % 2 == 1));
        }
        CHECK(Counter::alive == 5001);  // 7 exists twice: one per version
        CHECK_FALSE(b.erase(mix_hash(0), is(0)));
        a = b;
        CHECK(Counter::alive == 2500);  // a's old version is gone
    }
    CHECK(Counter::alive == 0);
}

TEST_CASE("persistent map: its nodes cost about 15 bytes a key at 100,000 keys") {
    // 10 bytes an entry (16 bits of hash, a pointer), buckets grown by an eighth to the end of
    // their block, middle nodes of 64 children. With 32-bit tags, buckets a quarter bigger at
    // each growth and middle nodes of 256 children they cost about 18.
    PersistentMap<Counter> map;
    const auto is = [](int v) { return [v](const Counter& c) { return c.value == v; }; };
    constexpr int kKeys = 100000;
    for (int i = 0; i < kKeys; ++i) {
        map.set(mix_hash(static_cast<uint64_t>(i)), is(i), new Counter(i));
    }
    CHECK(map.size() == kKeys);
    CHECK(map.node_bytes() < size_t{kKeys} * 33 / 2);
    for (int i = 0; i < kKeys; i += 997) {
        CHECK(map.find(mix_hash(static_cast<uint64_t>(i)), is(i)) != nullptr);
    }
}

TEST_CASE("name set: pairs once each, in the order added, found by both parts") {
    NameSet names;
    CHECK_FALSE(names.contains("a", "b"));  // empty, unsealed
    for (int i = 0; i < 20000; ++i) {
        const int n = i % 10000;  // each pair twice
        names.add(fmt::format("ns{}", n % 7), fmt::format("n{}", n));
    }
    names.add("ab", "c");
    names.add("a", "bc");  // the same text, split elsewhere: another pair
    names.add("", "ns0");  // a namespace's pair
    names.seal();
    CHECK(names.size() == 10000 + 3);
    CHECK(names.contains("ns0", "n0"));
    CHECK(names.contains("ns3", "n9999"));
    CHECK_FALSE(names.contains("ns1", "n0"));  // 0 % 7 = 0 only
    CHECK(names.contains("ab", "c"));
    CHECK(names.contains("a", "bc"));
    CHECK_FALSE(names.contains("abc", ""));
    CHECK(names.contains("", "ns0"));
    CHECK_FALSE(names.contains("ns0", ""));
    std::vector<std::string> order;
    names.for_each([&](std::string_view ns, std::string_view name) {
        if (order.size() < 3) {
            order.push_back(fmt::format("{}/{}", ns, name));
        }
    });
    CHECK(order == std::vector<std::string>{"ns0/n0", "ns1/n1", "ns2/n2"});
    names.clear();
    CHECK(names.size() == 0);
    CHECK_FALSE(names.contains("ns0", "n0"));
}

TEST_CASE("store: a snapshot shows the objects; old snapshots stay as they were") {
    Store store;
    Service web{.ns = "shop", .name = "web", .cluster_ips = {ip("10.96.0.10")}};
    web.ports = {{"http", "tcp", 80}};
    store.upsert(web);
    Service db{.ns = "shop", .name = "db", .headless = true};
    store.upsert(db);
    store.upsert(EndpointSet{.ns = "shop",
                             .name = "db-1",
                             .service = "db",
                             .endpoints = {{.addresses = {ip("10.244.0.5")}, .hostname = "db-0"},
                                           {.addresses = {ip("10.244.0.6")}, .ready = false}},
                             .ports = {{"pg", "tcp", 5432}}});
    const auto first = store.snapshot();
    REQUIRE(first->service("shop", "db") != nullptr);
    CHECK(first->service("shop", "db")->endpoint_count() == 1);
    CHECK(first->has_namespace("shop"));
    CHECK(first->has_namespace("default"));
    CHECK_FALSE(first->has_namespace("nope"));
    CHECK(first->ptr_targets(ip("10.244.0.5")).size() == 1);
    CHECK(first->has_reverse_prefix(ip("10.244.0.0"), 16));
    CHECK_FALSE(first->has_reverse_prefix(ip("10.245.0.0"), 16));

    CHECK(store.erase(ObjectKind::Service, "shop", "db"));
    CHECK(store.erase(ObjectKind::Service, "shop", "web"));
    const auto second = store.snapshot();
    CHECK(second->service("shop", "db") == nullptr);
    CHECK_FALSE(second->has_namespace("shop"));  // nothing uses it, nobody declared it
    CHECK(second->ptr_targets(ip("10.244.0.5")).empty());
    CHECK_FALSE(second->has_reverse_prefix(ip("10.244.0.0"), 16));
    // The first snapshot is untouched.
    CHECK(first->service("shop", "web") != nullptr);
    CHECK(first->ptr_targets(ip("10.96.0.10")).size() == 1);
    CHECK(first->has_namespace("shop"));
}

TEST_CASE("store: a ClusterIP hides endpoint PTRs of the same address, whichever comes first") {
    Store store;
    store.upsert(Service{.ns = "a", .name = "h", .headless = true});
    store.upsert(EndpointSet{.ns = "a",
                             .name = "h-1",
                             .service = "h",
                             .endpoints = {{.addresses = {ip("10.0.0.9")}}}});
    CHECK(store.snapshot()->ptr_targets(ip("10.0.0.9"))[0].endpoint != nullptr);
    store.upsert(Service{.ns = "b", .name = "c", .cluster_ips = {ip("10.0.0.9")}});
    const auto both = store.snapshot();
    REQUIRE(both->ptr_targets(ip("10.0.0.9")).size() == 1);
    CHECK(both->ptr_targets(ip("10.0.0.9"))[0].endpoint == nullptr);
    CHECK(both->ptr_targets(ip("10.0.0.9"))[0].service->name() == "c");
    store.erase(ObjectKind::Service, "b", "c");
    CHECK(store.snapshot()->ptr_targets(ip("10.0.0.9"))[0].endpoint != nullptr);
}

TEST_CASE("store: a slice that changes its Service leaves nothing behind") {
    Store store;
    store.upsert(Service{.ns = "n", .name = "one", .headless = true});
    store.upsert(Service{.ns = "n", .name = "two", .headless = true});
    EndpointSet set{.ns = "n",
                    .name = "s",
                    .service = "one",
                    .endpoints = {{.addresses = {ip("10.1.0.1")}}}};
    store.upsert(set);
    CHECK(store.snapshot()->service("n", "one")->endpoint_count() == 1);
    set.service = "two";
    store.upsert(set);
    const auto moved = store.snapshot();
    CHECK(moved->service("n", "one")->endpoint_count() == 0);
    CHECK(moved->service("n", "two")->endpoint_count() == 1);
    REQUIRE(moved->ptr_targets(ip("10.1.0.1")).size() == 1);
    CHECK(moved->ptr_targets(ip("10.1.0.1"))[0].service->name() == "two");
}

// The store changed one object at a time must say exactly what a store built from scratch says,
// after every batch of random changes.
TEST_CASE("store: incremental snapshots equal snapshots built from scratch") {
    std::mt19937 rng(20261202);
    const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    Store store;
    Cluster model;
    std::set<std::string> all_namespaces = {"default", "n0", "n1", "n2", "n3"};
    std::set<std::pair<std::string, std::string>> all_services;
    std::set<IpAddress> all_addresses;
    for (int batch = 0; batch < 60; ++batch) {
        for (int change = 0; change < 1 + pick(12); ++change) {
            const std::string ns = fmt::format("n{}", pick(4));
            const std::string name = fmt::format("s{}", pick(6));
            all_services.emplace(ns, name);
            switch (pick(8)) {
                case 0:
                case 1: {
                    Service s{.ns = ns, .name = name, .headless = pick(2) == 0};
                    if (!s.headless) {
                        s.cluster_ips = {ip(fmt::format("10.96.0.{}", pick(20)))};
                        all_addresses.insert(s.cluster_ips[0]);
                    }
                    s.ports = {{"http", "tcp", static_cast<uint16_t>(80 + pick(3))}};
                    s.publish_not_ready_addresses = pick(4) == 0;
                    model.upsert(s);
                    store.upsert(s);
                    break;
                }
                case 2:
                    model.erase(ObjectKind::Service, ns, name);
                    store.erase(ObjectKind::Service, ns, name);
                    break;
                case 3:
                case 4: {
                    // Legacy Endpoints become sets named "<name>/<subset>": one subset here.
                    const bool legacy = pick(5) == 0;
                    EndpointSet set{.ns = ns,
                                    .name = fmt::format("slice{}{}", pick(5), legacy ? "/0" : ""),
                                    .service = name,
                                    .legacy = legacy,
                                    .ports = {{"http", "tcp", 8080}}};
                    for (int e = pick(4); e > 0; --e) {
                        const IpAddress a = ip(fmt::format("10.{}.0.{}", 95 + pick(3), pick(20)));
                        all_addresses.insert(a);
                        set.endpoints.push_back({.addresses = {a},
                                                 .hostname = pick(2) ? "" : fmt::format("h{}", pick(3)),
                                                 .ready = pick(4) != 0});
                    }
                    model.upsert(set);
                    store.upsert(set);
                    break;
                }
                case 5: {
                    const std::string set_name = fmt::format("slice{}", pick(5));
                    const bool legacy = pick(5) == 0;
                    model.erase(legacy ? ObjectKind::Endpoints : ObjectKind::EndpointSlice, ns,
                                set_name);
                    store.erase(legacy ? ObjectKind::Endpoints : ObjectKind::EndpointSlice, ns,
                                set_name);
                    break;
                }
                case 6:
                    model.upsert(Namespace{ns});
                    store.upsert(Namespace{ns});
                    break;
                case 7:
                    model.erase(ObjectKind::Namespace, "", ns);
                    store.erase(ObjectKind::Namespace, "", ns);
                    break;
            }
        }
        const auto incremental = store.snapshot();
        const auto scratch = build_snapshot(model, {});
        const auto got = dump(*incremental, all_namespaces, all_services, all_addresses);
        const auto want = dump(*scratch, all_namespaces, all_services, all_addresses);
        std::string differences;
        for (const std::string& line : got) {
            if (!std::binary_search(want.begin(), want.end(), line)) {
                differences += "\n  incremental only: " + line;
            }
        }
        for (const std::string& line : want) {
            if (!std::binary_search(got.begin(), got.end(), line)) {
                differences += "\n  from scratch only: " + line;
            }
        }
        INFO("batch " << batch << differences);
        CHECK(got == want);
    }
}

TEST_CASE("store: the API's version of an object wins while it exists; a re-list replaces only "
          "its own") {
    Store store;
    auto manifests = store.writer(Source::Manifests);
    auto api = store.writer(Source::Api);
    manifests.upsert(Service{.ns = "a", .name = "both", .cluster_ips = {ip("10.0.0.1")}});
    manifests.upsert(Service{.ns = "a", .name = "file", .cluster_ips = {ip("10.0.0.2")}});
    api.upsert(Service{.ns = "a", .name = "both", .cluster_ips = {ip("10.0.0.3")}});
    manifests.upsert(Service{.ns = "a", .name = "both", .cluster_ips = {ip("10.0.0.4")}});
    CHECK(store.snapshot()->service("a", "both")->cluster_ips()[0] == ip("10.0.0.3"));

    // A re-list: its objects are upserted, then what it did not name goes.
    api.upsert(Service{.ns = "a", .name = "new", .cluster_ips = {ip("10.0.0.5")}});
    NameSet listed;
    listed.add("a", "new");
    listed.seal();
    api.keep_only(ObjectKind::Service, listed);
    const auto after = store.snapshot();
    // The API's version is gone with the re-list: the manifests' shows through again.
    REQUIRE(after->service("a", "both") != nullptr);
    CHECK(after->service("a", "both")->cluster_ips()[0] == ip("10.0.0.4"));
    CHECK(after->service("a", "file") != nullptr);  // the manifests' stays
    CHECK(after->service("a", "new") != nullptr);
    CHECK_FALSE(manifests.erase(ObjectKind::Service, "a", "new"));  // not the manifests' to erase
    CHECK(api.erase(ObjectKind::Service, "a", "new"));
}

TEST_CASE("store: legacy Endpoints are erased with every subset") {
    Store store;
    for (int i = 0; i < 3; ++i) {
        store.upsert(EndpointSet{.ns = "a",
                                 .name = fmt::format("e/{}", i),
                                 .service = "e",
                                 .legacy = true,
                                 .endpoints = {{.addresses = {ip(fmt::format("10.0.1.{}", i))}}}});
    }
    store.upsert(Service{.ns = "a", .name = "e", .headless = true});
    CHECK(store.snapshot()->service("a", "e")->endpoint_count() == 3);
    CHECK(store.erase(ObjectKind::Endpoints, "a", "e"));
    CHECK(store.snapshot()->service("a", "e")->endpoint_count() == 0);
    CHECK(store.counts().endpoint_sets == 0);
}

TEST_CASE("store: a checkpoint takes every change since back") {
    Store store;
    store.upsert(Service{.ns = "a", .name = "kept", .cluster_ips = {ip("10.0.0.1")}});
    const auto before = store.snapshot();
    const Store::Checkpoint saved = store.checkpoint();
    store.upsert(Service{.ns = "b", .name = "dropped", .cluster_ips = {ip("10.0.0.2")}});
    store.erase(ObjectKind::Service, "a", "kept");
    store.restore(saved);
    const auto after = store.snapshot();
    CHECK(after->service("a", "kept") != nullptr);
    CHECK(after->service("b", "dropped") == nullptr);
    CHECK_FALSE(after->has_namespace("b"));
    CHECK(after->ptr_targets(ip("10.0.0.1")).size() == 1);
    CHECK(after->ptr_targets(ip("10.0.0.2")).empty());
}

TEST_CASE("store: endpoints come IPv4 first, and their named ports are listed once") {
    Store store;
    store.upsert(Service{.ns = "a", .name = "h", .headless = true});
    store.upsert(EndpointSet{.ns = "a",
                             .name = "h-v6",
                             .service = "h",
                             .endpoints = {{.addresses = {ip("fd00::1")}}},
                             .ports = {{"web", "tcp", 80}}});
    store.upsert(EndpointSet{.ns = "a",
                             .name = "h-v4",
                             .service = "h",
                             .endpoints = {{.addresses = {ip("10.0.0.1")}},
                                           {.addresses = {ip("10.0.0.2")}}},
                             .ports = {{"web", "tcp", 80}, {"", "tcp", 81}}});
    const auto snapshot = store.snapshot();
    const ServiceView* h = snapshot->service("a", "h");
    REQUIRE(h != nullptr);
    REQUIRE(h->endpoint_count() == 3);
    CHECK(h->first_v6() == 2);
    CHECK_FALSE(h->endpoint(0).address.v6);
    CHECK_FALSE(h->endpoint(1).address.v6);
    CHECK(h->endpoint(2).address.v6);
    REQUIRE(h->endpoint_ports().size() == 1);
    CHECK(h->endpoint_ports()[0]->name() == "web");
}

TEST_CASE("store: an endpoint in two slices is published once, in first-seen order") {
    // Few endpoints are compared pairwise, many by sorting: both ways keep the same ones.
    for (const int count : {3, 40}) {
        Store store;
        store.upsert(Service{.ns = "a", .name = "h", .headless = true});
        EndpointSet first{.ns = "a", .name = "h-1", .service = "h"};
        EndpointSet second{.ns = "a", .name = "h-2", .service = "h"};
        for (int i = count; i > 0; --i) {
            const Endpoint e{.addresses = {ip(fmt::format("10.0.0.{}", i))}};
            first.endpoints.push_back(e);
            second.endpoints.push_back(e);
        }
        second.endpoints.push_back({.addresses = {ip("10.0.1.1")}});
        second.endpoints.push_back({.addresses = {ip("10.0.0.1")}, .hostname = "named"});
        store.upsert(first);
        store.upsert(second);
        const auto snapshot = store.snapshot();
        const ServiceView* h = snapshot->service("a", "h");
        REQUIRE(h != nullptr);
        INFO("endpoints per slice: " << count);
        REQUIRE(h->endpoint_count() == static_cast<size_t>(count) + 2);
        for (int i = 0; i < count; ++i) {
            CHECK(h->endpoint(i).address == ip(fmt::format("10.0.0.{}", count - i)));
        }
        CHECK(h->endpoint(count).address == ip("10.0.1.1"));
        CHECK(h->endpoint(count + 1).hostname() == "named");
    }
}

TEST_CASE("store: Pod addresses by namespace, for pods verified") {
    Store store;
    store.upsert(Pod{.ns = "a", .name = "p", .ips = {ip("10.244.0.5"), ip("fd00::5")}});
    auto snapshot = store.snapshot();
    CHECK(snapshot->has_pod("a", ip("10.244.0.5")));
    CHECK(snapshot->has_pod("a", ip("fd00::5")));
    CHECK_FALSE(snapshot->has_pod("b", ip("10.244.0.5")));
    store.upsert(Pod{.ns = "a", .name = "p", .ips = {ip("10.244.0.6")}});  // moved
    snapshot = store.snapshot();
    CHECK_FALSE(snapshot->has_pod("a", ip("10.244.0.5")));
    CHECK(snapshot->has_pod("a", ip("10.244.0.6")));
    CHECK(store.erase(ObjectKind::Pod, "a", "p"));
    CHECK_FALSE(store.snapshot()->has_pod("a", ip("10.244.0.6")));
}

TEST_CASE("store: an upsert of what the store holds changes and derives nothing") {
    Store store({.endpoint_pod_names = true});
    const Service web{.ns = "a",
                      .name = "web",
                      .cluster_ips = {ip("10.96.0.5")},
                      .ports = {{"http", "tcp", 80, {}}}};
    CHECK_FALSE(store.holds(web, Source::Api));
    store.upsert(web, Source::Api);
    CHECK(store.holds(web, Source::Api));
    CHECK_FALSE(store.holds(web, Source::Manifests));
    Service changed = web;
    changed.ports[0].port = 81;
    CHECK_FALSE(store.holds(changed, Source::Api));
    changed = web;
    changed.ports[0].protocol = "udp";
    CHECK_FALSE(store.holds(changed, Source::Api));
    changed = web;
    changed.publish_not_ready_addresses = true;
    CHECK_FALSE(store.holds(changed, Source::Api));
    changed = web;
    changed.cluster_ips.push_back(ip("fd00::5"));
    CHECK_FALSE(store.holds(changed, Source::Api));
    changed = web;
    changed.ports[0].target_port = "8080";  // the store does not keep it
    changed.selector = LabelMap{{"app", "web"}};
    CHECK(store.holds(changed, Source::Api));

    const EndpointSet set{.ns = "a",
                          .name = "web-1",
                          .service = "web",
                          .endpoints = {{{ip("10.244.0.5")}, "", true, "web-0"},
                                        {{ip("10.244.0.6"), ip("10.244.0.7")}, "h", false, ""}},
                          .ports = {{"http", "tcp", 8080, {}}}};
    store.upsert(set, Source::Api);
    CHECK(store.holds(set, Source::Api));
    EndpointSet other = set;
    other.endpoints[1].ready = true;
    CHECK_FALSE(store.holds(other, Source::Api));
    other = set;
    other.endpoints[0].pod = "web-9";  // the label endpoint_pod_names gives it
    CHECK_FALSE(store.holds(other, Source::Api));
    other = set;
    other.endpoints[1].addresses.pop_back();
    CHECK_FALSE(store.holds(other, Source::Api));
    other = set;
    other.endpoints.push_back({{ip("10.244.0.8")}, "", true, ""});
    CHECK_FALSE(store.holds(other, Source::Api));
    other = set;
    other.service = "api";
    CHECK_FALSE(store.holds(other, Source::Api));

    const Pod pod{.ns = "a", .name = "p", .ips = {ip("10.244.0.5")}};
    store.upsert(pod, Source::Api);
    CHECK(store.holds(pod, Source::Api));
    CHECK_FALSE(store.holds(Pod{.ns = "a", .name = "p", .ips = {ip("10.244.0.9")}}, Source::Api));
    CHECK_FALSE(store.holds(Namespace{"a"}, Source::Api));  // used, but declared by no object
    store.upsert(Namespace{"a"}, Source::Api);
    CHECK(store.holds(Namespace{"a"}, Source::Api));

    // Held objects again: the next snapshot shares the Service's view (nothing was derived).
    const auto before = store.snapshot();
    store.upsert(web, Source::Api);
    store.upsert(set, Source::Api);
    store.upsert(pod, Source::Api);
    store.upsert(Namespace{"a"}, Source::Api);
    const auto after = store.snapshot();
    CHECK(after->service("a", "web") == before->service("a", "web"));
    store.upsert(changed, Source::Api);  // only what the store drops differs
    CHECK(store.snapshot()->service("a", "web") == before->service("a", "web"));
    changed.ports[0].port = 81;
    store.upsert(changed, Source::Api);
    const auto moved = store.snapshot();
    REQUIRE(moved->service("a", "web") != nullptr);
    CHECK(moved->service("a", "web")->ports()[0].port() == 81);
}

}  // namespace clusterdns
