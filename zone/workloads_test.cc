#include "zone/workloads.h"

#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

Service selecting(const std::string& name, std::vector<IpAddress> cluster_ips,
                  std::vector<bool> families_v6 = {}) {
    Service s;
    s.ns = "edge";
    s.name = name;
    s.headless = cluster_ips.empty();
    s.cluster_ips = std::move(cluster_ips);
    s.ip_families_v6 = std::move(families_v6);
    s.selector = LabelMap{{"app", "envoy"}};
    s.ports = {{"http", "tcp", 80, {}}};
    return s;
}

// The address families of the slices made for each Service, as "name:4", "name:6".
std::set<std::string> slice_families(std::vector<Service> services) {
    Cluster cluster;
    WorkloadSink sink(cluster, {*parse_prefix("10.244.0.0/16"), *parse_prefix("fd00:10:244::/64")});
    Pod pod;
    pod.ns = "edge";
    pod.name = "envoy-0";
    pod.spec.labels = {{"app", "envoy"}};
    sink.upsert(pod);
    for (Service& s : services) {
        sink.upsert(std::move(s));
    }
    REQUIRE(sink.synthesize().has_value());
    std::set<std::string> out;
    for (const auto& [key, set] : cluster.endpoint_sets) {
        out.insert(set.service + ":" + (set.endpoints.at(0).addresses.at(0).v6 ? "6" : "4"));
    }
    return out;
}

}  // namespace

TEST_CASE("workloads: a Service's slices are of its own families (getAddressTypesForService)") {
    CHECK(slice_families({selecting("v6", {*parse_ip("fd00:10:96::7")}),
                          selecting("v4", {*parse_ip("10.96.0.7")}),
                          selecting("both", {*parse_ip("10.96.0.8"), *parse_ip("fd00:10:96::8")}),
                          selecting("headless-v6", {}, {true}), selecting("headless", {})}) ==
          std::set<std::string>{"v6:6", "v4:4", "both:4", "both:6", "headless-v6:6", "headless:4",
                                "headless:6"});
}

TEST_CASE("workloads: past 100 endpoints a Service gets more slices") {
    Cluster cluster;
    WorkloadSink sink(cluster, {*parse_prefix("10.244.0.0/16")});
    Workload w;
    w.kind = "Deployment";
    w.ns = "edge";
    w.name = "envoy";
    w.replicas = 201;
    w.pod.labels = {{"app", "envoy"}};
    sink.upsert(w);
    sink.upsert(selecting("envoy", {*parse_ip("10.96.0.9")}));
    REQUIRE(sink.synthesize().has_value());
    std::vector<size_t> sizes;
    for (const auto& [key, set] : cluster.endpoint_sets) {
        CHECK(set.name.starts_with(WorkloadSink::slice_name("envoy")));
        sizes.push_back(set.endpoints.size());
    }
    CHECK(sizes == std::vector<size_t>{100, 100, 1});
    CHECK(cluster.pods.size() == 201);
}

TEST_CASE("workloads: every replica is made, however many draw the same name suffix") {
    Cluster cluster;
    WorkloadSink sink(cluster, {*parse_prefix("10.0.0.0/8")});
    Workload w;
    w.kind = "Job";
    w.ns = "edge";
    w.name = "sweep";
    w.replicas = 30000;  // 27^5 suffixes: a dozen pairs draw alike
    sink.upsert(w);
    REQUIRE(sink.synthesize().has_value());
    CHECK(cluster.pods.size() == 30000);
    for (const auto& [key, pod] : cluster.pods) {
        CHECK(pod.name.size() == std::string("sweep-").size() + 5);
        CHECK(pod.ips.size() == 1);
    }
}

}  // namespace clusterdns
