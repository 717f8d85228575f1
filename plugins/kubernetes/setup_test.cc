#include "plugins/kubernetes/setup.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

// A temporary directory, removed with everything in it.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char name[] = "/tmp/clusterdns-kube-XXXXXX";
        path = mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& file, const std::string& text) const {
        std::ofstream(path / file) << text;
        return (path / file).string();
    }
};

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

constexpr const char* kKubeconfig = R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority: certs/ca.crt
- name: dev
  cluster:
    server: https://dev.example:443
    certificate-authority-data: LS0tLS1CRUdJTg==
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: abc123
- name: cert
  user:
    client-certificate: /etc/k/client.crt
    client-key-data: a2V5
- name: cloud
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
- name: basic
  user:
    username: me
    password: secret
contexts:
- name: prod-admin
  context: {cluster: prod, user: admin}
- name: dev-cert
  context: {cluster: dev, user: cert}
- name: eks
  context: {cluster: prod, user: cloud}
- name: old
  context: {cluster: prod, user: basic}
- name: nowhere
  context: {cluster: gone, user: admin}
current-context: prod-admin
)";

TEST_CASE("kubeconfig: current-context, its cluster and user; relative paths from the file") {
    TempDir dir;
    const std::string file = dir.write("config", kKubeconfig);
    auto api = load_kubeconfig(file, "");
    REQUIRE(api.has_value());
    CHECK(api->server == "https://10.0.0.1:6443");
    CHECK(api->ca_file == (dir.path / "certs/ca.crt").string());
    CHECK(api->token == "abc123");
    CHECK_FALSE(api->insecure);
    CHECK(contains(api->origin, "context prod-admin"));
}

TEST_CASE("kubeconfig: --context picks another; -data fields are decoded") {
    TempDir dir;
    auto api = load_kubeconfig(dir.write("config", kKubeconfig), "dev-cert");
    REQUIRE(api.has_value());
    CHECK(api->server == "https://dev.example:443");
    CHECK(api->ca_pem == "-----BEGIN");
    CHECK(api->insecure);
    CHECK(api->cert_file == "/etc/k/client.crt");
    CHECK(api->key_pem == "key");
    CHECK(api->token.empty());
}

TEST_CASE("kubeconfig: unsupported authentication is refused by name") {
    TempDir dir;
    const std::string file = dir.write("config", kKubeconfig);
    auto exec = load_kubeconfig(file, "eks");
    REQUIRE_FALSE(exec.has_value());
    CHECK(contains(exec.error().message, "exec credential plugins are not supported"));
    CHECK(contains(exec.error().message, "user \"cloud\""));
    auto basic = load_kubeconfig(file, "old");
    REQUIRE_FALSE(basic.has_value());
    CHECK(contains(basic.error().message, "username/password"));
}

TEST_CASE("kubeconfig: missing context, cluster, file, or a plain-http server") {
    TempDir dir;
    const std::string file = dir.write("config", kKubeconfig);
    CHECK(contains(load_kubeconfig(file, "nope").error().message, "context \"nope\" not found"));
    CHECK(contains(load_kubeconfig(file, "nowhere").error().message,
                   "cluster \"gone\" not found"));
    CHECK(contains(load_kubeconfig((dir.path / "absent").string(), "").error().message,
                   "cannot read"));
    const std::string http = dir.write(
        "http", "clusters: [{name: c, cluster: {server: 'http://x:8080'}}]\n"
                "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
    CHECK(contains(load_kubeconfig(http, "").error().message, "not an https:// URL"));
    CHECK(contains(load_kubeconfig(dir.write("bad", "clusters: [\n"), "").error().message,
                   "invalid YAML"));
}

TEST_CASE("kubeconfig: files joined by ':' merge, the first to name an entry wins") {
    TempDir dir;
    const std::string first = dir.write(
        "a", "clusters: [{name: c, cluster: {server: 'https://first:1'}}]\n"
             "users: [{name: u, user: {tokenFile: tok}}]\n");
    dir.write("tok", "  rotated-token\n");
    const std::string second = dir.write(
        "b", "clusters: [{name: c, cluster: {server: 'https://second:2'}}]\n"
             "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n");
    auto api = load_kubeconfig(first + ":" + second, "");
    REQUIRE(api.has_value());
    CHECK(api->server == "https://first:1");
    CHECK(api->token_file == (dir.path / "tok").string());
    CHECK(read_token_file(api->token_file).value() == "rotated-token");
}

TEST_CASE("kubeconfig: in-cluster config from host, port and the service account directory") {
    TempDir dir;
    dir.write("token", "sa-token\n");
    auto api = in_cluster_config("10.96.0.1", "443", dir.path.string());
    REQUIRE(api.has_value());
    CHECK(api->server == "https://10.96.0.1:443");
    CHECK(api->ca_file == (dir.path / "ca.crt").string());
    CHECK(api->token_file == (dir.path / "token").string());
    CHECK(in_cluster_config("fd00::1", "6443", dir.path.string())->server ==
          "https://[fd00::1]:6443");
    CHECK_FALSE(in_cluster_config("", "443", dir.path.string()).has_value());
    CHECK(contains(in_cluster_config("10.96.0.1", "443", "/nonexistent").error().message,
                   "cannot read"));
}

}  // namespace
}  // namespace clusterdns
