#include "plugins/autopath/autopath.h"

#include <cstring>

#include "zone/schema.h"

namespace clusterdns {

namespace {

// Whether `q` is a first search expansion, "<base>.<ns>.svc.<zone>": then `base` holds its
// leading labels (wire form, no root) and `ns` the namespace.
bool first_expansion(const Query& q, const SnapshotConfig& config, WireName& base,
                     std::string_view& ns) noexcept {
    const WireName name = q.qname_lower.wire();
    const WireName origin = config.origin.wire();
    const size_t labels = name_label_count(name);
    const size_t origin_labels = name_label_count(origin);
    if (labels < origin_labels + 3 || !name_in_zone(name, origin)) {
        return false;
    }
    // From the right: <zone>, then "svc", then the namespace; the rest is the base name.
    const WireName svc = name_parent(name, labels - origin_labels - 1);
    const WireName ns_and_svc = name_parent(name, labels - origin_labels - 2);
    if (name_first_label(svc) != kServicesLabel) {
        return false;
    }
    ns = name_first_label(ns_and_svc);
    base = {name.data(), name.size() - ns_and_svc.size()};  // its labels, without a root
    return true;
}

// Writes `base` + `suffix` (a wire name) into `out`; false if too long.
bool join_names(WireName base_labels, WireName suffix, Name& out) noexcept {
    uint8_t buf[kMaxNameWire];
    if (base_labels.size() + suffix.size() > kMaxNameWire) {
        return false;
    }
    std::memcpy(buf, base_labels.data(), base_labels.size());
    std::memcpy(buf + base_labels.size(), suffix.data(), suffix.size());
    return Name::from_wire({buf, base_labels.size() + suffix.size()}, out);
}

// Whether `name` has records of the query's type in the zone (not NXDOMAIN, not NODATA).
bool has_answer(const Snapshot& snapshot, const Query& q, const Name& name) noexcept {
    Query probe = q;
    probe.qname = name;
    probe.qname_lower = name;
    uint8_t scratch[kClassicUdpSize];
    ResponseWriter w(scratch, sizeof scratch);
    w.begin(probe);
    const AnswerStatus status = answer_query(snapshot, probe, w);
    return status != AnswerStatus::NotOurs && w.rcode() == Rcode::NoError &&
           w.count(Section::Answer) > 0;
}

}  // namespace

AnswerStatus answer_with_search_path(const Snapshot& snapshot, const Query& q,
                                     const IpAddress* client, ResponseWriter& w,
                                     bool reverse_fallthrough, Name* external_target,
                                     size_t step) noexcept {
    const SnapshotConfig& config = snapshot.config();
    // Steps past the first are the walk's outside names only: an ExternalName's target (or a
    // name answered in the cluster's domains) has one.
    Name* const first_target = step == 0 ? external_target : nullptr;
    WireName base;
    std::string_view ns;
    if (!config.autopath || client == nullptr || q.qclass != 1 ||
        !first_expansion(q, config, base, ns) || !snapshot.has_pod(ns, *client) ||
        has_answer(snapshot, q, q.qname_lower)) {
        return answer_query(snapshot, q, w, nullptr, reverse_fallthrough, first_target);
    }
    // The rest of a pod's search path: svc.<zone>, then <zone>, then the name as it is.
    Name svc_zone = config.origin;
    if (!svc_zone.prepend(kServicesLabel)) {
        return answer_query(snapshot, q, w, nullptr, reverse_fallthrough, first_target);
    }
    const WireName suffixes[] = {svc_zone.wire(), config.origin.wire()};
    for (const WireName suffix : suffixes) {
        Name candidate;
        if (join_names(base, suffix, candidate) && has_answer(snapshot, q, candidate)) {
            Query next = q;
            next.qname = candidate;
            next.qname_lower = candidate;
            w.add(Section::Answer, q.qname_lower.wire(), RrType::Cname, config.ttl_seconds,
                  candidate.wire());
            return answer_query(snapshot, next, w, nullptr, false, first_target);
        }
    }
    // Past the cluster's domains: the host's own search domains (autopath_search), then the
    // name as it is, each asked upstream in turn (`step`) until one is not NXDOMAIN.
    Name target;
    const uint8_t root[] = {0};
    const auto& host = config.autopath_search;
    const WireName suffix = step < host.size() ? host[step].wire() : WireName(root, 1);
    if (external_target == nullptr || step > host.size() || !join_names(base, suffix, target)) {
        return answer_query(snapshot, q, w, nullptr, reverse_fallthrough, first_target);
    }
    w.set_authoritative(true);
    w.add(Section::Answer, q.qname_lower.wire(), RrType::Cname, config.ttl_seconds,
          target.wire());
    *external_target = target;
    return AnswerStatus::External;
}

}  // namespace clusterdns
