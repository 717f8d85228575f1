#include "zone/allocate.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

namespace clusterdns {

namespace {

// FNV-1a, byte by byte: the addresses are part of what a load means, so their hash must be the
// same on every machine and in every version, unlike the zone's own (records.h), which reads
// words in the host's byte order and may change for speed.
uint64_t name_hash(std::string_view ns, std::string_view name) {
    uint64_t h = 0xCBF29CE484222325ull;
    const auto add = [&](std::string_view text) {
        for (const char c : text) {
            h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
        }
    };
    add(ns);
    add("/");
    add(name);
    return h ^ (h >> 32);  // FNV's low bits are its weakest; ranges take it modulo their size
}

const char* family_name(bool v6) {
    return v6 ? "IPv6" : "IPv4";
}

// Offsets past 2^63 are never handed out: no cluster has that many Services, and the offset
// arithmetic stays in 64 bits.
constexpr unsigned kMaxHostBits = 63;

}  // namespace

// A set of offsets in a range: a bitmap for ranges of up to 2^24 addresses (2 MiB; kubeadm's
// /12 takes 128 KiB), a hash set beyond.
class ClusterIpAllocator::OffsetSet {
public:
    explicit OffsetSet(uint64_t last) : dense_(last < (uint64_t{1} << 24)), last_(last) {}

    bool contains(uint64_t offset) const {
        if (dense_) {
            return !bits_.empty() && (bits_[offset / 64] >> (offset % 64) & 1) != 0;
        }
        return sparse_.count(offset) != 0;
    }
    // False if it was there.
    bool insert(uint64_t offset) {
        if (!dense_) {
            const bool added = sparse_.insert(offset).second;
            size_ += added;
            return added;
        }
        if (bits_.empty()) {
            bits_.resize(last_ / 64 + 1);
        }
        uint64_t& word = bits_[offset / 64];
        const uint64_t bit = uint64_t{1} << (offset % 64);
        if ((word & bit) != 0) {
            return false;
        }
        word |= bit;
        ++size_;
        return true;
    }
    uint64_t size() const { return size_; }

private:
    bool dense_;
    uint64_t last_;
    uint64_t size_ = 0;
    std::vector<uint64_t> bits_;
    std::unordered_set<uint64_t> sparse_;
};

// One service range: the offsets it hands out are [1, last] (not the network address, nor
// IPv4's broadcast address); [upper, last] is the upper part, where homes lie.
class ClusterIpAllocator::Range {
public:
    explicit Range(const IpPrefix& prefix) : prefix_(prefix), last_(last_offset(prefix)) {
        const unsigned host_bits = (prefix.base.v6 ? 128 : 32) - prefix.bits;
        // kube-apiserver's static band: min(max(16, size/16), 256) addresses, none under 16.
        const uint64_t size = host_bits >= kMaxHostBits ? uint64_t{1} << kMaxHostBits
                                                        : uint64_t{1} << host_bits;
        const uint64_t band = size < 16 ? 0 : std::clamp<uint64_t>(size / 16, 16, 256);
        upper_ = band > 1 && band <= last_ ? band : 1;
    }

    const IpPrefix& prefix() const { return prefix_; }
    std::string text() const { return fmt::format("{}/{}", ip_to_text(prefix_.base), prefix_.bits); }
    uint64_t last() const { return last_; }

    // Where `ip` lies in the range; 0 when it is not one of the addresses handed out.
    uint64_t offset_of(const IpAddress& ip) const {
        if (ip.v6 != prefix_.base.v6) {
            return 0;
        }
        const size_t size = ip.v6 ? 16 : 4;
        uint64_t offset = 0;
        for (size_t i = 0; i < size; ++i) {
            const unsigned bit = static_cast<unsigned>(i) * 8;  // of the first bit of byte i
            const unsigned network = std::clamp<int>(static_cast<int>(prefix_.bits) -
                                                         static_cast<int>(bit), 0, 8);
            const uint8_t mask = static_cast<uint8_t>(0xFF00 >> network);
            if ((ip.bytes[i] & mask) != prefix_.base.bytes[i]) {
                return 0;
            }
            const uint8_t host = ip.bytes[i] & static_cast<uint8_t>(~mask);
            if (size * 8 - bit > 64) {  // above the low 64 bits: must be 0 to be ours
                if (host != 0) {
                    return 0;
                }
                continue;
            }
            offset = offset << 8 | host;
        }
        return offset <= last_ ? offset : 0;
    }

    IpAddress at(uint64_t offset) const {
        IpAddress ip = prefix_.base;
        const size_t size = ip.v6 ? 16 : 4;
        for (size_t i = 0; i < 8 && i < size; ++i) {
            ip.bytes[size - 1 - i] =
                static_cast<uint8_t>(ip.bytes[size - 1 - i] | (offset >> (8 * i)));
        }
        return ip;
    }

    uint64_t home(uint64_t hash) const { return upper_ + hash % (last_ - upper_ + 1); }

    // The first offset not `taken` from `home` on: up to the end, round the upper part, then
    // the lower. There must be one.
    uint64_t probe(uint64_t home, const OffsetSet& taken) const {
        for (uint64_t o = home; o <= last_; ++o) {
            if (!taken.contains(o)) {
                return o;
            }
        }
        for (uint64_t o = upper_; o < home; ++o) {
            if (!taken.contains(o)) {
                return o;
            }
        }
        for (uint64_t o = 1; o < upper_; ++o) {
            if (!taken.contains(o)) {
                return o;
            }
        }
        return 0;
    }

private:
    static uint64_t last_offset(const IpPrefix& prefix) {
        const unsigned host_bits = (prefix.base.v6 ? 128 : 32) - prefix.bits;
        if (host_bits >= kMaxHostBits) {
            return (uint64_t{1} << kMaxHostBits) - 1;
        }
        return (uint64_t{1} << host_bits) - (prefix.base.v6 ? 1 : 2);
    }

    IpPrefix prefix_;
    uint64_t last_;
    uint64_t upper_ = 1;
};

struct ClusterIpAllocator::Kept {
    uint64_t key;  // name_hash of the Service
    IpAddress ip;
    bool operator<(const Kept& other) const { return key < other.key; }
};

Result<std::vector<IpPrefix>> parse_service_cidrs(const std::vector<std::string>& texts) {
    std::vector<IpPrefix> out;
    for (const std::string& text : texts) {
        std::string_view rest = text;
        while (true) {
            const size_t comma = rest.find(',');
            const std::string_view part = rest.substr(0, comma);
            auto prefix = parse_prefix(part);
            if (!prefix) {
                return Error{fmt::format("{} is not a service range (ADDR/BITS, at most /30 for "
                                         "IPv4 and /126 for IPv6)",
                                         quoted(part))};
            }
            for (const IpPrefix& earlier : out) {
                if (earlier.base.v6 == prefix->base.v6) {
                    return Error{fmt::format(
                        "{}: a second {} range (the first is {}/{}): a cluster has one service "
                        "range per family",
                        quoted(part), family_name(prefix->base.v6), ip_to_text(earlier.base),
                        earlier.bits)};
                }
            }
            out.push_back(*prefix);
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
    }
    if (out.empty()) {
        return Error{"no service range: give at least one (kubeadm's is 10.96.0.0/12)"};
    }
    return out;
}

ClusterIpAllocator::ClusterIpAllocator(ObjectSink& out, std::vector<IpPrefix> ranges)
    : out_(out), allocated_(ranges.size()) {
    for (const IpPrefix& prefix : ranges) {
        ranges_.emplace_back(prefix);
        taken_.emplace_back(ranges_.back().last());
    }
}

ClusterIpAllocator::OffsetSet& ClusterIpAllocator::taken(const Range& range) {
    return taken_[static_cast<size_t>(&range - ranges_.data())];
}

ClusterIpAllocator::~ClusterIpAllocator() = default;

ClusterIpAllocator::Range* ClusterIpAllocator::range_of(bool v6) {
    const auto it = std::find_if(ranges_.begin(), ranges_.end(),
                                 [&](const Range& r) { return r.prefix().base.v6 == v6; });
    return it == ranges_.end() ? nullptr : &*it;
}

const ClusterIpAllocator::Range* ClusterIpAllocator::range_of(bool v6) const {
    return const_cast<ClusterIpAllocator*>(this)->range_of(v6);
}

void ClusterIpAllocator::existing(std::string_view ns, std::string_view name,
                                  std::span<const IpAddress> ips, uint8_t allocated) {
    for (size_t i = 0; i < ips.size(); ++i) {
        if (const Range* r = range_of(ips[i].v6); r != nullptr) {
            if (const uint64_t offset = r->offset_of(ips[i])) {
                taken(*r).insert(offset);
            }
        }
        if ((allocated >> i & 1) != 0) {
            kept_.push_back({name_hash(ns, name), ips[i]});
            kept_sorted_ = false;
        }
    }
}

const IpAddress* ClusterIpAllocator::kept(const Range& range, std::string_view ns,
                                          std::string_view name) const {
    const uint64_t key = name_hash(ns, name);
    for (auto it = std::lower_bound(kept_.begin(), kept_.end(), Kept{key, {}});
         it != kept_.end() && it->key == key; ++it) {
        if (range.offset_of(it->ip) != 0) {
            return &it->ip;
        }
    }
    return nullptr;
}

IpAddress ClusterIpAllocator::home(const IpPrefix& prefix, std::string_view ns,
                                   std::string_view name) {
    const Range range(prefix);
    // kubeadm's: the API server's own Service takes the first address, and kubeadm gives
    // kube-dns the tenth.
    if (ns == "default" && name == "kubernetes") {
        return range.at(1);
    }
    if (ns == "kube-system" && name == "kube-dns" && range.last() >= 10) {
        return range.at(10);
    }
    return range.at(range.home(name_hash(ns, name)));
}

IpAddress ClusterIpAllocator::first_choice(const Range& range, std::string_view ns,
                                           std::string_view name) const {
    if (const IpAddress* ip = kept(range, ns, name)) {
        return *ip;
    }
    return home(range.prefix(), ns, name);
}

// Which families a Service needs addresses of, in order (bits as Request::families), as the API
// server decides from its policy, its ipFamilies and the ranges there are; those it gives an
// address of are left out. A family it needs and no range has is an error.
Result<uint8_t> ClusterIpAllocator::families_needed(const Service& s) const {
    const auto gives = [&](bool v6) {
        return std::any_of(s.cluster_ips.begin(), s.cluster_ips.end(),
                           [&](const IpAddress& ip) { return ip.v6 == v6; });
    };
    const auto ranges_text = [&] {
        std::string out;
        for (const Range& r : ranges_) {
            out += (out.empty() ? "" : ", ") + r.text();
        }
        return out;
    };
    // The first family: the first of ipFamilies, else that of the address it gives, else the
    // primary range's.
    const bool first_v6 = !s.ip_families_v6.empty() ? s.ip_families_v6.front()
                          : !s.cluster_ips.empty()  ? s.cluster_ips.front().v6
                                                    : ranges_.front().prefix().base.v6;
    const bool single = s.ip_family_policy == IpFamilyPolicy::SingleStack;
    if (single && !s.cluster_ips.empty()) {
        return uint8_t{0};
    }
    uint8_t families = first_v6 ? 4 : 0;
    for (const bool v6 : {first_v6, !first_v6}) {
        if (gives(v6) || (single && v6 != first_v6)) {
            continue;
        }
        const bool required = v6 == first_v6 ||
                              s.ip_family_policy == IpFamilyPolicy::RequireDualStack;
        if (range_of(v6) != nullptr) {
            families |= v6 ? 2 : 1;
        } else if (required) {
            return Error{
                s.ip_family_policy == IpFamilyPolicy::RequireDualStack
                    ? fmt::format("spec.ipFamilyPolicy: RequireDualStack needs an IPv4 and an "
                                  "IPv6 service range, and there is only {} (add the other "
                                  "with --service-cidr)",
                                  ranges_text())
                    : fmt::format("spec.ipFamilies[0]: {} has no service range here (only {}; "
                                  "add one with --service-cidr)",
                                  family_name(v6), ranges_text())};
        }
    }
    return families == 4 ? uint8_t{0} : families;
}

void ClusterIpAllocator::upsert(Service service) {
    // The API server's defaulting of a headless Service with a selector and no ipFamilies: its
    // policy's families, SingleStack (the default) being the primary range's alone, so its
    // EndpointSlices (zone/workloads.cc) hold those families' addresses only. One without a
    // selector is RequireDualStack; its endpoints are its own.
    if (service.headless && service.selector && !service.selector->empty() &&
        service.ip_families_v6.empty() && !ranges_.empty()) {
        const bool primary_v6 = ranges_.front().prefix().base.v6;
        service.ip_families_v6.push_back(primary_v6);
        if (service.ip_family_policy != IpFamilyPolicy::SingleStack && range_of(!primary_v6)) {
            service.ip_families_v6.push_back(!primary_v6);
        }
    }
    if (service.headless || service.type == ServiceType::ExternalName) {
        out_.upsert(std::move(service));
        return;
    }
    for (const IpAddress& ip : service.cluster_ips) {
        if (const Range* r = range_of(ip.v6); r != nullptr) {
            if (const uint64_t offset = r->offset_of(ip)) {
                taken(*r).insert(offset);
            }
        }
    }
    auto families = families_needed(service);
    if (!families) {
        throw ObjectRefused{families.error().message};
    }
    if (*families == 0) {
        out_.upsert(std::move(service));
        return;
    }
    if (!kept_sorted_) {
        std::sort(kept_.begin(), kept_.end());
        kept_sorted_ = true;
    }
    Request request{.at = static_cast<uint32_t>(text_.size()),
                    .ns_size = static_cast<uint8_t>(service.ns.size()),
                    .name_size = static_cast<uint8_t>(service.name.size()),
                    .families = *families,
                    .gives = !service.cluster_ips.empty()};
    text_ += service.ns;
    text_ += service.name;
    if (request.gives) {
        given_.emplace_back(static_cast<uint32_t>(requests_.size()), service.cluster_ips.front());
    }
    requests_.push_back(request);
    // Its first choice now; finish() changes it only where another Service holds it.
    const bool v6_first = (*families & 4) != 0;
    for (const bool v6 : {v6_first, !v6_first}) {
        if ((*families & (v6 ? 2 : 1)) != 0) {
            service.allocated_ips |= static_cast<uint8_t>(1u << service.cluster_ips.size());
            service.cluster_ips.push_back(first_choice(*range_of(v6), service.ns, service.name));
        }
    }
    out_.upsert(std::move(service));
}

Status ClusterIpAllocator::finish() {
    // In (namespace, name) order, the last upsert of a Service standing for it.
    std::vector<uint32_t> order(requests_.size());
    for (uint32_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        const Request& x = requests_[a];
        const Request& y = requests_[b];
        return std::make_pair(ns_of(x), name_of(x)) < std::make_pair(ns_of(y), name_of(y));
    });
    const auto same = [&](uint32_t a, uint32_t b) {
        return ns_of(requests_[a]) == ns_of(requests_[b]) &&
               name_of(requests_[a]) == name_of(requests_[b]);
    };
    std::vector<uint32_t> unique;
    for (size_t i = 0; i < order.size(); ++i) {
        if (i + 1 == order.size() || !same(order[i], order[i + 1])) {
            unique.push_back(order[i]);
        }
    }
    order = std::move(unique);

    // Per request and family, the address it ends with (offset 0: none of that family).
    std::vector<uint64_t> final_offsets(requests_.size() * 2);
    for (size_t r = 0; r < ranges_.size(); ++r) {
        const Range& range = ranges_[r];
        OffsetSet& taken = taken_[r];
        const bool v6 = range.prefix().base.v6;
        // Kept addresses are the Services' own already; the rest start from their home.
        std::vector<std::pair<uint64_t, uint32_t>> homes;  // (home offset, request), by name
        for (const uint32_t i : order) {
            const Request& q = requests_[i];
            if ((q.families & (v6 ? 2 : 1)) == 0) {
                continue;
            }
            if (const IpAddress* ip = kept(range, ns_of(q), name_of(q))) {
                final_offsets[i * 2 + v6] = range.offset_of(*ip);
                continue;
            }
            homes.emplace_back(range.offset_of(home(range.prefix(), ns_of(q), name_of(q))), i);
        }
        const uint64_t free = range.last() - taken.size();
        if (homes.size() > free) {
            return Error{fmt::format(
                "service range {} is full: {} Services without a clusterIP need an {} address, "
                "and {} of its {} addresses are free (give a larger --service-cidr)",
                range.text(), homes.size(), family_name(v6), free, range.last())};
        }
        allocated_[r] = homes.size();
        // Every home no manifest gives goes to the first Service by name that has it, before
        // anyone probes: a Service at its home stays there whatever else comes or goes, unless
        // a newcomer has the same home and comes before it.
        std::vector<uint32_t> by_home(homes.size());  // indices into homes
        for (uint32_t k = 0; k < by_home.size(); ++k) {
            by_home[k] = k;
        }
        std::sort(by_home.begin(), by_home.end(), [&](uint32_t a, uint32_t b) {
            return std::make_pair(homes[a].first, a) < std::make_pair(homes[b].first, b);
        });
        std::vector<bool> settled(homes.size());
        for (size_t k = 0; k < by_home.size(); ++k) {
            const auto [h, i] = homes[by_home[k]];
            const bool first = k == 0 || homes[by_home[k - 1]].first != h;
            if (first && !taken.contains(h)) {
                taken.insert(h);
                final_offsets[i * 2 + v6] = h;
                settled[by_home[k]] = true;
            }
        }
        // The others, in name order: the first free address from their home on.
        for (size_t k = 0; k < homes.size(); ++k) {
            const auto [h, i] = homes[k];
            if (!settled[k]) {
                const uint64_t offset = range.probe(h, taken);
                taken.insert(offset);
                final_offsets[i * 2 + v6] = offset;
            }
        }
    }
    // Where the first choice upsert() gave is not the final one, the Service changes now.
    for (const uint32_t i : order) {
        const Request& q = requests_[i];
        std::vector<IpAddress> from;
        if (q.gives) {
            const auto it = std::lower_bound(given_.begin(), given_.end(),
                                             std::make_pair(i, IpAddress{}));
            from.push_back(it->second);
        }
        std::vector<IpAddress> to = from;
        uint8_t allocated = 0;
        const bool v6_first = (q.families & 4) != 0;
        for (const bool v6 : {v6_first, !v6_first}) {
            if ((q.families & (v6 ? 2 : 1)) != 0) {
                const Range& range = *range_of(v6);
                allocated |= static_cast<uint8_t>(1u << to.size());
                from.push_back(first_choice(range, ns_of(q), name_of(q)));
                to.push_back(range.at(final_offsets[i * 2 + v6]));
            }
        }
        if (from != to) {
            out_.change_cluster_ips(ns_of(q), name_of(q), from, to, allocated);
        }
    }
    return {};
}

}  // namespace clusterdns
