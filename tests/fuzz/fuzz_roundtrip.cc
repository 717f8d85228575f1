// Fuzzes parse-write-parse: parse a query, answer it with a few RRs of every compressed kind
// (owner names from the query and from a fixed zone, so compression pointers cross), then read
// the response back. Counts must match what the writer says it wrote, every name must
// decompress, and the size limit must hold.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dns/message.h"
#include "tests/fuzz/response_check.h"

namespace {

using namespace clusterdns;

Name name(const char* text) {
    return *Name::from_text(text);
}

void append(std::vector<uint8_t>& v, WireName bytes) {
    for (const uint8_t b : bytes) {
        v.push_back(b);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Name kSvc = name("api.prod.svc.cluster.local");
    static const Name kTarget = name("db-0.db.prod.svc.cluster.local");
    static const Name kApex = name("cluster.local");
    static const std::vector<uint8_t> kSoa = [] {
        std::vector<uint8_t> v;
        append(v, name("ns.dns.cluster.local").wire());
        append(v, name("hostmaster.cluster.local").wire());
        v.resize(v.size() + 20, 1);  // serial, refresh, retry, expire, minimum
        return v;
    }();
    static const std::vector<uint8_t> kSrv = [] {
        std::vector<uint8_t> v = {0, 0, 0, 100, 0x15, 0x38};  // priority, weight, port 5432
        append(v, kTarget.wire());
        return v;
    }();
    static const uint8_t kA[4] = {10, 96, 0, 10};
    static uint8_t out[kMaxMessageSize];

    Query q;
    if (parse_query({data, size}, q) == ParseStatus::Drop) {
        return 0;
    }
    const WireName qname = q.has_question ? q.qname.wire() : kSvc.wire();
    for (const size_t limit :
         {size_t{kClassicUdpSize}, size_t{q.udp_payload_size}, size_t{kMaxMessageSize}}) {
        ResponseWriter w(out, limit);
        w.begin(q);
        w.set_authoritative(true);
        w.add(Section::Answer, qname, RrType::Cname, 30, kTarget.wire());
        w.add(Section::Answer, kTarget.wire(), RrType::A, 30, kA);
        w.add(Section::Answer, qname, RrType::Srv, 30, kSrv);
        w.add(Section::Answer, qname, RrType::Ptr, 30, qname);
        w.add(Section::Authority, kApex.wire(), RrType::Soa, 30, kSoa);
        w.add(Section::Authority, kApex.wire(), RrType::Ns, 30, qname);
        w.add(Section::Additional, kTarget.wire(), RrType::A, 30, kA);
        const size_t n = w.finish();
        if (n == 0) {
            continue;  // not even the header and question fit
        }
        fuzz::require(n <= limit);
        const fuzz::ResponseHeader h = fuzz::check_response({out, n});
        fuzz::require(h.id == q.id);
        fuzz::require(h.qdcount == (q.has_question ? 1 : 0));
        fuzz::require(h.ancount == w.count(Section::Answer));
        fuzz::require(h.nscount == w.count(Section::Authority));
        fuzz::require(h.arcount == w.count(Section::Additional) + (q.has_edns ? 1 : 0));
        fuzz::require(((h.flags & 0x0200) != 0) == w.truncated());
    }
    return 0;
}
