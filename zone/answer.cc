#include "zone/answer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace clusterdns {
namespace {

constexpr int kMaxCnameChain = 8;
constexpr size_t kMaxAdditionalTargets = 32;

// One query being answered: every lookup and every RR offered to the writer goes through here,
// so AnswerWork counts them.
struct Answerer {
    const Zone& zone;
    ResponseWriter& w;
    AnswerWork& work;

    const Zone::Node* find(WireName name) noexcept {
        ++work.lookups;
        return zone.find(name);
    }
    bool add(Section section, WireName owner, RrType type, uint32_t ttl,
             std::span<const uint8_t> rdata) noexcept {
        ++work.rrs_offered;
        return w.add(section, owner, type, ttl, rdata);
    }
};

// Returns how many of the set's records went in. Stops at the first one refused: once one does
// not fit (or TC is set), offering the rest of a 50,000-record RRset only costs time.
uint32_t add_rrset(Answerer& a, const Zone::RRset& set, WireName owner, Section section) noexcept {
    uint32_t added = 0;
    while (added < set.rdata_count &&
           a.add(section, owner, set.type, set.ttl_seconds, Zone::rdata(set, added))) {
        ++added;
    }
    return added;
}

void add_soa(Answerer& a, const Zone::Node& apex) noexcept {
    if (const Zone::RRset* soa = a.zone.rrset(apex, RrType::Soa)) {
        add_rrset(a, *soa, Zone::name(apex), Section::Authority);
    }
}

// RFC 2782 / RFC 1034 3.6.2: addresses of the names an SRV or NS answer points at, when we hold
// them, so the client needs no second query. Only the first `answered` records of `set` made it
// into the answer: their targets are the only ones looked up, and the first address RRset that
// does not fit whole ends the section.
void add_target_addresses(Answerer& a, const Zone::RRset& set, uint32_t answered) noexcept {
    const Zone::Node* seen[kMaxAdditionalTargets];
    size_t seen_count = 0;
    const Zone::Node* last = nullptr;  // the zone lists an endpoint's SRV records side by side
    for (uint32_t i = 0; i < answered; ++i) {
        std::span<const uint8_t> target = Zone::rdata(set, i);
        if (set.type == RrType::Srv) {
            target = target.subspan(6);  // priority, weight, port
        }
        const Zone::Node* node = a.find(target);
        if (node == nullptr || node == last ||
            std::find(seen, seen + seen_count, node) != seen + seen_count) {
            continue;
        }
        if (seen_count < kMaxAdditionalTargets) {
            seen[seen_count++] = node;
        }
        last = node;
        for (const RrType type : {RrType::A, RrType::Aaaa}) {
            const Zone::RRset* addresses = a.zone.rrset(*node, type);
            if (addresses == nullptr) {
                continue;
            }
            const ResponseWriter::Mark before = a.w.mark();
            if (add_rrset(a, *addresses, Zone::name(*node), Section::Additional) <
                addresses->rdata_count) {
                a.w.rewind(before);  // all of an RRset or none of it (RFC 2181 9)
                return;              // the additional section is full
            }
        }
    }
}

// "pods insecure" (CoreDNS kubernetes plugin): a-b-c-d.<namespace>.pod.<zone> answers the address
// its first label spells, for any namespace that exists. Returns false if `name` is no such name.
bool answer_pod(Answerer& a, const Zone::Node& apex, WireName name, RrType qtype,
                bool& answered) noexcept {
    const Zone& zone = a.zone;
    const size_t depth = name_label_count(name) - name_label_count(zone.name(apex));
    if (depth != 3 || name_first_label(name_parent(name, 2)) != "pod" ||
        a.find(name_parent(name, 1)) == nullptr) {
        return false;
    }
    const std::string_view label = name_first_label(name);
    char text[64];
    if (label.size() >= sizeof text) {
        return false;
    }
    // CoreDNS's rule: three dashes and no "--" is IPv4, anything else is tried as IPv6.
    size_t dashes = 0;
    for (const char c : label) {
        dashes += c == '-';
    }
    const bool v4 = dashes == 3 && label.find("--") == std::string_view::npos;
    // Only what an address can spell: inet_pton stops at a NUL, so "10-1-2-3\0x" must not pass.
    const bool spellable = std::all_of(label.begin(), label.end(), [v4](char c) {
        return c == '-' || (c >= '0' && c <= '9') ||
               (!v4 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.'));
    });
    if (!spellable) {
        return false;
    }
    for (size_t i = 0; i < label.size(); ++i) {
        text[i] = label[i] == '-' ? (v4 ? '.' : ':') : label[i];
    }
    text[label.size()] = '\0';
    uint8_t address[16];
    if (inet_pton(v4 ? AF_INET : AF_INET6, text, address) != 1) {
        return false;
    }
    const RrType type = v4 ? RrType::A : RrType::Aaaa;
    answered = qtype == type || qtype == RrType::Any;
    if (answered) {
        const Zone::RRset* soa = zone.rrset(apex, RrType::Soa);
        // The TTL of pod records is the zone's TTL, which the SOA minimum carries.
        const std::span<const uint8_t> soa_rdata = zone.rdata(*soa, 0);
        const std::span<const uint8_t> minimum = soa_rdata.last(4);
        const uint32_t ttl = static_cast<uint32_t>(minimum[0]) << 24 | minimum[1] << 16 |
                             minimum[2] << 8 | minimum[3];
        a.add(Section::Answer, name, type, ttl, {address, v4 ? 4u : 16u});
    }
    return true;
}

}  // namespace

void answer_query(const Zone& zone, const Query& q, ResponseWriter& w, AnswerWork* work) noexcept {
    AnswerWork unused;
    Answerer a{zone, w, work != nullptr ? *work : unused};
    if (q.qclass != static_cast<uint16_t>(RrClass::In)) {
        w.set_rcode(Rcode::Refused);
        return;
    }
    WireName name = q.qname_lower.wire();
    const Zone::Node* apex = zone.apex_for(name);
    if (apex == nullptr || q.qtype == RrType::Axfr || q.qtype == RrType::Ixfr) {
        w.set_rcode(Rcode::Refused);  // not ours (no open resolver); transfers are not offered
        return;
    }
    w.set_authoritative(true);
    const Zone::Node* chain[kMaxCnameChain + 1];  // nodes visited: a CNAME loop stops at a repeat
    for (int hop = 0; hop <= kMaxCnameChain; ++hop) {
        const Zone::Node* node = a.find(name);
        if (node != nullptr && std::find(chain, chain + hop, node) != chain + hop) {
            return;  // a loop: each CNAME once, and the client's resolver gives up on it
        }
        chain[hop] = node;
        if (node == nullptr) {
            bool answered = false;
            if (answer_pod(a, *apex, name, q.qtype, answered)) {
                if (!answered) {
                    add_soa(a, *apex);
                }
                return;
            }
            w.set_rcode(Rcode::NxDomain);  // RFC 6604: the RCODE is that of the last name
            add_soa(a, *apex);
            return;
        }
        const WireName owner = zone.name(*node);
        if (q.qtype != RrType::Cname && q.qtype != RrType::Any) {
            if (const Zone::RRset* cname = zone.rrset(*node, RrType::Cname)) {
                if (add_rrset(a, *cname, owner, Section::Answer) == 0) {
                    return;  // truncated: what follows could not go in either
                }
                const WireName target = zone.rdata(*cname, 0);
                apex = zone.apex_for(target);
                if (apex == nullptr) {
                    return;  // leaves our zones: the client's resolver follows it
                }
                name = target;
                continue;
            }
        }
        bool answered = false;
        const Zone::RRset* with_targets = nullptr;  // SRV or NS: its targets' addresses follow
        uint32_t targets_answered = 0;
        for (const Zone::RRset& set : zone.rrsets(*node)) {
            if (set.type != q.qtype && q.qtype != RrType::Any) {
                continue;
            }
            answered = true;
            const uint32_t added = add_rrset(a, set, owner, Section::Answer);
            // Not for ANY: its answer already holds the name's own addresses.
            if (set.type == q.qtype && (set.type == RrType::Srv || set.type == RrType::Ns)) {
                with_targets = &set;
                targets_answered = added;
            }
            if (added < set.rdata_count) {
                break;  // TC is set: no later RRset goes in
            }
        }
        if (!answered) {
            add_soa(a, *apex);  // NODATA (RFC 2308 2.2)
            return;
        }
        if (with_targets != nullptr && !w.truncated()) {
            add_target_addresses(a, *with_targets, targets_answered);
        }
        return;
    }
    w.set_rcode(Rcode::ServFail);  // a CNAME chain longer than we follow: a loop, most likely
}

}  // namespace clusterdns
