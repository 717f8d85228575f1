#include "zone/workloads.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace clusterdns {

namespace {

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
        services_[key] = {*service.selector, service.ports};
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
    // Every Pod there will be: the manifests' own, then each workload's replicas.
    // Pods the manifests give that a workload's template labels select are its own (controllers
    // adopt them): only the replicas missing are made, and a StatefulSet's ordinals taken are
    // not made again.
    std::map<std::pair<std::string, std::string>, Pod> pods = pods_;
    for (const auto& [key, w] : workloads_) {
        const uint64_t h = hash_of(fmt::format("{}/{}/{}", w.kind, w.ns, w.name));
        const std::string template_hash = suffix(h, 10);
        const bool stateful = w.kind == "StatefulSet";
        uint32_t adopted = 0;
        for (const auto& [pod_key, pod] : pods_) {
            adopted += !stateful && pod_key.first == w.ns && !w.pod.labels.empty() &&
                       selects(w.pod.labels, pod.spec.labels);
        }
        const uint32_t count = stateful ? w.replicas : w.replicas - std::min(adopted, w.replicas);
        for (uint32_t i = 0; i < count; ++i) {
            if (stateful && pods_.count({w.ns, fmt::format("{}-{}", w.name, i)}) != 0) {
                continue;  // this ordinal is in the manifests
            }
            Pod pod;
            pod.ns = w.ns;
            pod.spec = w.pod;
            if (stateful) {
                pod.name = fmt::format("{}-{}", w.name, i);
                pod.spec.hostname = pod.name;
                pod.spec.subdomain = w.service_name;
            } else if (w.kind == "Deployment") {
                pod.name = fmt::format("{}-{}-{}", w.name, template_hash,
                                       suffix(hash_of(fmt::format("{}#{}", template_hash, i)), 5));
            } else {
                pod.name = fmt::format("{}-{}", w.name, suffix(hash_of(fmt::format("{}#{}", h, i)), 5));
            }
            if (Status s = check_dns1123_subdomain("Pod name", pod.name); !s) {
                return Error{fmt::format("{} {}/{}: its Pods would be named {}: {}", w.kind, w.ns,
                                         w.name, quoted(pod.name), s.error().message)};
            }
            pods.try_emplace({pod.ns, pod.name}, std::move(pod));  // a manifest's own Pod wins
        }
    }
    // Addresses for the Pods without one, in name order: a hash of the name, then the next free.
    std::set<IpAddress> used;
    for (const auto& [key, pod] : pods) {
        used.insert(pod.ips.begin(), pod.ips.end());
    }
    for (auto& [key, pod] : pods) {
        if (!pod.ips.empty()) {
            continue;
        }
        for (const IpPrefix& cidr : cidrs_) {
            const unsigned host_bits = (cidr.base.v6 ? 128 : 32) - cidr.bits;
            const uint64_t room = (uint64_t{1} << std::min(host_bits, 32u)) - 2;  // not .0, not last
            uint64_t offset = hash_of(key.first + "/" + key.second) % room;
            IpAddress ip;
            for (uint64_t tries = 0; tries < room; ++tries, offset = (offset + 1) % room) {
                ip = at_offset(cidr, offset + 1);
                if (used.insert(ip).second) {
                    pod.ips.push_back(ip);
                    break;
                }
            }
        }
    }
    for (const auto& [key, pod] : pods) {
        const auto own = pods_.find(key);
        if (own == pods_.end() || own->second.ips != pod.ips) {
            out_.upsert(pod);  // made here, or given its address here
        }
    }
    // The endpoints of each Service that selects Pods and has none of its own: a slice per
    // address family, as the EndpointSlice controller makes them.
    for (const auto& [key, service] : services_) {
        if (have_endpoints_.count(service_key(key.first, key.second)) != 0) {
            continue;
        }
        for (const bool v6 : {false, true}) {
            EndpointSet set;
            set.ns = key.first;
            set.service = key.second;
            set.name = slice_name(key.second) + (v6 ? "-v6" : "");
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
                set.endpoints.push_back(std::move(endpoint));
                if (set.ports.empty()) {
                    for (const ServicePort& port : service.ports) {
                        if (const uint16_t target = target_of(port, pod.spec)) {
                            set.ports.push_back({port.name, port.protocol, target, {}});
                        }
                    }
                }
            }
            if (set.endpoints.empty()) {
                continue;  // selects nothing (of this family): no endpoints
            }
            if (Status s = validate(set); !s) {
                return Error{fmt::format("endpoints made for Service {}/{}: {}", set.ns,
                                         set.service, s.error().message)};
            }
            out_.upsert(std::move(set));
        }
    }
    return {};
}

}  // namespace clusterdns
