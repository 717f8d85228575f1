#pragma once
// The API server's validation of the fields DNS reads, as one table (kApiRules in validation.cc):
// each rule with where it applies, what it requires, its limit and the Kubernetes function that
// applies it. Manifests and the API's own objects go through the same converter (zone/convert.h)
// and validators (zone/objects.h), which check through this table: what the API server accepts
// loads (no stricter: a valid object from a cluster must never be dropped), what it refuses does
// not (no looser). The sources are kubernetes/kubernetes pkg/apis/core/validation, .../discovery,
// .../apps, .../batch and .../networking validation, and apimachinery's pkg/util/validation and
// pkg/api/validation; the controllers' naming (names.SimpleNameGenerator, getPodsPrefix) for the
// Pods workloads make.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "zone/objects.h"

namespace clusterdns {

enum class ApiRule : uint8_t {
    // Formats of names and values.
    DnsLabel,
    Dns1035Label,
    DnsSubdomain,
    IanaSvcName,
    LabelKey,
    LabelValue,
    AnnotationKey,
    AnnotationsSize,
    PortNumber,
    Protocol,
    IpAddress,
    NonSpecialIp,
    // Service.
    ServiceType,
    ServicePortsRequired,
    ServicePortNameRequired,
    ServicePortNameUnique,
    ServicePortUnique,
    ClusterIpsMatch,
    ClusterIpsCount,
    ClusterIpsDualStack,
    ClusterIpNone,
    HeadlessType,
    ExternalNameRequired,
    ExternalNameNoClusterIp,
    ClusterIpAllocatable,
    IpFamilies,
    IpFamilyPolicy,
    // EndpointSlice and Endpoints.
    AddressType,
    SliceEndpoints,
    SliceAddresses,
    SlicePorts,
    SlicePortNameUnique,
    SubsetAddresses,
    EndpointsPortNameRequired,
    // Pods and the workloads that make them.
    ContainerPortRequired,
    ContainerPortNameUnique,
    Replicas,
    ReplicasMemory,
    OrdinalsStart,
    WorkloadSelector,
    SelectorRequirement,
    JobName,
    ReplicaSetName,
    GeneratedPodName,
    StatefulSetPodName,
    // Ingress.
    IngressHost,
};

struct ApiRuleInfo {
    ApiRule id;
    std::string_view field;        // where the API server applies it
    std::string_view requirement;  // as messages say it; "{limit}" stands for the limit
    int64_t limit;                 // 0 when the rule has none
    std::string_view source;       // the Kubernetes code that applies it
};

// Every rule, in ApiRule order.
std::span<const ApiRuleInfo> api_rules() noexcept;
const ApiRuleInfo& api_rule(ApiRule rule) noexcept;
int64_t rule_limit(ApiRule rule) noexcept;
// The requirement with its limit written in.
std::string requirement(ApiRule rule);

// The formats, as the API's regular expressions and lengths define them; no allocation.
bool is_dns1123_label(std::string_view value) noexcept;
bool is_dns1035_label(std::string_view value) noexcept;
// Dot-separated parts of lowercase letters, digits and '-', each starting and ending
// alphanumeric, 253 characters in all. A part may be longer than 63: a Pod may be named so, and
// only the DNS names made from it must be labels.
bool is_dns1123_subdomain(std::string_view value) noexcept;
bool is_iana_svc_name(std::string_view value) noexcept;
bool is_label_key(std::string_view value) noexcept;
bool is_label_value(std::string_view value) noexcept;

// "FIELD: "VALUE" is not REQUIREMENT" unless `value` has the format of `rule` (one of the
// format rules above DnsLabel..IanaSvcName, LabelKey, LabelValue, AnnotationKey).
Status check_format(ApiRule rule, std::string_view field, std::string_view value);
// "FIELD: PROBLEM (REQUIREMENT)": an object breaking a rule that is no format.
Error rule_error(ApiRule rule, std::string_view field, std::string_view problem);
// An error unless `count` is at most the rule's limit: "FIELD: COUNT WHAT (REQUIREMENT)".
Status check_at_most(ApiRule rule, std::string_view field, size_t count, std::string_view what);

// metadata.labels or a selector's labels (ValidateLabels): keys and values.
Status check_labels(std::string_view field, const LabelMap& labels);

// An IP address as the API server reads one in Services, endpoints and Pods (ParseIPSloppy, as
// long as the StrictIPCIDRValidation gate is off, as it is by default): IPv4 octets may carry
// leading zeros, read as decimal ("010.1.2.3" is 10.1.2.3); an IPv4-mapped IPv6 address
// ("::ffff:10.1.2.3") is the IPv4 address. nullopt if it is no address.
std::optional<IpAddress> parse_api_ip(std::string_view text) noexcept;
// ValidateNonSpecialIP: what an endpoint (and an external IP) may not be.
Status check_non_special_ip(std::string_view field, const IpAddress& ip);

// The name the API server gives an object created with generateName `base`
// (names.SimpleNameGenerator): the first 58 characters of the base and 5 random ones, here
// `random`.
std::string generated_name(std::string_view base, std::string_view random);

// The most Pods the workloads of one load may make on this machine: what its memory (the
// smaller of MemAvailable and a cgroup's limit) holds at `bytes_per_pod` each, kept generous.
uint64_t max_workload_pods(uint64_t bytes_per_pod);

}  // namespace clusterdns
