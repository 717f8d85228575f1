#include "plugins/manifests/manifests.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

#include "plugins/manifests/yaml_document.h"

namespace clusterdns {
namespace {

const std::string kData = CLUSTERDNS_TEST_DATA;

Cluster load(std::string_view text) {
    Cluster cluster;
    const Status s = load_manifest_text(text, "test.yaml", cluster);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s.has_value());
    return cluster;
}

std::string load_error(std::string_view text) {
    Cluster cluster;
    const Status s = load_manifest_text(text, "test.yaml", cluster);
    REQUIRE_FALSE(s.has_value());
    return s.error().message;
}

std::string file_error(const std::string& name) {
    Cluster cluster;
    const Status s = load_manifests(kData + "/bad/" + name, cluster);
    REQUIRE_FALSE(s.has_value());
    return s.error().message;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

const Service& service(const Cluster& c, const std::string& key) {
    const auto it = c.services.find(key);
    REQUIRE(it != c.services.end());
    return it->second;
}

constexpr const char* kService = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.96.0.10
  ports:
    - {name: http, protocol: TCP, port: 80}
    - {name: alt, port: 8080}
    - {name: dns, protocol: UDP, port: 53}
)";

}  // namespace

TEST_CASE("manifests: multi-document YAML adds every object") {
    const Cluster c = load(R"(
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
  - addresses: ["10.244.0.5"]
    hostname: web-0
ports: [{name: http, protocol: TCP, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop}
status:
  podIP: 10.244.0.5
  podIPs: [{ip: 10.244.0.5}, {ip: "fd00::5"}]
)");
    CHECK(c.namespaces.count("shop") == 1);
    REQUIRE(c.services.size() == 1);
    const Service& web = service(c, "shop/web");
    CHECK(web.type == ServiceType::ClusterIp);
    REQUIRE(web.cluster_ips.size() == 1);
    CHECK(ip_to_text(web.cluster_ips[0]) == "10.96.0.10");
    REQUIRE(web.ports.size() == 1);
    CHECK(web.ports[0].protocol == "tcp");  // the default, lowercased
    REQUIRE(c.endpoint_sets.size() == 1);
    const EndpointSet& set = c.endpoint_sets.begin()->second;
    CHECK(set.service == "web");
    CHECK_FALSE(set.legacy);
    REQUIRE(set.endpoints.size() == 1);
    CHECK(set.endpoints[0].hostname == "web-0");
    CHECK(set.endpoints[0].ready);
    REQUIRE(set.ports.size() == 1);
    CHECK(set.ports[0].port == 8080);
    REQUIRE(c.pods.size() == 1);
    CHECK(c.pods.begin()->second.ips.size() == 2);
}

TEST_CASE("manifests: Service fields") {
    const Cluster c = load(kService);
    const Service& web = service(c, "shop/web");
    REQUIRE(web.ports.size() == 3);
    CHECK(web.ports[0].name == "http");
    CHECK(web.ports[1].name == "alt");
    CHECK(web.ports[1].protocol == "tcp");
    CHECK(web.ports[2].protocol == "udp");
    CHECK(web.ports[2].port == 53);

    SUBCASE("headless, dual stack, ExternalName, default namespace") {
        const Cluster d = load(R"(
kind: Service
metadata: {name: hl}
spec: {clusterIP: None, publishNotReadyAddresses: true}
---
kind: Service
metadata: {name: ds, namespace: shop}
spec: {type: LoadBalancer, clusterIP: 10.96.0.3, clusterIPs: [10.96.0.3, "fd00::3"],
       ports: [{port: 80}]}
---
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: api.example.com.}
)");
        const Service& hl = service(d, "default/hl");
        CHECK(hl.headless);
        CHECK(hl.publish_not_ready_addresses);
        CHECK(hl.cluster_ips.empty());
        const Service& ds = service(d, "shop/ds");
        CHECK(ds.type == ServiceType::LoadBalancer);
        REQUIRE(ds.cluster_ips.size() == 2);
        CHECK(ds.cluster_ips[1].v6);
        const Service& ext = service(d, "shop/ext");
        CHECK(ext.type == ServiceType::ExternalName);
        CHECK(ext.external_name == "api.example.com");  // the final dot dropped
        REQUIRE(ds.ports.size() == 1);
        CHECK(ds.ports[0].name.empty());  // one port may go unnamed
    }
}

TEST_CASE("manifests: kind: List adds its items") {
    const Cluster c = load(R"(
apiVersion: v1
kind: List
items:
  - {kind: Namespace, metadata: {name: shop}}
  - kind: Service
    metadata: {name: a, namespace: shop}
    spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
  - kind: Deployment
    metadata: {name: skipped, namespace: shop}
  - kind: Service
    metadata: {name: b, namespace: shop}
    spec: {clusterIP: 10.96.0.2, ports: [{port: 80}]}
)");
    CHECK(c.namespaces.size() == 1);
    CHECK(c.services.size() == 2);
    service(c, "shop/a");
    service(c, "shop/b");

    SUBCASE("ServiceList too") {
        const Cluster d = load(R"(
kind: ServiceList
items:
  - {kind: Service, metadata: {name: a}, spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}}
)");
        CHECK(d.services.size() == 1);
    }
}

TEST_CASE("manifests: JSON text is YAML") {
    const Cluster c = load(R"({
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {"name": "json-service", "namespace": "tree"},
  "spec": {"clusterIP": "10.96.30.1",
           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}
})");
    const Service& s = service(c, "tree/json-service");
    REQUIRE(s.ports.size() == 1);
    CHECK(s.ports[0].port == 80);
}

TEST_CASE("manifests: kinds DNS does not publish are skipped") {
    const Cluster c = load(R"(
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {replicas: 3, clusterIP: "not checked"}
---
kind: Ingress
metadata: {name: web}
---
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
kind: NetworkPolicy
metadata: {name: deny}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: tls}
)");
    CHECK(c.services.empty());
    CHECK(c.namespaces.empty());
    CHECK(c.endpoint_sets.empty());
    CHECK(c.pods.empty());
}

TEST_CASE("manifests: errors name the source, line, document, kind/name and field") {
    SUBCASE("bad clusterIP") {
        CHECK(file_error("bad-cluster-ip.yaml") ==
              kData +
                  "/bad/bad-cluster-ip.yaml:8: document 1 (Service production/bad-ip): "
                  "spec.clusterIP: \"10.96.300.1\" is not an IP address");
    }
    SUBCASE("port out of range") {
        CHECK(file_error("port-out-of-range.yaml") ==
              kData +
                  "/bad/port-out-of-range.yaml:10: document 1 (Service production/huge-port): "
                  "spec.ports[0].port: 70000 is out of range (1-65535)");
    }
    SUBCASE("bad port name in the second item of a List") {
        CHECK(file_error("bad-port-name-in-list.yaml")
                  .starts_with(kData + "/bad/bad-port-name-in-list.yaml:22: document 1, items[1] "
                                       "(Service production/badly-named-port): "
                                       "spec.ports[0].name: \"HTTP_Port\" is not a DNS label"));
    }
    SUBCASE("an endpoint address in the third document") {
        CHECK(file_error("bad-endpoint-address.yaml") ==
              kData +
                  "/bad/bad-endpoint-address.yaml:27: document 3 (EndpointSlice "
                  "broken-ns/shaky-abc12): endpoints[0].addresses[0]: \"10.244.1.999\" is "
                  "not an IP address");
    }
    SUBCASE("ExternalName without externalName: the line of the spec") {
        CHECK(file_error("external-name-missing.yaml") ==
              kData +
                  "/bad/external-name-missing.yaml:8: document 1 (Service "
                  "production/nowhere): spec.externalName: missing (required for type "
                  "ExternalName)");
    }
    SUBCASE("a Service name that is not a DNS-1035 label: the line of the name") {
        CHECK(file_error("invalid-service-name.yaml") ==
              kData +
                  "/bad/invalid-service-name.yaml:5: document 1 (Service "
                  "production/API_Service): metadata.name: \"API_Service\" is not a Service "
                  "name (RFC 1035 label: at most 63 lowercase letters, digits and '-', starting "
                  "with a letter and ending alphanumeric)");
    }
    SUBCASE("missing spec") {
        CHECK(load_error("kind: Service\nmetadata: {name: nospec, namespace: shop}\n") ==
              "test.yaml:1: document 1 (Service shop/nospec): spec: required");
    }
    SUBCASE("an IPv6 address in an IPv4 slice") {
        const std::string e = load_error(R"(
kind: EndpointSlice
metadata: {name: s1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: ["10.0.0.1"]}, {addresses: ["fd00::1"]}]
)");
        CHECK(e ==
              "test.yaml:5: document 1 (EndpointSlice shop/s1): endpoints[1].addresses[0]: "
              "not an IPv4 address");
    }
    SUBCASE("the document number counts from 1 across documents") {
        const std::string e = load_error(std::string(kService) + "---\n" + R"(kind: Service
metadata: {name: second, namespace: shop}
spec: {clusterIP: 10.96.0.999}
)");
        CHECK(e ==
              "test.yaml:15: document 2 (Service shop/second): spec.clusterIP: \"10.96.0.999\" "
              "is not an IP address");
    }
    SUBCASE("clusterIPs entries") {
        const std::string e = load_error(R"(
kind: Service
metadata: {name: ds, namespace: shop}
spec: {clusterIPs: [10.96.0.3, nope]}
)");
        CHECK(e ==
              "test.yaml:4: document 1 (Service shop/ds): spec.clusterIPs[1]: \"nope\" is not "
              "an IP address");
    }
    SUBCASE("a port that is not a number") {
        const std::string e = load_error(R"(
kind: Service
metadata: {name: p, namespace: shop}
spec: {clusterIP: 10.96.0.3, ports: [{name: http, port: eighty}]}
)");
        CHECK(contains(e,
                       "test.yaml:4: document 1 (Service shop/p): spec.ports[0].port: "
                       "expected an integer"));
    }
    SUBCASE("a bad protocol") {
        const std::string e = load_error(R"(
kind: Service
metadata: {name: p, namespace: shop}
spec: {clusterIP: 10.96.0.3, ports: [{name: http, protocol: ICMP, port: 80}]}
)");
        CHECK(contains(e, "(Service shop/p): spec.ports[0].protocol: \"ICMP\" is not a protocol"));
    }
    SUBCASE("a document that is not a mapping") {
        CHECK(load_error("- just\n- a list\n") ==
              "test.yaml:1: document 1: expected a Kubernetes object (a mapping), got a list");
    }
    SUBCASE("a bad namespace name") {
        const std::string e = load_error(
            "kind: Service\nmetadata: {name: a, namespace: Shop}\nspec: {clusterIP: 10.0.0.1}\n");
        CHECK(
            contains(e, "test.yaml:2: document 1 (Service Shop/a): metadata.namespace: \"Shop\""));
    }
}

TEST_CASE("manifests: invalid YAML is reported with line and column") {
    SUBCASE("an unclosed flow mapping, from a file: found at the end, line 10") {
        const std::string e = file_error("broken-yaml.yaml");
        CHECK(e.starts_with(kData + "/bad/broken-yaml.yaml:10:1: invalid YAML: "));
    }
    SUBCASE("a second ':' in a plain value: line 2, column 8") {
        const std::string e = load_error("kind: Service\nname: a: b\n");
        CHECK(e.starts_with("test.yaml:2:8: invalid YAML: "));
    }
    SUBCASE("a stray comma after a document (hung yaml-cpp 0.7's LoadAll)") {
        CHECK(load_error("{},\n").starts_with("test.yaml:1:3: invalid YAML: "));
    }
}

TEST_CASE("manifests: an EndpointSlice without the service-name label is ignored") {
    const Cluster c = load(R"(
kind: EndpointSlice
metadata: {name: orphan, namespace: shop}
addressType: IPv4
endpoints: [{addresses: ["10.0.0.1"]}]
---
kind: EndpointSlice
metadata: {name: fqdn, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: FQDN
endpoints: [{addresses: ["example.com"]}]
)");
    CHECK(c.endpoint_sets.empty());
}

TEST_CASE("manifests: endpoint readiness (ready: null counts as ready)") {
    const Cluster c = load(R"(
kind: EndpointSlice
metadata: {name: s1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
endpoints:
  - addresses: ["fd00::1"]
    conditions: {ready: null}
  - addresses: ["fd00::2"]
    conditions: {ready: false}
  - addresses: ["fd00::3"]
  - addresses: ["fd00::4"]
    conditions: {ready: true, serving: true}
  - addresses: ["fd00::5"]
    conditions: {}
)");
    REQUIRE(c.endpoint_sets.size() == 1);
    const auto& endpoints = c.endpoint_sets.begin()->second.endpoints;
    REQUIRE(endpoints.size() == 5);
    CHECK(endpoints[0].ready);
    CHECK_FALSE(endpoints[1].ready);
    CHECK(endpoints[2].ready);
    CHECK(endpoints[3].ready);
    CHECK(endpoints[4].ready);
    CHECK(endpoints[0].addresses[0].v6);
}

TEST_CASE("manifests: legacy Endpoints become one set per subset") {
    const Cluster c = load(R"(
kind: Endpoints
metadata: {name: web, namespace: shop}
subsets:
  - addresses: [{ip: 10.0.0.1, hostname: web-0}]
    notReadyAddresses: [{ip: 10.0.0.2}]
    ports: [{name: http, port: 80}]
  - addresses: [{ip: 10.0.0.3}]
    ports: [{name: https, port: 443}]
)");
    REQUIRE(c.endpoint_sets.size() == 2);
    const EndpointSet& first = c.endpoint_sets.begin()->second;
    CHECK(first.legacy);
    CHECK(first.service == "web");
    REQUIRE(first.endpoints.size() == 2);
    CHECK(first.endpoints[0].ready);
    CHECK(first.endpoints[0].hostname == "web-0");
    CHECK_FALSE(first.endpoints[1].ready);
}

TEST_CASE("manifests: a directory loads *.yaml, *.yml and *.json recursively") {
    Cluster c;
    const Status s = load_manifests(kData + "/tree", c);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s.has_value());
    CHECK(c.namespaces.count("tree") == 1);
    CHECK(c.services.count("tree/json-service") == 1);
    CHECK(c.services.count("tree/yml-service") == 1);
    CHECK(c.services.count("tree/backup-service") == 0);  // *.yaml.bak is not read
    CHECK(c.services.size() == 2);

    SUBCASE("a path that does not exist") {
        Cluster d;
        const Status missing = load_manifests(kData + "/no-such-dir", d);
        REQUIRE_FALSE(missing.has_value());
        CHECK(contains(missing.error().message, "no-such-dir: no such file or directory"));
    }
}

}  // namespace clusterdns

namespace clusterdns {

TEST_CASE("manifests: a kind is ours only in its own API group") {
    const Cluster c = load(R"(
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: apps}
spec: {template: {spec: {containers: [{image: hello}]}}}
---
apiVersion: security.example.io/v1
kind: IPAllowList
metadata: {name: office}
items: [{kind: Service, metadata: {name: smuggled}, spec: {clusterIP: 10.0.0.9}}]
---
apiVersion: v1
kind: ServiceList
items:
- apiVersion: v1
  kind: Service
  metadata: {name: listed, namespace: apps}
  spec: {clusterIP: 10.0.0.10, ports: [{port: 80}]}
)");
    CHECK(c.services.size() == 1);
    CHECK(c.services.count("apps/listed") == 1);
}

TEST_CASE("manifests: an address with a NUL in it is no address") {
    CHECK(load_error("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns}\n"
                     "spec: {clusterIP: \"10.0.0.1\\0x\"}\n")
              .find("spec.clusterIP: ") != std::string::npos);
}

TEST_CASE("manifests: a bad hostname in legacy Endpoints names its own field") {
    CHECK(load_error("apiVersion: v1\nkind: Endpoints\nmetadata: {name: e, namespace: ns}\n"
                     "subsets: [{addresses: [{ip: 10.0.0.1, hostname: Bad_Host}]}]\n") ==
          "test.yaml:4: document 1 (Endpoints ns/e): subsets[0].addresses[0].hostname: "
          "\"Bad_Host\" is not a DNS label (RFC 1123: at most 63 lowercase letters, digits and "
          "'-', starting and ending alphanumeric)");
}


TEST_CASE("manifests: a key twice in one mapping is an error naming both lines") {
    const std::string e = load_error(R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  ports:
    - name: http
      port: 80
      port: 81
)");
    CHECK(e == "test.yaml:9:7: duplicate key \"port\" (first on line 8)");
    // The same key in different mappings is fine.
    CHECK(load(kService).services.size() == 1);
}

TEST_CASE("manifests: typed fields keep their YAML type, as the API server's schema") {
    SUBCASE("a quoted port is a string, not a number") {
        const std::string e = load_error(R"(kind: Service
metadata: {name: p, namespace: shop}
spec: {clusterIP: 10.96.0.3, ports: [{name: http, port: "80"}]}
)");
        CHECK(contains(e, "spec.ports[0].port: expected an integer, got \"80\""));
    }
    SUBCASE("a plain number is not a name") {
        const std::string e = load_error(R"(kind: Service
metadata: {name: p, namespace: shop}
spec: {clusterIP: 10.96.0.3, ports: [{name: 8080, port: 80}]}
)");
        CHECK(contains(e, "spec.ports[0].name: expected a string, got the number 8080"));
    }
    SUBCASE("a plain boolean is not a name") {
        const std::string e = load_error(R"(kind: Service
metadata: {name: true, namespace: shop}
spec: {clusterIP: 10.96.0.3}
)");
        CHECK(contains(e, "metadata.name: expected a string, got the boolean true"));
    }
    SUBCASE("a quoted boolean is a string") {
        const std::string e = load_error(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, namespace: shop, labels: {kubernetes.io/service-name: p}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1], conditions: {ready: "true"}}]
)");
        CHECK(contains(e, "endpoints[0].conditions.ready: expected true or false, got \"true\""));
    }
    SUBCASE("quoted strings that look like numbers are strings") {
        const Cluster c = load(R"(kind: Service
metadata: {name: p, namespace: "123"}
spec: {clusterIP: 10.96.0.3, ports: [{name: http, port: 80}]}
)");
        CHECK(service(c, "123/p").ns == "123");
    }
}

TEST_CASE("manifests: plain scalars in block YAML are read as kubectl reads them (YAML 1.1)") {
    // The same fields in block style (the block reader's) and in flow style (libyaml's) load
    // alike: YAML 1.1 booleans, integers in other bases, floats with an integral value, dates.
    const auto both = [](const std::string& ready, const std::string& port,
                         const std::string& label) {
        const std::string block =
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
            "  namespace: shop\n  labels:\n    release: " +
            label + "\nspec:\n  clusterIP: None\n" + "  publishNotReadyAddresses: " + ready +
            "\n  ports:\n" + "  - name: http\n    port: " + port + "\n";
        const std::string flow =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, "
            "namespace: shop, labels: {release: " +
            label + "}}\nspec: {clusterIP: None, publishNotReadyAddresses: " + ready +
            ", ports: [{name: http, port: " + port + "}]}\n";
        DocArena arena;
        REQUIRE(read_block_yaml(block, arena, false).has_value());
        const auto result = [](const std::string& text) {
            Cluster c;
            const Status s = load_manifest_text(text, "t", c);
            if (!s) {  // without "t:LINE: ", as the layouts differ
                return s.error().message.substr(s.error().message.find(": ") + 2);
            }
            const Service& service = c.services.begin()->second;
            return std::string(service.publish_not_ready_addresses ? "true" : "false") + " " +
                   std::to_string(service.ports.at(0).port);
        };
        const std::string got = result(block);
        CHECK(got == result(flow));
        return got;
    };
    for (const char* yes :
         {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
        CAPTURE(yes);
        CHECK(both(yes, "80", "v1") == "true 80");
    }
    for (const char* no : {"false", "no", "NO", "off", "Off", "n", "N"}) {
        CAPTURE(no);
        CHECK(both(no, "80", "v1") == "false 80");
    }
    CHECK(both("yEs", "80", "v1").find("expected true or false") != std::string::npos);
    CHECK(both("\"yes\"", "80", "v1").find("expected true or false") != std::string::npos);
    for (const char* port : {"80", "0x50", "0o120", "0120", "080", "8_0", "80.0", "8e1"}) {
        CAPTURE(port);
        CHECK(both("false", port, "v1") == "false 80");
    }
    CHECK(both("false", "\"80\"", "v1").find("expected an integer") != std::string::npos);
    CHECK(both("false", "80", "yes").find("expected a string") != std::string::npos);
    CHECK(both("false", "80", "2024-01-31").find("2024-01-31T00:00:00Z") != std::string::npos);
    CHECK(both("false", "80", "'2024-01-31'") == "false 80");
}

TEST_CASE("manifests: values in messages are escaped and shortened") {
    SUBCASE("a NUL and a control character do not cut or garble the message") {
        const std::string e = load_error(
            std::string_view("kind: Service\nmetadata: {name: \"a\\0b\\ec\", namespace: shop}\n"
                             "spec: {clusterIP: 10.96.0.3}\n"));
        CHECK(contains(e, "(Service shop/a\\x00b\\x1bc): metadata.name: \"a\\x00b\\x1bc\" is not"));
        CHECK(e.find('\0') == std::string::npos);
        CHECK(e.find('\x1b') == std::string::npos);
    }
    SUBCASE("a long value is cut, with its length") {
        const std::string ip(5000, '7');
        const std::string e = load_error("kind: Service\nmetadata: {name: s, namespace: shop}\n"
                                         "spec: {clusterIP: \"" + ip + "\"}\n");
        CHECK(contains(e, "spec.clusterIP: \"77777777777777777777777777777777777777777777777777777777...\" "
                          "(5000 bytes) is not an IP address"));
        CHECK(e.size() < 200);
    }
}

TEST_CASE("manifests: only regular files and directories are read") {
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("clusterdns-manifests-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    Cluster cluster;
    SUBCASE("a FIFO named on the command line is refused at once, not opened for ever") {
        const std::string fifo = dir + "/pipe.yaml";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        const Status s = load_manifests(fifo, cluster);
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error().message == fifo + ": not a regular file or a directory");
    }
    SUBCASE("a FIFO inside a directory is skipped, as directory walking always did") {
        const std::string fifo = dir + "/pipe.yaml";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        std::ofstream(dir + "/svc.yaml") << kService;
        const Status s = load_manifests(dir, cluster);
        CHECK(s.has_value());
        CHECK(cluster.services.size() == 1);
    }
    SUBCASE("a device is refused") {
        const Status s = load_manifests("/dev/zero", cluster);
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error().message == "/dev/zero: not a regular file or a directory");
    }
    SUBCASE("a file larger than a manifest may be is refused with its size") {
        const std::string big = dir + "/big.yaml";
        std::ofstream(big).close();
        std::filesystem::resize_file(big, kMaxManifestFileBytes + 1);  // sparse: costs no disk
        const Status s = load_manifests(big, cluster);
        REQUIRE_FALSE(s.has_value());
        CHECK(contains(s.error().message, big + ": 268435457 bytes, more than the 256 MiB"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("manifests: the tolerate-unready annotation publishes unready endpoints (spec 2.1)") {
    const Cluster c = load(R"(kind: Service
metadata:
  name: db
  namespace: shop
  annotations: {service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"}
spec: {clusterIP: None}
---
kind: Service
metadata:
  name: other
  namespace: shop
  annotations: {service.alpha.kubernetes.io/tolerate-unready-endpoints: "false"}
spec: {clusterIP: None}
)");
    CHECK(service(c, "shop/db").publish_not_ready_addresses);
    CHECK_FALSE(service(c, "shop/other").publish_not_ready_addresses);
}

}  // namespace clusterdns

namespace clusterdns {

// Records the order objects arrive in: files must be applied as they sort, whoever parsed them.
struct OrderSink : Cluster {
    std::vector<std::string> order;
    void upsert(Service service) override {
        order.push_back(service.name + "=" + ip_to_text(service.cluster_ips.at(0)));
        Cluster::upsert(std::move(service));
    }
};

TEST_CASE("manifests: many files are applied in path order, and the first bad one is reported") {
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("clusterdns-manifests-order-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto service = [](int file, const std::string& name) {
        return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
               ", namespace: ns}\nspec: {clusterIP: 10.0.0." + std::to_string(file) +
               ", ports: [{port: 80}]}\n";
    };
    std::vector<std::string> want;
    for (int file = 10; file < 40; ++file) {  // two digits: path order is numeric order
        std::ofstream out(dir + "/f" + std::to_string(file) + ".yaml");
        // Every file redefines "shared": the last file's address must win.
        for (const std::string& name : {"own" + std::to_string(file), std::string("shared")}) {
            out << service(file, name);
            want.push_back(name + "=10.0.0." + std::to_string(file));
        }
    }
    SUBCASE("all good") {
        OrderSink sink;
        const Status s = load_manifests(dir, sink);
        REQUIRE(s.has_value());
        CHECK(sink.order == want);
        CHECK(ip_to_text(sink.services.at("ns/shared").cluster_ips.at(0)) == "10.0.0.39");
    }
    SUBCASE("two bad files: the first in path order is the error, nothing after it is applied") {
        std::ofstream(dir + "/f31.yaml") << "kind: Service\nmetadata: {name: x}\nspec: [oops\n";
        std::ofstream(dir + "/f17.yaml") << service(17, "Bad_Name");
        OrderSink sink;
        const Status s = load_manifests(dir, sink);
        REQUIRE_FALSE(s.has_value());
        CHECK(contains(s.error().message, dir + "/f17.yaml"));
        REQUIRE(sink.order.size() == 14);  // files 10 to 16
        CHECK(sink.order.back() == "shared=10.0.0.16");
    }
    std::filesystem::remove_all(dir);
}

}  // namespace clusterdns

namespace clusterdns {
namespace {

// Every call a load makes to its sink, in order; a Service named "refused-..." is refused, as
// the ClusterIP allocator refuses one that needs a family no range has.
struct CallLog : ObjectSink {
    std::vector<std::string> calls;
    void upsert(Namespace ns) override { calls.push_back("Namespace " + ns.name); }
    void upsert(Service s) override {
        if (s.name.starts_with("refused-")) {
            throw ObjectRefused{"spec.ipFamilies[0]: refused by the test"};
        }
        calls.push_back("Service " + s.ns + "/" + s.name + " " + std::to_string(s.ports.size()));
    }
    void upsert(EndpointSet set) override {
        calls.push_back("EndpointSet " + set.ns + "/" + set.name + " " +
                        std::to_string(set.endpoints.size()));
    }
    void upsert(Pod pod) override { calls.push_back("Pod " + pod.ns + "/" + pod.name); }
    void upsert(Workload w) override { calls.push_back(w.kind + " " + w.ns + "/" + w.name); }
    void upsert(Ingress i) override { calls.push_back("Ingress " + i.ns + "/" + i.name); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override {
        calls.push_back("erase " + std::to_string(int(kind)) + " " + std::string(ns) + "/" +
                        std::string(name));
        return false;
    }
    bool change_cluster_ips(std::string_view, std::string_view, std::span<const IpAddress>,
                            std::span<const IpAddress>, uint8_t) override {
        return false;
    }
    void keep_only(ObjectKind, const NameSet&) override {}
};

// A file of every kind of document the converter writes something for, in block and flow
// style: a Namespace, a Service, its slice, a slice of no Service (erased), legacy Endpoints
// (erased, then a set per subset), a List, a Pod, a Deployment, an Ingress, a ConfigMap.
std::string every_kind(int file) {
    const std::string text = R"(apiVersion: v1
kind: Namespace
metadata:
  name: nsN
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: nsN
spec:
  clusterIP: 10.0.1.N
  ports:
  - name: http
    port: 80
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-1
  namespace: nsN
  labels:
    kubernetes.io/service-name: svc
addressType: IPv4
endpoints:
- addresses:
  - 10.2.0.N
  conditions:
    ready: yes
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orphan, namespace: nsN}
addressType: IPv4
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: nsN}
subsets:
- addresses: [{ip: 10.3.0.N}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: listed, namespace: nsN}
  spec: {clusterIP: None}
- apiVersion: v1
  kind: Pod
  metadata:
    name: pod
    namespace: nsN
  status:
    podIP: 10.4.0.N
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: nsN}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: in, namespace: nsN}
spec:
  rules:
  - host: web.example.com
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
)";
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        const bool number = text[i] == 'N' && (text[i - 1] == 's' || text[i - 1] == '.');
        out += number ? std::to_string(file) : std::string(1, text[i]);  // nsN, 10.x.y.N
    }
    return out;
}

// Loads `dir`'s files one after the other, each converted straight into the sink: what
// load_manifests did before files were converted on several threads.
Status load_in_turn(const std::string& dir, ObjectSink& sink) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
        std::ifstream in(file);
        const std::string text{std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>()};
        if (Status s = load_manifest_text(text, file, sink); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace

TEST_CASE("manifests: files converted on several threads are applied as one thread would") {
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("clusterdns-manifests-threads-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (int file = 10; file < 70; ++file) {
        std::ofstream(dir + "/f" + std::to_string(file) + ".yaml") << every_kind(file);
    }
    const auto compare = [&](const std::string& what) {
        INFO(what);
        CallLog threads;
        CallLog in_turn;
        const Status a = load_manifests(dir, threads);
        const Status b = load_in_turn(dir, in_turn);
        CHECK(threads.calls == in_turn.calls);
        REQUIRE(a.has_value() == b.has_value());
        if (!a) {
            CHECK(a.error().message == b.error().message);
        }
        return threads;
    };
    SUBCASE("all good") {
        const CallLog log = compare("all good");
        CHECK(log.calls.size() == 60 * 10);
        CHECK(log.calls[0] == "Namespace ns10");
    }
    SUBCASE("a document that does not convert stops its file there; later files do not count") {
        std::ofstream(dir + "/f23.yaml")
            << every_kind(23) + "---\nkind: Service\nmetadata:\n  name: Bad_Name\n";
        std::ofstream(dir + "/f51.yaml") << "kind: Service\nmetadata: {name: x}\nspec: [oops\n";
        const CallLog log = compare("a bad document");
        CHECK(log.calls.back() == "Ingress ns23/in");
    }
    SUBCASE("invalid YAML in a file is its error, whatever its documents before it hold") {
        std::ofstream(dir + "/f15.yaml")
            << every_kind(15) + "---\nkind: Service\nmetadata:\n  name: Bad_Name\n" +
                   "---\nkind: Service\nmetadata: {name: x}\nspec: [oops\n";
        const CallLog log = compare("invalid YAML");
        CHECK(log.calls.back() == "Ingress ns14/in");
    }
    SUBCASE("a Service the sink refuses names its file, line and document, in a List too") {
        std::ofstream(dir + "/f30.yaml")
            << every_kind(30) + "---\nkind: List\nitems:\n- kind: Service\n"
                                "  metadata: {name: ok, namespace: x}\n  spec: {clusterIP: None}\n"
                                "- kind: Service\n  metadata:\n    name: refused-one\n"
                                "    namespace: x\n  spec:\n    clusterIP: None\n";
        std::ofstream(dir + "/f44.yaml") << "kind: Service\nmetadata: {name: refused-two}\n";
        compare("refused");
        CallLog log;
        const Status s = load_manifests(dir, log);
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error().message == dir + "/f30.yaml:83: document 10, items[1] (Service "
                                         "x/refused-one): spec.ipFamilies[0]: refused by the test");
        CHECK(log.calls.back() == "Service x/ok 0");
    }
    std::filesystem::remove_all(dir);
}

}  // namespace clusterdns

namespace clusterdns {
namespace {

// What a lenient visit saw: "INDEX:NAME" for each document, "problem INDEX@LINE" for each problem.
std::vector<std::string> visit_leniently(const std::string& path) {
    std::vector<std::string> seen;
    const Status s = visit_manifest_documents(
        path,
        [&](const std::string&, size_t index, const DocNode& doc) -> Status {
            seen.push_back(std::to_string(index) + ":" +
                           std::string(scalar_at(doc, {"metadata", "name"})));
            return {};
        },
        [&](const ManifestProblem& p) {
            seen.push_back(p.document == ManifestProblem::kWholeFile
                               ? "problem file"
                               : "problem " + std::to_string(p.document) + "@" +
                                     std::to_string(p.line));
        });
    REQUIRE(s.has_value());
    return seen;
}

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text)
        : path(std::filesystem::temp_directory_path() /
               ("clusterdns-lenient-" + std::to_string(::getpid()) + ".yaml")) {
        std::ofstream(path) << text;
    }
    ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("manifests: a lenient visit reads every document that parses, numbered as if all did") {
    // Shapes a stream takes: a first document without "---", comments between documents, content
    // on the "---" line, an empty document, CRLF line ends.
    const std::vector<std::string> documents = {
        "# header comment\nkind: Service\nmetadata: {name: d0}\n",
        "--- # a comment on the marker\nkind: Service\nmetadata:\n  name: d1\n",
        "---\n# only a comment: an empty document\n",
        "--- {kind: Service, metadata: {name: d3}}\n",
        "---\r\nkind: Service\r\nmetadata: {name: d4}\r\n",
        "---\nkind: Service\nmetadata:\n  name: d5\n  labels: {a: b}\n",
    };
    // Ways to break one, each found in that document: an indentation error, a quote or a bracket
    // left open (found only at the next "---"), a duplicate key, a tab as indentation.
    const std::vector<std::pair<std::string, std::string>> breaks = {
        {"metadata:", "metadata:\n  x: 1\n   y: 2\n"},
        {"kind: Service", "kind: \"Service\nother: 1"},
        {"kind: Service", "kind: [Service, {a: b}\n"},
        {"kind: Service", "kind: Service\nkind: Pod"},
        {"kind: Service", "kind: Service\nspec:\n\t- x"},
    };
    std::string whole;
    for (const std::string& d : documents) {
        whole += d;
    }
    TempFile good(whole);
    const std::vector<std::string> all = visit_leniently(good.path);
    CHECK(all == std::vector<std::string>{"0:d0", "1:d1", "3:d3", "4:d4", "5:d5"});
    for (size_t broken = 0; broken < documents.size(); ++broken) {
        if (broken == 2) {
            continue;  // nothing to break
        }
        for (const auto& [what, with] : breaks) {
            std::string text;
            std::string bad = documents[broken];
            if (bad.find(what) == std::string::npos) {
                continue;
            }
            bad.replace(bad.find(what), what.size(), with);
            for (size_t i = 0; i < documents.size(); ++i) {
                text += i == broken ? bad : documents[i];
            }
            INFO("document " << broken << " broken with " << with << ":\n" << text);
            TempFile file(text);
            std::vector<std::string> seen = visit_leniently(file.path);
            std::vector<std::string> want;
            for (const std::string& s : all) {
                if (s != std::to_string(broken) + ":d" + std::to_string(broken)) {
                    want.push_back(s);
                }
            }
            REQUIRE(seen.size() == want.size() + 1);
            const auto problem = std::find_if(seen.begin(), seen.end(), [](const std::string& s) {
                return s.starts_with("problem ");
            });
            REQUIRE(problem != seen.end());
            CHECK(problem->starts_with("problem " + std::to_string(broken) + "@"));
            seen.erase(problem);
            CHECK(seen == want);
        }
    }
}

TEST_CASE("manifests: a lenient visit reports what it cannot read and goes on") {
    SUBCASE("the problem's line and message are the strict load's") {
        TempFile file("kind: Service\nmetadata: {name: a}\n---\nkind: Service\nmetadata:\n"
                      "  name: b\n   namespace: x\n---\nkind: Service\nmetadata: {name: c}\n");
        std::vector<ManifestProblem> problems;
        std::vector<std::string> names;
        const Status s = visit_manifest_documents(
            file.path,
            [&](const std::string&, size_t, const DocNode& doc) -> Status {
                names.emplace_back(scalar_at(doc, {"metadata", "name"}));
                return {};
            },
            [&](const ManifestProblem& p) { problems.push_back(p); });
        REQUIRE(s.has_value());
        CHECK(names == std::vector<std::string>{"a", "c"});
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].file == file.path);
        CHECK(problems[0].document == 1);
        CHECK(problems[0].line == 7);
        Cluster cluster;
        const Status strict = load_manifests(file.path, cluster);
        REQUIRE_FALSE(strict.has_value());
        CHECK(problems[0].message == strict.error().message);
        CHECK(contains(problems[0].message, file.path + ":7:13: invalid YAML"));
    }
    SUBCASE("one JSON document that is not valid: one problem, nothing visited") {
        TempFile file("{\"kind\": \"Service\", \"metadata\": {\"name\": \"a\"},\n");
        CHECK(visit_leniently(file.path) == std::vector<std::string>{"problem 0@2"});
    }
    SUBCASE("every document broken") {
        TempFile file("---\na: [\n---\nb: {\n---\nc: \"\n");
        CHECK(visit_leniently(file.path) ==
              std::vector<std::string>{"problem 0@3", "problem 1@5", "problem 2@7"});
    }
    SUBCASE("past 100 documents that are not valid YAML, the rest of the file is not read") {
        std::string text = "kind: Service\nmetadata: {name: first}\n";
        for (int i = 0; i < 150; ++i) {
            text += "---\nkind: Service\nmetadata: {name: [broken}\n";
        }
        text += "---\nkind: Service\nmetadata: {name: last}\n";
        TempFile file(text);
        std::vector<ManifestProblem> problems;
        std::vector<std::string> names;
        const Status s = visit_manifest_documents(
            file.path,
            [&](const std::string&, size_t, const DocNode& doc) -> Status {
                names.emplace_back(scalar_at(doc, {"metadata", "name"}));
                return {};
            },
            [&](const ManifestProblem& p) { problems.push_back(p); });
        REQUIRE(s.has_value());
        CHECK(names == std::vector<std::string>{"first"});
        REQUIRE(problems.size() == 100);
        CHECK(problems[0].document == 1);
        CHECK(problems[0].line == 5);
        CHECK(problems[99].document == 100);
        CHECK(contains(problems[99].message, "the rest of the file is not read"));
    }
    SUBCASE("lines that end in a lone \\r (or NEL) count as libyaml counts them") {
        TempFile file("kind: Service\rmetadata: {name: a}\r---\rkind: [\xC2\x85---\r"
                      "kind: Service\rmetadata: {name: c}\r");
        CHECK(visit_leniently(file.path) ==
              std::vector<std::string>{"problem 1@5", "0:a", "2:c"});  // problems first
    }
    SUBCASE("a path that does not exist is a problem of the whole file") {
        CHECK(visit_leniently(kData + "/no-such-file.yaml") ==
              std::vector<std::string>{"problem file"});
    }
    SUBCASE("the strict visit still stops at the first") {
        TempFile file("a: [\n---\nkind: Service\nmetadata: {name: b}\n");
        size_t visited = 0;
        const Status s = visit_manifest_documents(
            file.path, [&](const std::string&, size_t, const DocNode&) -> Status {
                ++visited;
                return {};
            });
        CHECK_FALSE(s.has_value());
        CHECK(visited == 0);
    }
}

TEST_CASE("manifests: - is standard input, read once and kept") {
    CHECK(check_manifest_paths({"a.yaml", "-", "b/"}).has_value());
    const Status twice = check_manifest_paths({"-", "a.yaml", "-"});
    REQUIRE_FALSE(twice.has_value());
    CHECK(contains(twice.error().message, "given twice"));

    // Standard input is this process's: swapped for a pipe, then put back.
    const int saved = ::dup(STDIN_FILENO);
    REQUIRE(saved >= 0);
    const auto feed = [](const std::string& text) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fds[1]);
        REQUIRE(::dup2(fds[0], STDIN_FILENO) == STDIN_FILENO);
        ::close(fds[0]);
    };
    const std::string ports = ", ports: [{name: http, port: 80}]}\n";
    feed("kind: Service\nmetadata: {name: first, namespace: shop}\nspec: {clusterIP: 10.0.0.1" +
         ports + "---\nkind: Service\nmetadata: {name: bad, namespace: shop}\nspec: {clusterIP: "
         "10.0.0.300" + ports);
    Cluster first;
    const Status s = load_manifests("-", first);
    REQUIRE_FALSE(s.has_value());
    INFO(s.error().message);
    CHECK(s.error().message.starts_with(
        "<stdin>:7: document 2 (Service shop/bad): spec.clusterIP"));
    CHECK(first.services.count("shop/first") == 1);

    // Read again (a reload): what was read first, not what standard input holds now.
    feed("kind: Service\nmetadata: {name: second, namespace: shop}\nspec: {clusterIP: 10.0.0.2" +
         ports);
    std::vector<std::string> names;
    const Status visited = visit_manifest_documents(
        "-", [&](const std::string& file, size_t index, const DocNode& doc) -> Status {
            names.push_back(file + "#" + std::to_string(index) + ":" +
                            std::string(scalar_at(doc, {"metadata", "name"})));
            return {};
        });
    CHECK(visited.has_value());
    CHECK(names == std::vector<std::string>{"<stdin>#0:first", "<stdin>#1:bad"});
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
}

}  // namespace clusterdns
