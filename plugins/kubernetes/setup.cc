#include "plugins/kubernetes/setup.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "zone/objects.h"

namespace clusterdns {
namespace {

// A named entry of a kubeconfig (cluster, user or context) and the file it came from, whose
// directory relative paths in it are resolved against.
struct Entry {
    YAML::Node node;
    std::string file;
};

struct Kubeconfig {
    std::map<std::string, Entry> clusters;
    std::map<std::string, Entry> users;
    std::map<std::string, Entry> contexts;
    std::string current_context;
    std::string first_file;  // names the merged whole in messages
};

std::string text(const YAML::Node& map, const char* key) {
    const YAML::Node node = map[key];
    return node && node.IsScalar() ? node.Scalar() : std::string();
}

bool has(const YAML::Node& map, const char* key) {
    return map[key] && !map[key].IsNull();
}

std::string resolve(const std::string& path, const std::string& file) {
    if (path.empty() || path.front() == '/') {
        return path;
    }
    return (std::filesystem::path(file).parent_path() / path).string();
}

Result<std::string> decode_data(const std::string& base64, const std::string& what) {
    const std::vector<unsigned char> bytes = YAML::DecodeBase64(base64);
    if (bytes.empty()) {
        return Error{fmt::format("{}: not base64", what)};
    }
    return std::string(bytes.begin(), bytes.end());
}

Status merge_file(const std::string& file, Kubeconfig& config) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(file);
    } catch (const YAML::BadFile&) {
        return Error{fmt::format("kubeconfig {}: cannot read", file)};
    } catch (const YAML::Exception& e) {
        return Error{fmt::format("kubeconfig {}:{}:{}: invalid YAML: {}", file, e.mark.line + 1,
                                 e.mark.column + 1, e.msg)};
    }
    if (root.IsNull()) {
        return {};
    }
    if (!root.IsMap()) {
        return Error{fmt::format("kubeconfig {}: expected a mapping", file)};
    }
    for (const auto& [key, field] : {std::pair{"clusters", &Kubeconfig::clusters},
                                     std::pair{"users", &Kubeconfig::users},
                                     std::pair{"contexts", &Kubeconfig::contexts}}) {
        const YAML::Node list = root[key];
        if (!list || list.IsNull()) {
            continue;
        }
        if (!list.IsSequence()) {
            return Error{fmt::format("kubeconfig {}: {}: expected a list", file, key)};
        }
        for (const YAML::Node& item : list) {
            const std::string name = item.IsMap() ? text(item, "name") : std::string();
            if (name.empty()) {
                return Error{fmt::format("kubeconfig {}: {}: an entry without a name", file, key)};
            }
            (config.*field).try_emplace(name, Entry{item, file});  // the first file wins
        }
    }
    if (config.current_context.empty()) {
        config.current_context = text(root, "current-context");
    }
    return {};
}

// The user's credentials. Only what we implement; anything else is refused by name, since
// connecting without it would only fail later as 401 with no hint why.
Status read_user(const Entry& user, const std::string& name, ApiConfig& api) {
    const YAML::Node u = user.node["user"];
    const std::string where = fmt::format("kubeconfig {}: user {}", user.file, clusterdns::quoted(name));
    if (!u || u.IsNull()) {
        return {};
    }
    if (!u.IsMap()) {
        return Error{fmt::format("{}: expected a mapping", where)};
    }
    for (const auto& [key, what] :
         {std::pair{"exec", "exec credential plugins"},
          std::pair{"auth-provider", "auth-provider plugins"},
          std::pair{"username", "basic authentication (username/password)"},
          std::pair{"password", "basic authentication (username/password)"},
          std::pair{"as", "impersonation (as)"}}) {
        if (has(u, key)) {
            return Error{fmt::format(
                "{}: {} are not supported; use a token, tokenFile or client certificate", where,
                what)};
        }
    }
    api.token = text(u, "token");
    api.token_file = resolve(text(u, "tokenFile"), user.file);
    api.cert_file = resolve(text(u, "client-certificate"), user.file);
    api.key_file = resolve(text(u, "client-key"), user.file);
    for (const auto& [key, out] : {std::pair{"client-certificate-data", &api.cert_pem},
                                   std::pair{"client-key-data", &api.key_pem}}) {
        if (has(u, key)) {
            auto pem = decode_data(text(u, key), fmt::format("{}: {}", where, key));
            if (!pem) {
                return pem.error();
            }
            *out = std::move(*pem);
        }
    }
    const bool cert = !api.cert_file.empty() || !api.cert_pem.empty();
    const bool key = !api.key_file.empty() || !api.key_pem.empty();
    if (cert != key) {
        return Error{fmt::format("{}: a client certificate needs its key, and a key its "
                                 "certificate",
                                 where)};
    }
    return {};
}

Status read_cluster(const Entry& cluster, const std::string& name, ApiConfig& api) {
    const YAML::Node c = cluster.node["cluster"];
    const std::string where = fmt::format("kubeconfig {}: cluster {}", cluster.file, clusterdns::quoted(name));
    if (!c || !c.IsMap()) {
        return Error{fmt::format("{}: no cluster mapping", where)};
    }
    api.server = text(c, "server");
    while (api.server.ends_with('/')) {
        api.server.pop_back();
    }
    if (!api.server.starts_with("https://")) {
        return Error{fmt::format("{}: server {} is not an https:// URL", where,
                                 clusterdns::quoted(api.server))};
    }
    if (has(c, "proxy-url")) {
        return Error{fmt::format("{}: proxy-url is not supported", where)};
    }
    api.ca_file = resolve(text(c, "certificate-authority"), cluster.file);
    if (has(c, "certificate-authority-data")) {
        auto pem = decode_data(text(c, "certificate-authority-data"),
                               where + ": certificate-authority-data");
        if (!pem) {
            return pem.error();
        }
        api.ca_pem = std::move(*pem);
    }
    const std::string insecure = text(c, "insecure-skip-tls-verify");
    api.insecure = insecure == "true";
    if (!insecure.empty() && insecure != "true" && insecure != "false") {
        return Error{fmt::format("{}: insecure-skip-tls-verify: expected true or false, got {}",
                                 where, clusterdns::quoted(insecure))};
    }
    return {};
}

}  // namespace

Result<std::string> read_token_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Error{fmt::format("token file {}: cannot read", path)};
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string token = buffer.str();
    const size_t first = token.find_first_not_of(" \t\r\n");
    const size_t last = token.find_last_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return Error{fmt::format("token file {}: empty", path)};
    }
    return token.substr(first, last - first + 1);
}

Result<ApiConfig> load_kubeconfig(const std::string& paths, const std::string& context) {
    Kubeconfig config;
    size_t start = 0;
    while (start <= paths.size()) {
        const size_t colon = std::min(paths.find(':', start), paths.size());
        const std::string file = paths.substr(start, colon - start);
        start = colon + 1;
        if (file.empty()) {
            continue;
        }
        if (config.first_file.empty()) {
            config.first_file = file;
        }
        std::error_code ec;
        if (std::filesystem::is_directory(file, ec)) {
            return Error{fmt::format("kubeconfig {}: a directory, not a file", file)};
        }
        try {
            if (Status s = merge_file(file, config); !s) {
                return s.error();
            }
        } catch (const YAML::Exception& e) {
            return Error{fmt::format("kubeconfig {}: {}", file, e.msg)};
        }
    }
    if (config.first_file.empty()) {
        return Error{"kubeconfig: no file given"};
    }
    const std::string& name = context.empty() ? config.current_context : context;
    if (name.empty()) {
        return Error{fmt::format("kubeconfig {}: no current-context; give --context NAME",
                                 config.first_file)};
    }
    const auto ctx = config.contexts.find(name);
    if (ctx == config.contexts.end()) {
        return Error{fmt::format("kubeconfig {}: context {} not found", config.first_file,
                                 clusterdns::quoted(name))};
    }
    ApiConfig api;
    api.origin = fmt::format("kubeconfig {}, context {}", config.first_file, name);
    try {
        const YAML::Node c = ctx->second.node["context"];
        const std::string cluster = c && c.IsMap() ? text(c, "cluster") : std::string();
        const std::string user = c && c.IsMap() ? text(c, "user") : std::string();
        const auto found = config.clusters.find(cluster);
        if (found == config.clusters.end()) {
            return Error{fmt::format("kubeconfig {}: context {}: cluster {} not found",
                                     ctx->second.file, clusterdns::quoted(name), clusterdns::quoted(cluster))};
        }
        if (Status s = read_cluster(found->second, cluster, api); !s) {
            return s.error();
        }
        if (!user.empty()) {
            const auto u = config.users.find(user);
            if (u == config.users.end()) {
                return Error{fmt::format("kubeconfig {}: context {}: user {} not found",
                                         ctx->second.file, clusterdns::quoted(name), clusterdns::quoted(user))};
            }
            if (Status s = read_user(u->second, user, api); !s) {
                return s.error();
            }
        }
    } catch (const YAML::Exception& e) {
        return Error{fmt::format("kubeconfig {}: {}", ctx->second.file, e.msg)};
    }
    if (!api.token_file.empty()) {
        if (auto token = read_token_file(api.token_file); !token) {
            return token.error();
        }
    }
    return api;
}

Result<ApiConfig> in_cluster_config(std::string_view host, std::string_view port,
                                    const std::string& account_dir) {
    if (host.empty() || port.empty()) {
        return Error{"in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                     "must be set"};
    }
    ApiConfig api;
    const bool v6 = host.find(':') != std::string_view::npos;
    api.server = v6 ? fmt::format("https://[{}]:{}", host, port)
                    : fmt::format("https://{}:{}", host, port);
    api.token_file = account_dir + "/token";
    api.ca_file = account_dir + "/ca.crt";
    api.origin = fmt::format("in-cluster config ({})", account_dir);
    if (auto token = read_token_file(api.token_file); !token) {
        return Error{fmt::format("in-cluster config: {}", token.error().message)};
    }
    return api;
}

Result<KubernetesConfig> parse(KubernetesConfig config) {
    for (const std::string& ns : config.namespaces) {
        if (Status s = check_dns1123_label("namespaces", ns); !s) {
            return s.error();
        }
    }
    if (!config.kubeconfig.empty()) {
        auto api = load_kubeconfig(config.kubeconfig, config.context);
        if (!api) {
            return api.error();
        }
        config.api = std::move(*api);
    } else if (config.in_cluster) {
        const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
        const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
        const char* dir = std::getenv(kServiceAccountDirEnv);
        auto api = in_cluster_config(host ? host : "", port ? port : "",
                                     dir && *dir ? dir : kServiceAccountDir);
        if (!api) {
            return api.error();
        }
        config.api = std::move(*api);
    } else {
        return Error{"kubernetes: neither a kubeconfig nor the in-cluster config"};
    }
    return config;
}

}  // namespace clusterdns
