#include "clusterdns/clusterdns.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

size_t open_descriptors() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

// The inodes of the sockets this process holds: /proc/self/fd links read "socket:[INODE]".
std::set<unsigned long> own_socket_inodes() {
    std::set<unsigned long> inodes;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
        unsigned long inode = 0;
        if (!ec && std::sscanf(target.c_str(), "socket:[%lu]", &inode) == 1) inodes.insert(inode);
    }
    return inodes;
}

// The inodes of every socket in this network namespace bound to local `port`, any address, from
// the kernel's tables (`table`: "tcp" or "udp", v4 and v6). A closed socket leaves them (a
// connection in TIME_WAIT stays with inode 0, which a listener or UDP socket never has).
std::set<unsigned long> kernel_sockets_on(uint16_t port, const std::string& table) {
    std::set<unsigned long> inodes;
    for (const std::string& file : {"/proc/net/" + table, "/proc/net/" + table + "6"}) {
        std::ifstream in(file);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            // "0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1234 ..."
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
            unsigned long inode = 0;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                timeout >> inode;
            const size_t colon = local.rfind(':');
            if (!fields || colon == std::string::npos) continue;
            if (std::stoul(local.substr(colon + 1), nullptr, 16) == port && inode != 0)
                inodes.insert(inode);
        }
    }
    return inodes;
}

std::set<unsigned long> both(const std::set<unsigned long>& a, const std::set<unsigned long>& b) {
    std::set<unsigned long> out;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
    return out;
}

TEST_CASE("server: stop() gives back every socket and descriptor, start after start fails cleanly") {
    {
        // libuv opens a pipe of its own for the whole process with the first loop: not ours.
        Server first({.listen = {"127.0.0.1:0"}, .workers = 1, .upstreams = {"none"}});
        first.start();
    }
    const size_t before = open_descriptors();
    uint16_t port = 0;
    {
        Server server({.listen = {"127.0.0.1:0"}, .workers = 2, .upstreams = {"none"}});
        server.start();
        port = server.port();
        // What the server holds on its port, by inode: whether the port number is free afterwards
        // proves nothing, another process may take it as soon as it is.
        const auto udp = both(own_socket_inodes(), kernel_sockets_on(port, "udp"));
        const auto tcp = both(own_socket_inodes(), kernel_sockets_on(port, "tcp"));
        CHECK_FALSE(udp.empty());
        CHECK_FALSE(tcp.empty());
        server.stop();
        // Closed, not merely handed elsewhere: gone from this process and from the kernel's tables,
        // listen queues included.
        CHECK(both(own_socket_inodes(), udp).empty());
        CHECK(both(own_socket_inodes(), tcp).empty());
        CHECK(both(kernel_sockets_on(port, "udp"), udp).empty());
        CHECK(both(kernel_sockets_on(port, "tcp"), tcp).empty());
    }
    CHECK(open_descriptors() == before);

    // A second server on the port the first holds fails, and leaves nothing open behind.
    Server holder({.listen = {"127.0.0.1:0"}, .workers = 1, .upstreams = {"none"}});
    holder.start();
    const size_t holding = open_descriptors();
    Server second({.listen = {"127.0.0.1:" + std::to_string(holder.port())},
                   .workers = 2,
                   .upstreams = {"none"}});
    CHECK_THROWS(second.start());
    CHECK(open_descriptors() == holding);
}

// The A records of a Service's name in Server::records(), with whether each is allocated.
std::vector<std::pair<std::string, bool>> addresses_of(const Server& server,
                                                       const std::string& name) {
    std::vector<std::pair<std::string, bool>> out;
    for (const Server::Record& r : server.records()) {
        if (r.name == name && (r.type == "A" || r.type == "AAAA")) {
            out.emplace_back(r.data, r.allocated);
        }
    }
    return out;
}

TEST_CASE("server: Services without clusterIP get allocated ones, and records() says so") {
    Options options;
    options.listen = {"127.0.0.1:0"};
    options.upstreams = {"none"};
    options.service_cidrs = {"10.96.0.0/16,fd00:10:96::/112"};
    Server server(options);
    server.apply_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: both, namespace: prod}
spec:
  ipFamilyPolicy: RequireDualStack
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: given, namespace: prod}
spec:
  clusterIP: 10.96.7.7
  ports: [{name: http, port: 80}]
)");
    const auto api = addresses_of(server, "api.prod.svc.cluster.local.");
    REQUIRE(api.size() == 1);
    CHECK(api[0].first.starts_with("10.96."));
    CHECK(api[0].second);
    const auto both = addresses_of(server, "both.prod.svc.cluster.local.");
    REQUIRE(both.size() == 2);
    CHECK(both[0].second);
    CHECK(both[1].second);
    CHECK(addresses_of(server, "given.prod.svc.cluster.local.") ==
          std::vector<std::pair<std::string, bool>>{{"10.96.7.7", false}});
    bool ptr = false;
    for (const Server::Record& r : server.records()) {
        ptr = ptr || (r.type == "PTR" && r.data == "api.prod.svc.cluster.local." && r.allocated);
    }
    CHECK(ptr);
    CHECK(server.zone_summary().allocated_cluster_ips == 3);

    // Applied again (a port changed), it keeps its address, as a Service's clusterIP never
    // changes; a Service added through the API gets one too.
    server.apply_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec:
  ports: [{name: http, port: 8080}]
)");
    CHECK(addresses_of(server, "api.prod.svc.cluster.local.") == api);
    server.add_service({.ns = "prod", .name = "added", .ports = {{"http", "TCP", 80}}});
    const auto added = addresses_of(server, "added.prod.svc.cluster.local.");
    REQUIRE(added.size() == 1);
    CHECK(added[0].second);
    CHECK(added[0].first != api[0].first);
    // What no range can give is refused, with the Service's name.
    Options v4_only;
    v4_only.listen = {"127.0.0.1:0"};
    v4_only.upstreams = {"none"};
    Server single(v4_only);
    CHECK_THROWS_WITH(single.apply_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: x, "
                                        "namespace: prod}\nspec: {ipFamilyPolicy: "
                                        "RequireDualStack, ports: [{port: 80}]}\n"),
                      doctest::Contains("RequireDualStack"));
}

}  // namespace
}  // namespace clusterdns
