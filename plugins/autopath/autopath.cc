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

// What the zone says of `name` for the query's type.
enum class Found : uint8_t { NotOurs, Records, NoRecords, NoName };

Found look_up(const Snapshot& snapshot, const Query& q, const Name& name) noexcept {
    Query probe = q;
    probe.qname = name;
    probe.qname_lower = name;
    uint8_t scratch[kClassicUdpSize];
    ResponseWriter w(scratch, sizeof scratch);
    w.begin(probe);
    if (answer_query(snapshot, probe, w) == AnswerStatus::NotOurs) {
        return Found::NotOurs;
    }
    return w.rcode() == Rcode::NxDomain                                  ? Found::NoName
           : w.rcode() == Rcode::NoError && w.count(Section::Answer) > 0 ? Found::Records
                                                                         : Found::NoRecords;
}

// Whether `name` has records of the query's type in the zone (not NXDOMAIN, not NODATA).
bool has_answer(const Snapshot& snapshot, const Query& q, const Name& name) noexcept {
    return look_up(snapshot, q, name) == Found::Records;
}

// Answers `q` with a CNAME to `candidate`, then the zone's answer for it.
AnswerStatus answer_via(const Snapshot& snapshot, const Query& q, const Name& candidate,
                        ResponseWriter& w, Name* external_target) noexcept {
    Query next = q;
    next.qname = candidate;
    next.qname_lower = candidate;
    w.add(Section::Answer, q.qname_lower.wire(), RrType::Cname, snapshot.config().ttl_seconds,
          candidate.wire());
    return answer_query(snapshot, next, w, nullptr, false, external_target);
}

// Whether `q` from `client` starts a walk: autopath on, a pod's first search expansion of a
// name the zone does not have as asked. Sets `base` to the name's leading labels.
bool walks(const Snapshot& snapshot, const Query& q, const IpAddress* client,
           WireName& base) noexcept {
    const SnapshotConfig& config = snapshot.config();
    std::string_view ns;
    // Not before the first sync: a cluster name missing then may only be late (SERVFAIL), and
    // the walk would take it for absent and go on to outside names.
    return config.autopath && config.complete && client != nullptr && q.qclass == 1 &&
           first_expansion(q, config, base, ns) && snapshot.has_pod(ns, *client) &&
           !has_answer(snapshot, q, q.qname_lower);
}

// Where the walk past the cluster's domains stops at its `step`th outside name: the host's own
// search domains (autopath_search), then the name as it is. An outside candidate is asked
// upstream, the `step`th of them now (the caller asks again with the next step on NXDOMAIN). A
// candidate inside our zones is the zone's to answer, never the upstream's (the name as it is is
// often a cluster name: "kubernetes.default.svc.cluster.local" asked undotted); its NXDOMAIN
// passes on as an upstream's would.
enum class Stop : uint8_t { Outside, Zone, End };

Stop walk_on(const Snapshot& snapshot, const Query& q, WireName base, size_t step,
             Name& candidate) noexcept {
    const uint8_t root[] = {0};
    const auto& host = snapshot.config().autopath_search;
    size_t outside = 0;  // outside candidates before this one: each was NXDOMAIN by `step`
    for (size_t i = 0; i <= host.size(); ++i) {
        const WireName suffix = i < host.size() ? host[i].wire() : WireName(root, 1);
        if (!join_names(base, suffix, candidate)) {
            continue;
        }
        const Found found = look_up(snapshot, q, candidate);
        if (found == Found::NotOurs) {
            if (outside++ == step) {
                return Stop::Outside;
            }
        } else if (outside >= step && found != Found::NoName) {
            return Stop::Zone;  // (one before `step` was passed already)
        }
    }
    return Stop::End;
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
    Name svc_zone = config.origin;
    if (!walks(snapshot, q, client, base) || !svc_zone.prepend(kServicesLabel)) {
        return answer_query(snapshot, q, w, nullptr, reverse_fallthrough, first_target);
    }
    // The rest of a pod's search path: svc.<zone>, then <zone>, then past the cluster's.
    const WireName suffixes[] = {svc_zone.wire(), config.origin.wire()};
    for (const WireName suffix : suffixes) {
        Name candidate;
        if (join_names(base, suffix, candidate) && has_answer(snapshot, q, candidate)) {
            return answer_via(snapshot, q, candidate, w, first_target);
        }
    }
    Name candidate;
    switch (walk_on(snapshot, q, base, step, candidate)) {
        case Stop::Zone:
            return answer_via(snapshot, q, candidate, w, first_target);
        case Stop::Outside:
            if (external_target == nullptr) {
                break;  // nobody to ask: as the zone answers the name asked
            }
            w.set_authoritative(true);
            w.add(Section::Answer, q.qname_lower.wire(), RrType::Cname, config.ttl_seconds,
                  candidate.wire());
            *external_target = candidate;
            return AnswerStatus::External;
        case Stop::End:
            break;
    }
    return answer_query(snapshot, q, w, nullptr, reverse_fallthrough, first_target);
}

bool search_path_ends_in_zone(const Snapshot& snapshot, const Query& q, const IpAddress* client,
                              size_t step) noexcept {
    WireName base;
    Name candidate;
    return walks(snapshot, q, client, base) &&
           walk_on(snapshot, q, base, step, candidate) == Stop::Zone;
}

}  // namespace clusterdns
