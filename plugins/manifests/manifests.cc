#include "plugins/manifests/manifests.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace clusterdns {
namespace {

// A field problem; the caller prefixes the document it is in.
struct FieldError {
    std::string message;
};

std::string join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string node_text(const YAML::Node& node) {
    if (node.IsScalar()) {
        return fmt::format("\"{}\"", node.Scalar());
    }
    return node.IsSequence() ? "a list" : node.IsMap() ? "a mapping" : "null";
}

// Field readers. They throw FieldError, caught once per document.
std::string get_string(const YAML::Node& parent, std::string_view path, const char* key,
                       bool required = false) {
    const YAML::Node node = parent[key];
    if (!node || node.IsNull()) {
        if (required) {
            throw FieldError{fmt::format("{}: required", join(path, key))};
        }
        return {};
    }
    if (!node.IsScalar()) {
        throw FieldError{fmt::format("{}: expected a string, got {}", join(path, key),
                                     node_text(node))};
    }
    return node.Scalar();
}

std::optional<long long> get_int(const YAML::Node& parent, std::string_view path,
                                 const char* key) {
    const YAML::Node node = parent[key];
    if (!node || node.IsNull()) {
        return std::nullopt;
    }
    long long value = 0;
    const std::string& text = node.IsScalar() ? node.Scalar() : std::string();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!node.IsScalar() || ec != std::errc() || end != text.data() + text.size()) {
        throw FieldError{fmt::format("{}: expected an integer, got {}", join(path, key),
                                     node_text(node))};
    }
    return value;
}

std::optional<bool> get_bool(const YAML::Node& parent, std::string_view path, const char* key) {
    const YAML::Node node = parent[key];
    if (!node || node.IsNull()) {
        return std::nullopt;
    }
    const std::string text = node.IsScalar() ? node.Scalar() : std::string();
    if (text == "true" || text == "True" || text == "TRUE") {
        return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
        return false;
    }
    throw FieldError{
        fmt::format("{}: expected true or false, got {}", join(path, key), node_text(node))};
}

YAML::Node get_list(const YAML::Node& parent, std::string_view path, const char* key) {
    const YAML::Node node = parent[key];
    if (node && !node.IsNull() && !node.IsSequence()) {
        throw FieldError{
            fmt::format("{}: expected a list, got {}", join(path, key), node_text(node))};
    }
    return node;
}

YAML::Node get_map(const YAML::Node& parent, std::string_view path, const char* key) {
    const YAML::Node node = parent[key];
    if (node && !node.IsNull() && !node.IsMap()) {
        throw FieldError{
            fmt::format("{}: expected a mapping, got {}", join(path, key), node_text(node))};
    }
    return node;
}

void check(const Status& status) {
    if (!status) {
        throw FieldError{status.error().message};
    }
}

IpAddress get_ip(const std::string& text, const std::string& field) {
    const auto ip = parse_ip(text);
    if (!ip) {
        throw FieldError{fmt::format("{}: \"{}\" is not an IP address", field, text)};
    }
    return *ip;
}

ServicePort get_port(const YAML::Node& node, const std::string& path, bool port_required) {
    if (!node.IsMap()) {
        throw FieldError{fmt::format("{}: expected a mapping, got {}", path, node_text(node))};
    }
    ServicePort port;
    port.name = get_string(node, path, "name");
    if (!port.name.empty()) {
        check(check_port_name(join(path, "name"), port.name));
    }
    auto protocol = parse_protocol(join(path, "protocol"), get_string(node, path, "protocol"));
    check(protocol ? Status() : Status(protocol.error()));
    port.protocol = *protocol;
    const auto number = get_int(node, path, "port");
    if (!number && port_required) {
        throw FieldError{fmt::format("{}.port: required", path)};
    }
    if (number && (*number < 1 || *number > 65535)) {
        throw FieldError{fmt::format("{}.port: {} is out of range (1-65535)", path, *number)};
    }
    port.port = static_cast<uint16_t>(number.value_or(0));
    return port;
}

Service to_service(const YAML::Node& doc, const std::string& ns, const std::string& name) {
    Service service;
    service.ns = ns;
    service.name = name;
    const YAML::Node spec = get_map(doc, "", "spec");
    if (!spec) {
        throw FieldError{"spec: required"};
    }
    const std::string type = get_string(spec, "spec", "type");
    if (type.empty() || type == "ClusterIP") {
        service.type = ServiceType::ClusterIp;
    } else if (type == "NodePort") {
        service.type = ServiceType::NodePort;
    } else if (type == "LoadBalancer") {
        service.type = ServiceType::LoadBalancer;
    } else if (type == "ExternalName") {
        service.type = ServiceType::ExternalName;
    } else {
        throw FieldError{fmt::format("spec.type: \"{}\" is not a Service type (ClusterIP, "
                                     "NodePort, LoadBalancer or ExternalName)",
                                     type)};
    }
    if (service.type == ServiceType::ExternalName) {
        service.external_name = get_string(spec, "spec", "externalName");
        if (!service.external_name.empty() && service.external_name.back() == '.') {
            service.external_name.pop_back();
        }
    } else {
        const std::string cluster_ip = get_string(spec, "spec", "clusterIP");
        std::vector<std::string> cluster_ips;
        if (const YAML::Node list = get_list(spec, "spec", "clusterIPs")) {
            for (size_t i = 0; i < list.size(); ++i) {
                if (!list[i].IsScalar()) {
                    throw FieldError{fmt::format("spec.clusterIPs[{}]: expected a string", i)};
                }
                cluster_ips.push_back(list[i].Scalar());
            }
        }
        if (!cluster_ip.empty() && !cluster_ips.empty() && cluster_ips[0] != cluster_ip) {
            throw FieldError{fmt::format(
                "spec.clusterIPs[0]: \"{}\" must equal spec.clusterIP \"{}\"", cluster_ips[0],
                cluster_ip)};
        }
        if (cluster_ips.empty() && !cluster_ip.empty()) {
            cluster_ips.push_back(cluster_ip);
        }
        if (!cluster_ips.empty() && cluster_ips[0] == "None") {
            if (cluster_ips.size() > 1) {
                throw FieldError{"spec.clusterIPs: \"None\" must be the only entry"};
            }
            service.headless = true;
        } else {
            for (size_t i = 0; i < cluster_ips.size(); ++i) {
                const std::string field =
                    cluster_ip.empty() || i > 0 ? fmt::format("spec.clusterIPs[{}]", i)
                                                : std::string("spec.clusterIP");
                service.cluster_ips.push_back(get_ip(cluster_ips[i], field));
            }
        }
    }
    if (const YAML::Node ports = get_list(spec, "spec", "ports")) {
        for (size_t i = 0; i < ports.size(); ++i) {
            service.ports.push_back(get_port(ports[i], fmt::format("spec.ports[{}]", i), true));
        }
    }
    service.publish_not_ready_addresses =
        get_bool(spec, "spec", "publishNotReadyAddresses").value_or(false);
    check(validate(service));
    return service;
}

std::optional<EndpointSet> to_endpoint_slice(const YAML::Node& doc, const std::string& ns,
                                             const std::string& name) {
    EndpointSet set;
    set.ns = ns;
    set.name = name;
    const YAML::Node labels = get_map(get_map(doc, "", "metadata"), "metadata", "labels");
    if (labels) {
        set.service = get_string(labels, "metadata.labels", "kubernetes.io/service-name");
    }
    const std::string type = get_string(doc, "", "addressType", true);
    if (type == "FQDN") {
        return std::nullopt;  // deprecated and not published by DNS
    }
    if (type != "IPv4" && type != "IPv6") {
        throw FieldError{
            fmt::format("addressType: \"{}\" is not IPv4, IPv6 or FQDN", type)};
    }
    if (const YAML::Node endpoints = get_list(doc, "", "endpoints")) {
        for (size_t i = 0; i < endpoints.size(); ++i) {
            const std::string path = fmt::format("endpoints[{}]", i);
            const YAML::Node node = endpoints[i];
            if (!node.IsMap()) {
                throw FieldError{fmt::format("{}: expected a mapping", path)};
            }
            Endpoint endpoint;
            const YAML::Node addresses = get_list(node, path, "addresses");
            if (!addresses || addresses.size() == 0) {
                throw FieldError{fmt::format("{}.addresses: required", path)};
            }
            for (size_t j = 0; j < addresses.size(); ++j) {
                const std::string field = fmt::format("{}.addresses[{}]", path, j);
                const IpAddress ip =
                    get_ip(addresses[j].IsScalar() ? addresses[j].Scalar() : "", field);
                if (ip.v6 != (type == "IPv6")) {
                    throw FieldError{fmt::format("{}: not an {} address", field, type)};
                }
                endpoint.addresses.push_back(ip);
            }
            endpoint.hostname = get_string(node, path, "hostname");
            const YAML::Node conditions = get_map(node, path, "conditions");
            if (conditions) {
                // The API: "nil should be interpreted as ready".
                endpoint.ready =
                    get_bool(conditions, path + ".conditions", "ready").value_or(true);
            }
            set.endpoints.push_back(std::move(endpoint));
        }
    }
    if (const YAML::Node ports = get_list(doc, "", "ports")) {
        for (size_t i = 0; i < ports.size(); ++i) {
            ServicePort port = get_port(ports[i], fmt::format("ports[{}]", i), false);
            if (port.port != 0) {
                set.ports.push_back(std::move(port));
            }
        }
    }
    check(validate(set));
    if (set.service.empty()) {
        return std::nullopt;  // not linked to a Service: DNS has no name for it
    }
    return set;
}

std::vector<EndpointSet> to_legacy_endpoints(const YAML::Node& doc, const std::string& ns,
                                             const std::string& name) {
    std::vector<EndpointSet> sets;
    const YAML::Node subsets = get_list(doc, "", "subsets");
    for (size_t i = 0; subsets && i < subsets.size(); ++i) {
        const std::string path = fmt::format("subsets[{}]", i);
        EndpointSet set;
        set.ns = ns;
        set.name = fmt::format("{}/{}", name, i);
        set.service = name;
        set.legacy = true;
        for (const auto& [key, ready] : {std::pair{"addresses", true},
                                         std::pair{"notReadyAddresses", false}}) {
            const YAML::Node list = get_list(subsets[i], path, key);
            for (size_t j = 0; list && j < list.size(); ++j) {
                const std::string item = fmt::format("{}.{}[{}]", path, key, j);
                Endpoint endpoint;
                endpoint.ready = ready;
                endpoint.addresses.push_back(
                    get_ip(get_string(list[j], item, "ip", true), item + ".ip"));
                endpoint.hostname = get_string(list[j], item, "hostname");
                set.endpoints.push_back(std::move(endpoint));
            }
        }
        const YAML::Node ports = get_list(subsets[i], path, "ports");
        for (size_t j = 0; ports && j < ports.size(); ++j) {
            set.ports.push_back(get_port(ports[j], fmt::format("{}.ports[{}]", path, j), true));
        }
        check(validate(set));
        sets.push_back(std::move(set));
    }
    return sets;
}

Pod to_pod(const YAML::Node& doc, const std::string& ns, const std::string& name) {
    Pod pod;
    pod.ns = ns;
    pod.name = name;
    const YAML::Node status = get_map(doc, "", "status");
    if (!status) {
        return pod;
    }
    if (const YAML::Node ips = get_list(status, "status", "podIPs")) {
        for (size_t i = 0; i < ips.size(); ++i) {
            const std::string path = fmt::format("status.podIPs[{}]", i);
            pod.ips.push_back(get_ip(get_string(ips[i], path, "ip", true), path + ".ip"));
        }
    }
    const std::string ip = get_string(status, "status", "podIP");
    if (pod.ips.empty() && !ip.empty()) {
        pod.ips.push_back(get_ip(ip, "status.podIP"));
    }
    return pod;
}

// Adds one object; `where` names it in errors ("document 2", "document 2, items[1]").
Status add_object(const YAML::Node& doc, std::string_view source, const std::string& where,
                  Cluster& cluster) {
    std::string kind;
    std::string ns = "default";
    std::string name;
    try {
        if (!doc.IsMap()) {
            throw FieldError{fmt::format("expected a Kubernetes object (a mapping), got {}",
                                         node_text(doc))};
        }
        kind = get_string(doc, "", "kind", true);
        if (kind == "List" || kind.ends_with("List")) {
            const YAML::Node items = get_list(doc, "", "items");
            for (size_t i = 0; items && i < items.size(); ++i) {
                if (auto s = add_object(items[i], source, fmt::format("{}, items[{}]", where, i),
                                        cluster);
                    !s) {
                    return s;
                }
            }
            return {};
        }
        static const char* const kServed[] = {"Namespace", "Service", "EndpointSlice",
                                              "Endpoints", "Pod"};
        if (std::find(std::begin(kServed), std::end(kServed), kind) == std::end(kServed)) {
            return {};  // Deployment, Ingress, ConfigMap...: nothing DNS publishes
        }
        const YAML::Node metadata = get_map(doc, "", "metadata");
        if (!metadata) {
            throw FieldError{"metadata: required"};
        }
        name = get_string(metadata, "metadata", "name", true);
        if (kind == "Namespace") {
            check(check_dns1123_label("metadata.name", name));
            cluster.upsert(Namespace{name});
            return {};
        }
        if (const std::string declared = get_string(metadata, "metadata", "namespace");
            !declared.empty()) {
            ns = declared;
        }
        check(check_dns1123_label("metadata.namespace", ns));
        if (kind == "Service") {
            cluster.upsert(to_service(doc, ns, name));
        } else if (kind == "EndpointSlice") {
            if (auto set = to_endpoint_slice(doc, ns, name)) {
                cluster.upsert(std::move(*set));
            }
        } else if (kind == "Endpoints") {
            for (EndpointSet& set : to_legacy_endpoints(doc, ns, name)) {
                cluster.upsert(std::move(set));
            }
        } else {
            cluster.upsert(to_pod(doc, ns, name));
        }
        return {};
    } catch (const FieldError& e) {
        const std::string object =
            kind.empty() ? std::string()
            : name.empty() ? fmt::format(" ({})", kind)
            : kind == "Namespace" ? fmt::format(" ({} {})", kind, name)
                                  : fmt::format(" ({} {}/{})", kind, ns, name);
        return Error{fmt::format("{}: {}{}: {}", source, where, object, e.message)};
    } catch (const YAML::Exception& e) {
        return Error{fmt::format("{}: {}: {}", source, where, e.msg)};
    }
}

}  // namespace

Status load_manifest_text(std::string_view text, std::string_view source, Cluster& cluster) {
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
        // yaml-cpp counts lines and columns from 0.
        return Error{fmt::format("{}:{}:{}: invalid YAML: {}", source, e.mark.line + 1,
                                 e.mark.column + 1, e.msg)};
    }
    for (size_t i = 0; i < docs.size(); ++i) {
        if (!docs[i] || docs[i].IsNull()) {
            continue;  // an empty document, as between two "---"
        }
        if (auto s = add_object(docs[i], source, fmt::format("document {}", i + 1), cluster); !s) {
            return s;
        }
    }
    return {};
}

Status load_manifests(const std::string& path, Cluster& cluster) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            const std::string ext = it->path().extension().string();
            if (it->is_regular_file(ec) && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
                files.push_back(it->path());
            }
        }
        if (ec) {
            return Error{fmt::format("{}: {}", path, ec.message())};
        }
        std::sort(files.begin(), files.end());
    } else if (fs::exists(path, ec)) {
        files.emplace_back(path);
    } else {
        return Error{fmt::format("{}: no such file or directory", path)};
    }
    for (const fs::path& file : files) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return Error{fmt::format("{}: cannot read", file.string())};
        }
        std::ostringstream text;
        text << in.rdbuf();
        if (auto s = load_manifest_text(text.str(), file.string(), cluster); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace clusterdns
