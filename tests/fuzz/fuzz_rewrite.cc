// Fuzzes the rewrite plugin (plugins/rewrite) on what it reads from outside: the input as a
// client's query, whose question the rules rewrite (the rewritten query must parse as the
// original did, with one question), and as the response to a rewritten query, written back for
// the client over UDP and TCP (it must be a well-formed message within the client's limit,
// repeating the question as asked).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "dns/message.h"
#include "plugins/rewrite/rewrite.h"
#include "tests/fuzz/response_check.h"

namespace {

using namespace clusterdns;

std::shared_ptr<const RewriteRules> make_rules() {
    auto rules = RewriteRules::parse({
        "continue name prefix www api answer auto",
        "name suffix .corp.example .default.svc.cluster.local answer auto",
        "name exact a.example b.example",
        "name substring x.y z answer auto",
        R"(name regex ^(.*)\.db\.(.*)\.$ {2}.{1}.svc answer name (.*)\.svc {1}.db answer )"
        R"(value ^(.)(.*)$ {2}{1}{1})",
    });
    fuzz::require(rules.has_value());
    return *rules;
}

// A query for `name` (presentation form), EDNS with 1232 bytes.
std::vector<uint8_t> query_for(std::string_view name) {
    std::vector<uint8_t> q = {0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
    auto n = Name::from_text(name);
    fuzz::require(n.has_value());
    q.insert(q.end(), n->wire().begin(), n->wire().end());
    q.insert(q.end(), {0, 1, 0, 1, 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0});
    return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > kMaxMessageSize) {
        return 0;
    }
    static const std::shared_ptr<const RewriteRules> rules = make_rules();
    static Rewriter rewriter;
    static bool configured = false;
    if (!configured) {
        rewriter.configure(rules);
        configured = true;
    }
    const std::span<const uint8_t> input(data, size);

    // As a query: rewritten, it keeps its header and type, with one question whose name reads.
    if (rewriter.rewrite_query(input) == Rewriter::Outcome::Rewritten) {
        const std::span<const uint8_t> out = rewriter.rewritten();
        fuzz::require(out.size() >= kHeaderSize && std::memcmp(out.data(), data, kHeaderSize) == 0);
        WireReader r(out, kHeaderSize);
        Name::read(r);
        fuzz::require(r.ok() && r.u16() == rewriter.qtype() && r.ok());
    }

    // As the response to a rewritten query, written back.
    for (const char* asked : {"www.corp.example.", "q.db.example.", "A.Example."}) {
        const std::vector<uint8_t> query = query_for(asked);
        fuzz::require(rewriter.rewrite_query(query) == Rewriter::Outcome::Rewritten);
        const std::vector<uint8_t> rewritten(rewriter.rewritten().begin(),
                                             rewriter.rewritten().end());
        for (const Transport transport : {Transport::Udp, Transport::Tcp}) {
            std::vector<uint8_t> buffer(kMaxMessageSize);
            std::memcpy(buffer.data(), data, size);
            const size_t written = rewriter.revert(rewritten, buffer, size, transport);
            if (size < kHeaderSize) {
                fuzz::require(written == size);
                continue;
            }
            Query q;
            fuzz::require(parse_query(query, q) == ParseStatus::Ok);
            fuzz::require(written != 0 && written <= response_limit(q, transport));
            const std::span<const uint8_t> out(buffer.data(), written);
            const fuzz::ResponseHeader h = fuzz::check_response(out);
            fuzz::require(h.qdcount == 1 && h.id == 0xABCD);
            WireReader r(out, kHeaderSize);
            const Name question = Name::read(r);
            fuzz::require(r.ok() && question.size() == q.qname.size() &&
                          std::memcmp(question.wire().data(), q.qname.wire().data(),
                                      question.size()) == 0);
        }
    }
    return 0;
}
