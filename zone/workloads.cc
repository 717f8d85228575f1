#include "zone/workloads.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "zone/validation.h"

namespace clusterdns {

namespace {

// What one Pod a workload makes costs at the peak of a load, all told (the Pod, its address, its
// endpoint, the zone), with room to spare: the bound of ReplicasMemory. A Deployment of 200,000
// replicas behind a headless Service peaks at 1.1 KiB a Pod (239 MB) and serves in 0.4 KiB
// (92 MB), from 13 MB with none.
constexpr uint64_t kBytesPerMadePod = 2048;

// The EndpointSlice controller's --max-endpoints-per-slice default.
constexpr size_t kMaxEndpointsPerSlice = 100;

uint64_t hash_of(std::string_view text);

uint64_t service_key(std::string_view ns, std::string_view name) {
    return hash_of(fmt::format("{}/{}", ns, name));
}

uint64_t hash_of(std::string_view text) {
    uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
    for (const char c : text) {
        h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
    }
    return h ^ (h >> 29);
}

// The random-looking suffix controllers give Pod names, here from a hash: letters and digits
// without vowels, as Kubernetes's own.
std::string suffix(uint64_t h, size_t length) {
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string out;
    for (size_t i = 0; i < length; ++i) {
        out += kAlphabet[h % (sizeof kAlphabet - 1)];
        h /= sizeof kAlphabet - 1;
    }
    return out;
}

// The address `offset` after the prefix's base (offset within its host part).
IpAddress at_offset(const IpPrefix& prefix, uint64_t offset) {
    IpAddress ip = prefix.base;
    const size_t size = ip.v6 ? 16 : 4;
    for (size_t i = 0; i < 8 && i < size; ++i) {
        ip.bytes[size - 1 - i] = static_cast<uint8_t>(ip.bytes[size - 1 - i] | (offset >> (8 * i)));
    }
    return ip;
}

// The addresses of one pod CIDR not given yet: offsets 0..room-1 stand for base+1..base+room
// (never the network address nor the last one). A taken offset points at the next one to try,
// and each walk shortens the chains it followed (union-find): filling a CIDR to its last
// address costs little more per Pod than the first one did.
class FreeAddresses {
public:
    explicit FreeAddresses(const IpPrefix& cidr) : cidr_(cidr) {
        const unsigned host_bits = (cidr.base.v6 ? 128 : 32) - cidr.bits;
        room_ = (uint64_t{1} << std::min(host_bits, 32u)) - 2;
    }

    void take(const IpAddress& ip) {
        if (const auto offset = offset_of(ip)) {
            taken_ += next_.emplace(*offset, (*offset + 1) % room_).second ? 1 : 0;
        }
    }

    // The first address free from a hash's offset on, wrapping; none when the CIDR is full.
    std::optional<IpAddress> next(uint64_t hash) {
        if (taken_ >= room_) {
            return std::nullopt;
        }
        const uint64_t offset = find(hash % room_);
        next_.emplace(offset, (offset + 1) % room_);
        ++taken_;
        return at_offset(cidr_, offset + 1);
    }

private:
    uint64_t find(uint64_t offset) {
        uint64_t free = offset;
        for (auto it = next_.find(free); it != next_.end(); it = next_.find(free)) {
            free = it->second;
        }
        while (offset != free) {
            auto it = next_.find(offset);
            offset = std::exchange(it->second, free);
        }
        return free;
    }

    // Where `ip` is among the offsets, if it is one of them.
    std::optional<uint64_t> offset_of(const IpAddress& ip) const {
        if (ip.v6 != cidr_.base.v6) {
            return std::nullopt;
        }
        const size_t size = ip.v6 ? 16 : 4;
        uint64_t high = 0;  // the host part, above and in the low 64 bits
        uint64_t low = 0;
        for (size_t i = 0; i < size; ++i) {
            const int keep =
                std::clamp<int>(static_cast<int>(cidr_.bits) - static_cast<int>(i * 8), 0, 8);
            const auto network = static_cast<uint8_t>(0xFF00 >> keep);
            if ((ip.bytes[i] & network) != (cidr_.base.bytes[i] & network)) {
                return std::nullopt;
            }
            const auto host = static_cast<uint8_t>(ip.bytes[i] & ~network);
            uint64_t& part = size - i > 8 ? high : low;
            part = (part << 8) | host;
        }
        if (high != 0 || low < 1 || low > room_) {
            return std::nullopt;
        }
        return low - 1;
    }

    IpPrefix cidr_;
    uint64_t room_ = 0;
    uint64_t taken_ = 0;
    std::unordered_map<uint64_t, uint64_t> next_;
};

// How a Service's port reaches a Pod: its targetPort as a number, a named container port, or
// the port itself; 0 when the Pod has no such named port.
uint16_t target_of(const ServicePort& port, const PodTemplate& pod) {
    if (port.target_port.empty()) {
        return port.port;
    }
    unsigned number = 0;
    const std::string& t = port.target_port;
    if (std::from_chars(t.data(), t.data() + t.size(), number).ec == std::errc()) {
        return static_cast<uint16_t>(number);
    }
    for (const ContainerPort& c : pod.ports) {
        if (c.name == t && c.protocol == port.protocol) {
            return c.port;
        }
    }
    return 0;
}

}  // namespace

Result<IpPrefix> parse_prefix(std::string_view text) {
    const size_t slash = text.find('/');
    unsigned bits = 0;
    const auto ip = parse_ip(text.substr(0, slash));
    const std::string_view length = slash == std::string_view::npos ? "" : text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), bits);
    if (!ip || length.empty() || ec != std::errc() || end != length.data() + length.size() ||
        bits > (ip->v6 ? 126u : 30u)) {
        return Error{fmt::format("{} is not a CIDR with room for Pods (ADDR/BITS, at most /30 "
                                 "for IPv4 and /126 for IPv6)",
                                 quoted(text))};
    }
    IpPrefix prefix{*ip, bits};
    for (size_t i = 0; i < (ip->v6 ? 16u : 4u); ++i) {  // the network address itself
        const unsigned keep = std::clamp<int>(static_cast<int>(bits) - static_cast<int>(i * 8), 0, 8);
        prefix.base.bytes[i] &= static_cast<uint8_t>(0xFF00 >> keep);
    }
    return prefix;
}

std::string WorkloadSink::slice_name(std::string_view service) {
    return fmt::format("{}-clusterdns", service);
}

WorkloadSink::WorkloadSink(ObjectSink& out, std::vector<IpPrefix> pod_cidrs)
    : out_(out), cidrs_(std::move(pod_cidrs)) {
}

void WorkloadSink::upsert(Namespace ns) {
    out_.upsert(std::move(ns));
}

void WorkloadSink::upsert(Service service) {
    const auto key = std::make_pair(service.ns, service.name);
    if (service.selector && service.type != ServiceType::ExternalName &&
        have_endpoints_.count(service_key(service.ns, service.name)) == 0) {
        Selecting& selecting = services_[key] = {*service.selector, service.ports};
        // The families the EndpointSlice controller makes slices of (getAddressTypesForService):
        // the Service's ipFamilies, else its ClusterIPs', else (headless) both.
        if (!service.ip_families_v6.empty() || !service.cluster_ips.empty()) {
            selecting.families[0] = selecting.families[1] = false;
            for (const bool v6 : service.ip_families_v6) {
                selecting.families[v6] = true;
            }
            for (const IpAddress& ip : service.cluster_ips) {
                selecting.families[ip.v6] = true;
            }
        }
    } else {
        services_.erase(key);
    }
    // Only what exposes something is kept: a load of 100,000 ClusterIP Services keeps nothing.
    const bool load_balancer = service.type == ServiceType::LoadBalancer;
    if (load_balancer || !service.external_ips.empty()) {
        exposed_[fmt::format("Service/{}/{}", service.ns, service.name)] = {
            {}, fmt::format("{}.{}", service.name, service.ns), service.external_ips,
            load_balancer};
    }
    out_.upsert(std::move(service));
}

void WorkloadSink::upsert(Ingress ingress) {
    exposed_[fmt::format("Ingress/{}/{}", ingress.ns, ingress.name)] = {
        std::move(ingress.hosts), {}, std::move(ingress.addresses), false};
}

void WorkloadSink::upsert(EndpointSet set) {
    // Its Service needs nothing made: forget its selector now, not at the end of the load.
    have_endpoints_.insert(service_key(set.ns, set.service));
    services_.erase({set.ns, set.service});
    out_.upsert(std::move(set));
}

void WorkloadSink::upsert(Pod pod) {
    pods_[{pod.ns, pod.name}] = pod;
    out_.upsert(std::move(pod));
}

void WorkloadSink::upsert(Workload workload) {
    workloads_[{workload.kind, workload.ns, workload.name}] = std::move(workload);
}

bool WorkloadSink::erase(ObjectKind kind, std::string_view ns, std::string_view name) {
    if (kind == ObjectKind::Service) {
        services_.erase({std::string(ns), std::string(name)});
        exposed_[fmt::format("Service/{}/{}", ns, name)] = {};  // gone: exposes nothing
    } else if (kind == ObjectKind::Pod) {
        pods_.erase({std::string(ns), std::string(name)});
    }
    return out_.erase(kind, ns, name);
}

void WorkloadSink::keep_only(ObjectKind kind, const NameSet& listed) {
    out_.keep_only(kind, listed);
}

Status WorkloadSink::synthesize() {
    // What the Pods would cost to serve comes before making any: a count no machine holds is a
    // clear error, not an exhausted allocator.
    uint64_t total = 0;
    const Workload* largest = nullptr;
    for (const auto& [key, w] : workloads_) {
        total += w.replicas;
        if (largest == nullptr || w.replicas > largest->replicas) {
            largest = &w;
        }
    }
    const uint64_t most = max_pods_ != 0 ? max_pods_ : max_workload_pods(kBytesPerMadePod);
    if (total > most) {
        return Error{fmt::format(
            "{} {}/{}: {}", largest->kind, largest->ns, largest->name,
            rule_error(ApiRule::ReplicasMemory, "spec.replicas",
                       fmt::format("{} Pods ({} from all workloads) would take about {:.1f} GiB; "
                                   "the memory available holds about {} Pods",
                                   largest->replicas, total,
                                   static_cast<double>(total * kBytesPerMadePod) / (1 << 30),
                                   most))
                .message)};
    }
    // Every Pod there will be: the manifests' own, then each workload's replicas.
    // Pods the manifests give that a workload's template labels select are its own (controllers
    // adopt them): only the replicas missing are made, and a StatefulSet's ordinals taken are
    // not made again.
    std::map<std::pair<std::string, std::string>, Pod> pods = pods_;
    for (const auto& [key, w] : workloads_) {
        const uint64_t h = hash_of(fmt::format("{}/{}/{}", w.kind, w.ns, w.name));
        const bool stateful = w.kind == "StatefulSet";
        // The name its Pods are generated from (getPodsPrefix): a Deployment's through its
        // ReplicaSet, NAME-HASH.
        const std::string owner =
            w.kind == "Deployment"
                ? fmt::format("{}-{}", w.name, suffix(h, kPodTemplateHashLength))
                : w.name;
        const std::string prefix = owner + "-";
        uint32_t adopted = 0;
        for (const auto& [pod_key, pod] : pods_) {
            adopted += !stateful && pod_key.first == w.ns && !w.pod.labels.empty() &&
                       selects(w.pod.labels, pod.spec.labels);
        }
        const uint32_t count = stateful ? w.replicas : w.replicas - std::min(adopted, w.replicas);
        for (uint32_t i = 0; i < count; ++i) {
            Pod pod;
            pod.ns = w.ns;
            if (stateful) {
                pod.name = fmt::format("{}-{}", w.name, uint64_t{w.ordinal_start} + i);
                if (pods_.count({w.ns, pod.name}) != 0) {
                    continue;  // this ordinal is in the manifests
                }
            } else {
                // 27^5 suffixes: among thousands of replicas two draw the same one, and the
                // controller, refused the name, tries another, as here.
                const std::string seed = w.kind == "Deployment"
                                             ? owner.substr(w.name.size() + 1)
                                             : std::to_string(h);
                for (uint32_t attempt = 0;; ++attempt) {
                    const std::string draw = attempt == 0
                                                 ? fmt::format("{}#{}", seed, i)
                                                 : fmt::format("{}#{}#{}", seed, i, attempt);
                    pod.name = generated_name(prefix, suffix(hash_of(draw), 5));
                    if (pods.count({pod.ns, pod.name}) == 0) {
                        break;
                    }
                }
            }
            pod.spec = w.pod;
            if (stateful) {
                pod.spec.hostname = pod.name;
                pod.spec.subdomain = w.service_name;
            }
            if (Status s = check_dns1123_subdomain("Pod name", pod.name); !s) {
                return Error{fmt::format("{} {}/{}: its Pods would be named {}: {}", w.kind, w.ns,
                                         w.name, quoted(pod.name), s.error().message)};
            }
            pods.try_emplace({pod.ns, pod.name}, std::move(pod));  // a manifest's own Pod wins
        }
    }
    // Addresses for the Pods without one, in name order: a hash of the name, then the next free
    // one of each CIDR; a CIDR with none left gives none, as a full pod network leaves Pods
    // pending.
    std::vector<FreeAddresses> free;
    for (const IpPrefix& cidr : cidrs_) {
        free.emplace_back(cidr);
    }
    for (const auto& [key, pod] : pods) {
        for (const IpAddress& ip : pod.ips) {
            for (FreeAddresses& f : free) {
                f.take(ip);
            }
        }
    }
    for (auto& [key, pod] : pods) {
        if (!pod.ips.empty()) {
            continue;
        }
        for (FreeAddresses& f : free) {
            if (const auto ip = f.next(hash_of(key.first + "/" + key.second))) {
                pod.ips.push_back(*ip);
            }
        }
    }
    for (const auto& [key, pod] : pods) {
        const auto own = pods_.find(key);
        if (own == pods_.end() || own->second.ips != pod.ips) {
            out_.upsert(pod);  // made here, or given its address here
        }
    }
    // The endpoints of each Service that selects Pods and has none of its own: slices per
    // address family of at most 100 endpoints, as the EndpointSlice controller makes them.
    for (const auto& [key, service] : services_) {
        if (have_endpoints_.count(service_key(key.first, key.second)) != 0) {
            continue;
        }
        for (const bool v6 : {false, true}) {
            if (!service.families[v6]) {
                continue;
            }
            std::vector<Endpoint> endpoints;
            std::vector<ServicePort> ports;
            for (const auto& [pod_key, pod] : pods) {
                if (pod_key.first != key.first || !selects(service.selector, pod.spec.labels)) {
                    continue;
                }
                Endpoint endpoint;
                std::copy_if(pod.ips.begin(), pod.ips.end(), std::back_inserter(endpoint.addresses),
                             [&](const IpAddress& ip) { return ip.v6 == v6; });
                if (endpoint.addresses.empty()) {
                    continue;
                }
                endpoint.addresses.resize(1);  // an endpoint has one address per family
                endpoint.ready = pod.ready;
                endpoint.pod = pod.name;
                // The EndpointSlice controller's rule: a Pod names its endpoint when its
                // subdomain is the Service.
                if (!pod.spec.hostname.empty() && pod.spec.subdomain == key.second) {
                    endpoint.hostname = pod.spec.hostname;
                }
                endpoints.push_back(std::move(endpoint));
                if (ports.empty()) {
                    for (const ServicePort& port : service.ports) {
                        if (const uint16_t target = target_of(port, pod.spec)) {
                            ports.push_back({port.name, port.protocol, target, {}});
                        }
                    }
                }
            }
            for (size_t first = 0; first < endpoints.size(); first += kMaxEndpointsPerSlice) {
                EndpointSet set;
                set.ns = key.first;
                set.service = key.second;
                const size_t chunk = first / kMaxEndpointsPerSlice;
                set.name = slice_name(key.second) + (v6 ? "-v6" : "") +
                           (chunk == 0 ? std::string() : fmt::format("-{}", chunk + 1));
                const size_t last = std::min(endpoints.size(), first + kMaxEndpointsPerSlice);
                set.endpoints.assign(std::make_move_iterator(endpoints.begin() + first),
                                     std::make_move_iterator(endpoints.begin() + last));
                set.ports = ports;
                if (Status s = validate(set); !s) {
                    return Error{fmt::format("endpoints made for Service {}/{}: {}", set.ns,
                                             set.service, s.error().message)};
                }
                out_.upsert(std::move(set));
            }
        }
    }
    return {};
}

}  // namespace clusterdns
