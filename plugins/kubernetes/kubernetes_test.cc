#include "plugins/kubernetes/kubernetes.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "zone/convert.h"
#include "zone/store.h"

namespace clusterdns {
namespace {

constexpr std::string_view kSlice =
    R"({"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",
    "metadata":{"name":"db-abc","namespace":"prod","resourceVersion":"42",
                "labels":{"kubernetes.io/service-name":"db"}},
    "addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true},
                  "targetRef":{"kind":"Pod","name":"db-0","namespace":"prod"}},
                 {"addresses":["10.244.1.6"],"conditions":{"ready":false}}],
    "ports":[{"name":"sql","port":5432,"protocol":"TCP"}]}})";

// What an event said, copied out of the arena that dies with apply_line.
struct Seen {
    WatchEvent::Type type;
    std::string resource_version;
    int status_code;
    std::string status_message;
};

// Decodes an event line and applies it, as the source does with each event of a batch.
Seen apply_line(std::string_view line, Cluster& cluster,
                const std::vector<std::string>& namespaces = {}) {
    JsonParser parser;
    DocArena arena;
    auto event = decode_watch_event(line, parser, arena);
    REQUIRE(event.has_value());
    if (event->type != WatchEvent::Type::Bookmark && event->type != WatchEvent::Type::Error) {
        const Status s = apply_object(event->object, event->type == WatchEvent::Type::Deleted,
                                      namespaces, cluster);
        INFO((s ? std::string() : s.error().message));
        CHECK(s.has_value());
    }
    return {event->type, std::string(event->resource_version), event->status_code,
            std::string(event->status_message)};
}

TEST_CASE("kubernetes: ADDED, MODIFIED and DELETED events change the objects") {
    Cluster cluster;
    const Seen added = apply_line(kSlice, cluster);
    CHECK(added.resource_version == "42");
    const EndpointSet& set = cluster.endpoint_sets.at("slice:prod/db-abc");
    CHECK(set.service == "db");
    REQUIRE(set.endpoints.size() == 2);
    CHECK(set.endpoints[0].pod == "db-0");
    CHECK_FALSE(set.endpoints[1].ready);

    std::string modified(kSlice);
    modified.replace(modified.find("ADDED"), 5, "MODIFIED");
    modified.replace(modified.find("\"ready\":false"), 13, "\"ready\":true");
    apply_line(modified, cluster);
    CHECK(cluster.endpoint_sets.at("slice:prod/db-abc").endpoints[1].ready);

    apply_line(R"({"type":"DELETED","object":{"kind":"EndpointSlice",
        "apiVersion":"discovery.k8s.io/v1","metadata":{"name":"db-abc","namespace":"prod"}}})",
               cluster);
    CHECK(cluster.endpoint_sets.empty());
}

TEST_CASE("kubernetes: a slice that loses its service label leaves nothing behind") {
    Cluster cluster;
    apply_line(kSlice, cluster);
    std::string unlinked(kSlice);
    const std::string_view label = R"("kubernetes.io/service-name":"db")";
    unlinked.replace(unlinked.find(label), label.size(), R"("x":"y")");
    apply_line(unlinked, cluster);
    CHECK(cluster.endpoint_sets.empty());
}

TEST_CASE("kubernetes: namespaces outside the exposed list are ignored") {
    Cluster cluster;
    apply_line(kSlice, cluster, {"dev"});
    CHECK(cluster.endpoint_sets.empty());
    apply_line(R"({"type":"ADDED","object":{"kind":"Namespace","apiVersion":"v1",
                   "metadata":{"name":"prod"}}})",
               cluster, {"dev"});
    CHECK(cluster.namespaces.empty());
    apply_line(kSlice, cluster, {"dev", "prod"});
    CHECK(cluster.endpoint_sets.size() == 1);
}

TEST_CASE("kubernetes: BOOKMARK and ERROR events carry a resourceVersion or a Status") {
    Cluster cluster;
    const Seen bookmark = apply_line(
        R"({"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1",
            "metadata":{"resourceVersion":"99"}}})",
        cluster);
    CHECK(bookmark.type == WatchEvent::Type::Bookmark);
    CHECK(bookmark.resource_version == "99");
    const Seen gone = apply_line(
        R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",
            "message":"too old resource version: 5 (9)","reason":"Expired","code":410}})json",
        cluster);
    CHECK(gone.type == WatchEvent::Type::Error);
    CHECK(gone.status_code == 410);
    CHECK(gone.status_message == "too old resource version: 5 (9)");
    CHECK(cluster.size() == 0);
}

TEST_CASE("kubernetes: malformed events are errors, never half applied") {
    JsonParser parser;
    DocArena arena;
    CHECK_FALSE(decode_watch_event(R"({"type":"MODIFIED","object":{"kind":"Service","metadata":)",
                                   parser, arena)
                    .has_value());
    CHECK_FALSE(decode_watch_event(R"({"type":"RENAMED","object":{}})", parser, arena)
                    .has_value());
    CHECK_FALSE(decode_watch_event(R"({"type":"ADDED","object":"x"})", parser, arena).has_value());
    CHECK_FALSE(decode_watch_event("[]", parser, arena).has_value());

    // Valid JSON, but a field the converter refuses: the earlier version stays whole.
    Cluster cluster;
    apply_line(R"({"type":"ADDED","object":{"kind":"Service","apiVersion":"v1",
        "metadata":{"name":"web","namespace":"prod"},
        "spec":{"clusterIP":"10.96.0.5","ports":[{"port":80,"protocol":"TCP"}]}}})",
               cluster);
    auto bad = decode_watch_event(
        R"({"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1",
            "metadata":{"name":"web","namespace":"prod"},
            "spec":{"clusterIP":"10.96.0.7","ports":[{"port":0}]}}})",
        parser, arena);
    REQUIRE(bad.has_value());
    CHECK_FALSE(apply_object(bad->object, false, {}, cluster).has_value());
    CHECK(ip_to_text(cluster.services.at("prod/web").cluster_ips.at(0)) == "10.96.0.5");
}

TEST_CASE("kubernetes: list pages give items their kind; continue and resourceVersion") {
    JsonParser parser;
    DocArena arena;
    auto page = decode_list(
        R"({"kind":"ServiceList","apiVersion":"v1",
            "metadata":{"resourceVersion":"17","continue":"abc","remainingItemCount":1},
            "items":[{"metadata":{"name":"a","namespace":"x"},"spec":{"clusterIP":"None"}}]})",
        "Service", "v1", parser, arena);
    REQUIRE(page.has_value());
    CHECK(page->resource_version == "17");
    CHECK(page->continue_token == "abc");
    REQUIRE(page->items.size() == 1);
    Cluster cluster;
    REQUIRE(apply_object(page->items[0], false, {}, cluster).has_value());
    CHECK(cluster.services.at("x/a").headless);
    CHECK_FALSE(decode_list(R"({"items":3})", "Service", "v1", parser, arena).has_value());
    CHECK(decode_list(R"({"metadata":{},"items":null})", "Service", "v1", parser, arena)
              ->items.empty());
}

TEST_CASE("kubernetes: a re-list keeps only what it named, of one kind") {
    Cluster cluster;
    cluster.upsert(Service{.ns = "a", .name = "old", .headless = true});
    cluster.upsert(Service{.ns = "a", .name = "kept", .headless = true});
    cluster.upsert(Namespace{"a"});
    cluster.upsert(EndpointSet{.ns = "a", .name = legacy_set_name("e", 0), .service = "e",
                               .legacy = true});
    cluster.upsert(EndpointSet{.ns = "a", .name = legacy_set_name("e", 1), .service = "e",
                               .legacy = true});
    cluster.upsert(EndpointSet{.ns = "a", .name = legacy_set_name("gone", 0), .service = "gone",
                               .legacy = true});
    cluster.upsert(EndpointSet{.ns = "a", .name = "s", .service = "kept"});
    NameSet listed;
    listed.add("a", "new");
    listed.add("a", "kept");
    listed.add("a", "new");  // a name twice counts once
    listed.seal();
    CHECK(listed.size() == 2);
    cluster.upsert(Service{.ns = "a", .name = "new", .headless = true});
    cluster.keep_only(ObjectKind::Service, listed);
    CHECK(cluster.services.size() == 2);
    CHECK(cluster.services.count("a/new") == 1);
    CHECK(cluster.services.count("a/old") == 0);
    CHECK(cluster.namespaces.size() == 1);
    cluster.keep_only(ObjectKind::EndpointSlice, NameSet{});
    CHECK(cluster.endpoint_sets.size() == 3);  // the legacy sets stay
    NameSet endpoints;
    endpoints.add("a", "e");  // an Endpoints object by its name: every subset stays
    endpoints.seal();
    cluster.keep_only(ObjectKind::Endpoints, endpoints);
    CHECK(cluster.endpoint_sets.size() == 2);
    CHECK(cluster.erase(ObjectKind::Endpoints, "a", "e"));
    CHECK(cluster.endpoint_sets.empty());
}

// One list page of Services in the `prod` namespace: {name, clusterIP, port}.
std::string services_page(std::initializer_list<std::tuple<const char*, const char*, int>> items) {
    std::string out = R"({"metadata":{"resourceVersion":"9"},"items":[)";
    for (const auto& [name, ip, port] : items) {
        out += fmt::format(
            R"({}{{"metadata":{{"name":"{}","namespace":"prod"}},"spec":{{"clusterIP":"{}",)"
            R"("ports":[{{"name":"http","port":{},"protocol":"TCP"}}]}}}})",
            out.back() == '[' ? "" : ",", name, ip, port);
    }
    return out + "]}";
}

TEST_CASE("kubernetes: a re-list holds back only what changed, and replaces the list at once") {
    Store store;
    Store::Writer api = store.writer(Source::Api);
    JsonParser parser;
    DocArena arena;
    auto first = decode_list(services_page({{"web", "10.96.0.5", 80},
                                            {"db", "10.96.0.6", 5432},
                                            {"old", "10.96.0.7", 80},
                                            {"bad", "10.96.0.8", 80}}),
                             "Service", "v1", parser, arena);
    REQUIRE(first.has_value());
    for (const DocNode& item : first->items) {
        REQUIRE(apply_object(item, false, {}, api).has_value());
    }
    const auto before = store.snapshot();

    // The same list later: web as it was, db with another port, old gone, new added, bad now
    // refused (port 0), in two pages.
    StagedList staged;
    auto page1 = decode_list(services_page({{"bad", "10.96.0.8", 0}, {"db", "10.96.0.6", 5433}}),
                             "Service", "v1", parser, arena);
    auto page2 = decode_list(services_page({{"new", "10.96.0.9", 80}, {"web", "10.96.0.5", 80}}),
                             "Service", "v1", parser, arena);
    REQUIRE(page1.has_value());
    REQUIRE(page2.has_value());
    CHECK_FALSE(staged.add(page1->items[0], {}).has_value());
    CHECK(staged.add(page1->items[1], {}).has_value());
    staged.filter(api);
    for (const DocNode& item : page2->items) {
        CHECK(staged.add(item, {}).has_value());
    }
    staged.filter(api);
    CHECK(staged.changed_objects() == 2);  // db and new
    // Nothing reached the store yet: the zone is the old list's.
    const auto during = store.snapshot();
    CHECK(during->service("prod", "old") != nullptr);
    CHECK(during->service("prod", "new") == nullptr);
    CHECK(during->service("prod", "db")->ports()[0].port() == 5432);

    staged.complete(ObjectKind::Service, api);
    CHECK(staged.changed_objects() == 0);
    const auto after = store.snapshot();
    CHECK(after->service("prod", "old") == nullptr);
    CHECK(after->service("prod", "bad") == nullptr);  // refused: its old version goes too
    CHECK(after->service("prod", "new") != nullptr);
    CHECK(after->service("prod", "db")->ports()[0].port() == 5433);
    CHECK(after->service("prod", "web") == before->service("prod", "web"));  // never rewritten
}

TEST_CASE("kubernetes: a staged legacy Endpoints object is replaced whole") {
    Store store;
    Store::Writer api = store.writer(Source::Api);
    JsonParser parser;
    DocArena arena;
    const auto endpoints = [&](std::string_view subsets) {
        auto doc = parser.parse(fmt::format(R"({{"kind":"Endpoints","apiVersion":"v1",
            "metadata":{{"name":"web","namespace":"prod"}},"subsets":[{}]}})",
                                            subsets),
                                arena);
        REQUIRE(doc.has_value());
        return *doc;
    };
    const std::string one = R"({"addresses":[{"ip":"10.244.0.5"}],"ports":[{"port":80}]})";
    const std::string two = R"({"addresses":[{"ip":"10.244.0.6"}],"ports":[{"port":81}]})";
    REQUIRE(apply_object(endpoints(one + "," + two), false, {}, api).has_value());
    REQUIRE(store.counts().endpoint_sets == 2);
    StagedList staged;
    REQUIRE(staged.add(endpoints(one), {}).has_value());  // the second subset is gone
    staged.filter(api);
    CHECK(staged.changed_objects() == 1);
    staged.complete(ObjectKind::Endpoints, api);
    CHECK(store.counts().endpoint_sets == 1);
}

TEST_CASE("kubernetes: known versions follow lists and events") {
    KnownVersions versions;
    CHECK_FALSE(versions.same("a", "web", "5"));
    versions.note("a", "web", "5");
    versions.note("a", "db", "6");
    versions.note("", "a", "opaque-7");  // a namespace; versions need not be numbers
    CHECK_FALSE(versions.same("a", "web", "5"));  // until the list is complete
    versions.commit();
    CHECK(versions.size() == 3);
    CHECK(versions.same("a", "web", "5"));
    CHECK(versions.same("", "a", "opaque-7"));
    CHECK_FALSE(versions.same("a", "web", "6"));
    CHECK_FALSE(versions.same("b", "web", "5"));
    CHECK_FALSE(versions.same("a", "web", ""));
    versions.set("a", "web", "9");
    CHECK_FALSE(versions.same("a", "web", "5"));
    CHECK(versions.same("a", "web", "9"));
    versions.erase("a", "db");
    CHECK_FALSE(versions.same("a", "db", "6"));
    // Enough events to be merged into the sorted versions, the last of each name winning.
    for (int i = 0; i < 1000; ++i) {
        versions.set("a", fmt::format("s{}", i % 300), std::to_string(100 + i));
    }
    versions.erase("a", "s299");
    CHECK(versions.same("a", "s0", "1000"));
    CHECK_FALSE(versions.same("a", "s0", "100"));
    CHECK(versions.same("a", "s298", "998"));
    CHECK_FALSE(versions.same("a", "s299", "999"));
    CHECK(versions.same("a", "web", "9"));
    CHECK_FALSE(versions.same("a", "db", "6"));
    // A list that fails leaves the versions as they were; a complete one replaces them all.
    versions.note("a", "web", "10");
    versions.abandon();
    CHECK(versions.same("a", "web", "9"));
    versions.note("a", "web", "10");
    versions.commit();
    CHECK(versions.same("a", "web", "10"));
    CHECK_FALSE(versions.same("a", "s0", "1000"));
    CHECK(versions.size() == 1);
}

TEST_CASE("kubernetes: known versions of a large list, each found by its own name") {
    KnownVersions versions;
    constexpr int kObjects = 50000;
    for (int i = 0; i < kObjects; ++i) {
        versions.note(fmt::format("ns{}", i % 100), fmt::format("svc-{}", i), std::to_string(i + 1));
    }
    versions.commit();
    CHECK(versions.size() == kObjects);
    int found = 0;
    int wrong = 0;
    for (int i = 0; i < kObjects; ++i) {
        const std::string ns = fmt::format("ns{}", i % 100);
        const std::string name = fmt::format("svc-{}", i);
        found += versions.same(ns, name, std::to_string(i + 1));
        wrong += versions.same(ns, name, std::to_string(i + 2));
    }
    CHECK(found == kObjects);
    CHECK(wrong < 5);  // only where two names share a 32-bit hash and one has the other's version
    // Events merged into the large list keep every other entry findable.
    for (int i = 0; i < 1000; ++i) {
        versions.set(fmt::format("ns{}", i % 100), fmt::format("svc-{}", i), std::to_string(kObjects + i + 1));
    }
    CHECK(versions.same("ns0", "svc-0", std::to_string(kObjects + 1)));
    CHECK_FALSE(versions.same("ns0", "svc-0", "1"));
    CHECK(versions.same("ns99", "svc-49999", std::to_string(kObjects)));
}

TEST_CASE("kubernetes: a list page leaves out the items not wanted, unbuilt") {
    JsonParser parser;
    DocArena arena;
    std::vector<std::string> seen;
    auto page = decode_list(
        R"({"metadata":{"resourceVersion":"9"},"items":[
            {"metadata":{"name":"a","namespace":"x","resourceVersion":"3"},"spec":{}},
            {"metadata":{"name":"b","namespace":"x","resourceVersion":"4"},"spec":{}},
            {"metadata":"odd"}, 7,
            {"metadata":{"name":"c"}}]})",
        "Service", "v1", parser, arena, [&](const ItemHeader& item) {
            seen.push_back(fmt::format("{}/{}@{}", item.ns, item.name, item.resource_version));
            return item.name != "b";
        });
    REQUIRE(page.has_value());
    CHECK(seen == std::vector<std::string>{"x/a@3", "x/b@4", "/@", "/c@"});
    CHECK(page->left_out == 1);
    REQUIRE(page->items.size() == 4);
    CHECK(scalar_at(page->items[0], {"metadata", "name"}) == "a");
    CHECK(scalar_at(page->items[0], {"kind"}) == "Service");
    CHECK(page->items[2].text == "7");
    CHECK(page->resource_version == "9");
    // Not a list: built whole, as without `want`.
    CHECK_FALSE(decode_list(R"({"items":3})", "Service", "v1", parser, arena,
                            [](const ItemHeader&) { return false; })
                    .has_value());
    auto whole = decode_list(R"({"items":[{"metadata":{"name":"a"}}],"items":[1]})", "Service",
                             "v1", parser, arena, [](const ItemHeader&) { return false; });
    REQUIRE(whole.has_value());
    CHECK(whole->items.empty());
    CHECK(whole->left_out == 1);
}

TEST_CASE("kubernetes: a Status body gives its message") {
    JsonParser parser;
    CHECK(status_message(R"({"kind":"Status","message":"services is forbidden","code":403})",
                         parser) == "services is forbidden");
    CHECK(status_message("plain text", parser) == "plain text");
    CHECK(status_message("", parser) == "(no body)");
}

TEST_CASE("kubernetes: RFC 3339 trigger times, as the EndpointSlice controller writes them") {
    using std::chrono::system_clock;
    const auto epoch = [](int64_t ns) {
        return system_clock::time_point(
            std::chrono::duration_cast<system_clock::duration>(std::chrono::nanoseconds(ns)));
    };
    CHECK(parse_rfc3339("1970-01-01T00:00:10Z") == epoch(10'000'000'000));
    CHECK(parse_rfc3339("2026-12-02T06:43:33Z") == epoch(1'796'193'813'000'000'000));
    CHECK(parse_rfc3339("2026-12-02T06:43:33.25Z") == epoch(1'796'193'813'250'000'000));
    CHECK(parse_rfc3339("2026-12-02T07:43:33+01:00") == epoch(1'796'193'813'000'000'000));
    CHECK(parse_rfc3339("2026-12-02T05:43:33-01:00") == epoch(1'796'193'813'000'000'000));
    for (const char* bad : {"", "2026-12-02", "2026-12-02T06:43:33", "2026-12-02 06:43:33Z",
                            "2026-12-02T06:43:33Zjunk", "2026-1x-02T06:43:33Z",
                            "2026-12-02T06:43:33+0100", "4052-12-02T07:43:33+01:00",
                            "1969-12-31T23:59:59Z", "2026-13-02T06:43:33Z", "2026-12-02T24:00:00Z"}) {
        CHECK_MESSAGE(!parse_rfc3339(bad), bad);
    }
}

// An API server on loopback, plain HTTP: every list is empty, every watch stays open (and quiet)
// until the client hangs up. Enough to run the source for real.
class QuietApi {
public:
    QuietApi() {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{
            .sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
        REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(listen(listener_, 16) == 0);
        socklen_t size = sizeof address;
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_all(); });
    }
    ~QuietApi() {
        shutdown(listener_, SHUT_RDWR);
        acceptor_.join();
        close(listener_);
        {
            std::lock_guard lock(mutex_);
            for (const int fd : clients_) {
                shutdown(fd, SHUT_RDWR);
            }
        }
        for (std::thread& t : handlers_) {
            t.join();
        }
        for (const int fd : clients_) {
            close(fd);
        }
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    void accept_all() {
        for (int fd; (fd = accept(listener_, nullptr, nullptr)) >= 0;) {
            std::lock_guard lock(mutex_);
            clients_.push_back(fd);
            handlers_.emplace_back([this, fd] { answer(fd); });
        }
    }
    static void answer(int fd) {
        std::string in;
        char buf[4096];
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
            in.append(buf, static_cast<size_t>(n));
            for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
                const bool watch =
                    in.substr(0, in.find("\r\n")).find("watch=true") != std::string::npos;
                in.erase(0, end + 4);
                const std::string body = R"({"metadata":{"resourceVersion":"1"},"items":[]})";
                const std::string out =
                    watch
                        ? "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"
                        : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
                // MSG_NOSIGNAL: the source may have hung up (it restarts), and SIGPIPE would end
                // the test binary.
                if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) {
                    return;
                }
            }
        }
    }

    int listener_ = -1;
    uint16_t port_ = 0;
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<int> clients_;
    std::vector<std::thread> handlers_;
};

// A store whose first update throws, as a store that runs out of memory would.
class BrittleStore : public KubernetesStore {
public:
    void update(const std::function<void(ObjectSink&)>& edit) override {
        std::lock_guard lock(mutex);
        if (updates++ == 0) {
            throw std::runtime_error("the store broke");
        }
        edit(objects);
    }
    void synced() override {
        std::lock_guard lock(mutex);
        events.push_back("synced");
        changed.notify_all();
    }
    void failed(std::string_view why) override {
        std::lock_guard lock(mutex);
        events.push_back("failed: " + std::string(why));
        changed.notify_all();
    }

    std::mutex mutex;
    std::condition_variable changed;
    int updates = 0;
    Cluster objects;
    std::vector<std::string> events;
};

TEST_CASE("kubernetes: an exception on the source's thread is reported, and the source restarts") {
    QuietApi api;
    BrittleStore store;
    KubernetesConfig config;
    config.api.server = api.url();
    config.api.origin = "test";
    auto source = KubernetesSource::start(config, store);
    REQUIRE(source.has_value());
    std::unique_lock lock(store.mutex);
    // The backoff before the restart is 0.8-1.2 s; the deadline is for a loaded machine.
    const bool restarted = store.changed.wait_for(lock, std::chrono::seconds(30),
                                                  [&] { return store.events.size() >= 2; });
    REQUIRE(restarted);
    CHECK(store.events[0] == "failed: the store broke");
    CHECK(store.events[1] == "synced");
    CHECK((*source)->waiting_for().empty());
    lock.unlock();
    source->reset();  // stopped before the server and the store go
}

}  // namespace
}  // namespace clusterdns
