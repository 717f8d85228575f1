#pragma once
// The kubernetes source's settings: which API server, how to authenticate to it (from a kubeconfig
// file, as kubectl reads one, or from a pod's service account), and what to watch.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace clusterdns {

// Where the API server is and how to authenticate, as client-go's rest.Config (the subset we use).
struct ApiConfig {
    std::string server;      // "https://host:port", no trailing slash
    std::string ca_file;     // PEM bundle that verifies the server, or
    std::string ca_pem;      // the PEM itself (certificate-authority-data)
    std::string cert_file;   // client certificate (PEM), or
    std::string cert_pem;
    std::string key_file;    // its key (PEM), or
    std::string key_pem;
    std::string token;       // bearer token, or
    std::string token_file;  // a file holding it, re-read as it rotates
    bool insecure = false;   // insecure-skip-tls-verify
    std::string origin;      // for messages: "kubeconfig FILE, context NAME" or "in-cluster config"
};

// Where a pod finds its service account's token, ca.crt and namespace.
constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// Names another directory instead (tests run the in-cluster path outside a pod with it).
constexpr const char* kServiceAccountDirEnv = "CLUSTERDNS_SERVICE_ACCOUNT_DIR";

// Reads a kubeconfig and picks `context`, or its current-context when empty. `paths` may list
// several files joined by ':' (as $KUBECONFIG does); they merge as kubectl merges them: the first
// file to name a cluster, user or context wins, and the first current-context counts. Relative
// paths in a file are relative to its directory. Fails with a message naming the file and the
// entry: a missing context, cluster or user, a server that is not https, or an authentication
// method we do not implement (exec plugins, auth-provider, username/password, impersonation).
Result<ApiConfig> load_kubeconfig(const std::string& paths, const std::string& context);

// client-go's InClusterConfig: https://HOST:PORT with the token and ca.crt of the service account
// in `account_dir`. Fails when host or port is empty or the token cannot be read.
Result<ApiConfig> in_cluster_config(std::string_view host, std::string_view port,
                                    const std::string& account_dir);

// The plugin's configuration. The first four fields are what the user set; parse() fills `api`.
struct KubernetesConfig {
    std::string kubeconfig;  // file(s), as load_kubeconfig takes them
    std::string context;     // empty: the kubeconfig's current-context
    bool in_cluster = false;  // no kubeconfig: the pod's service account
    std::vector<std::string> namespaces;  // expose only these (empty: all)
    std::string label_selector;           // labelSelector of the Services list and watch
    bool watch_pods = false;              // `pods verified` needs the Pods' addresses
    bool watch_endpoints = true;          // false: CoreDNS's noendpoints
    unsigned watch_timeout_seconds = 0;   // 0: a random 5-10 minutes, as client-go
    ApiConfig api;
};

// Resolves the API configuration (kubeconfig, or in-cluster from the environment:
// KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and kServiceAccountDirEnv) and checks the rest.
Result<KubernetesConfig> parse(KubernetesConfig config);

// Reads a token file, trimmed of surrounding whitespace. Fails naming the file.
Result<std::string> read_token_file(const std::string& path);

}  // namespace clusterdns
