#include "zone/convert.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "zone/validation.h"

namespace clusterdns {
namespace {

constexpr const char* kTolerateUnreadyAnnotation =
    "service.alpha.kubernetes.io/tolerate-unready-endpoints";

// A field problem, thrown by the readers below and caught once per object.
struct FieldError {
    std::string message;
    uint32_t line = 0;
};

// "PATH.KEY" and "PATH[INDEX]": where a field is, for messages. Made for every field and item
// read (a message is only formatted for a value that fails), so without fmt.
std::string join(std::string_view path, std::string_view key) {
    if (path.empty()) {
        return std::string(key);
    }
    std::string out;
    out.reserve(path.size() + 1 + key.size());
    return out.append(path).append(1, '.').append(key);
}

std::string indexed(std::string_view path, size_t index) {
    char digits[24];
    const size_t size = static_cast<size_t>(
        std::to_chars(std::begin(digits), std::end(digits), index).ptr - digits);
    std::string out;
    out.reserve(path.size() + size + 2);
    return out.append(path).append(1, '[').append(digits, size).append(1, ']');
}

// What a plain (unquoted) scalar is, as kubectl reads manifests (sigs.k8s.io/yaml: go-yaml v2,
// YAML 1.1) before it sends them to the API server as JSON: `yes`, `on` and `y` are booleans,
// `0x50` and `0120` (octal) are 80, `80.0` is 80. A typed field refuses the other types: "80" is
// no port number, a plain 80 no name, `enabled: yes` no label value. The API's JSON has only
// true, false and decimal numbers unquoted, which read the same.
enum class ScalarType { String, Number, Bool };

std::optional<bool> plain_bool(std::string_view t) {
    if (t.empty() || t.size() > 5 || std::string_view("yYnNtTfFoO").find(t[0]) == t.npos) {
        return std::nullopt;  // most scalars: no need to look further
    }
    static constexpr std::string_view kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                                 "True", "TRUE", "on",  "On",  "ON"};
    static constexpr std::string_view kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                                  "False", "FALSE", "off", "Off", "OFF"};
    if (std::find(std::begin(kTrue), std::end(kTrue), t) != std::end(kTrue)) {
        return true;
    }
    if (std::find(std::begin(kFalse), std::end(kFalse), t) != std::end(kFalse)) {
        return false;
    }
    return std::nullopt;
}

// go-yaml v2 reads a plain scalar that starts with a digit or a sign as strconv.ParseInt(text
// without its '_', base 0): a sign, then 0x, 0o or 0b, or a leading 0 for octal.
std::optional<long long> plain_int(std::string_view t) {
    std::string text;
    std::copy_if(t.begin(), t.end(), std::back_inserter(text), [](char c) { return c != '_'; });
    std::string_view rest = text;
    const bool negative = rest.starts_with('-');
    if (negative || rest.starts_with('+')) {
        rest.remove_prefix(1);
    }
    int base = 10;
    if (rest.size() >= 2 && rest[0] == '0') {
        const char kind = static_cast<char>(rest[1] | 0x20);
        base = kind == 'x' ? 16 : kind == 'o' ? 8 : kind == 'b' ? 2 : 8;
        rest.remove_prefix(kind == 'x' || kind == 'o' || kind == 'b' ? 2 : 1);
    }
    unsigned long long magnitude = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), magnitude, base);
    if (rest.empty() || ec != std::errc() || end != rest.data() + rest.size() ||
        magnitude > (negative ? 1ull << 63 : (1ull << 63) - 1)) {
        return std::nullopt;
    }
    return negative ? static_cast<long long>(0 - magnitude) : static_cast<long long>(magnitude);
}

// go-yaml v2's float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, '_' dropped.
std::optional<double> plain_float(std::string_view t) {
    std::string text;
    std::copy_if(t.begin(), t.end(), std::back_inserter(text), [](char c) { return c != '_'; });
    size_t i = text.starts_with('-') || text.starts_with('+') ? 1 : 0;
    const auto digits = [&] {
        const size_t from = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            ++i;
        }
        return i - from;
    };
    const size_t whole = digits();
    size_t fraction = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        fraction = digits();
    }
    if (whole == 0 && fraction == 0) {
        return std::nullopt;
    }
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        i += i < text.size() && (text[i] == '-' || text[i] == '+') ? 1 : 0;
        if (digits() == 0) {
            return std::nullopt;
        }
    }
    if (i != text.size()) {
        return std::nullopt;
    }
    return std::strtod(text.c_str(), nullptr);
}

// An integer field's value: a plain integer, or a float with an integral value, which kubectl's
// JSON writes without a fraction (80.0 and 8e1 are sent as 80).
std::optional<long long> plain_integer(std::string_view t) {
    if (const auto n = plain_int(t)) {
        return n;
    }
    if (const auto f = plain_float(t); f && std::trunc(*f) == *f && std::fabs(*f) < 9.2e18) {
        return static_cast<long long>(*f);
    }
    return std::nullopt;
}

// go-yaml v2 reads a plain YYYY-M-D (a real date) as a timestamp, which kubectl sends as RFC 3339
// text: `release: 2024-01-31` is the label value "2024-01-31T00:00:00Z", which has a ':'. (Its
// other timestamp forms have one already.)
std::optional<std::string> plain_date(std::string_view t) {
    unsigned parts[3] = {0, 0, 0};
    size_t digits[3] = {0, 0, 0};
    size_t part = 0;
    for (const char c : t) {
        if (c == '-' && part < 2 && digits[part] > 0) {
            ++part;
        } else if (c >= '0' && c <= '9' && digits[part] < 4) {
            parts[part] = parts[part] * 10 + static_cast<unsigned>(c - '0');
            ++digits[part];
        } else {
            return std::nullopt;
        }
    }
    const auto [year, month, day] = parts;
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (part != 2 || digits[0] != 4 || digits[1] > 2 || digits[2] > 2 || month < 1 ||
        month > 12 || day < 1 || day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) {
        return std::nullopt;
    }
    return fmt::format("{:04}-{:02}-{:02}T00:00:00Z", year, month, day);
}

ScalarType scalar_type(const DocNode& node) {
    const std::string_view t = node.text;
    if (node.quoted) {
        return ScalarType::String;
    }
    if (plain_bool(t)) {
        return ScalarType::Bool;
    }
    static constexpr std::string_view kSpecial[] = {
        ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
        "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
    const bool special =
        (t.starts_with('.') || t.starts_with('+') || t.starts_with('-')) &&
        std::find(std::begin(kSpecial), std::end(kSpecial), t) != std::end(kSpecial);
    const bool numeric = !t.empty() &&
                         ((t[0] >= '0' && t[0] <= '9') || t[0] == '-' || t[0] == '+' ||
                          t[0] == '.') &&
                         (plain_int(t) || plain_float(t));
    return numeric || special ? ScalarType::Number : ScalarType::String;
}

std::string describe(const DocNode& node) {
    switch (node.kind) {
        case DocNode::Kind::Scalar:
            switch (scalar_type(node)) {
                case ScalarType::Number:  // digits only, but maybe many of them
                    return "the number " +
                           (node.text.size() <= 32 ? std::string(node.text) : quoted(node.text));
                case ScalarType::Bool:
                    return fmt::format("the boolean {}", node.text);
                case ScalarType::String:
                    break;
            }
            return quoted(node.text);
        case DocNode::Kind::Sequence:
            return "a list";
        case DocNode::Kind::Mapping:
            return "a mapping";
        case DocNode::Kind::Null:
            break;
    }
    return "null";
}

[[noreturn]] void fail(const DocNode& node, std::string message) {
    throw FieldError{std::move(message), node.line};
}

// Readers: a missing or null field is "absent"; a field of the wrong shape is an error.
const DocNode* field(const DocNode& parent, std::string_view key) {
    const DocNode* node = parent.find(key);
    return node == nullptr || node->is_null() ? nullptr : node;
}

std::string get_string(const DocNode& parent, std::string_view path, std::string_view key,
                       bool required = false) {
    const DocNode* node = field(parent, key);
    if (node == nullptr) {
        if (required) {
            fail(parent, fmt::format("{}: required", join(path, key)));
        }
        return {};
    }
    if (!node->is_scalar() || scalar_type(*node) != ScalarType::String) {
        fail(*node, fmt::format("{}: expected a string, got {}", join(path, key), describe(*node)));
    }
    if (!node->quoted) {
        if (auto date = plain_date(node->text)) {
            return std::move(*date);
        }
    }
    return std::string(node->text);
}

std::optional<long long> get_int(const DocNode& parent, std::string_view path,
                                 std::string_view key) {
    const DocNode* node = field(parent, key);
    if (node == nullptr) {
        return std::nullopt;
    }
    const auto value = node->is_scalar() && scalar_type(*node) == ScalarType::Number
                           ? plain_integer(node->text)
                           : std::nullopt;
    if (!value) {
        fail(*node,
             fmt::format("{}: expected an integer, got {}", join(path, key), describe(*node)));
    }
    return value;
}

std::optional<bool> get_bool(const DocNode& parent, std::string_view path, std::string_view key) {
    const DocNode* node = field(parent, key);
    if (node == nullptr) {
        return std::nullopt;
    }
    if (const auto value = node->is_scalar() && !node->quoted ? plain_bool(node->text)
                                                              : std::nullopt) {
        return value;
    }
    fail(*node,
         fmt::format("{}: expected true or false, got {}", join(path, key), describe(*node)));
}

// A list or mapping field; an empty node when absent, so callers can iterate it directly.
const DocNode& get_shape(const DocNode& parent, std::string_view path, std::string_view key,
                         DocNode::Kind kind) {
    static const DocNode absent;
    const DocNode* node = field(parent, key);
    if (node == nullptr) {
        return absent;
    }
    if (node->kind != kind) {
        fail(*node, fmt::format("{}: expected {}, got {}", join(path, key),
                                kind == DocNode::Kind::Sequence ? "a list" : "a mapping",
                                describe(*node)));
    }
    return *node;
}

const DocNode& get_list(const DocNode& parent, std::string_view path, std::string_view key) {
    return get_shape(parent, path, key, DocNode::Kind::Sequence);
}

const DocNode& get_map(const DocNode& parent, std::string_view path, std::string_view key) {
    return get_shape(parent, path, key, DocNode::Kind::Mapping);
}

void check(const DocNode& node, const Status& status) {
    if (!status) {
        fail(node, status.error().message);
    }
}

// An address as the API server reads it (zone/validation.h: leading zeros, IPv4-mapped IPv6).
IpAddress get_ip(const DocNode& node, const std::string& text, const std::string& path) {
    const auto ip = parse_api_ip(text);
    if (!ip) {
        fail(node, fmt::format("{}: {} is not an IP address", path, quoted(text)));
    }
    return *ip;
}

// An endpoint's address (EndpointSlice, Endpoints) or a Service's external IP: an address, and
// none the API calls special (loopback, link-local, ...).
IpAddress get_endpoint_ip(const DocNode& node, const std::string& text, const std::string& path) {
    const IpAddress ip = get_ip(node, text, path);
    check(node, check_non_special_ip(path, ip));
    return ip;
}

void check_port_number(const DocNode& node, const std::string& field, long long number) {
    if (number < 1 || number > rule_limit(ApiRule::PortNumber)) {
        fail(node, fmt::format("{}: {} is out of range (1-{})", field, number,
                               rule_limit(ApiRule::PortNumber)));
    }
}

// Whose port it is: a Service's (number required), a legacy Endpoints subset's (number
// required), or an EndpointSlice's (number optional, and not checked by the API: a slice port
// without a usable number publishes no SRV record). Every one's name is a DNS label.
enum class PortOwner { Service, Endpoints, Slice };

ServicePort get_port(const DocNode& node, const std::string& path, PortOwner owner) {
    if (!node.is_mapping()) {
        fail(node, fmt::format("{}: expected a mapping, got {}", path, describe(node)));
    }
    ServicePort port;
    port.name = get_string(node, path, "name");
    if (!port.name.empty()) {
        check(node, check_format(ApiRule::DnsLabel, join(path, "name"), port.name));
    }
    auto protocol = parse_protocol(join(path, "protocol"), get_string(node, path, "protocol"));
    if (!protocol) {
        fail(node, protocol.error().message);
    }
    port.protocol = *protocol;
    const auto number = get_int(node, path, "port");
    if (owner == PortOwner::Slice) {
        if (number && (*number < INT32_MIN || *number > INT32_MAX)) {
            fail(node, fmt::format("{}.port: {} is out of range (an int32)", path, *number));
        }
        const bool usable = number && *number >= 1 && *number <= rule_limit(ApiRule::PortNumber);
        port.port = usable ? static_cast<uint16_t>(*number) : 0;
        return port;
    }
    if (!number) {
        fail(node, fmt::format("{}.port: required", path));
    }
    check_port_number(node, path + ".port", *number);
    port.port = static_cast<uint16_t>(*number);
    return port;
}

// Adds to `keys` those of a mapping and of the mappings its merge keys ("<<") bring.
void merged_keys(const DocNode& map, std::vector<std::string_view>& keys) {
    for (const DocMember& m : map.members) {
        if (m.key != "<<") {
            keys.push_back(m.key);
        } else if (m.value.is_mapping()) {
            merged_keys(m.value, keys);
        } else {
            for (const DocNode& item : m.value.items) {
                merged_keys(item, keys);
            }
        }
    }
}

// Calls f(key, value) for each entry of a mapping, merge keys followed (each key once, its value
// what DocNode::find gives it).
template <class F>
void for_each_entry(const DocNode& map, F&& f) {
    const bool merges = std::any_of(map.members.begin(), map.members.end(),
                                    [](const DocMember& m) { return m.key == "<<"; });
    if (!merges) {
        for (const DocMember& m : map.members) {
            f(m.key, m.value);
        }
        return;
    }
    std::vector<std::string_view> keys;
    merged_keys(map, keys);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string_view key : keys) {
        f(key, *map.find(key));
    }
}

// A map value read as the API server decodes a string: a scalar of no other type (a plain date
// is the text kubectl sends for it, written to `scratch`); null is "".
std::string_view string_value(const DocNode& node, std::string_view path, std::string_view key,
                              std::string& scratch) {
    if (node.is_null()) {
        return {};
    }
    if (!node.is_scalar() || scalar_type(node) != ScalarType::String) {
        fail(node, fmt::format("{}.{}: expected a string, got {}", path, key, describe(node)));
    }
    if (!node.quoted) {
        if (auto date = plain_date(node.text)) {
            scratch = std::move(*date);
            return scratch;
        }
    }
    return node.text;
}

// A mapping of strings to strings (labels, a selector's matchLabels, annotations), sorted.
LabelMap get_string_map(const DocNode& parent, std::string_view path, std::string_view key) {
    const DocNode& map = get_map(parent, path, key);
    const std::string at = join(path, key);
    LabelMap labels;
    std::string scratch;
    for_each_entry(map, [&](std::string_view name, const DocNode& value) {
        labels.emplace_back(std::string(name), std::string(string_value(value, at, name, scratch)));
    });
    std::sort(labels.begin(), labels.end());
    return labels;
}

// Labels (metadata.labels, a Service's selector, matchLabels): their keys and values checked.
LabelMap get_labels(const DocNode& parent, std::string_view path, std::string_view key) {
    LabelMap labels = get_string_map(parent, path, key);
    if (!labels.empty()) {
        check(*parent.find(key), check_labels(join(path, key), labels));
    }
    return labels;
}

// What the API server checks of every object's metadata that DNS reads: its labels and
// annotations, checked where they are, not copied (an object from the API may carry a large
// last-applied-configuration).
void check_metadata(const DocNode& metadata) {
    std::string scratch;
    const DocNode& labels = get_map(metadata, "metadata", "labels");
    for_each_entry(labels, [&](std::string_view key, const DocNode& node) {
        const std::string_view value = string_value(node, "metadata.labels", key, scratch);
        if (!is_label_key(key) || !is_label_value(value)) {
            check(node, check_labels("metadata.labels", {{std::string(key), std::string(value)}}));
        }
    });
    const DocNode& annotations = get_map(metadata, "metadata", "annotations");
    uint64_t size = 0;
    for_each_entry(annotations, [&](std::string_view key, const DocNode& node) {
        size += key.size() + string_value(node, "metadata.annotations", key, scratch).size();
        const bool lower = std::none_of(key.begin(), key.end(),
                                        [](char c) { return c >= 'A' && c <= 'Z'; });
        if (!lower || !is_label_key(key)) {
            check(node, check_format(ApiRule::AnnotationKey, "metadata.annotations", key));
        }
    });
    if (size > static_cast<uint64_t>(rule_limit(ApiRule::AnnotationsSize))) {
        fail(annotations, rule_error(ApiRule::AnnotationsSize, "metadata.annotations",
                                     fmt::format("{} bytes of keys and values", size))
                              .message);
    }
}

// The parts of a Pod's spec that make endpoints: hostname, subdomain, container ports.
void read_pod_spec(const DocNode& spec, const std::string& path, PodTemplate& pod) {
    pod.hostname = get_string(spec, path, "hostname");
    if (!pod.hostname.empty()) {
        check(*spec.find("hostname"), check_dns1123_label(join(path, "hostname"), pod.hostname));
    }
    pod.subdomain = get_string(spec, path, "subdomain");
    if (!pod.subdomain.empty()) {
        check(*spec.find("subdomain"),
              check_dns1123_label(join(path, "subdomain"), pod.subdomain));
    }
    for (const char* group : {"initContainers", "containers"}) {
        const DocNode& containers = get_list(spec, path, group);
        for (size_t c = 0; c < containers.items.size(); ++c) {
            const std::string at = fmt::format("{}.{}[{}]", path, group, c);
            const DocNode& ports = get_list(containers.items[c], at, "ports");
            const size_t first = pod.ports.size();  // names are unique within one container
            for (size_t p = 0; p < ports.items.size(); ++p) {
                const std::string port_path = indexed(join(at, "ports"), p);
                const DocNode& node = ports.items[p];
                ContainerPort port;
                port.name = get_string(node, port_path, "name");
                if (!port.name.empty()) {
                    check(node, check_port_name(join(port_path, "name"), port.name));
                    for (size_t q = first; q < pod.ports.size(); ++q) {
                        if (pod.ports[q].name == port.name) {
                            fail(node, rule_error(ApiRule::ContainerPortNameUnique,
                                                  join(port_path, "name"),
                                                  fmt::format("{} is the name of {}.ports[{}] too",
                                                              quoted(port.name), at, q - first))
                                           .message);
                        }
                    }
                }
                auto protocol = parse_protocol(join(port_path, "protocol"),
                                               get_string(node, port_path, "protocol"));
                if (!protocol) {
                    fail(node, protocol.error().message);
                }
                port.protocol = *protocol;
                const auto number = get_int(node, port_path, "containerPort");
                if (!number || *number < 1 ||
                    *number > rule_limit(ApiRule::ContainerPortRequired)) {
                    fail(node, rule_error(ApiRule::ContainerPortRequired,
                                          join(port_path, "containerPort"),
                                          number ? std::to_string(*number) : "missing")
                                   .message);
                }
                port.port = static_cast<uint16_t>(*number);
                pod.ports.push_back(std::move(port));
            }
        }
    }
}

// The Pod an endpoint belongs to (targetRef of kind Pod), or empty.
std::string target_pod(const DocNode& endpoint, const std::string& path) {
    const DocNode& ref = get_map(endpoint, path, "targetRef");
    if (get_string(ref, path + ".targetRef", "kind") != "Pod") {
        return {};
    }
    return get_string(ref, path + ".targetRef", "name");
}

// spec.ipFamilyPolicy and spec.ipFamilies, for the ClusterIPs a Service of the manifests is
// allocated when it gives fewer (zone/allocate.h); their values are checked with the rest of the
// Service. Unset, the policy is SingleStack, unless two families or two addresses are given,
// which the API server takes as RequireDualStack.
void read_ip_families(const DocNode& spec, Service& service) {
    const std::string policy = get_string(spec, "spec", "ipFamilyPolicy");
    if (policy == "PreferDualStack") {
        service.ip_family_policy = IpFamilyPolicy::PreferDualStack;
    } else if (policy == "RequireDualStack") {
        service.ip_family_policy = IpFamilyPolicy::RequireDualStack;
    }
    const DocNode& families = get_list(spec, "spec", "ipFamilies");
    for (const DocNode& family : families.items) {
        if (family.is_scalar() && (family.text == "IPv4" || family.text == "IPv6")) {
            service.ip_families_v6.push_back(family.text == "IPv6");
        }
    }
    if (policy.empty() && (families.items.size() == 2 || service.cluster_ips.size() == 2)) {
        service.ip_family_policy = IpFamilyPolicy::RequireDualStack;
    }
}

// status.loadBalancer.ingress[].ip of a Service or an Ingress (entries with a hostname instead
// are left out: an address record cannot carry them).
std::vector<IpAddress> load_balancer_ips(const DocNode& doc) {
    std::vector<IpAddress> out;
    const DocNode& lb = get_map(get_map(doc, "", "status"), "status", "loadBalancer");
    const DocNode& ingress = get_list(lb, "status.loadBalancer", "ingress");
    for (size_t i = 0; i < ingress.items.size(); ++i) {
        const std::string path = indexed("status.loadBalancer.ingress", i);
        const std::string ip = get_string(ingress.items[i], path, "ip");
        if (!ip.empty()) {
            out.push_back(get_ip(*ingress.items[i].find("ip"), ip, path + ".ip"));
        }
    }
    return out;
}

Ingress to_ingress(const DocNode& doc, const std::string& ns, const std::string& name) {
    Ingress ingress{ns, name, {}, load_balancer_ips(doc)};
    const DocNode& rules = get_list(get_map(doc, "", "spec"), "spec", "rules");
    for (size_t i = 0; i < rules.items.size(); ++i) {
        const std::string path = indexed("spec.rules", i);
        std::string host = get_string(rules.items[i], path, "host");
        if (host.empty()) {
            continue;
        }
        // As written: the API takes no capitals, and no address for a host.
        const std::string_view bare =
            std::string_view(host).substr(std::string_view(host).starts_with("*.") ? 2 : 0);
        if (!is_dns1123_subdomain(bare) ||
            host.size() > static_cast<size_t>(rule_limit(ApiRule::IngressHost)) ||
            parse_api_ip(host)) {
            fail(rules.items[i], fmt::format("{}.host: {} is not {}", path, quoted(host),
                                             requirement(ApiRule::IngressHost)));
        }
        ingress.hosts.push_back(std::move(host));
    }
    return ingress;
}

// spec.ipFamilies and spec.ipFamilyPolicy, as ValidateServiceClusterIPsRelatedFields and the
// allocation's initIPFamilyFields check them: none for an ExternalName Service; known values,
// each family once, in the order of the clusterIPs given; no SingleStack with two of either.
void check_ip_families(const DocNode& spec, const Service& service) {
    const DocNode& families = get_list(spec, "spec", "ipFamilies");
    const std::string policy = get_string(spec, "spec", "ipFamilyPolicy");
    if (service.type == ServiceType::ExternalName && (!families.items.empty() || !policy.empty())) {
        fail(spec, rule_error(ApiRule::ExternalNameNoClusterIp,
                              policy.empty() ? "spec.ipFamilies" : "spec.ipFamilyPolicy", "set")
                       .message);
    }
    if (!policy.empty() && policy != "SingleStack" && policy != "PreferDualStack" &&
        policy != "RequireDualStack") {
        fail(*spec.find("ipFamilyPolicy"),
             fmt::format("spec.ipFamilyPolicy: {} is not {}", quoted(policy),
                         requirement(ApiRule::IpFamilyPolicy)));
    }
    bool seen[2] = {false, false};
    for (size_t i = 0; i < families.items.size(); ++i) {
        const DocNode& node = families.items[i];
        const std::string path = indexed("spec.ipFamilies", i);
        const std::string_view family = node.is_scalar() ? node.text : std::string_view();
        if (family != "IPv4" && family != "IPv6") {
            fail(node, fmt::format("{}: {} is not {}", path, quoted(family),
                                   requirement(ApiRule::IpFamilies)));
        }
        const bool v6 = family == "IPv6";
        if (seen[v6] || (i < service.cluster_ips.size() && service.cluster_ips[i].v6 != v6)) {
            fail(node, rule_error(ApiRule::IpFamilies, path,
                                  seen[v6] ? fmt::format("{} twice", family)
                                           : fmt::format("{} for clusterIPs[{}] {}", family, i,
                                                         ip_to_text(service.cluster_ips[i])))
                           .message);
        }
        seen[v6] = true;
    }
    if (policy == "SingleStack" && (families.items.size() > 1 || service.cluster_ips.size() > 1)) {
        fail(*spec.find("ipFamilyPolicy"),
             rule_error(ApiRule::IpFamilyPolicy, "spec.ipFamilyPolicy",
                        fmt::format("SingleStack with two {}", families.items.size() > 1
                                                                   ? "ipFamilies"
                                                                   : "clusterIPs"))
                 .message);
    }
}

Service to_service(const DocNode& doc, const std::string& ns, const std::string& name) {
    Service service;
    service.ns = ns;
    service.name = name;
    const DocNode& spec = get_map(doc, "", "spec");
    if (!spec.is_mapping()) {
        fail(doc, "spec: required");
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
        fail(*spec.find("type"), fmt::format("spec.type: {} is not {}", quoted(type),
                                             requirement(ApiRule::ServiceType)));
    }
    if (service.type == ServiceType::ExternalName) {
        service.external_name = get_string(spec, "spec", "externalName");
        if (!service.external_name.empty() && service.external_name.back() == '.') {
            service.external_name.pop_back();
        }
    }
    // Read for an ExternalName Service too, which may have none (validate() says so).
    const std::string cluster_ip = get_string(spec, "spec", "clusterIP");
    std::vector<std::string> cluster_ips;
    const DocNode& list = get_list(spec, "spec", "clusterIPs");
    for (size_t i = 0; i < list.items.size(); ++i) {
        if (!list.items[i].is_scalar()) {
            fail(list.items[i], fmt::format("spec.clusterIPs[{}]: expected a string", i));
        }
        cluster_ips.emplace_back(list.items[i].text);
    }
    if (!cluster_ip.empty() && !cluster_ips.empty() && cluster_ips[0] != cluster_ip) {
        fail(list, rule_error(ApiRule::ClusterIpsMatch, "spec.clusterIPs[0]",
                              fmt::format("{} is not spec.clusterIP {}", quoted(cluster_ips[0]),
                                          quoted(cluster_ip)))
                       .message);
    }
    if (cluster_ips.empty() && !cluster_ip.empty()) {
        cluster_ips.push_back(cluster_ip);
    }
    for (size_t i = 0; i < cluster_ips.size(); ++i) {
        const bool from_single = list.items.empty();
        const DocNode& node = from_single ? *spec.find("clusterIP") : list.items[i];
        const std::string path =
            from_single ? std::string("spec.clusterIP") : indexed("spec.clusterIPs", i);
        if (cluster_ips[i] == "None") {
            if (i > 0 || cluster_ips.size() > 1) {
                fail(node, rule_error(ApiRule::ClusterIpNone, path,
                                      fmt::format("\"None\" among {} entries", cluster_ips.size()))
                               .message);
            }
            service.headless = true;
        } else {
            service.cluster_ips.push_back(get_ip(node, cluster_ips[i], path));
        }
    }
    check_ip_families(spec, service);
    const DocNode& ports = get_list(spec, "spec", "ports");
    for (size_t i = 0; i < ports.items.size(); ++i) {
        const std::string path = indexed("spec.ports", i);
        ServicePort port = get_port(ports.items[i], path, PortOwner::Service);
        if (port.name.empty() && ports.items.size() > 1) {
            fail(ports.items[i], rule_error(ApiRule::ServicePortNameRequired, join(path, "name"),
                                            fmt::format("missing, among {} ports",
                                                        ports.items.size()))
                                     .message);
        }
        if (const DocNode* target = field(ports.items[i], "targetPort")) {
            if (scalar_type(*target) == ScalarType::Number) {
                const auto number = get_int(ports.items[i], path, "targetPort");
                if (*number != 0) {  // 0 is left out: the API defaults it to the port
                    check_port_number(*target, join(path, "targetPort"), *number);
                    port.target_port = std::to_string(*number);
                }
            } else {
                port.target_port = get_string(ports.items[i], path, "targetPort");
                if (!port.target_port.empty()) {  // "" is left out too
                    check(*target, check_port_name(join(path, "targetPort"), port.target_port));
                }
            }
        }
        service.ports.push_back(std::move(port));
    }
    if (service.ports.empty() && !service.headless &&
        service.type != ServiceType::ExternalName) {
        fail(spec, rule_error(ApiRule::ServicePortsRequired, "spec.ports", "missing").message);
    }
    if (LabelMap selector = get_labels(spec, "spec", "selector"); !selector.empty()) {
        service.selector = std::move(selector);
    }
    service.external_ips = load_balancer_ips(doc);
    const DocNode& external = get_list(spec, "spec", "externalIPs");
    for (size_t i = 0; i < external.items.size(); ++i) {
        const std::string path = indexed("spec.externalIPs", i);
        if (!external.items[i].is_scalar()) {
            fail(external.items[i], fmt::format("{}: expected a string", path));
        }
        service.external_ips.push_back(
            get_endpoint_ip(external.items[i], std::string(external.items[i].text), path));
    }
    // The specification's "ready" (2.1) also counts the annotation that predates the field.
    const DocNode& annotations = get_map(get_map(doc, "", "metadata"), "metadata", "annotations");
    service.publish_not_ready_addresses =
        get_bool(spec, "spec", "publishNotReadyAddresses").value_or(false) ||
        get_string(annotations, "metadata.annotations", kTolerateUnreadyAnnotation) == "true";
    check(spec, validate(service));
    read_ip_families(spec, service);
    return service;
}

std::optional<EndpointSet> to_endpoint_slice(const DocNode& doc, const std::string& ns,
                                             const std::string& name) {
    EndpointSet set;
    set.ns = ns;
    set.name = name;
    const DocNode& labels = get_map(get_map(doc, "", "metadata"), "metadata", "labels");
    set.service = get_string(labels, "metadata.labels", "kubernetes.io/service-name");
    const std::string type = get_string(doc, "", "addressType", true);
    if (type != "IPv4" && type != "IPv6" && type != "FQDN") {
        fail(*doc.find("addressType"), fmt::format("addressType: {} is not {}", quoted(type),
                                                   requirement(ApiRule::AddressType)));
    }
    const DocNode& endpoints = get_list(doc, "", "endpoints");
    check(endpoints, check_at_most(ApiRule::SliceEndpoints, "endpoints", endpoints.items.size(),
                                   "endpoints"));
    for (size_t i = 0; i < endpoints.items.size(); ++i) {
        const std::string path = indexed("endpoints", i);
        const DocNode& node = endpoints.items[i];
        if (!node.is_mapping()) {
            fail(node, fmt::format("{}: expected a mapping, got {}", path, describe(node)));
        }
        Endpoint endpoint;
        const DocNode& addresses = get_list(node, path, "addresses");
        if (addresses.items.empty() ||
            addresses.items.size() > static_cast<size_t>(rule_limit(ApiRule::SliceAddresses))) {
            fail(node, rule_error(ApiRule::SliceAddresses, path + ".addresses",
                                  fmt::format("{} addresses", addresses.items.size()))
                           .message);
        }
        for (size_t j = 0; j < addresses.items.size() && type != "FQDN"; ++j) {
            const DocNode& address = addresses.items[j];
            const std::string at = indexed(join(path, "addresses"), j);
            const std::string text = address.is_scalar() ? std::string(address.text) : "";
            const IpAddress ip = get_ip(address, text, at);
            if (ip.v6 != (type == "IPv6")) {
                fail(address, fmt::format("{}: not an {} address", at, type));
            }
            check(address, check_non_special_ip(at, ip));
            endpoint.addresses.push_back(ip);
        }
        endpoint.hostname = get_string(node, path, "hostname");
        if (!endpoint.hostname.empty()) {
            check(node, check_dns1123_label(path + ".hostname", endpoint.hostname));
        }
        endpoint.pod = target_pod(node, path);
        // The API: a nil ready condition "should be interpreted as ready".
        endpoint.ready = get_bool(get_map(node, path, "conditions"), path + ".conditions", "ready")
                             .value_or(true);
        set.endpoints.push_back(std::move(endpoint));
    }
    const DocNode& ports = get_list(doc, "", "ports");
    check(ports, check_at_most(ApiRule::SlicePorts, "ports", ports.items.size(), "ports"));
    for (size_t i = 0; i < ports.items.size(); ++i) {
        set.ports.push_back(get_port(ports.items[i], indexed("ports", i), PortOwner::Slice));
    }
    if (type == "FQDN") {
        return std::nullopt;  // deprecated, and DNS publishes no FQDN endpoints
    }
    check(doc, validate(set));  // names unique, unnamed ports too
    std::erase_if(set.ports, [](const ServicePort& p) { return p.port == 0; });  // no SRV
    if (set.service.empty() || !is_dns1035_label(set.service)) {
        return std::nullopt;  // not linked to a Service (no Service can have that name)
    }
    return set;
}

std::vector<EndpointSet> to_legacy_endpoints(const DocNode& doc, const std::string& ns,
                                             const std::string& name) {
    std::vector<EndpointSet> sets;
    const DocNode& subsets = get_list(doc, "", "subsets");
    for (size_t i = 0; i < subsets.items.size(); ++i) {
        const DocNode& subset = subsets.items[i];
        const std::string path = indexed("subsets", i);
        EndpointSet set;
        set.ns = ns;
        set.name = legacy_set_name(name, i);
        set.service = name;
        set.legacy = true;
        for (const auto& [key, ready] :
             {std::pair{"addresses", true}, std::pair{"notReadyAddresses", false}}) {
            const DocNode& list = get_list(subset, path, key);
            for (size_t j = 0; j < list.items.size(); ++j) {
                const std::string item = fmt::format("{}.{}[{}]", path, key, j);
                Endpoint endpoint;
                endpoint.ready = ready;
                endpoint.addresses.push_back(
                    get_endpoint_ip(list.items[j], get_string(list.items[j], item, "ip", true),
                                    item + ".ip"));
                endpoint.hostname = get_string(list.items[j], item, "hostname");
                endpoint.pod = target_pod(list.items[j], item);
                if (!endpoint.hostname.empty()) {
                    check(list.items[j],
                          check_dns1123_label(item + ".hostname", endpoint.hostname));
                }
                set.endpoints.push_back(std::move(endpoint));
            }
        }
        if (set.endpoints.empty()) {
            fail(subset, rule_error(ApiRule::SubsetAddresses, path, "no address").message);
        }
        const DocNode& ports = get_list(subset, path, "ports");
        for (size_t j = 0; j < ports.items.size(); ++j) {
            const std::string at = indexed(join(path, "ports"), j);
            set.ports.push_back(get_port(ports.items[j], at, PortOwner::Endpoints));
            if (set.ports.back().name.empty() && ports.items.size() > 1) {
                fail(ports.items[j], rule_error(ApiRule::EndpointsPortNameRequired,
                                                at + ".name", "missing")
                                         .message);
            }
        }
        check(subset, validate(set));
        sets.push_back(std::move(set));
    }
    if (!is_dns1035_label(name)) {
        sets.clear();  // named after a Service, and no Service can have this name
    }
    return sets;
}

Pod to_pod(const DocNode& doc, const std::string& ns, const std::string& name) {
    Pod pod;
    pod.ns = ns;
    pod.name = name;
    const DocNode& status = get_map(doc, "", "status");
    const DocNode& ips = get_list(status, "status", "podIPs");
    for (size_t i = 0; i < ips.items.size(); ++i) {
        const std::string path = indexed("status.podIPs", i);
        pod.ips.push_back(
            get_ip(ips.items[i], get_string(ips.items[i], path, "ip", true), path + ".ip"));
    }
    const std::string ip = get_string(status, "status", "podIP");
    if (pod.ips.empty() && !ip.empty()) {
        pod.ips.push_back(get_ip(*status.find("podIP"), ip, "status.podIP"));
    }
    pod.spec.labels = get_labels(get_map(doc, "", "metadata"), "metadata", "labels");
    read_pod_spec(get_map(doc, "", "spec"), "spec", pod.spec);
    // Ready unless the status says otherwise: a manifest without a status is a Pod to be.
    const DocNode& conditions = get_list(status, "status", "conditions");
    for (size_t i = 0; i < conditions.items.size(); ++i) {
        const std::string path = indexed("status.conditions", i);
        if (get_string(conditions.items[i], path, "type") == "Ready") {
            pod.ready = get_string(conditions.items[i], path, "status") == "True";
        }
    }
    const std::string phase = get_string(status, "status", "phase");
    if (phase == "Succeeded" || phase == "Failed") {
        pod.ready = false;  // a finished Pod is no endpoint
    }
    return pod;
}

// Whether a label selector (matchLabels and matchExpressions) selects `labels`; its keys,
// values and operators checked as the API server checks them.
bool selector_matches(const DocNode& selector, const std::string& path, const LabelMap& labels) {
    const LabelMap match = get_labels(selector, path, "matchLabels");
    const DocNode& expressions = get_list(selector, path, "matchExpressions");
    bool matches = selects(match, labels);
    for (size_t i = 0; i < expressions.items.size(); ++i) {
        const std::string at = indexed(join(path, "matchExpressions"), i);
        const DocNode& e = expressions.items[i];
        const std::string key = get_string(e, at, "key", true);
        check(e, check_format(ApiRule::LabelKey, at + ".key", key));
        const std::string op = get_string(e, at, "operator", true);
        std::vector<std::string> values;
        const DocNode& list = get_list(e, at, "values");
        for (size_t v = 0; v < list.items.size(); ++v) {
            const std::string value_path = indexed(join(at, "values"), v);
            if (!list.items[v].is_scalar() || scalar_type(list.items[v]) != ScalarType::String) {
                fail(list.items[v], fmt::format("{}: expected a string, got {}", value_path,
                                                describe(list.items[v])));
            }
            values.emplace_back(list.items[v].text);
            check(list.items[v], check_format(ApiRule::LabelValue, value_path, values.back()));
        }
        const auto it = std::find_if(labels.begin(), labels.end(),
                                     [&](const auto& l) { return l.first == key; });
        const bool has = it != labels.end();
        const bool in = has && std::find(values.begin(), values.end(), it->second) != values.end();
        if (op == "In" || op == "NotIn") {
            if (values.empty()) {
                fail(e, rule_error(ApiRule::SelectorRequirement, at + ".values",
                                   fmt::format("missing for {}", op))
                            .message);
            }
            matches = matches && (op == "In") == in;
        } else if (op == "Exists" || op == "DoesNotExist") {
            if (!values.empty()) {
                fail(e, rule_error(ApiRule::SelectorRequirement, at + ".values",
                                   fmt::format("given for {}", op))
                            .message);
            }
            matches = matches && (op == "Exists") == has;
        } else {
            fail(*e.find("operator"),
                 rule_error(ApiRule::SelectorRequirement, at + ".operator",
                            fmt::format("{} is no operator", quoted(op)))
                     .message);
        }
    }
    return matches;
}

// A count of a workload's spec (replicas, parallelism, ...): an int32 of at least 0.
std::optional<uint32_t> get_count(const DocNode& parent, std::string_view path,
                                  std::string_view key, ApiRule rule) {
    const auto value = get_int(parent, path, key);
    if (value && (*value < 0 || *value > rule_limit(rule))) {
        fail(*parent.find(key), rule_error(rule, join(path, key),
                                           fmt::format("{} is out of range", *value))
                                    .message);
    }
    return value ? std::optional(static_cast<uint32_t>(*value)) : std::nullopt;
}

// A workload controller's object: its Pod template, how many Pods, and (StatefulSet) the
// Service that names them. As the API server does, its selector must select its template; and
// what its controller could not make (Pods named past what a label or a hostname holds) is
// refused here, since a cluster would serve nothing for it.
Workload to_workload(const DocNode& doc, const std::string& kind, const std::string& ns,
                     const std::string& name) {
    Workload w;
    w.kind = kind;
    w.ns = ns;
    w.name = name;
    const DocNode& spec = get_map(doc, "", "spec");
    if (!spec.is_mapping()) {
        fail(doc, "spec: required");
    }
    const DocNode& pod_template = get_map(spec, "spec", "template");
    w.pod.labels =
        get_labels(get_map(pod_template, "spec.template", "metadata"), "spec.template.metadata",
                   "labels");
    read_pod_spec(get_map(pod_template, "spec.template", "spec"), "spec.template.spec", w.pod);
    if (kind == "Job") {
        // As many Pods as run at once: parallelism, or fewer when fewer completions are asked.
        const uint32_t parallelism =
            get_count(spec, "spec", "parallelism", ApiRule::Replicas).value_or(1);
        const auto completions = get_count(spec, "spec", "completions", ApiRule::Replicas);
        w.replicas = std::min(parallelism, completions.value_or(parallelism));
        if (!get_bool(spec, "spec", "manualSelector").value_or(false) &&
            name.size() > static_cast<size_t>(rule_limit(ApiRule::JobName))) {
            fail(doc, rule_error(ApiRule::JobName, "metadata.name",
                                 fmt::format("{} characters", name.size()))
                          .message);
        }
    } else if (kind != "DaemonSet") {  // a DaemonSet: one Pod, clusterdns knows one node
        w.replicas = get_count(spec, "spec", "replicas", ApiRule::Replicas).value_or(1);
    }
    if (kind == "StatefulSet") {
        w.service_name = get_string(spec, "spec", "serviceName");
        if (!w.service_name.empty()) {  // each Pod's spec.subdomain
            check(*spec.find("serviceName"),
                  check_dns1123_label("spec.serviceName", w.service_name));
        }
        const DocNode& ordinals = get_map(spec, "spec", "ordinals");
        w.ordinal_start =
            get_count(ordinals, "spec.ordinals", "start", ApiRule::OrdinalsStart).value_or(0);
        if (w.replicas > 0) {
            const std::string last =
                fmt::format("{}-{}", name, uint64_t{w.ordinal_start} + w.replicas - 1);
            if (last.size() > static_cast<size_t>(rule_limit(ApiRule::StatefulSetPodName))) {
                fail(doc, rule_error(ApiRule::StatefulSetPodName, "metadata.name",
                                     fmt::format("its Pod {} would have {} characters",
                                                 quoted(last), last.size()))
                              .message);
            }
        }
    }
    if (kind == "Deployment" &&
        name.size() + 1 + kPodTemplateHashLength >
            static_cast<size_t>(rule_limit(ApiRule::ReplicaSetName))) {
        fail(doc, rule_error(ApiRule::ReplicaSetName, "metadata.name",
                             fmt::format("{} characters", name.size()))
                      .message);
    }
    if (kind == "ReplicationController") {
        // Left out, the selector is the template's labels.
        const LabelMap selector = get_labels(spec, "spec", "selector");
        if (selector.empty() && w.pod.labels.empty()) {
            fail(spec, rule_error(ApiRule::WorkloadSelector, "spec.selector", "missing").message);
        }
        if (!selects(selector, w.pod.labels)) {
            fail(spec, rule_error(ApiRule::WorkloadSelector, "spec.selector",
                                  "does not match spec.template.metadata.labels")
                           .message);
        }
        return w;
    }
    const DocNode& selector = get_map(spec, "spec", "selector");
    if (!selector.is_mapping()) {
        if (kind != "Job") {  // a Job's is made for it
            fail(spec, rule_error(ApiRule::WorkloadSelector, "spec.selector", "missing").message);
        }
        return w;
    }
    const bool matches = selector_matches(selector, "spec.selector", w.pod.labels);
    if (kind != "Job" && get_map(selector, "spec.selector", "matchLabels").members.empty() &&
        get_list(selector, "spec.selector", "matchExpressions").items.empty()) {
        fail(selector, rule_error(ApiRule::WorkloadSelector, "spec.selector", "empty").message);
    }
    if (!matches) {
        fail(selector, rule_error(ApiRule::WorkloadSelector, "spec.selector",
                                  "does not match spec.template.metadata.labels")
                           .message);
    }
    return w;
}

// The kinds DNS publishes, each with the API group/version it belongs to: a kind of the same
// name from another group (Knative's serving.knative.dev/v1 Service) is somebody else's object.
struct ServedKind {
    std::string_view kind;
    std::string_view api_versions[2];
};
constexpr ServedKind kServedKinds[] = {
    {"Namespace", {"v1"}},
    {"Service", {"v1"}},
    {"Endpoints", {"v1"}},
    {"Pod", {"v1"}},
    {"EndpointSlice", {"discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"}},
};

// The controllers whose Pods the manifests describe by template (with their apiVersion: a
// document without one is nobody's workload).
constexpr ServedKind kWorkloadKinds[] = {
    {"Deployment", {"apps/v1"}},  {"ReplicaSet", {"apps/v1"}},
    {"StatefulSet", {"apps/v1"}}, {"DaemonSet", {"apps/v1"}},
    {"Job", {"batch/v1"}},        {"ReplicationController", {"v1"}},
};

bool is_workload(std::string_view kind, std::string_view api_version) {
    for (const ServedKind& k : kWorkloadKinds) {
        if (k.kind == kind) {
            return !api_version.empty() && (k.api_versions[0] == api_version ||
                                            k.api_versions[1] == api_version);
        }
    }
    return false;
}

bool served(std::string_view kind, std::string_view api_version) {
    for (const ServedKind& k : kServedKinds) {
        if (k.kind == kind) {
            return api_version.empty() ||  // left out: read as the kind's own group
                   std::find(std::begin(k.api_versions), std::end(k.api_versions),
                             api_version) != std::end(k.api_versions);
        }
    }
    return false;
}

// kubectl's "kind: List", and the typed lists of served kinds ("ServiceList") that
// `kubectl get -o yaml` writes; a custom resource whose kind merely ends in "List" is not one.
bool is_list(std::string_view kind, std::string_view api_version) {
    if (kind == "List") {
        return true;
    }
    return kind.ends_with("List") && served(kind.substr(0, kind.size() - 4), api_version);
}

// What every object has: its kind, namespace and name, read once for adding and removing.
struct ObjectId {
    std::string kind;
    std::string ns = "default";
    std::string name;
    ObjectKind object_kind = ObjectKind::Service;

    std::string describe() const {
        return kind.empty()   ? std::string()
               : name.empty() ? fmt::format(" ({})", escaped(kind))
               : kind == "Namespace"
                   ? fmt::format(" ({} {})", kind, escaped(name))
                   : fmt::format(" ({} {}/{})", escaped(kind), escaped(ns), escaped(name));
    }
};

ObjectKind object_kind(std::string_view kind) {
    if (kind == "Namespace") {
        return ObjectKind::Namespace;
    }
    if (kind == "Service") {
        return ObjectKind::Service;
    }
    if (kind == "EndpointSlice") {
        return ObjectKind::EndpointSlice;
    }
    if (kind == "Endpoints") {
        return ObjectKind::Endpoints;
    }
    return ObjectKind::Pod;
}

// Reads kind, metadata.name and metadata.namespace of a served kind into `id`, failing with the
// field at fault. Returns the metadata mapping.
const DocNode& read_id(const DocNode& doc, ObjectId& id) {
    const DocNode& metadata = get_map(doc, "", "metadata");
    if (!metadata.is_mapping()) {
        fail(doc, "metadata: required");
    }
    id.object_kind = object_kind(id.kind);
    id.name = get_string(metadata, "metadata", "name", true);
    if (id.object_kind == ObjectKind::Namespace) {
        check(metadata, check_dns1123_label("metadata.name", id.name));
        return metadata;
    }
    if (std::string declared = get_string(metadata, "metadata", "namespace"); !declared.empty()) {
        id.ns = std::move(declared);
    }
    check(metadata, check_dns1123_label("metadata.namespace", id.ns));
    return metadata;
}

void add_object(const DocNode& doc, ObjectId& id, ObjectSink& cluster) {
    const DocNode& metadata = read_id(doc, id);
    check_metadata(metadata);
    const std::string& ns = id.ns;
    const std::string& name = id.name;
    if (id.object_kind != ObjectKind::Service) {
        // The API's rule for these names; a Service's is stricter, checked below.
        check(*metadata.find("name"), check_dns1123_subdomain("metadata.name", name));
    }
    switch (id.object_kind) {
        case ObjectKind::Namespace:
            cluster.upsert(Namespace{name});
            return;
        case ObjectKind::Service:
            // validate() checks the name again, but only knows the line of the spec.
            check(*metadata.find("name"), check_dns1035_label("metadata.name", name));
            cluster.upsert(to_service(doc, ns, name));
            return;
        case ObjectKind::EndpointSlice:
            if (auto set = to_endpoint_slice(doc, ns, name)) {
                cluster.upsert(std::move(*set));
            } else {
                // No longer linked to a Service (or FQDN): its earlier version must not linger.
                cluster.erase(ObjectKind::EndpointSlice, ns, name);
            }
            return;
        case ObjectKind::Endpoints: {
            auto sets = to_legacy_endpoints(doc, ns, name);
            cluster.erase(ObjectKind::Endpoints, ns, name);  // it may have had more subsets
            for (EndpointSet& set : sets) {
                cluster.upsert(std::move(set));
            }
            return;
        }
        case ObjectKind::Pod:
            cluster.upsert(to_pod(doc, ns, name));
            return;
    }
}

// Adds (or, with `remove`, removes) the object in `doc` or each item of a list.
// An error about the object `id` of `doc`, as every one reads.
Error object_error(std::string_view source, uint32_t line, std::string_view where,
                   const ObjectId& id, std::string_view message) {
    const std::string at = line != 0 ? fmt::format(":{}", line) : std::string();
    return Error{fmt::format("{}{}: {}{}: {}", source, at, where, id.describe(), message)};
}

// Adds (or, with `remove`, removes) the object in `doc` or each item of a list; a recorder
// (`recording`) is told where each object is.
Status visit_objects(const DocNode& doc, std::string_view source, std::string_view where,
                     ObjectSink& cluster, bool remove, ConvertedObjects* recording = nullptr) {
    ObjectId id;
    if (recording != nullptr) {
        recording->place(doc.line, where);
    }
    try {
        if (!doc.is_mapping()) {
            fail(doc,
                 fmt::format("expected a Kubernetes object (a mapping), got {}", describe(doc)));
        }
        id.kind = get_string(doc, "", "kind", true);
        const std::string api_version = get_string(doc, "", "apiVersion");
        if (is_list(id.kind, api_version)) {
            const DocNode& items = get_list(doc, "", "items");
            for (size_t i = 0; i < items.items.size(); ++i) {
                if (Status s = visit_objects(items.items[i], source,
                                             fmt::format("{}, items[{}]", where, i), cluster,
                                             remove, recording);
                    !s) {
                    return s;
                }
            }
            return {};
        }
        if (!remove && id.kind == "Ingress" && api_version == "networking.k8s.io/v1") {
            const DocNode& metadata = read_id(doc, id);
            check(*metadata.find("name"), check_dns1123_subdomain("metadata.name", id.name));
            check_metadata(metadata);
            cluster.upsert(to_ingress(doc, id.ns, id.name));
            return {};
        }
        if (!remove && is_workload(id.kind, api_version)) {
            const DocNode& metadata = get_map(doc, "", "metadata");
            if (!metadata.is_mapping()) {
                fail(doc, "metadata: required");
            }
            id.name = get_string(metadata, "metadata", "name", true);
            check(*metadata.find("name"), check_dns1123_subdomain("metadata.name", id.name));
            if (std::string declared = get_string(metadata, "metadata", "namespace");
                !declared.empty()) {
                id.ns = std::move(declared);
            }
            check(metadata, check_dns1123_label("metadata.namespace", id.ns));
            check_metadata(metadata);
            cluster.upsert(to_workload(doc, id.kind, id.ns, id.name));
            return {};
        }
        if (!served(id.kind, api_version)) {
            return {};  // Ingress, ConfigMap, NetworkPolicy...: nothing DNS publishes
        }
        if (remove) {
            read_id(doc, id);
            cluster.erase(id.object_kind, id.ns, id.name);
        } else {
            add_object(doc, id, cluster);
        }
        return {};
    } catch (const FieldError& e) {
        return object_error(source, e.line, where, id, e.message);
    } catch (const ObjectRefused& e) {  // by the sink: no address for it (zone/allocate.h)
        return object_error(source, doc.line, where, id, e.message);
    }
}

}  // namespace

Status add_objects(const DocNode& doc, std::string_view source, std::string_view where,
                   ObjectSink& cluster) {
    return visit_objects(doc, source, where, cluster, false);
}

Status add_objects(const DocNode& doc, std::string_view source, std::string_view where,
                   ConvertedObjects& out) {
    return visit_objects(doc, source, where, out, false, &out);
}

void ConvertedObjects::upsert(Service service) {
    objects_.emplace_back(Placed{std::move(service), line_, std::string(where_)});
}

bool ConvertedObjects::erase(ObjectKind kind, std::string_view ns, std::string_view name) {
    objects_.emplace_back(Erased{kind, std::string(ns), std::string(name)});
    return true;  // which the converter does not read
}

Status ConvertedObjects::apply(ObjectSink& sink, std::string_view source) {
    for (auto& object : objects_) {
        if (auto* placed = std::get_if<Placed>(&object)) {
            ObjectId id{.kind = "Service", .ns = placed->service.ns, .name = placed->service.name};
            try {
                sink.upsert(std::move(placed->service));
            } catch (const ObjectRefused& e) {
                Error error = object_error(source, placed->line, placed->where, id, e.message);
                objects_.clear();
                return error;
            }
        } else if (auto* erased = std::get_if<Erased>(&object)) {
            sink.erase(erased->kind, erased->ns, erased->name);
        } else {
            std::visit(
                [&](auto& o) {
                    if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, Placed> &&
                                  !std::is_same_v<std::decay_t<decltype(o)>, Erased>) {
                        sink.upsert(std::move(o));
                    }
                },
                object);
        }
    }
    objects_.clear();
    return {};
}

Status remove_objects(const DocNode& doc, std::string_view source, std::string_view where,
                      ObjectSink& cluster) {
    return visit_objects(doc, source, where, cluster, true);
}

LabelMap labels_at(const DocNode& node, std::initializer_list<std::string_view> path) {
    LabelMap out;
    if (const DocNode* map = find_path(node, path); map != nullptr && map->is_mapping()) {
        for (const DocMember& m : map->members) {
            out.emplace_back(std::string(m.key),
                             std::string(m.value.is_scalar() ? m.value.text : std::string_view()));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace clusterdns
