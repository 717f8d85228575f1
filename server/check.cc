// `clusterdns check` (check_manifests in clusterdns.h): what DNS and routing will make of the
// manifests, in the terms of the common errors users hit, each finding naming file, object and
// field, with a fix; and --check-config (check_config): the manifests load as at start-up.

#include "clusterdns/clusterdns.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/manifests.h"
#include "dns/name.h"
#include "zone/allocate.h"
#include "zone/convert.h"
#include "zone/workloads.h"

namespace clusterdns {

namespace {

// A scalar's text as a string the findings keep.
std::string text_of(const DocNode& node, std::initializer_list<std::string_view> path) {
    return std::string(scalar_at(node, path));
}

std::string labels_text(const LabelMap& labels) {
    std::string out;
    for (const auto& [k, v] : labels) {
        out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", k, v);
    }
    return "{" + out + "}";
}

struct Where {
    std::string file;
    size_t document = 0;  // 1-based
    uint32_t line = 0;
    std::string kind;
    std::string ns;
    std::string name;
};

struct ServiceInfo {
    Where where;
    std::string type;
    std::optional<LabelMap> selector;
    std::vector<std::string> cluster_ips;
    std::string external_name;
    bool headless = false;
    bool publish_not_ready = false;
    bool broken = false;  // not loaded (an error says why): only its name and ports count
    struct Port {
        std::string name;
        std::string protocol;
        long long port = 0;
    };
    std::vector<Port> ports;
};

struct IngressBackend {
    std::string field;
    std::string service;
    std::string port_name;
    long long port_number = 0;
};

struct IngressInfo {
    Where where;
    std::string class_name;
    std::vector<IngressBackend> backends;
};

struct PolicyInfo {
    Where where;
    const DocNode* doc = nullptr;  // not kept: read while the file is open
    LabelMap pod_selector;
    bool restricts_egress = false;
    bool dns_udp = false;
    bool dns_tcp = false;
    std::vector<std::pair<std::string, LabelMap>> namespace_selectors;  // (field, matchLabels)
};

// Whether a NetworkPolicy port entry lets `protocol` port 53 through (no port: every port).
bool allows_dns(const DocNode& port, std::string_view protocol) {
    std::string p = text_of(port, {"protocol"});
    if (p.empty()) {
        p = "TCP";
    }
    const std::string number = text_of(port, {"port"});
    const std::string end = text_of(port, {"endPort"});
    if (p != protocol) {
        return false;
    }
    if (number.empty() || number == "dns" || number == "dns-tcp" || number == "53") {
        return true;
    }
    // A range: numbers both (the API refuses endPort beside a named port; a manifest may not).
    const auto as_number = [](const std::string& text) {
        long value = -1;
        const auto [at, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        return ec == std::errc() && at == text.data() + text.size() ? value : -1;
    };
    const long first = as_number(number);
    return first >= 0 && first <= 53 && as_number(end) >= 53;
}

class Checker {
public:
    Checker(std::vector<IpPrefix> cidrs, std::vector<IpPrefix> service_ranges)
        : workloads_(objects_, std::move(cidrs)), addresses_(workloads_, std::move(service_ranges)) {}

    void document(const std::string& file, size_t index, const DocNode& doc) {
        const std::string kind = text_of(doc, {"kind"});
        if (kind == "List" || (kind.ends_with("List") && kind.size() > 4)) {
            for (const DocNode& item : items_at(doc, {"items"})) {
                document(file, index, item);
            }
            return;
        }
        Where w{file, index + 1, doc.line, kind, text_of(doc, {"metadata", "namespace"}),
                text_of(doc, {"metadata", "name"})};
        if (w.ns.empty()) {
            w.ns = "default";
        }
        file_seen(file);
        const Status loaded =
            add_objects(doc, file, fmt::format("document {}", index + 1), addresses_);
        if (!loaded) {
            load_error(w, loaded.error().message);
        }
        if (kind == "Namespace") {
            namespaces_[w.name] = labels_at(doc, {"metadata", "labels"});
            return;
        }
        if (!loaded) {
            // Still there for what names it: an Ingress backend is not "missing" as well.
            if (kind == "Service") {
                service(w, doc);
                services_[{w.ns, w.name}].broken = true;
            }
            return;
        }
        if (kind != "IngressClass" && !kind.empty()) {
            used_namespaces_.emplace(w.ns, w);
        }
        if (kind == "Service") {
            service(w, doc);
        } else if (kind == "Ingress") {
            ingress(w, doc);
        } else if (kind == "IngressClass") {
            ingress_classes_.insert(w.name);
            if (text_of(doc, {"metadata", "annotations",
                              "ingressclass.kubernetes.io/is-default-class"}) == "true") {
                default_class_ = true;
            }
        } else if (kind == "NetworkPolicy") {
            policy(w, doc);
        } else if (kind == "EndpointSlice" || kind == "Endpoints") {
            own_endpoints_.insert(
                {w.ns, kind == "Endpoints"
                           ? w.name
                           : text_of(doc, {"metadata", "labels", "kubernetes.io/service-name"})});
        } else if (kind == "Pod") {
            pod_labels_.push_back({w.ns, labels_at(doc, {"metadata", "labels"})});
        } else if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
                   kind == "ReplicaSet" || kind == "Job" || kind == "ReplicationController") {
            pod_labels_.push_back({w.ns, labels_at(doc, {"spec", "template", "metadata", "labels"})});
        }
    }

    // What could not be read at all: a path, a file, a document that is not valid YAML.
    void problem(const ManifestProblem& p) {
        file_seen(p.file);
        const bool whole_file = p.document == ManifestProblem::kWholeFile;
        findings_.push_back(
            {"error", p.file, whole_file ? 0 : p.document + 1, p.line, "", "", "", "",
             p.message,
             whole_file && p.line == 0
                 ? "give a file or directory of manifests that can be read (- for standard input)"
                 : "fix the YAML where the message says; the file's other documents were read"});
    }

    // Every finding, grouped by file in the order the files were read (what no one file holds,
    // last), and within a file in document order.
    std::vector<Finding> finish() {
        if (Status s = addresses_.finish(); !s) {
            add("error", {}, "", s.error().message,
                "give a larger --service-cidr, or some Services their clusterIP");
        }
        if (Status s = workloads_.synthesize(); !s) {
            add("error", {}, "", s.error().message, "fix the workload the message names");
        }
        check_services();
        check_ingresses();
        check_policies();
        check_namespaces();
        const auto rank = [this](const Finding& f) {
            const auto it = file_order_.find(f.file);
            return std::tuple(it == file_order_.end() ? file_order_.size() : it->second,
                              f.document, f.line);
        };
        std::stable_sort(findings_.begin(), findings_.end(),
                         [&](const Finding& a, const Finding& b) { return rank(a) < rank(b); });
        return std::move(findings_);
    }

private:
    void file_seen(const std::string& file) { file_order_.emplace(file, file_order_.size()); }

    // An object the server would not load. Its message is "FILE:LINE: document N (KIND NS/NAME):
    // FIELD: what is wrong" (zone/convert.h): the finding takes the field and its line from it.
    void load_error(Where w, const std::string& message) {
        std::string_view rest = message;
        std::string field;
        if (rest.starts_with(w.file + ":")) {
            rest.remove_prefix(w.file.size() + 1);
            uint32_t line = 0;
            size_t digits = 0;
            for (; digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9'; ++digits) {
                line = line * 10 + static_cast<uint32_t>(rest[digits] - '0');
            }
            if (digits > 0 && rest.substr(digits).starts_with(": document ")) {
                w.line = line;
            }
        }
        if (const size_t object = rest.find("): "); object != std::string_view::npos) {
            const std::string_view after = rest.substr(object + 3);
            const size_t end = after.find(": ");
            const std::string_view named = after.substr(0, end);
            if (end != std::string_view::npos && named.find(' ') == std::string_view::npos) {
                field = std::string(named);
            }
        }
        add("error", w, std::move(field), message, "fix the field the message names");
    }

    void add(std::string severity, const Where& w, std::string field, std::string message,
             std::string fix) {
        findings_.push_back({std::move(severity), w.file, w.document, w.line, w.kind, w.ns,
                             w.name, std::move(field), std::move(message), std::move(fix)});
    }

    void service(const Where& w, const DocNode& doc) {
        ServiceInfo s;
        s.where = w;
        s.type = text_of(doc, {"spec", "type"});
        const LabelMap selector = labels_at(doc, {"spec", "selector"});
        if (!selector.empty()) {
            s.selector = selector;
        }
        const std::string ip = text_of(doc, {"spec", "clusterIP"});
        s.headless = ip == "None";
        if (!ip.empty() && ip != "None") {
            s.cluster_ips.push_back(ip);
        }
        for (const DocNode& extra : items_at(doc, {"spec", "clusterIPs"})) {
            if (extra.is_scalar() && extra.text != ip && extra.text != "None") {
                s.cluster_ips.emplace_back(extra.text);
            }
        }
        s.external_name = text_of(doc, {"spec", "externalName"});
        s.publish_not_ready = text_of(doc, {"spec", "publishNotReadyAddresses"}) == "true";
        for (const DocNode& p : items_at(doc, {"spec", "ports"})) {
            const std::string number = text_of(p, {"port"});
            s.ports.push_back({text_of(p, {"name"}), text_of(p, {"protocol"}),
                               number.empty() ? 0 : std::atoll(number.c_str())});
        }
        if (services_.count({w.ns, w.name}) == 0) {
            service_order_.emplace_back(w.ns, w.name);
        }
        services_[{w.ns, w.name}] = std::move(s);
    }

    void ingress(const Where& w, const DocNode& doc) {
        IngressInfo in;
        in.where = w;
        in.class_name = text_of(doc, {"spec", "ingressClassName"});
        const auto backend = [&](const DocNode& b, std::string field) {
            const DocNode* svc = find_path(b, {"service"});
            if (svc == nullptr) {
                return;
            }
            const std::string number = text_of(*svc, {"port", "number"});
            in.backends.push_back({std::move(field), text_of(*svc, {"name"}),
                                   text_of(*svc, {"port", "name"}),
                                   number.empty() ? 0 : std::atoll(number.c_str())});
        };
        if (const DocNode* d = find_path(doc, {"spec", "defaultBackend"})) {
            backend(*d, "spec.defaultBackend.service");
        }
        const auto rules = items_at(doc, {"spec", "rules"});
        for (size_t r = 0; r < rules.size(); ++r) {
            const auto paths = items_at(rules[r], {"http", "paths"});
            for (size_t p = 0; p < paths.size(); ++p) {
                if (const DocNode* b = find_path(paths[p], {"backend"})) {
                    backend(*b, fmt::format("spec.rules[{}].http.paths[{}].backend.service", r, p));
                }
            }
        }
        ingresses_.push_back(std::move(in));
    }

    void policy(const Where& w, const DocNode& doc) {
        PolicyInfo p;
        p.where = w;
        p.pod_selector = labels_at(doc, {"spec", "podSelector", "matchLabels"});
        bool egress_type = false;
        for (const DocNode& t : items_at(doc, {"spec", "policyTypes"})) {
            egress_type = egress_type || (t.is_scalar() && t.text == "Egress");
        }
        const DocNode* egress = find_path(doc, {"spec", "egress"});
        p.restricts_egress = egress_type || egress != nullptr;
        const auto rules = items_at(doc, {"spec", "egress"});
        for (size_t r = 0; r < rules.size(); ++r) {
            const auto ports = items_at(rules[r], {"ports"});
            if (ports.empty()) {
                p.dns_udp = p.dns_tcp = true;  // every port
            }
            for (const DocNode& port : ports) {
                p.dns_udp = p.dns_udp || allows_dns(port, "UDP");
                p.dns_tcp = p.dns_tcp || allows_dns(port, "TCP");
            }
            const auto to = items_at(rules[r], {"to"});
            for (size_t i = 0; i < to.size(); ++i) {
                if (find_path(to[i], {"namespaceSelector"}) != nullptr) {
                    p.namespace_selectors.emplace_back(
                        fmt::format("spec.egress[{}].to[{}].namespaceSelector", r, i),
                        labels_at(to[i], {"namespaceSelector", "matchLabels"}));
                }
            }
        }
        const auto ingress = items_at(doc, {"spec", "ingress"});
        for (size_t r = 0; r < ingress.size(); ++r) {
            const auto from = items_at(ingress[r], {"from"});
            for (size_t i = 0; i < from.size(); ++i) {
                if (find_path(from[i], {"namespaceSelector"}) != nullptr) {
                    p.namespace_selectors.emplace_back(
                        fmt::format("spec.ingress[{}].from[{}].namespaceSelector", r, i),
                        labels_at(from[i], {"namespaceSelector", "matchLabels"}));
                }
            }
        }
        policies_.push_back(std::move(p));
    }

    // Namespaces as the API server labels them: each has kubernetes.io/metadata.name.
    LabelMap namespace_labels(const std::string& ns) const {
        LabelMap labels;
        if (const auto it = namespaces_.find(ns); it != namespaces_.end()) {
            labels = it->second;
        }
        labels.emplace_back("kubernetes.io/metadata.name", ns);
        std::sort(labels.begin(), labels.end());
        return labels;
    }

    bool namespace_exists(const std::string& ns) const {
        static const std::set<std::string> kBuiltin = {"default", "kube-system", "kube-public",
                                                       "kube-node-lease"};
        return kBuiltin.count(ns) != 0 || namespaces_.count(ns) != 0;
    }

    void check_services() {
        std::map<std::string, const ServiceInfo*> by_ip;
        for (const auto& key : service_order_) {  // in the manifests' order: the later one errs
            const ServiceInfo& s = services_.at(key);
            if (s.broken) {
                continue;
            }
            for (const std::string& ip : s.cluster_ips) {
                if (const auto [it, added] = by_ip.emplace(ip, &s); !added) {
                    add("error", s.where, "spec.clusterIP",
                        fmt::format("ClusterIP {} is also Service {}/{}'s ({}): the API server "
                                    "refuses the second, and PTR {} would name both",
                                    ip, it->second->where.ns, it->second->where.name,
                                    it->second->where.file, ip),
                        "give each Service its own ClusterIP, or leave clusterIP out");
                }
            }
            if (s.type == "ExternalName") {
                if (parse_ip(s.external_name)) {
                    add("error", s.where, "spec.externalName",
                        fmt::format("{} is an IP address: clients get a CNAME to a name that "
                                    "does not exist",
                                    quoted(s.external_name)),
                        "use a host name, or a Service without selector with an EndpointSlice "
                        "for the address");
                } else if (!Name::from_text(s.external_name) ||
                           !check_dns1123_subdomain("", s.external_name)) {
                    add("error", s.where, "spec.externalName",
                        fmt::format("{} is not a valid host name", quoted(s.external_name)),
                        "lowercase letters, digits, '-' and '.', as db.example.com");
                }
                continue;
            }
            for (size_t i = 0; i < s.ports.size(); ++i) {
                if (!s.ports[i].name.empty()) {
                    continue;
                }
                if (s.ports.size() > 1) {
                    add("error", s.where, fmt::format("spec.ports[{}].name", i),
                        "a Service with more than one port must name every port: the API "
                        "server refuses it",
                        "name the port (http, grpc, ...)");
                } else {
                    add("warning", s.where, fmt::format("spec.ports[{}].name", i),
                        fmt::format("port {} has no name: no SRV record "
                                    "(_<name>._<protocol>.{}.{}.svc) is published for it",
                                    s.ports[i].port, s.where.name, s.where.ns),
                        "name the port (http, grpc, ...)");
                }
            }
            check_endpoints(s);
        }
    }

    void check_endpoints(const ServiceInfo& s) {
        const std::pair<std::string, std::string> key{s.where.ns, s.where.name};
        size_t endpoints = 0;
        size_t ready = 0;
        for (const auto& [set_key, set] : objects_.endpoint_sets) {
            if (set.ns == s.where.ns && set.service == s.where.name) {
                endpoints += set.endpoints.size();
                for (const Endpoint& e : set.endpoints) {
                    ready += e.ready;
                }
            }
        }
        if (s.selector && own_endpoints_.count(key) == 0 && endpoints == 0) {
            // What the selector's keys are set to on the Pods there: the typo is usually there.
            std::set<std::string> near;
            for (const auto& [k, v] : *s.selector) {
                for (const auto& [ns, labels] : pod_labels_) {
                    for (const auto& [lk, lv] : labels) {
                        if (ns == s.where.ns && lk == k && lv != v) {
                            near.insert(fmt::format("{}: {}", k, lv));
                        }
                    }
                }
            }
            std::string hint;
            for (const std::string& label : near) {
                hint += fmt::format("{}{}", hint.empty() ? " (Pods there have " : ", ", label);
            }
            hint += hint.empty() ? "" : ")";
            add("warning", s.where, "spec.selector",
                fmt::format("{}its selector {} matches no Pod labels of a workload or Pod in "
                            "{}{}: {}",
                            s.headless ? "" : "a ClusterIP but no endpoints: ",
                            labels_text(*s.selector), s.where.ns, hint,
                            s.headless ? fmt::format("{}.{}.svc will be NXDOMAIN", s.where.name,
                                                     s.where.ns)
                                       : "connections to it fail"),
                "make a workload's spec.template.metadata.labels (or a Pod's labels) match the "
                "selector, or fix the selector (kubectl get endpoints shows the result)");
            return;
        }
        if (s.headless && (endpoints == 0 || (ready == 0 && !s.publish_not_ready)) &&
            (s.selector || own_endpoints_.count(key) != 0)) {
            add("warning", s.where, "spec.clusterIP",
                fmt::format("headless Service without ready endpoints: {}.{}.svc will be "
                            "NXDOMAIN until a Pod it selects is ready",
                            s.where.name, s.where.ns),
                "check the Pods' readiness, or set publishNotReadyAddresses: true");
        }
    }

    void check_ingresses() {
        for (const IngressInfo& in : ingresses_) {
            for (const IngressBackend& b : in.backends) {
                const auto it = services_.find({in.where.ns, b.service});
                if (it == services_.end()) {
                    add("error", in.where, b.field + ".name",
                        fmt::format("Service {} does not exist in {}: the Ingress routes "
                                    "nowhere (503)",
                                    quoted(b.service), in.where.ns),
                        "create the Service, or name an existing one (Ingress backends are in "
                        "the Ingress's namespace)");
                    continue;
                }
                const auto& ports = it->second.ports;
                const bool found = std::any_of(ports.begin(), ports.end(), [&](const auto& p) {
                    return b.port_name.empty() ? p.port == b.port_number : p.name == b.port_name;
                });
                if (!found) {
                    add("error", in.where, b.field + ".port",
                        fmt::format("Service {} has no port {}: the Ingress routes nowhere (503)",
                                    b.service,
                                    b.port_name.empty() ? std::to_string(b.port_number)
                                                        : quoted(b.port_name)),
                        "use one of the Service's ports (kubectl get svc shows them)");
                }
            }
            if (!in.class_name.empty() && ingress_classes_.count(in.class_name) == 0) {
                add("warning", in.where, "spec.ingressClassName",
                    fmt::format("no IngressClass {} in the manifests: unless the cluster has "
                                "one, no controller serves this Ingress (404)",
                                quoted(in.class_name)),
                    "install the Ingress controller, or use a class `kubectl get ingressclass` "
                    "lists");
            } else if (in.class_name.empty() && !default_class_) {
                add("warning", in.where, "spec.ingressClassName",
                    "no ingressClassName and no default IngressClass in the manifests: no "
                    "controller may pick this Ingress up",
                    "set spec.ingressClassName (kubectl get ingressclass)");
            }
        }
    }

    void check_policies() {
        for (const PolicyInfo& p : policies_) {
            for (const auto& selector : p.namespace_selectors) {
                const std::string& field = selector.first;
                const LabelMap& match = selector.second;  // a lambda below uses it
                static constexpr const char* kBuiltin[] = {"default", "kube-system",
                                                           "kube-public", "kube-node-lease"};
                const bool any =
                    std::any_of(namespaces_.begin(), namespaces_.end(),
                                [&](const auto& ns) {
                                    return selects(match, namespace_labels(ns.first));
                                }) ||
                    std::any_of(std::begin(kBuiltin), std::end(kBuiltin),
                                [&](const char* ns) { return selects(match, namespace_labels(ns)); });
                if (any) {
                    continue;
                }
                const auto name_key = std::find_if(match.begin(), match.end(),
                                                   [](const auto& l) { return l.first == "name"; });
                add("warning", p.where, field + ".matchLabels",
                    fmt::format("{} matches no namespace{}", labels_text(match),
                                name_key != match.end()
                                    ? fmt::format(": Kubernetes labels namespaces with "
                                                  "kubernetes.io/metadata.name, not name (only a "
                                                  "Namespace labelled name: {} would match)",
                                                  name_key->second)
                                    : std::string()),
                    name_key != match.end()
                        ? fmt::format("use kubernetes.io/metadata.name: {}", name_key->second)
                        : "label the namespace, or fix the selector");
            }
            if (!p.restricts_egress || (p.dns_udp && p.dns_tcp)) {
                continue;
            }
            const bool selects_pods =
                std::any_of(pod_labels_.begin(), pod_labels_.end(), [&](const auto& pl) {
                    return pl.first == p.where.ns && selects(p.pod_selector, pl.second);
                });
            if (!selects_pods) {
                continue;  // no Pod of the manifests is held back by it
            }
            add("warning", p.where, "spec.egress",
                fmt::format("the Pods it selects ({}) may not reach DNS on {}: name lookups "
                            "fail{}",
                            p.pod_selector.empty() ? "all of " + p.where.ns
                                                   : labels_text(p.pod_selector),
                            !p.dns_udp && !p.dns_tcp ? "UDP or TCP 53"
                            : !p.dns_tcp             ? "TCP 53 (UDP only: answers too big for "
                                                       "UDP are retried over TCP and fail)"
                                                     : "UDP 53",
                            p.dns_udp ? " for large answers" : ""),
                "allow egress to the kube-dns Pods (namespaceSelector kubernetes.io/metadata.name: "
                "kube-system, podSelector k8s-app: kube-dns) on UDP and TCP 53");
        }
    }

    void check_namespaces() {
        for (const auto& [ns, where] : used_namespaces_) {
            if (!namespace_exists(ns)) {
                add("warning", where, "metadata.namespace",
                    fmt::format("namespace {} is created by no manifest: kubectl apply fails "
                                "with NotFound until it exists",
                                quoted(ns)),
                    fmt::format("add a Namespace manifest for {} (or kubectl create namespace {})",
                                ns, ns));
            }
        }
    }

    Cluster objects_;
    WorkloadSink workloads_;
    ClusterIpAllocator addresses_;  // in front of workloads_, as the server loads
    std::map<std::string, LabelMap> namespaces_;
    std::map<std::string, Where> used_namespaces_;  // the first object in each
    std::map<std::pair<std::string, std::string>, ServiceInfo> services_;
    std::vector<std::pair<std::string, std::string>> service_order_;
    std::set<std::pair<std::string, std::string>> own_endpoints_;
    std::vector<std::pair<std::string, LabelMap>> pod_labels_;  // (namespace, labels)
    std::vector<IngressInfo> ingresses_;
    std::set<std::string> ingress_classes_;
    bool default_class_ = false;
    std::vector<PolicyInfo> policies_;
    std::vector<Finding> findings_;
    std::map<std::string, size_t> file_order_;
};

}  // namespace

std::vector<Finding> check_manifests(const Options& options) {
    if (Status s = check_manifest_paths(options.manifests); !s) {
        throw std::runtime_error(s.error().message);
    }
    std::vector<IpPrefix> cidrs;
    for (const std::string& text : options.pod_cidrs) {
        auto prefix = parse_prefix(text);
        if (!prefix) {
            throw std::runtime_error(fmt::format("--pod-cidr: {}", prefix.error().message));
        }
        cidrs.push_back(*prefix);
    }
    auto service_ranges = parse_service_cidrs(options.service_cidrs);
    if (!service_ranges) {
        throw std::runtime_error(
            fmt::format("--service-cidr: {}", service_ranges.error().message));
    }
    // Every path, file and document is read, whatever fails: each problem is one more finding.
    Checker checker(std::move(cidrs), std::move(*service_ranges));
    for (const std::string& path : options.manifests) {
        (void)visit_manifest_documents(
            path,
            [&](const std::string& file, size_t index, const DocNode& doc) -> Status {
                checker.document(file, index, doc);
                return {};
            },
            [&](const ManifestProblem& problem) { checker.problem(problem); });
    }
    return checker.finish();
}

size_t check_config(const Options& options) {
    Cluster objects;
    auto ranges = parse_service_cidrs(options.service_cidrs);
    if (!ranges) {
        throw std::runtime_error(ranges.error().message);
    }
    // Services without clusterIP get addresses as at start-up: a range too small fails here too.
    ClusterIpAllocator addresses(objects, std::move(*ranges));
    for (const std::string& path : options.manifests) {
        if (Status s = load_manifests(path, addresses); !s) {
            throw std::runtime_error(s.error().message);
        }
    }
    if (Status s = addresses.finish(); !s) {
        throw std::runtime_error(s.error().message);
    }
    return objects.size();
}

void check_cidr(std::string_view text) {
    if (auto prefix = parse_prefix(text); !prefix) {
        throw std::runtime_error(prefix.error().message);
    }
}

}  // namespace clusterdns
