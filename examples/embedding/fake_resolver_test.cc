// Using clusterdns as a fake cluster resolver in another project's tests: start it on an
// ephemeral port from manifests and from code, point a real stub resolver (glibc's libresolv)
// at it, change the zone while it runs, and stop it.

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "clusterdns/clusterdns.h"

namespace {

// Resolves `name` (type A) through libresolv against 127.0.0.1:port; returns the addresses, or
// the RCODE as a negative number.
struct Lookup {
    int rcode = -1;
    std::vector<std::string> addresses;
};

Lookup resolve(uint16_t port, const std::string& name) {
    struct __res_state state {};
    res_ninit(&state);
    state.nscount = 1;
    state.nsaddr_list[0].sin_family = AF_INET;
    state.nsaddr_list[0].sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &state.nsaddr_list[0].sin_addr);
    state.options &= ~(RES_DNSRCH | RES_DEFNAMES);

    unsigned char answer[4096];
    Lookup out;
    const int size = res_nquery(&state, name.c_str(), ns_c_in, ns_t_a, answer, sizeof answer);
    if (size < 0) {
        // libresolv reports the RCODE through h_errno: HOST_NOT_FOUND is NXDOMAIN.
        out.rcode = state.res_h_errno == HOST_NOT_FOUND ? ns_r_nxdomain : ns_r_servfail;
        res_nclose(&state);
        return out;
    }
    ns_msg msg;
    ns_initparse(answer, size, &msg);
    out.rcode = ns_msg_getflag(msg, ns_f_rcode);
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 && ns_rr_type(rr) == ns_t_a) {
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text);
            out.addresses.emplace_back(text);
        }
    }
    res_nclose(&state);
    return out;
}

}  // namespace

TEST_CASE("embedding: a test starts a fake cluster resolver and changes it while it runs") {
    // Names outside the zone are REFUSED here; .upstreams = {"ADDR:PORT"} forwards them instead.
    clusterdns::Server dns({.listen = {"127.0.0.1:0"}, .workers = 1, .upstreams = {"none"}});
    dns.load_manifests(CLUSTERDNS_EXAMPLES_DIR);
    dns.add_service({.ns = "payments",
                     .name = "ledger",
                     .cluster_ips = {"10.96.50.7"},
                     .ports = {{.name = "grpc", .port = 9090}}});
    dns.start();
    REQUIRE(dns.port() != 0);

    const Lookup api = resolve(dns.port(), "api-service.production.svc.cluster.local");
    CHECK(api.rcode == ns_r_noerror);
    CHECK(api.addresses == std::vector<std::string>{"10.96.10.100"});
    CHECK(resolve(dns.port(), "ledger.payments.svc.cluster.local").addresses ==
          std::vector<std::string>{"10.96.50.7"});

    // Change the zone while it serves: the change is visible when the call returns.
    dns.apply_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: payments}
spec:
  clusterIP: 10.96.50.8
  ports: [{name: grpc, port: 9090}]
)");
    CHECK(resolve(dns.port(), "ledger.payments.svc.cluster.local").addresses ==
          std::vector<std::string>{"10.96.50.8"});
    CHECK(dns.remove_service("payments", "ledger"));
    CHECK(resolve(dns.port(), "ledger.payments.svc.cluster.local").rcode == ns_r_nxdomain);

    // Bad input is refused with a message, and the zone stays as it was.
    CHECK_THROWS_WITH_AS(dns.add_service({.ns = "payments", .name = "Bad_Name"}),
                         doctest::Contains("metadata.name"), std::runtime_error);
    CHECK(resolve(dns.port(), "api-service.production.svc.cluster.local").rcode == ns_r_noerror);

    CHECK(dns.stats().udp_queries >= 5);  // each of the five lookups above came over UDP
    dns.stop();
}
