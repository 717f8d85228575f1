#include "zone/validation.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace clusterdns {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// The rules, in ApiRule order. Functions are kubernetes/kubernetes's unless the path says
// apimachinery (k8s.io/apimachinery) or apiserver (k8s.io/apiserver).
constexpr ApiRuleInfo kApiRules[] = {
    {ApiRule::DnsLabel,
     "Namespace metadata.name, every metadata.namespace; Service, Endpoints and EndpointSlice "
     "port names; endpoint hostnames; Pod spec.hostname and spec.subdomain",
     "a DNS label (RFC 1123: at most {limit} lowercase letters, digits and '-', starting and "
     "ending alphanumeric)",
     63,
     "apimachinery util/validation IsDNS1123Label (ValidateNamespaceName, validateServicePort, "
     "validateEndpointPort, discovery validatePorts, ValidatePodSpec)"},
    {ApiRule::Dns1035Label, "Service metadata.name",
     "a Service name (RFC 1035 label: at most {limit} lowercase letters, digits and '-', "
     "starting with a letter and ending alphanumeric)",
     63, "apimachinery api/validation NameIsDNS1035Label (ValidateServiceName)"},
    {ApiRule::DnsSubdomain,
     "metadata.name of Pods, Endpoints, EndpointSlices, Ingresses and workloads; Service "
     "spec.externalName (without its final dot)",
     "a DNS name (RFC 1123 subdomain: at most {limit} characters, dot-separated parts of "
     "lowercase letters, digits and '-', each starting and ending alphanumeric)",
     253,
     "apimachinery util/validation IsDNS1123Subdomain (NameIsDNSSubdomain: ValidatePodName, "
     "ValidateEndpointSliceName, ValidateDeploymentName, ...; ValidateService)"},
    {ApiRule::IanaSvcName, "container port names; a Service port's targetPort when a name",
     "a port name (IANA service name: at most {limit} lowercase letters, digits and '-', with "
     "at least one letter, no '--', not starting or ending with '-')",
     15,
     "apimachinery util/validation IsValidPortName (validateContainerPorts, "
     "ValidatePortNumOrName)"},
    {ApiRule::LabelKey, "label keys: metadata.labels, Service spec.selector, workload selectors",
     "a label key (an optional DNS subdomain prefix and '/', then at most {limit} letters, "
     "digits, '-', '_' and '.', starting and ending alphanumeric)",
     63, "apimachinery meta/v1/validation ValidateLabelName (IsQualifiedName)"},
    {ApiRule::LabelValue, "label values: metadata.labels, Service spec.selector, selectors",
     "a label value (empty, or at most {limit} letters, digits, '-', '_' and '.', starting and "
     "ending alphanumeric)",
     63, "apimachinery meta/v1/validation ValidateLabels (IsValidLabelValue)"},
    {ApiRule::AnnotationKey, "metadata.annotations keys",
     "an annotation key (a label key, letters in either case: an optional DNS subdomain prefix "
     "and '/', then at most {limit} letters, digits, '-', '_' and '.')",
     63, "apimachinery api/validation ValidateAnnotations"},
    {ApiRule::AnnotationsSize, "metadata.annotations",
     "at most {limit} bytes of keys and values in all", 256 * 1024,
     "apimachinery api/validation ValidateAnnotationsSize (TotalAnnotationSizeLimitB)"},
    {ApiRule::PortNumber,
     "Service ports[].port and targetPort (a number); Endpoints ports; containerPort",
     "a port number from 1 to {limit}", 65535,
     "apimachinery util/validation IsValidPortNum (validateServicePort, validateEndpointPort, "
     "validateContainerPorts)"},
    {ApiRule::Protocol, "ports[].protocol of Services, endpoints and containers",
     "a protocol (TCP, UDP or SCTP; left out: TCP)", 0,
     "supportedPortProtocols (validateServicePort, validateContainerPorts); defaulted to TCP"},
    {ApiRule::IpAddress,
     "Service clusterIP(s), externalIPs, status.loadBalancer.ingress[].ip; endpoint addresses; "
     "Pod status.podIP(s)",
     "an IP address (IPv4 octets may have leading zeros; an IPv4-mapped IPv6 address is IPv4)", 0,
     "apimachinery util/validation IsValidIPForLegacyField (ParseIPSloppy; the "
     "StrictIPCIDRValidation gate is off by default)"},
    {ApiRule::NonSpecialIp, "endpoint addresses (EndpointSlice, Endpoints); Service externalIPs",
     "an address that is not unspecified (0.0.0.0, ::), loopback (127.0.0.0/8, ::1), "
     "link-local (169.254.0.0/16, fe80::/10) or link-local multicast (224.0.0.0/24, and ffx2:: "
     "of any flags)",
     0,
     "ValidateNonSpecialIP (validateEndpointAddress, discovery validateEndpoints, "
     "ValidateService)"},
    {ApiRule::ServiceType, "Service spec.type",
     "a Service type (ClusterIP, NodePort, LoadBalancer or ExternalName; left out: ClusterIP)", 0,
     "ValidateService (supportedServiceType)"},
    {ApiRule::ServicePortsRequired, "Service spec.ports",
     "required for a Service that is neither headless nor ExternalName", 0, "ValidateService"},
    {ApiRule::ServicePortNameRequired, "Service spec.ports[].name",
     "required when a Service has more than one port", 0, "validateServicePort"},
    {ApiRule::ServicePortNameUnique, "Service spec.ports[].name",
     "unique among the Service's ports", 0, "validateServicePort"},
    {ApiRule::ServicePortUnique, "Service spec.ports[].port and protocol",
     "each (port, protocol) pair at most once", 0, "ValidateService"},
    {ApiRule::ClusterIpsMatch, "Service spec.clusterIP and spec.clusterIPs",
     "clusterIPs[0] equal to clusterIP, and no clusterIPs without clusterIP", 0,
     "ValidateServiceClusterIPsRelatedFields"},
    {ApiRule::ClusterIpsCount, "Service spec.clusterIPs", "at most {limit} addresses", 2,
     "ValidateServiceClusterIPsRelatedFields"},
    {ApiRule::ClusterIpsDualStack, "Service spec.clusterIPs",
     "one address of each IP family (IPv4 and IPv6)", 0,
     "ValidateServiceClusterIPsRelatedFields (IsDualStackIPStrings)"},
    {ApiRule::ClusterIpNone, "Service spec.clusterIPs", "\"None\" only as the first and only entry",
     0, "ValidateServiceClusterIPsRelatedFields"},
    {ApiRule::HeadlessType, "Service spec.clusterIP",
     "a NodePort or LoadBalancer Service is never headless", 0, "ValidateService"},
    {ApiRule::ExternalNameRequired, "Service spec.externalName", "required for type ExternalName",
     0, "ValidateService"},
    {ApiRule::ExternalNameNoClusterIp, "Service spec.clusterIP(s), ipFamilies, ipFamilyPolicy",
     "an ExternalName Service has no clusterIP, ipFamilies or ipFamilyPolicy", 0,
     "ValidateService"},
    {ApiRule::ClusterIpAllocatable, "Service spec.clusterIP(s)",
     "an address of the service range, which never hands out the unspecified address: it is "
     "the network address of any range holding it",
     0, "pkg/registry/core/service/ipallocator Allocate (ErrNotInRange)"},
    {ApiRule::IpFamilies, "Service spec.ipFamilies",
     "IPv4 or IPv6, each at most once, in the order of the clusterIPs given", 0,
     "ValidateServiceClusterIPsRelatedFields (supportedServiceIPFamily)"},
    {ApiRule::IpFamilyPolicy, "Service spec.ipFamilyPolicy",
     "SingleStack, PreferDualStack or RequireDualStack, and not SingleStack with two ipFamilies "
     "or clusterIPs",
     0,
     "ValidateServiceClusterIPsRelatedFields (supportedServiceIPFamilyPolicy); "
     "pkg/registry/core/service/storage alloc.go initIPFamilyFields"},
    {ApiRule::AddressType, "EndpointSlice addressType", "IPv4, IPv6 or FQDN (required)", 0,
     "discovery validateAddressType"},
    {ApiRule::SliceEndpoints, "EndpointSlice endpoints", "at most {limit} endpoints", 1000,
     "discovery validateEndpoints (maxEndpoints)"},
    {ApiRule::SliceAddresses, "EndpointSlice endpoints[].addresses", "from 1 to {limit} addresses",
     100, "discovery validateEndpoints (maxAddresses)"},
    {ApiRule::SlicePorts, "EndpointSlice ports", "at most {limit} ports", 100,
     "discovery validatePorts (maxPorts)"},
    {ApiRule::SlicePortNameUnique, "EndpointSlice ports[].name",
     "unique among the slice's ports (an empty name counts too)", 0, "discovery validatePorts"},
    {ApiRule::SubsetAddresses, "Endpoints subsets[]", "addresses or notReadyAddresses required", 0,
     "validateEndpointSubsets"},
    {ApiRule::EndpointsPortNameRequired, "Endpoints subsets[].ports[].name",
     "required when a subset has more than one port", 0, "validateEndpointPort"},
    {ApiRule::ContainerPortRequired, "containers[].ports[].containerPort",
     "required, from 1 to {limit}", 65535, "validateContainerPorts"},
    {ApiRule::ContainerPortNameUnique, "containers[].ports[].name",
     "unique among one container's ports", 0, "validateContainerPorts"},
    {ApiRule::Replicas, "spec.replicas of workloads, a Job's spec.parallelism and completions",
     "from 0 to {limit}", kInt32Max, "ValidateNonnegativeField (an int32)"},
    {ApiRule::ReplicasMemory, "the Pods all workloads of one load make",
     "every Pod made is served, so all must fit in this machine's available memory", 0,
     "clusterdns (every made Pod is served)"},
    {ApiRule::OrdinalsStart, "StatefulSet spec.ordinals.start", "from 0 to {limit}", kInt32Max,
     "apps ValidateStatefulSetSpec (ValidateNonnegativeField)"},
    {ApiRule::WorkloadSelector, "workload spec.selector",
     "a selector of the template's labels, not empty (a Job's and a ReplicationController's "
     "may be left out)",
     0,
     "apps ValidateDeploymentSpec, ValidateReplicaSetSpec, ValidateDaemonSetSpec, "
     "ValidateStatefulSetSpec; ValidateReplicationControllerSpec; batch ValidateJob"},
    {ApiRule::SelectorRequirement, "selector matchExpressions[]",
     "operator In or NotIn with values, Exists or DoesNotExist without", 0,
     "apimachinery meta/v1/validation ValidateLabelSelectorRequirement"},
    {ApiRule::JobName, "Job metadata.name (without spec.manualSelector)",
     "at most {limit} characters: its Pods are labelled job-name with it", 63,
     "batch JobStrategy (generateSelector) and ValidateJob (template labels)"},
    {ApiRule::ReplicaSetName, "Deployment metadata.name",
     "short enough that NAME-HASH (its ReplicaSet) is a DNS name of at most {limit} characters",
     253, "deployment controller (getNewReplicaSet: name + \"-\" + pod-template-hash)"},
    {ApiRule::GeneratedPodName,
     "Pods made by Deployments, ReplicaSets, DaemonSets, Jobs, ReplicationControllers",
     "named by the first {limit} characters of OWNER- and 5 random letters and digits", 58,
     "controller_utils getPodsPrefix; apiserver storage/names SimpleNameGenerator "
     "(MaxGeneratedNameLength = 63 - 5)"},
    {ApiRule::StatefulSetPodName, "StatefulSet Pods NAME-ORDINAL",
     "at most {limit} characters: each is its own spec.hostname and a label value "
     "(statefulset.kubernetes.io/pod-name)",
     63, "statefulset controller (newStatefulSetPod, initIdentity); ValidatePodSpec"},
    {ApiRule::IngressHost, "Ingress spec.rules[].host",
     "a DNS name, or '*.' and one, of at most {limit} characters and not an IP address", 253,
     "networking validateIngressRules (IsDNS1123Subdomain, IsWildcardDNS1123Subdomain)"},
};

constexpr bool in_rule_order() {
    for (size_t i = 0; i < std::size(kApiRules); ++i) {
        if (static_cast<size_t>(kApiRules[i].id) != i) {
            return false;
        }
    }
    return std::size(kApiRules) == static_cast<size_t>(ApiRule::IngressHost) + 1;
}
static_assert(in_rule_order(), "kApiRules must list every ApiRule, in order");

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])? of any length.
bool is_rfc1123_part(std::string_view part) {
    return !part.empty() && is_lower_alnum(part.front()) && is_lower_alnum(part.back()) &&
           std::all_of(part.begin(), part.end(),
                       [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] of any length: a label key's name part, a value.
bool is_qualified_part(std::string_view part) {
    return !part.empty() && is_alnum(part.front()) && is_alnum(part.back()) &&
           std::all_of(part.begin(), part.end(),
                       [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// The old Go parser netutils.ParseIPSloppy keeps: four decimal numbers of 0-255, leading zeros
// allowed.
bool parse_sloppy_ipv4(std::string_view text, uint8_t out[4]) {
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (text.empty() || text.front() != '.') {
                return false;
            }
            text.remove_prefix(1);
        }
        size_t digits = 0;
        unsigned value = 0;
        while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
            value = value * 10 + static_cast<unsigned>(text[digits] - '0');
            if (value > 255) {
                return false;
            }
            ++digits;
        }
        if (digits == 0) {
            return false;
        }
        out[i] = static_cast<uint8_t>(value);
        text.remove_prefix(digits);
    }
    return text.empty();
}

uint64_t read_number(const char* path) {
    std::FILE* f = std::fopen(path, "re");
    if (f == nullptr) {
        return 0;
    }
    unsigned long long value = 0;
    const bool ok = std::fscanf(f, "%llu", &value) == 1;
    std::fclose(f);
    return ok ? value : 0;
}

// MemAvailable of /proc/meminfo, in bytes; 0 when unknown.
uint64_t mem_available() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit) {
        if (key == "MemAvailable:") {
            return kib * 1024;
        }
    }
    return 0;
}

}  // namespace

std::span<const ApiRuleInfo> api_rules() noexcept {
    return kApiRules;
}

const ApiRuleInfo& api_rule(ApiRule rule) noexcept {
    return kApiRules[static_cast<size_t>(rule)];
}

int64_t rule_limit(ApiRule rule) noexcept {
    return api_rule(rule).limit;
}

std::string requirement(ApiRule rule) {
    const ApiRuleInfo& info = api_rule(rule);
    std::string text(info.requirement);
    if (const size_t at = text.find("{limit}"); at != std::string::npos) {
        text.replace(at, 7, std::to_string(info.limit));
    }
    return text;
}

bool is_dns1123_label(std::string_view value) noexcept {
    return value.size() <= static_cast<size_t>(rule_limit(ApiRule::DnsLabel)) &&
           is_rfc1123_part(value);
}

bool is_dns1035_label(std::string_view value) noexcept {
    return is_dns1123_label(value) && value.front() >= 'a' && value.front() <= 'z' &&
           value.size() <= static_cast<size_t>(rule_limit(ApiRule::Dns1035Label));
}

bool is_dns1123_subdomain(std::string_view value) noexcept {
    if (value.empty() || value.size() > static_cast<size_t>(rule_limit(ApiRule::DnsSubdomain))) {
        return false;
    }
    for (std::string_view rest = value;;) {
        const size_t dot = rest.find('.');
        if (!is_rfc1123_part(rest.substr(0, dot))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        rest.remove_prefix(dot + 1);
    }
}

bool is_iana_svc_name(std::string_view value) noexcept {
    return !value.empty() &&
           value.size() <= static_cast<size_t>(rule_limit(ApiRule::IanaSvcName)) &&
           std::all_of(value.begin(), value.end(),
                       [](char c) { return is_lower_alnum(c) || c == '-'; }) &&
           std::any_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
           value.find("--") == std::string_view::npos && value.front() != '-' &&
           value.back() != '-';
}

bool is_label_key(std::string_view value) noexcept {
    const size_t slash = value.find('/');
    std::string_view name = value;
    if (slash != std::string_view::npos) {
        const std::string_view prefix = value.substr(0, slash);
        name = value.substr(slash + 1);
        if (name.find('/') != std::string_view::npos || !is_dns1123_subdomain(prefix)) {
            return false;
        }
    }
    return name.size() <= static_cast<size_t>(rule_limit(ApiRule::LabelKey)) &&
           is_qualified_part(name);
}

bool is_label_value(std::string_view value) noexcept {
    return value.empty() || (value.size() <= static_cast<size_t>(rule_limit(ApiRule::LabelValue)) &&
                             is_qualified_part(value));
}

Status check_format(ApiRule rule, std::string_view field, std::string_view value) {
    bool ok = false;
    switch (rule) {
        case ApiRule::DnsLabel:
            ok = is_dns1123_label(value);
            break;
        case ApiRule::Dns1035Label:
            ok = is_dns1035_label(value);
            break;
        case ApiRule::DnsSubdomain:
            ok = is_dns1123_subdomain(value);
            break;
        case ApiRule::IanaSvcName:
            ok = is_iana_svc_name(value);
            break;
        case ApiRule::LabelKey:
            ok = is_label_key(value);
            break;
        case ApiRule::LabelValue:
            ok = is_label_value(value);
            break;
        case ApiRule::AnnotationKey: {
            // The rule is a label key's, except that case does not matter.
            std::string lower(value);
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            ok = is_label_key(lower);
            break;
        }
        default:
            ok = false;  // not a format: a caller's mistake, refused rather than passed
            break;
    }
    if (ok) {
        return {};
    }
    return Error{fmt::format("{}: {} is not {}", field, quoted(value), requirement(rule))};
}

Error rule_error(ApiRule rule, std::string_view field, std::string_view problem) {
    return Error{fmt::format("{}: {} ({})", field, problem, requirement(rule))};
}

Status check_at_most(ApiRule rule, std::string_view field, size_t count, std::string_view what) {
    if (count <= static_cast<uint64_t>(rule_limit(rule))) {
        return {};
    }
    return rule_error(rule, field, fmt::format("{} {}", count, what));
}

Status check_labels(std::string_view field, const LabelMap& labels) {
    for (const auto& [key, value] : labels) {
        if (!is_label_key(key)) {
            return check_format(ApiRule::LabelKey, field, key);
        }
        if (!is_label_value(value)) {
            return check_format(ApiRule::LabelValue, fmt::format("{}.{}", field, key), value);
        }
    }
    return {};
}

std::optional<IpAddress> parse_api_ip(std::string_view text) noexcept {
    const size_t separator = text.find_first_of(".:");
    if (separator == std::string_view::npos) {
        return std::nullopt;
    }
    IpAddress ip;
    if (text[separator] == '.') {
        return parse_sloppy_ipv4(text, ip.bytes.data()) ? std::optional(ip) : std::nullopt;
    }
    // IPv6, maybe ending in IPv4 written with leading zeros: written plainly for inet_pton.
    char buf[64];
    std::string_view v6 = text;
    const size_t last_colon = text.rfind(':');
    uint8_t tail[4];
    if (text.find('.', last_colon) != std::string_view::npos) {
        if (!parse_sloppy_ipv4(text.substr(last_colon + 1), tail)) {
            return std::nullopt;
        }
        const int n =
            std::snprintf(buf, sizeof buf, "%.*s%u.%u.%u.%u", static_cast<int>(last_colon + 1),
                          text.data(), tail[0], tail[1], tail[2], tail[3]);
        if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) {
            return std::nullopt;
        }
        v6 = std::string_view(buf, static_cast<size_t>(n));
    }
    auto parsed = parse_ip(v6);
    if (!parsed || !parsed->v6) {
        return std::nullopt;
    }
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(parsed->bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
        IpAddress v4;  // ::ffff:a.b.c.d is a.b.c.d, as Go's To4() reads it
        std::memcpy(v4.bytes.data(), parsed->bytes.data() + 12, 4);
        return v4;
    }
    return parsed;
}

Status check_non_special_ip(std::string_view field, const IpAddress& ip) {
    const uint8_t* b = ip.bytes.data();
    const auto refuse = [&](std::string_view why) -> Status {
        return Error{fmt::format("{}: {} may not be {}", field, ip_to_text(ip), why)};
    };
    const bool unspecified =
        std::all_of(b, b + (ip.v6 ? 16 : 4), [](uint8_t byte) { return byte == 0; });
    if (unspecified) {
        return refuse("unspecified (0.0.0.0, ::)");
    }
    if (ip.v6) {
        static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        if (std::memcmp(b, kLoopback, 16) == 0) {
            return refuse("in the loopback range (127.0.0.0/8, ::1/128)");
        }
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
            return refuse("in the link-local range (169.254.0.0/16, fe80::/10)");
        }
        if (b[0] == 0xff && (b[1] & 0x0f) == 0x02) {
            return refuse("in the link-local multicast range (224.0.0.0/24, ff02::/10)");
        }
        return {};
    }
    if (b[0] == 127) {
        return refuse("in the loopback range (127.0.0.0/8, ::1/128)");
    }
    if (b[0] == 169 && b[1] == 254) {
        return refuse("in the link-local range (169.254.0.0/16, fe80::/10)");
    }
    if (b[0] == 224 && b[1] == 0 && b[2] == 0) {
        return refuse("in the link-local multicast range (224.0.0.0/24, ff02::/10)");
    }
    return {};
}

std::string generated_name(std::string_view base, std::string_view random) {
    const size_t keep = static_cast<size_t>(rule_limit(ApiRule::GeneratedPodName));
    return fmt::format("{}{}", base.substr(0, keep), random);
}

uint64_t max_workload_pods(uint64_t bytes_per_pod) {
    uint64_t available = mem_available();
    // In a container, the cgroup's limit is what counts (v2, then v1).
    for (const auto& [limit_path, usage_path] :
         {std::pair{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
          std::pair{"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {
        const uint64_t limit = read_number(limit_path);
        const uint64_t usage = read_number(usage_path);
        if (limit != 0 && limit > usage && (available == 0 || limit - usage < available)) {
            available = limit - usage;
        }
    }
    if (available == 0) {
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long page_size = sysconf(_SC_PAGE_SIZE);
        available = pages > 0 && page_size > 0
                        ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
                        : uint64_t{1} << 30;
    }
    return available / std::max<uint64_t>(bytes_per_pod, 1);
}

}  // namespace clusterdns
