#include "server/explain.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/manifests.h"
#include "clusterdns/clusterdns.h"
#include "dns/name.h"
#include "zone/convert.h"
#include "zone/listing.h"
#include "zone/objects.h"
#include "zone/schema.h"
#include "zone/snapshot.h"
#include "zone/workloads.h"

namespace clusterdns {

namespace {

size_t distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string labels_text(const LabelMap& labels) {
    std::string out;
    for (const auto& [k, v] : labels) {
        out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", k, v);
    }
    return "{" + out + "}";
}

// How far a Pod's labels are from what a selector wants: the key/values they miss, how many
// characters apart the nearest spellings are (to find the closest Pods), and each difference.
struct Mismatch {
    size_t missing = 0;
    size_t edits = 0;
    size_t typos = 0;  // differences of one or two characters
    std::vector<std::string> differences;
};

Mismatch mismatch(const LabelMap& selector, const LabelMap& labels) {
    Mismatch out;
    for (const auto& wanted_label : selector) {
        // Named, not structured bindings: clang 14 cannot capture those in the lambdas below.
        const std::string& key = wanted_label.first;
        const std::string& wanted = wanted_label.second;
        const auto same_key = std::find_if(labels.begin(), labels.end(),
                                           [&](const auto& l) { return l.first == key; });
        if (same_key != labels.end() && same_key->second == wanted) {
            continue;
        }
        ++out.missing;
        if (same_key != labels.end()) {
            const size_t d = distance(same_key->second, wanted);
            out.edits += d;
            out.typos += d <= 2;
            out.differences.push_back(fmt::format("{} is {} where the selector wants {}{}", key,
                                                  quoted(same_key->second), quoted(wanted),
                                                  d <= 2 ? " (a typo?)" : ""));
            continue;
        }
        // The wanted value under a key spelled a little differently ("apps: web" for "app").
        const auto near_key = std::find_if(labels.begin(), labels.end(), [&](const auto& l) {
            return l.second == wanted && distance(l.first, key) <= 2;
        });
        if (near_key != labels.end()) {
            out.edits += distance(near_key->first, key);
            ++out.typos;
            out.differences.push_back(fmt::format("key {} where the selector wants {} (a typo?)",
                                                  quoted(near_key->first), quoted(key)));
        } else {
            out.edits += key.size() + wanted.size();
            out.differences.push_back(fmt::format("no label {}", quoted(key)));
        }
    }
    return out;
}

// Lists at most `most` items, then how many more: "a, b, c and 4 more".
std::string some_of(const std::vector<std::string>& items, size_t most) {
    std::string out;
    for (size_t i = 0; i < items.size() && i < most; ++i) {
        out += fmt::format("{}{}", i == 0 ? "" : ", ", items[i]);
    }
    return items.size() > most ? fmt::format("{} and {} more", out, items.size() - most) : out;
}

// What the manifests say of their objects, beyond the zone: files, workloads, and the objects
// themselves (Services with their selectors, every Pod with its labels, made ones too).
struct Manifests {
    std::map<std::tuple<std::string, std::string, std::string>, std::string> files;  // kind/ns/name
    std::vector<std::tuple<std::string, std::string, std::string>> workloads;  // kind, ns, name
    Cluster objects;  // as the server reads them, with the Pods and endpoints workloads make

    std::string file(const std::string& kind, const std::string& ns,
                     const std::string& name) const {
        const auto it = files.find({kind, ns, name});
        return it == files.end() ? std::string() : fmt::format(" ({})", it->second);
    }
    // The workload whose Pod this is, by name: "Deployment production/api-server".
    std::string owner(const std::string& ns, std::string_view pod) const {
        for (const auto& [kind, wns, name] : workloads) {
            if (wns == ns && pod.starts_with(name + "-")) {
                return fmt::format("{} {}/{}{}", kind, ns, name, file(kind, ns, name));
            }
        }
        return {};
    }
};

void read_document(Manifests& m, const std::string& file, const DocNode& doc) {
    const std::string kind(scalar_at(doc, {"kind"}));
    if (kind == "List") {
        for (const DocNode& item : items_at(doc, {"items"})) {
            read_document(m, file, item);
        }
        return;
    }
    std::string ns(scalar_at(doc, {"metadata", "namespace"}));
    if (ns.empty()) {
        ns = "default";
    }
    const std::string name(scalar_at(doc, {"metadata", "name"}));
    m.files.emplace(std::make_tuple(kind, ns, name), file);
    if (kind != "Pod" && find_path(doc, {"spec", "template"}) != nullptr) {
        m.workloads.emplace_back(kind, ns, name);
    }
}

// The labels of the name under the zone, leftmost first; nullopt if outside it.
std::optional<std::vector<std::string>> labels_under(const std::string& name,
                                                     const std::string& origin) {
    std::string n = name;
    if (!n.ends_with('.')) {
        n += '.';
    }
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == origin) {
        return std::vector<std::string>{};
    }
    if (!n.ends_with("." + origin)) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    std::string_view rest(n.data(), n.size() - origin.size() - 1);
    while (!rest.empty()) {
        const size_t dot = rest.find('.');
        out.emplace_back(rest.substr(0, dot));
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    return out;
}

class Explainer {
public:
    Explainer(const Snapshot& zone, const Manifests& manifests)
        : zone_(zone), m_(manifests), origin_(zone.config().origin.to_text()) {}

    // Prints the answer and why; true when it has records.
    bool explain(const std::string& name, RrType type, const std::string& type_name) {
        const ZoneAnswer a = ask_zone(zone_, fqdn(name), type);
        if (!a.ours) {
            fmt::format_to(std::back_inserter(out_), "{} {}: not in the served zones: forwarded to the upstreams (or REFUSED "
                       "without any)\n",
                       fqdn(name), type_name);
            return false;
        }
        fmt::format_to(std::back_inserter(out_), "{} {}: {}\n", fqdn(name), type_name, a.rcode);
        for (const ZoneRecord& r : a.answers) {
            fmt::format_to(std::back_inserter(out_), "  {} {} {} {}\n", r.name, r.ttl, r.type, r.data);
            if (const std::string why = provenance(r); !why.empty()) {
                fmt::format_to(std::back_inserter(out_), "    {}\n", why);
            }
        }
        if (a.answers.empty()) {
            fmt::format_to(std::back_inserter(out_), "  why: {}\n", reason(name, a.rcode, type_name));
        } else if (const std::vector<std::string> why = leads_nowhere(name); !why.empty()) {
            fmt::format_to(std::back_inserter(out_), "  but {}\n", why.front());
            for (size_t i = 1; i < why.size(); ++i) {
                fmt::format_to(std::back_inserter(out_), "    {}\n", why[i]);
            }
        }
        return !a.answers.empty();
    }

    // The queries a Pod of `ns` sends for `name` (ndots:5 and its search path), each answered;
    // true when one has records.
    bool walk(const std::string& ns, const std::string& name, RrType type,
              const std::string& type_name) {
        const std::string zone = origin_.substr(0, origin_.size() - 1);
        const std::vector<std::string> search = {fmt::format("{}.svc.{}", ns, zone),
                                                 fmt::format("svc.{}", zone), zone};
        const bool absolute = name.ends_with('.');
        const auto dots = std::count(name.begin(), name.end(), '.');
        std::vector<std::string> tries;
        if (absolute) {
            tries.push_back(name);
        } else {
            if (dots >= 5) {
                tries.push_back(name + ".");
            }
            for (const std::string& domain : search) {
                tries.push_back(fmt::format("{}.{}.", name, domain));
            }
            if (dots < 5) {
                tries.push_back(name + ".");
            }
        }
        fmt::format_to(std::back_inserter(out_), "a Pod in {} (search {}; ndots:5) asks for {} {}:\n", ns,
                   fmt::format("{} {} {}", search[0], search[1], search[2]), name, type_name);
        for (size_t i = 0; i < tries.size(); ++i) {
            const ZoneAnswer a = ask_zone(zone_, tries[i], type);
            if (!a.ours) {
                fmt::format_to(std::back_inserter(out_), "  {}. {} -> forwarded to the upstreams\n", i + 1, tries[i]);
                return false;
            }
            fmt::format_to(std::back_inserter(out_), "  {}. {} -> {}{}\n", i + 1, tries[i], a.rcode,
                       a.answers.empty() ? "" : fmt::format(", {} records", a.answers.size()));
            if (!a.answers.empty()) {
                fmt::format_to(std::back_inserter(out_), "  the resolver stops here: {} queries for one name{}\n", i + 1,
                           i + 1 > 1 ? " (autopath: true answers the first)" : "");
                return true;
            }
        }
        return false;
    }

private:
    std::string fqdn(const std::string& name) const {
        return name.ends_with('.') ? name : name + ".";
    }

    std::string provenance(const ZoneRecord& r) const {
        const auto labels = labels_under(r.name, origin_);
        if (!labels || labels->size() < 3) {
            return r.type == "PTR" ? "a PTR record: the reverse of a ClusterIP or an endpoint "
                                     "address"
                                   : std::string();
        }
        const std::vector<std::string>& l = *labels;
        // <svc>.<ns>.svc, _<port>._<proto>.<svc>.<ns>.svc, <endpoint>.<svc>.<ns>.svc
        const size_t n = l.size();
        if (l[n - 1] != kServicesLabel) {
            return l[n - 1] == kPodsLabel ? "a Pod name: its address spelled with dashes" : "";
        }
        const std::string& ns = l[n - 2];
        const std::string& svc = n >= 3 ? l[n - 3] : std::string();
        const ServiceView* view = zone_.service(ns, svc);
        if (view == nullptr) {
            return {};
        }
        const std::string service =
            fmt::format("Service {}/{}{}", ns, svc, m_.file("Service", ns, svc));
        if (r.type == "CNAME") {
            return fmt::format("from {}: type ExternalName", service);
        }
        if (r.type == "SRV") {
            return fmt::format("from {}: a named port", service);
        }
        if (!view->headless() && n == 3) {
            const auto ips = view->cluster_ips();
            for (size_t i = 0; i < ips.size(); ++i) {
                if (view->allocated(i) && ip_to_text(ips[i]) == r.data) {
                    return fmt::format("from {}: its ClusterIP, allocated from the service range "
                                       "as the API server would (the manifest gives no "
                                       "clusterIP; --service-cidr)",
                                       service);
                }
            }
            return fmt::format("from {}: its ClusterIP", service);
        }
        for (const EndpointView* e : view->endpoints()) {
            if (ip_to_text(e->address) == r.data) {
                const std::string pod = endpoint_pod(ns, svc, r.data);
                return fmt::format("from {}: endpoint {}{}", service, r.data, pod);
            }
        }
        return fmt::format("from {}", service);
    }

    // For a name that answers a ClusterIP Service's address (or its SRV records) while the
    // Service has no ready endpoint: every connection to it fails. The lines saying so and why;
    // none for a name that leads somewhere.
    std::vector<std::string> leads_nowhere(const std::string& name) const {
        const auto labels = labels_under(fqdn(name), origin_);
        if (!labels) {
            return {};
        }
        const std::vector<std::string>& l = *labels;
        const size_t n = l.size();
        // <svc>.<ns>.svc or _<port>._<proto>.<svc>.<ns>.svc
        const bool port = n == 5 && l[0].starts_with('_') && l[1].starts_with('_');
        if ((n != 3 && !port) || l[n - 1] != kServicesLabel) {
            return {};
        }
        const std::string& ns = l[n - 2];
        const std::string& svc = l[n - 3];
        const ServiceView* view = zone_.service(ns, svc);
        if (view == nullptr || view->headless() || view->type() == ServiceType::ExternalName ||
            view->cluster_ips().empty() || view->endpoint_count() != 0) {
            return {};
        }
        std::vector<std::string> ips;
        for (const IpAddress& ip : view->cluster_ips()) {
            ips.push_back(ip_to_text(ip));
        }
        std::vector<std::string> out = {fmt::format(
            "it leads nowhere: Service {}/{} has no ready endpoints, so every connection to {} "
            "fails",
            ns, svc, some_of(ips, 2))};
        for (std::string& line : no_ready_endpoints(ns, svc)) {
            out.push_back(std::move(line));
        }
        return out;
    }

    // Why Service ns/svc has no ready endpoint: the endpoints it has and that none is ready, or
    // its selector beside the labels the Pods of its namespace have, and the closest of them.
    // Only the manifests know this; without them, where to look.
    std::vector<std::string> no_ready_endpoints(const std::string& ns,
                                                const std::string& svc) const {
        const auto service = m_.objects.services.find(fmt::format("{}/{}", ns, svc));
        if (service == m_.objects.services.end()) {
            return {fmt::format("its endpoints and whether they are ready: kubectl get "
                                "endpointslices -n {} -l kubernetes.io/service-name={} (clusterdns "
                                "explain with --manifests names the Pods and their labels)",
                                ns, svc)};
        }
        size_t endpoints = 0;
        std::vector<std::string> own_sets;
        std::vector<std::string> not_ready;
        for (const auto& [key, set] : m_.objects.endpoint_sets) {
            if (set.ns != ns || set.service != svc) {
                continue;
            }
            if (!set.name.starts_with(WorkloadSink::slice_name(svc))) {
                own_sets.push_back(set.name);
            }
            for (const Endpoint& e : set.endpoints) {
                ++endpoints;
                const std::string who =
                    e.pod.empty() ? (e.addresses.empty() ? std::string("an endpoint")
                                                         : ip_to_text(e.addresses.front()))
                                  : fmt::format("Pod {}", e.pod);
                if (!e.ready &&
                    std::find(not_ready.begin(), not_ready.end(), who + " not ready") ==
                        not_ready.end()) {
                    not_ready.push_back(who + " not ready");
                }
            }
        }
        if (endpoints != 0) {
            return {fmt::format("{} endpoint{}, none ready: {}", endpoints,
                                endpoints == 1 ? "" : "s", some_of(not_ready, 5))};
        }
        if (!own_sets.empty()) {
            return {fmt::format("its EndpointSlice{} {} list{} no endpoint",
                                own_sets.size() == 1 ? "" : "s", some_of(own_sets, 3),
                                own_sets.size() == 1 ? "s" : "")};
        }
        if (!service->second.selector || service->second.selector->empty()) {
            return {"it has no selector, and no EndpointSlice or Endpoints of its own: nothing "
                    "gives it endpoints"};
        }
        const LabelMap& selector = *service->second.selector;
        std::vector<std::string> out = {fmt::format("its selector {} matches no Pod in namespace {}",
                                                    labels_text(selector), ns)};
        // The Pods of the namespace (the manifests' and those workloads make), by label set.
        std::map<LabelMap, std::vector<std::string>> groups;
        std::set<std::string> elsewhere;  // namespaces with Pods it would select
        for (const auto& [key, pod] : m_.objects.pods) {
            if (pod.ns == ns) {
                groups[pod.spec.labels].push_back(pod.name);
            } else if (selects(selector, pod.spec.labels)) {
                elsewhere.insert(pod.ns);
            }
        }
        if (!elsewhere.empty()) {
            out.push_back(fmt::format("Pods it would select are in namespace {} (a Service "
                                      "selects the Pods of its own namespace only)",
                                      some_of({elsewhere.begin(), elsewhere.end()}, 3)));
        }
        if (groups.empty()) {
            out.push_back(fmt::format("no Pod is in namespace {}: no Pod or workload of the "
                                      "manifests puts one there",
                                      ns));
            return out;
        }
        struct Group {
            const LabelMap* labels;
            const std::vector<std::string>* pods;
            Mismatch miss;
        };
        std::vector<Group> ranked;
        for (const auto& [labels, pods] : groups) {
            ranked.push_back({&labels, &pods, mismatch(selector, labels)});
        }
        std::stable_sort(ranked.begin(), ranked.end(), [](const Group& a, const Group& b) {
            return std::tie(a.miss.missing, a.miss.edits) < std::tie(b.miss.missing, b.miss.edits);
        });
        const auto who = [&](const Group& g) {
            const std::vector<std::string>& pods = *g.pods;
            if (const std::string owner = m_.owner(ns, pods.front()); !owner.empty()) {
                return fmt::format("{} Pod{} of {}", pods.size(), pods.size() == 1 ? "" : "s",
                                   owner);
            }
            return pods.size() == 1
                       ? fmt::format("Pod {}{}", pods.front(), m_.file("Pod", ns, pods.front()))
                       : fmt::format("Pods {}", some_of(pods, 3));
        };
        constexpr size_t kShown = 8;
        out.push_back(fmt::format("the labels of the Pods in {}, closest first:", ns));
        for (size_t i = 0; i < ranked.size() && i < kShown; ++i) {
            const LabelMap& labels = *ranked[i].labels;
            out.push_back(fmt::format("  {}: {}", labels.empty() ? "no labels" : labels_text(labels),
                                      who(ranked[i])));
        }
        if (ranked.size() > kShown) {
            out.push_back(fmt::format("  and {} more sets of labels", ranked.size() - kShown));
        }
        // Closest only when it has something in common with the selector, or a near spelling.
        const Group& best = ranked.front();
        if (best.miss.missing < selector.size() || best.miss.typos != 0) {
            std::string differences;
            for (const std::string& d : best.miss.differences) {
                differences += fmt::format("{}{}", differences.empty() ? "" : "; ", d);
            }
            out.push_back(fmt::format("closest: {} ({}): {}", labels_text(*best.labels), who(best),
                                      differences));
        }
        return out;
    }

    // The slice, Pod and workload behind an endpoint of the manifests.
    std::string endpoint_pod(const std::string& ns, const std::string& svc,
                             const std::string& address) const {
        for (const auto& [key, set] : m_.objects.endpoint_sets) {
            if (set.ns != ns || set.service != svc) {
                continue;
            }
            for (const Endpoint& e : set.endpoints) {
                if (e.addresses.empty() || ip_to_text(e.addresses.front()) != address) {
                    continue;
                }
                const bool made = set.name.starts_with(WorkloadSink::slice_name(svc));
                std::string out =
                    made ? fmt::format(", made as the EndpointSlice controller would")
                         : fmt::format(", of EndpointSlice {}{}", set.name,
                                       m_.file("EndpointSlice", ns, set.name));
                if (!e.pod.empty()) {
                    const std::string owner = m_.owner(ns, e.pod);
                    out += fmt::format(", Pod {}{}", e.pod,
                                       !owner.empty() ? ", of " + owner
                                                      : m_.file("Pod", ns, e.pod));
                }
                return out;
            }
        }
        return {};
    }

    std::string reason(const std::string& name, const std::string& rcode,
                       const std::string& type_name) const {
        const auto labels = labels_under(fqdn(name), origin_);
        if (!labels) {
            return "outside the cluster domain";
        }
        const std::vector<std::string>& l = *labels;
        const size_t n = l.size();
        if (rcode == "NOERROR") {
            return fmt::format("the name exists, with no {} record (NODATA)", type_name);
        }
        if (n == 0 || (l[n - 1] != kServicesLabel && l[n - 1] != kPodsLabel)) {
            return fmt::format("only <service>.<namespace>.svc.{} and <address>.<namespace>.pod.{} "
                               "names exist under the cluster domain",
                               origin_, origin_);
        }
        if (n < 2) {
            return "a namespace is missing: <service>.<namespace>.svc";
        }
        const std::string& ns = l[n - 2];
        if (!zone_.has_namespace(ns)) {
            return fmt::format("no namespace {} (no manifest creates it, and no object is in it)",
                               quoted(ns));
        }
        if (l[n - 1] == kPodsLabel) {
            return "the Pod name does not spell an address (a-b-c-d), or pods are verified and "
                   "no Pod has it";
        }
        if (n < 3) {
            return "the namespace exists; a Service name goes before it";
        }
        const std::string& svc = l[n - 3];
        const ServiceView* view = zone_.service(ns, svc);
        if (view == nullptr) {
            std::string out = fmt::format("no Service {} in namespace {}", quoted(svc), ns);
            std::vector<std::string> close;
            zone_.for_each_service([&](const ServiceView& s) {
                if (s.name() == svc && s.ns() != ns) {
                    close.push_back(fmt::format("{}.{} (another namespace)", s.name(), s.ns()));
                } else if (s.ns() == ns && distance(s.name(), svc) <= 2) {
                    close.push_back(fmt::format("{} (a typo?)", s.name()));
                }
            });
            std::sort(close.begin(), close.end());
            for (size_t i = 0; i < close.size(); ++i) {
                out += fmt::format("{}{}", i == 0 ? "; did you mean " : ", ", close[i]);
            }
            return out;
        }
        if (view->headless() && view->endpoint_count() == 0) {
            std::string out = fmt::format("Service {}/{} is headless and has no ready endpoints",
                                          ns, svc);
            const std::vector<std::string> why = no_ready_endpoints(ns, svc);
            for (size_t i = 0; i < why.size(); ++i) {
                out += fmt::format("{}{}", i == 0 ? ": " : "\n    ", why[i]);
            }
            return out;
        }
        std::string names;
        for (const EndpointView* e : view->endpoints()) {
            const std::string label =
                e->hostname().empty() ? dashed_address(e->address) : std::string(e->hostname());
            if (names.find(label) == std::string::npos) {
                names += fmt::format("{}{}", names.empty() ? "" : ", ", label);
            }
        }
        return fmt::format("Service {}/{} has no endpoint named {}{}", ns, svc,
                           n >= 4 ? quoted(l[n - 4]) : quoted(l[0]),
                           names.empty() ? "" : fmt::format(" (its endpoints: {})", names));
    }

    const Snapshot& zone_;
    const Manifests& m_;
    std::string origin_;

public:
    std::string out_;  // what it has to say
};

}  // namespace

std::string explain_text(const Snapshot& zone, const std::string& name,
                         const std::string& type_name, const std::string& from_ns) {
    const auto type = rr_type_of(type_name);
    if (!type) {
        return fmt::format("unknown type {}\n", quoted(type_name));
    }
    static const Manifests kNone;
    Explainer explainer(zone, kNone);
    if (!from_ns.empty()) {
        explainer.walk(from_ns, name, *type, type_name);
    } else {
        explainer.explain(name, *type, type_name);
    }
    return explainer.out_;
}

Status check_explain_arguments(std::string_view name, std::string_view type_name,
                               std::string_view from_ns) {
    // A NUL or a control character would be cut or misread further on; a query name with
    // them is not what anyone means to explain.
    const auto printable = [](unsigned char c) { return c > 0x20 && c < 0x7f; };
    if (!std::all_of(name.begin(), name.end(), printable)) {
        return Error{fmt::format("name: {} has a character that is not printable ASCII",
                                 quoted(name))};
    }
    if (auto parsed = Name::from_text(name); !parsed) {
        return Error{fmt::format("name: {}: {}", quoted(name), parsed.error().message)};
    }
    if (!rr_type_of(type_name)) {
        return Error{fmt::format("type: unknown type {}", quoted(type_name))};
    }
    if (!from_ns.empty()) {
        return check_dns1123_label("from", from_ns);
    }
    return {};
}


Explanation explain(const Options& server_options, const std::string& name,
                    const std::string& type_name, const std::string& from_namespace) {
    const auto type = rr_type_of(type_name);
    if (!type) {
        throw std::runtime_error(fmt::format("unknown type {}", quoted(type_name)));
    }
    Options options = server_options;
    options.health = options.ready = options.metrics = "none";  // nothing is served
    Manifests manifests;
    std::vector<IpPrefix> cidrs;
    for (const std::string& text : options.pod_cidrs) {
        auto prefix = parse_prefix(text);
        if (!prefix) {
            throw std::runtime_error(prefix.error().message);
        }
        cidrs.push_back(*prefix);
    }
    WorkloadSink workloads(manifests.objects, cidrs);
    for (const std::string& path : options.manifests) {
        if (Status s = visit_manifest_documents(
                path,
                [&](const std::string& file, size_t index, const DocNode& doc) -> Status {
                    read_document(manifests, file, doc);
                    return add_objects(doc, file, fmt::format("document {}", index + 1),
                                       workloads);
                });
            !s) {
            throw std::runtime_error(s.error().message);
        }
    }
    if (Status s = workloads.synthesize(); !s) {
        throw std::runtime_error(s.error().message);
    }
    Server server(options);
    const std::shared_ptr<const Snapshot> zone = snapshot_of(server);
    Explainer explainer(*zone, manifests);
    const bool answers = from_namespace.empty()
                             ? explainer.explain(name, *type, type_name)
                             : explainer.walk(from_namespace, name, *type, type_name);
    return {.text = std::move(explainer.out_), .answers = answers};
}

bool is_record_type(std::string_view type) {
    return rr_type_of(type).has_value();
}

bool is_namespace_name(std::string_view name) {
    return !name.empty() && check_dns1123_label("", name).has_value();
}

}  // namespace clusterdns
