// Every rule of the API server's table (zone/validation.h) on both sides of its boundary: an
// object just inside loads, one just past is refused for that rule. The cases go through the
// manifest loader and the converter, as every source's objects do.
#include "zone/validation.h"

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "plugins/manifests/manifests.h"
#include "zone/workloads.h"

namespace clusterdns {
namespace {

// Loads `yaml` as one load of manifests, the workloads' Pods and endpoints made.
Status load(const std::string& yaml, uint64_t max_pods = 0) {
    Cluster cluster;
    WorkloadSink workloads(cluster, {*parse_prefix("10.244.0.0/16")});
    if (max_pods != 0) {
        workloads.set_max_pods(max_pods);
    }
    if (Status s = load_manifest_text(yaml, "test.yaml", workloads); !s) {
        return s;
    }
    return workloads.synthesize();
}

std::string service(const std::string& spec, const std::string& metadata = "",
                    const std::string& name = "web", const std::string& ns = "shop") {
    return fmt::format(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {}, namespace: {}{}}}\n"
        "spec: {{{}}}\n",
        name, ns, metadata, spec);
}

std::string slice(const std::string& endpoints, const std::string& ports = "[]",
                  const std::string& type = "IPv4") {
    return fmt::format(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {{name: web-1, namespace: shop, labels: {{kubernetes.io/service-name: web}}}}\n"
        "addressType: {}\nendpoints: {}\nports: {}\n",
        type, endpoints, ports);
}

std::string endpoints(const std::string& subset) {
    return fmt::format(
        "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: web, namespace: shop}}\n"
        "subsets: [{}]\n",
        subset);
}

std::string pod(const std::string& name, const std::string& spec = "") {
    return fmt::format(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: shop}}\n"
        "spec: {{containers: [{{name: c, image: x{}}}]}}\n",
        name, spec);
}

// A workload of `kind` named `name`; `spec` adds to its spec, `selector` replaces its selector.
std::string workload(const std::string& kind, const std::string& name, const std::string& spec,
                     const std::string& selector = "selector: {matchLabels: {app: w}}, ") {
    const bool job = kind == "Job";
    return fmt::format(
        "apiVersion: {}\nkind: {}\nmetadata: {{name: {}, namespace: shop}}\n"
        "spec: {{{}{}template: {{metadata: {{labels: {{app: w}}}}, "
        "spec: {{containers: [{{name: c, image: x}}]}}}}}}\n",
        job ? "batch/v1" : "apps/v1", kind, name, job ? "" : selector, spec);
}

std::string repeat(const std::string& item, size_t count,
                   const std::function<std::string(size_t)>& fill) {
    std::string out = "[";
    for (size_t i = 0; i < count; ++i) {
        out += (i == 0 ? "" : ", ") + fmt::format(fmt::runtime(item), fill(i));
    }
    return out + "]";
}

std::string ipv4(size_t i) {
    return fmt::format("10.1.{}.{}", i / 250, i % 250 + 1);
}

struct Case {
    ApiRule rule;
    std::string ok;           // just inside the rule: loads
    std::string bad;          // just past it: refused, the message saying `expect`
    std::string expect = {};  // default: the rule's requirement
};

std::vector<Case> cases() {
    const std::string ports = "ports: [{name: http, port: 80}]";
    const std::string a63(63, 'a');
    const std::string label_key_prefix = std::string(126, 'p') + "." + std::string(126, 'p');
    return {
        {ApiRule::DnsLabel, service(ports, "", "web", a63), service(ports, "", "web", a63 + "a")},
        {ApiRule::Dns1035Label, service(ports, "", std::string(1, 'w').append(62, '1')),
         service(ports, "", "1web")},
        // A Pod's name is a subdomain: its parts may be longer than a label, up to 253 in all.
        {ApiRule::DnsSubdomain,
         pod("test-name-longer-than-63-characters-making-it-an-invalid-dns-label." +
             std::string(253 - 67, 'x')),
         pod("test-name-longer-than-63-characters-making-it-an-invalid-dns-label." +
             std::string(254 - 67, 'x'))},
        {ApiRule::IanaSvcName, pod("p", ", ports: [{name: abcdefghijklmno, containerPort: 80}]"),
         pod("p", ", ports: [{name: abcdefghijklmnop, containerPort: 80}]")},
        {ApiRule::LabelKey, service(ports, ", labels: {" + label_key_prefix + "/" + a63 + ": v}"),
         service(ports, ", labels: {" + label_key_prefix + "p/" + a63 + ": v}")},
        {ApiRule::LabelValue, service(ports, ", labels: {app: " + a63 + "}"),
         service(ports, ", labels: {app: " + a63 + "a}")},
        {ApiRule::AnnotationKey, service(ports, ", annotations: {Example.COM/Key_1: v}"),
         service(ports, ", annotations: {example.com/a/b: v}")},
        {ApiRule::AnnotationsSize,
         service(ports, ", annotations: {a: " + std::string(256 * 1024 - 1, 'v') + "}"),
         service(ports, ", annotations: {a: " + std::string(256 * 1024, 'v') + "}")},
        {ApiRule::PortNumber, service("clusterIP: 10.96.0.10, ports: [{port: 65535}]"),
         service("clusterIP: 10.96.0.10, ports: [{port: 65536}]"), "is out of range (1-65535)"},
        {ApiRule::Protocol, service("ports: [{port: 80, protocol: SCTP}]"),
         service("ports: [{port: 80, protocol: sctp}]")},
        // Leading zeros are decimal, as ParseIPSloppy reads them; 256 is no octet.
        {ApiRule::IpAddress, service("clusterIP: 010.96.000.10, " + ports),
         service("clusterIP: 10.96.0.256, " + ports), "is not an IP address"},
        {ApiRule::NonSpecialIp, slice("[{addresses: [128.0.0.1]}, {addresses: [169.255.0.1]}]"),
         slice("[{addresses: [128.0.0.1]}, {addresses: [127.255.255.255]}]"), "may not be"},
        {ApiRule::ServiceType, service("type: LoadBalancer, " + ports),
         service("type: loadbalancer, " + ports)},
        {ApiRule::ServicePortsRequired, service("clusterIP: None"),
         service("clusterIP: 10.96.0.10")},
        {ApiRule::ServicePortNameRequired,
         service("ports: [{name: a, port: 80}, {name: b, port: 81}]"),
         service("ports: [{name: a, port: 80}, {port: 81}]")},
        {ApiRule::ServicePortNameUnique,
         service("ports: [{name: a, port: 80}, {name: b, port: 81}]"),
         service("ports: [{name: a, port: 80}, {name: a, port: 81}]")},
        {ApiRule::ServicePortUnique,
         service("ports: [{name: a, port: 53}, {name: b, port: 53, protocol: UDP}]"),
         service("ports: [{name: a, port: 53}, {name: b, port: 53}]")},
        {ApiRule::ClusterIpsMatch,
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], " + ports),
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.11], " + ports)},
        {ApiRule::ClusterIpsCount,
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, \"fd00::10\"], " + ports),
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, \"fd00::10\", 10.96.0.11], " +
                 ports)},
        {ApiRule::ClusterIpsDualStack,
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, \"fd00::10\"], " + ports),
         service("clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, 10.96.0.11], " + ports)},
        {ApiRule::ClusterIpNone, service("clusterIPs: [None], " + ports),
         service("clusterIPs: [None, 10.96.0.10], " + ports)},
        {ApiRule::HeadlessType, service("type: ClusterIP, clusterIP: None, " + ports),
         service("type: NodePort, clusterIP: None, " + ports)},
        {ApiRule::ExternalNameRequired, service("type: ExternalName, externalName: a.example."),
         service("type: ExternalName, externalName: .")},
        {ApiRule::ExternalNameNoClusterIp,
         service("type: ExternalName, externalName: a.example, clusterIP: \"\""),
         service("type: ExternalName, externalName: a.example, clusterIP: 10.96.0.10")},
        // The unspecified address is every range's network address: never allocated.
        {ApiRule::ClusterIpAllocatable, service("clusterIP: 0.0.0.1, " + ports),
         service("clusterIP: 0.0.0.0, " + ports)},
        {ApiRule::IpFamilies,
         service("clusterIPs: [\"fd00::10\", 10.96.0.10], ipFamilies: [IPv6, IPv4], " + ports),
         service("clusterIPs: [\"fd00::10\", 10.96.0.10], ipFamilies: [IPv4, IPv6], " + ports)},
        {ApiRule::IpFamilyPolicy, service("ipFamilyPolicy: PreferDualStack, " + ports),
         service("ipFamilyPolicy: DualStack, " + ports)},
        {ApiRule::IpFamilyPolicy,
         service("ipFamilyPolicy: SingleStack, ipFamilies: [IPv4], " + ports),
         service("ipFamilyPolicy: SingleStack, ipFamilies: [IPv4, IPv6], " + ports)},
        {ApiRule::AddressType, slice("[{addresses: [\"fd00::1\"]}]", "[]", "IPv6"),
         slice("[{addresses: [\"fd00::1\"]}]", "[]", "IP")},
        {ApiRule::SliceEndpoints, slice(repeat("{{addresses: [{}]}}", 1000, ipv4)),
         slice(repeat("{{addresses: [{}]}}", 1001, ipv4))},
        {ApiRule::SliceAddresses, slice("[{addresses: " + repeat("{}", 100, ipv4) + "}]"),
         slice("[{addresses: " + repeat("{}", 101, ipv4) + "}]")},
        {ApiRule::SlicePorts,
         slice("[{addresses: [10.0.0.1]}]",
               repeat("{{name: p{}, port: 80}}", 100, [](size_t i) { return std::to_string(i); })),
         slice("[{addresses: [10.0.0.1]}]",
               repeat("{{name: p{}, port: 80}}", 101, [](size_t i) { return std::to_string(i); }))},
        // Unnamed ports count: two are a name given twice.
        {ApiRule::SlicePortNameUnique,
         slice("[{addresses: [10.0.0.1]}]", "[{port: 80}, {name: b, port: 81}]"),
         slice("[{addresses: [10.0.0.1]}]", "[{port: 80}, {port: 81}]")},
        {ApiRule::SubsetAddresses, endpoints("{notReadyAddresses: [{ip: 10.0.0.1}]}"),
         endpoints("{ports: [{port: 80}]}")},
        {ApiRule::EndpointsPortNameRequired,
         endpoints(
             "{addresses: [{ip: 10.0.0.1}], ports: [{name: a, port: 80}, {name: b, port: 81}]}"),
         endpoints("{addresses: [{ip: 10.0.0.1}], ports: [{name: a, port: 80}, {port: 81}]}")},
        {ApiRule::ContainerPortRequired, pod("p", ", ports: [{containerPort: 65535}]"),
         pod("p", ", ports: [{containerPort: 65536}]")},
        {ApiRule::ContainerPortNameUnique,
         pod("p", ", ports: [{name: a, containerPort: 80}, {name: b, containerPort: 80}]"),
         pod("p", ", ports: [{name: a, containerPort: 80}, {name: a, containerPort: 81}]")},
        {ApiRule::Replicas, workload("Deployment", "d", "replicas: 0, "),
         workload("Deployment", "d", "replicas: -1, ")},
        {ApiRule::ReplicasMemory, {}, {}},  // below: the bound is this machine's memory
        {ApiRule::OrdinalsStart, workload("StatefulSet", "s", "ordinals: {start: 0}, "),
         workload("StatefulSet", "s", "ordinals: {start: -1}, ")},
        {ApiRule::WorkloadSelector, workload("ReplicaSet", "r", ""),
         workload("ReplicaSet", "r", "", "selector: {}, ")},
        {ApiRule::SelectorRequirement,
         workload("DaemonSet", "d", "",
                  "selector: {matchExpressions: [{key: app, operator: Exists}]}, "),
         workload("DaemonSet", "d", "",
                  "selector: {matchExpressions: [{key: app, operator: Exists, values: [w]}]}, ")},
        // Its Pods carry its name in the job-name label: 63 characters.
        {ApiRule::JobName, workload("Job", std::string(63, 'j'), ""),
         workload("Job", std::string(64, 'j'), "")},
        // NAME-HASH, its ReplicaSet, must be a name: 253 - 1 - 10.
        {ApiRule::ReplicaSetName, workload("Deployment", std::string(242, 'd'), ""),
         workload("Deployment", std::string(243, 'd'), "")},
        {ApiRule::GeneratedPodName, {}, {}},  // below: names, not refusals
        // NAME-ORDINAL is each Pod's hostname and a label value: 63 characters.
        {ApiRule::StatefulSetPodName,
         workload("StatefulSet", std::string(59, 's'), "replicas: 2, ordinals: {start: 998}, "),
         workload("StatefulSet", std::string(59, 's'), "replicas: 3, ordinals: {start: 998}, ")},
        {ApiRule::IngressHost,
         "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: shop}\n"
         "spec: {rules: [{host: \"*.example.com\"}]}\n",
         "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: shop}\n"
         "spec: {rules: [{host: \"*.Example.com\"}]}\n"},
    };
}

}  // namespace

TEST_CASE("validation: every rule of the table has a case on each side of its boundary") {
    std::set<ApiRule> covered;
    for (const Case& c : cases()) {
        covered.insert(c.rule);
    }
    for (const ApiRuleInfo& rule : api_rules()) {
        CAPTURE(rule.requirement);
        CHECK(covered.count(rule.id) == 1);
        CHECK_FALSE(rule.field.empty());
        CHECK_FALSE(rule.source.empty());
    }
}

TEST_CASE("validation: what the API server accepts loads, what it refuses does not") {
    for (const Case& c : cases()) {
        if (c.ok.empty()) {
            continue;
        }
        const std::string expect = c.expect.empty() ? requirement(c.rule) : c.expect;
        CAPTURE(expect);
        const Status ok = load(c.ok);
        CHECK_MESSAGE(ok.has_value(), (ok ? std::string() : ok.error().message));
        const Status bad = load(c.bad);
        REQUIRE_MESSAGE(!bad.has_value(), c.bad.substr(0, 300));
        CHECK_MESSAGE(bad.error().message.find(expect) != std::string::npos, bad.error().message);
    }
}

TEST_CASE("validation: workloads make no more Pods than the memory holds") {
    const std::string three = workload("Deployment", "d", "replicas: 3, ");
    CHECK(load(three, 3).has_value());
    const Status four = load(workload("Deployment", "d", "replicas: 4, "), 3);
    REQUIRE_FALSE(four.has_value());
    CHECK(four.error().message.find(requirement(ApiRule::ReplicasMemory)) != std::string::npos);
    CHECK(four.error().message.starts_with("Deployment shop/d: spec.replicas: 4 Pods"));
    // All workloads of a load count together.
    CHECK_FALSE(load(three + "---\n" + workload("Job", "j", "parallelism: 1, "), 3).has_value());
    // What this machine holds: far more than any cluster's Deployment, far fewer than an int32.
    CHECK(max_workload_pods(2048) > 20000);
    CHECK(max_workload_pods(2048) < 2147483647ull);
    CHECK_FALSE(load(workload("Deployment", "d", "replicas: 2147483647, ")).has_value());
}

TEST_CASE("validation: plain scalars are what kubectl's YAML 1.1 reader makes of them") {
    const auto port = [](const std::string& text) -> std::string {
        Cluster c;
        const Status s = load_manifest_text(service("ports: [{port: " + text + "}]"), "t", c);
        return s ? std::to_string(c.services.begin()->second.ports.at(0).port) : "refused";
    };
    CHECK(port("80") == "80");
    CHECK(port("0x50") == "80");
    CHECK(port("0o120") == "80");
    CHECK(port("0120") == "80");  // a leading 0 is octal
    CHECK(port("080") == "80");   // no octal: a float, 80
    CHECK(port("8_0") == "80");
    CHECK(port("80.0") == "80");  // kubectl's JSON writes 80
    CHECK(port("8e1") == "80");
    CHECK(port("+80") == "80");
    CHECK(port("80.5") == "refused");
    CHECK(port("\"80\"") == "refused");
    const auto publishes = [](const std::string& text) -> std::string {
        Cluster c;
        const Status s = load_manifest_text(
            service("clusterIP: None, publishNotReadyAddresses: " + text), "t", c);
        return s ? (c.services.begin()->second.publish_not_ready_addresses ? "true" : "false")
                 : "refused";
    };
    for (const char* yes :
         {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
        CAPTURE(yes);
        CHECK(publishes(yes) == "true");
    }
    for (const char* no : {"false", "no", "NO", "off", "Off", "n", "N"}) {
        CAPTURE(no);
        CHECK(publishes(no) == "false");
    }
    CHECK(publishes("\"yes\"") == "refused");
    CHECK(publishes("yEs") == "refused");
    // A boolean or a date where a string is wanted: the API server refuses them.
    const std::string ports = "ports: [{port: 80}]";
    CHECK_FALSE(load(service(ports, ", labels: {enabled: yes}")).has_value());
    CHECK(load(service(ports, ", labels: {enabled: \"yes\"}")).has_value());
    CHECK_FALSE(load(service(ports, ", labels: {app: y}")).has_value());
    const Status date = load(service(ports, ", labels: {release: 2024-01-31}"));
    REQUIRE_FALSE(date.has_value());
    CHECK(date.error().message.find("\"2024-01-31T00:00:00Z\" is not a label value") !=
          std::string::npos);
    CHECK(load(service(ports, ", labels: {release: \"2024-01-31\"}")).has_value());
    CHECK(load(service(ports, ", labels: {release: 2023-02-29}")).has_value());  // no such day
}

TEST_CASE("validation: labels brought by merge keys count, as kubectl's reader merges them") {
    Cluster c;
    REQUIRE(load_manifest_text(R"(apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  labels:
    <<: [{app: web, tier: x}, {track: stable}]
    tier: front
)",
                               "t", c)
                .has_value());
    CHECK(c.pods.at("shop/web-0").spec.labels ==
          LabelMap{{"app", "web"}, {"tier", "front"}, {"track", "stable"}});
    const Status bad = load(service("ports: [{port: 80}]", ", labels: {<<: {app: -web}}"));
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message.find("metadata.labels.app: \"-web\" is not a label value") !=
          std::string::npos);
}

TEST_CASE("validation: generated names keep 58 characters of their base and add 5") {
    const std::string base58(58, 'b');
    CHECK(generated_name(base58, "xyz12") == base58 + "xyz12");
    CHECK(generated_name(base58 + "c", "xyz12") == base58 + "xyz12");
    CHECK(generated_name("web-", "xyz12") == "web-xyz12");
}

TEST_CASE("validation: formats on both sides of their limits") {
    CHECK(is_dns1123_label(std::string(63, 'a')));
    CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
    CHECK_FALSE(is_dns1123_label("a.b"));
    CHECK_FALSE(is_dns1123_label("-a"));
    CHECK_FALSE(is_dns1123_label(""));
    CHECK(is_dns1035_label("a1"));
    CHECK_FALSE(is_dns1035_label("1a"));
    CHECK(is_dns1123_subdomain(std::string(100, 'a') + "." + std::string(152, 'b')));
    CHECK_FALSE(is_dns1123_subdomain(std::string(100, 'a') + "." + std::string(153, 'b')));
    CHECK_FALSE(is_dns1123_subdomain("a..b"));
    CHECK_FALSE(is_dns1123_subdomain("a.-b"));
    CHECK(is_iana_svc_name("state-snapshot"));
    CHECK_FALSE(is_iana_svc_name("state-snapshot-transfer"));  // a Service port name, not this
    CHECK_FALSE(is_iana_svc_name("a--b"));
    CHECK_FALSE(is_iana_svc_name("8080"));
    CHECK(is_label_key("app.kubernetes.io/name"));
    CHECK(is_label_key("A_b.C"));
    CHECK(is_label_key(std::string(63, 'k')));
    CHECK_FALSE(is_label_key(std::string(64, 'k')));
    CHECK_FALSE(is_label_key("/name"));
    CHECK_FALSE(is_label_key("Example.com/name"));
    CHECK_FALSE(is_label_key("a/b/c"));
    CHECK(is_label_value(""));
    CHECK(is_label_value("v1.2_3-X"));
    CHECK_FALSE(is_label_value("-v"));
    CHECK_FALSE(is_label_value("a b"));
}

TEST_CASE("validation: addresses as the API server reads them") {
    const auto text = [](std::string_view s) {
        const auto ip = parse_api_ip(s);
        return ip ? ip_to_text(*ip) + (ip->v6 ? "/6" : "/4") : std::string("none");
    };
    CHECK(text("10.96.0.1") == "10.96.0.1/4");
    CHECK(text("010.096.000.001") == "10.96.0.1/4");   // decimal, not octal
    CHECK(text("::ffff:10.96.0.1") == "10.96.0.1/4");  // IPv4-mapped: IPv4
    CHECK(text("::ffff:010.96.0.1") == "10.96.0.1/4");
    CHECK(text("fd00::1") == "fd00::1/6");
    CHECK(text("::10.96.0.1") == "::10.96.0.1/6");  // IPv4-compatible stays IPv6
    CHECK(text("10.96.0.256") == "none");
    CHECK(text("10.96.0") == "none");
    CHECK(text("10.96.0.1 ") == "none");
    CHECK(text(std::string_view("10.96.0.1\0", 10)) == "none");
    CHECK(text("") == "none");
    for (const char* special : {"0.0.0.0", "::", "127.0.0.1", "::1", "169.254.169.254", "fe80::1",
                                "febf::1", "224.0.0.251", "ff02::fb", "ff12::1"}) {
        CAPTURE(special);
        CHECK_FALSE(check_non_special_ip("ip", *parse_api_ip(special)).has_value());
    }
    for (const char* plain : {"10.0.0.1", "126.255.255.255", "128.0.0.0", "169.253.255.255",
                              "224.0.1.0", "fec0::1", "ff03::1", "2001:db8::1"}) {
        CAPTURE(plain);
        CHECK(check_non_special_ip("ip", *parse_api_ip(plain)).has_value());
    }
}

}  // namespace clusterdns
