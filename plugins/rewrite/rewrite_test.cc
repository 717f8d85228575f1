#include "plugins/rewrite/rewrite.h"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

using test::decode;
using test::Decoded;
using test::make_query;

std::shared_ptr<const RewriteRules> rules(const std::vector<std::string>& texts) {
    auto parsed = RewriteRules::parse(texts);
    REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().message));
    return *parsed;
}

std::string refusal(std::string_view text) {
    auto rule = parse_rewrite_rule(text);
    REQUIRE_FALSE(rule.has_value());
    return rule.error().message;
}

std::string wire_text(WireName name) {
    return name_to_text(name);
}

// The name the rules make of `asked` (Rewriter::rewrite_query on a query for it), "" when no
// rule matches, "invalid" when the result is no name.
std::string rewritten(Rewriter& r, const std::string& asked) {
    const std::vector<uint8_t> query = make_query({.name = asked});
    switch (r.rewrite_query(query)) {
        case Rewriter::Outcome::Unchanged:
            return "";
        case Rewriter::Outcome::Invalid:
            return "invalid";
        case Rewriter::Outcome::Rewritten:
            break;
    }
    Query q;
    REQUIRE(parse_query(r.rewritten(), q) == ParseStatus::Ok);
    return wire_text(q.qname.wire());
}

std::string rewritten(const std::vector<std::string>& texts, const std::string& asked) {
    Rewriter r;
    r.configure(rules(texts));
    return rewritten(r, asked);
}

Name name(std::string_view text) {
    auto n = Name::from_text(text);
    REQUIRE(n.has_value());
    return *n;
}

// A record the test's response holds.
struct Rr {
    Section section;
    std::string owner;
    RrType type;
    std::vector<uint8_t> rdata;
};

std::vector<uint8_t> name_rdata(std::string_view target, std::vector<uint8_t> before = {}) {
    const Name n = name(target);
    before.insert(before.end(), n.wire().begin(), n.wire().end());
    return before;
}

// Rewrites a query for `asked` with `texts`, answers the rewritten query with `records` (as the
// chain would) and returns the response written back for the client.
Decoded round_trip(const std::vector<std::string>& texts, const std::string& asked,
                   const std::vector<Rr>& records, Transport transport = Transport::Tcp,
                   int edns_version = 0) {
    Rewriter r;
    r.configure(rules(texts));
    const std::vector<uint8_t> query = make_query({.name = asked, .edns_version = edns_version});
    REQUIRE(r.rewrite_query(query) == Rewriter::Outcome::Rewritten);
    Query q;
    REQUIRE(parse_query(r.rewritten(), q) == ParseStatus::Ok);
    std::vector<uint8_t> buffer(kMaxMessageSize);
    ResponseWriter w(buffer, 65535);
    w.begin(q);
    w.set_authoritative(true);
    for (const Rr& rr : records) {
        REQUIRE(w.add(rr.section, name(rr.owner).wire(), rr.type, 30, rr.rdata));
    }
    const size_t size = w.finish();
    REQUIRE(size != 0);
    const std::vector<uint8_t> rewritten_query(r.rewritten().begin(), r.rewritten().end());
    const size_t reverted = r.revert(rewritten_query, buffer, size, transport);
    REQUIRE(reverted != 0);
    buffer.resize(reverted);
    Decoded d = decode(buffer);
    REQUIRE(d.ok);
    return d;
}

const std::vector<uint8_t> kAddress = {10, 96, 0, 10};

TEST_CASE("rewrite: exact rules match the whole name, case aside, and stop") {
    const std::vector<std::string> texts = {"name exact a.example b.default.svc.cluster.local",
                                            "name exact b.default.svc.cluster.local c.example"};
    CHECK(rewritten(texts, "a.example.") == "b.default.svc.cluster.local.");
    CHECK(rewritten(texts, "A.Example.") == "b.default.svc.cluster.local.");
    CHECK(rewritten(texts, "x.a.example.") == "");
    CHECK(rewritten(texts, "a.example.org.") == "");
    // Without a match type, exact: `name FROM TO`.
    CHECK(rewritten({"name a.example b.example"}, "a.example.") == "b.example.");
    CHECK(rewritten({"stop name exact a.example b.example"}, "a.example.") == "b.example.");
}

TEST_CASE("rewrite: prefix, suffix and substring rules, as CoreDNS normalizes them") {
    CHECK(rewritten({"name prefix foo bar"}, "foo.example.com.") == "bar.example.com.");
    CHECK(rewritten({"name prefix foo. bar."}, "foo.example.com.") == "bar.example.com.");
    // FROM gets its final dot, so `foo` is the label foo, as in CoreDNS.
    CHECK(rewritten({"name prefix foo bar"}, "foobar.example.com.") == "");
    CHECK(rewritten({"name prefix foo bar"}, "coredns.foo.") == "");
    CHECK(rewritten({"name suffix .corp.example .default.svc.cluster.local"},
                    "api.corp.example.") == "api.default.svc.cluster.local.");
    CHECK(rewritten({"name suffix com org"}, "foo.example.com.") == "foo.example.org.");
    // A suffix need not start at a label: CoreDNS's own example.
    CHECK(rewritten({"name suffix .ingress.coredns.rocks nginx.coredns.rocks"},
                    "coredns.ingress.coredns.rocks.") == "corednsnginx.coredns.rocks.");
    CHECK(rewritten({"name suffix com org"}, "com.coredns.") == "");
    CHECK(rewritten({"name substring service.us-west-1.example.org service.us-west-1.consul"},
                    "ftp.service.us-west-1.example.org.") == "ftp.service.us-west-1.consul.");
    CHECK(rewritten({"name substring a.b. x."}, "a.b.a.b.") == "x.x.");
    CHECK(rewritten({"name substring service svc"}, "com.coredns.") == "");
}

TEST_CASE("rewrite: regex rules search the name and fill in their groups") {
    CHECK(rewritten({R"(name regex (.*)\.db\.example {1}.default.svc.cluster.local)"},
                    "orders.db.example.") == "orders.default.svc.cluster.local.");
    CHECK(rewritten({R"(name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul)"},
                    "ftp-us-west-1.example.org.") == "ftp.service.us-west-1.consul.");
    // Unanchored, as Go's FindStringSubmatch: the match may lie inside the name.
    CHECK(rewritten({R"(name regex db\.(example) {1}.test)"}, "x.db.example.") == "example.test.");
    // A group that takes no part is empty; {0} is the whole match.
    CHECK(rewritten({R"(name regex ^(a)?b\.(c)\.$ x{1}y.{2}.{0}ok)"}, "b.c.") == "xy.c.b.c.ok.");
    // RE2's syntax: named groups, classes, \d.
    CHECK(rewritten({R"(name regex ^(?P<svc>[[:alpha:]]+)-(\d+)\.example\.$ {1}-{2}.ns.svc)"},
                    "web-42.example.") == "web-42.ns.svc.");
    CHECK(rewritten({R"(name regex ^nope\. x)"}, "a.example.") == "");
    // `$` is the end of the name only.
    CHECK(rewritten({R"(name regex example\.$ x)"}, "a.example.") == "x.");
    // A result that is no domain name: SERVFAIL, as CoreDNS.
    CHECK(rewritten({R"(name regex ^(.*)$ {1}{1}{1}{1}{1})"}, std::string(60, 'a') + ".b.") ==
          "invalid");
    CHECK(rewritten({"name exact a.example b..example"}, "a.example.") == "invalid");
}

TEST_CASE("rewrite: stop ends the walk, continue goes on with the rewritten name") {
    CHECK(rewritten({"continue name prefix a b", "name suffix .x .y", "name suffix .y .z"},
                    "a.x.") == "b.y.");
    CHECK(rewritten({"name prefix a b", "name suffix .x .y"}, "a.x.") == "b.x.");
    CHECK(rewritten({"continue name exact a.x b.x", "continue name exact b.x c.x"}, "a.x.") ==
          "c.x.");
    // The first rule that matches is the one that applies.
    CHECK(rewritten({"name exact q.x first.x", "name exact q.x second.x"}, "q.x.") == "first.x.");
}

TEST_CASE("rewrite: names with escapes and unusual bytes keep them") {
    // A dot inside a label is written \. in the name's text, as CoreDNS's.
    std::vector<uint8_t> query = make_query({.name = "a.example"});
    query[13] = '.';  // the label "a" becomes "."
    Rewriter r;
    r.configure(rules({R"(name regex ^\\\.\.example\.$ dotted.test)"}));
    REQUIRE(r.rewrite_query(query) == Rewriter::Outcome::Rewritten);
    Query q;
    REQUIRE(parse_query(r.rewritten(), q) == ParseStatus::Ok);
    CHECK(wire_text(q.qname.wire()) == "dotted.test.");
    CHECK(rewritten({R"(name regex ^x\.(.*)\.$ \065{1})"}, "x.b.") == "Ab.");
}

TEST_CASE("rewrite: the rewritten query keeps its header, type and EDNS record") {
    Rewriter r;
    r.configure(rules({"name exact a.example b.example.org"}));
    const std::vector<uint8_t> query =
        make_query({.name = "a.example", .type = 28, .edns_version = 0, .dnssec_ok = true});
    REQUIRE(r.rewrite_query(query) == Rewriter::Outcome::Rewritten);
    Query q;
    REQUIRE(parse_query(r.rewritten(), q) == ParseStatus::Ok);
    CHECK(q.id == 0x1234);
    CHECK(q.rd());
    CHECK(q.qtype == RrType::Aaaa);
    CHECK(q.has_edns);
    CHECK(q.dnssec_ok);
    CHECK(r.qtype() == 28);
    CHECK(wire_text(r.asked().wire()) == "a.example.");
}

TEST_CASE("rewrite: answer auto writes the answer back to the name asked") {
    SUBCASE("exact: always, owners and CNAME targets below the rewritten name") {
        const Decoded d = round_trip(
            {"name exact api.corp.example api.default.svc.cluster.local"}, "API.corp.example.",
            {{Section::Answer, "api.default.svc.cluster.local", RrType::Cname,
              name_rdata("x.api.default.svc.cluster.local")},
             {Section::Answer, "x.api.default.svc.cluster.local", RrType::A, kAddress},
             {Section::Authority, "cluster.local", RrType::Ns, name_rdata("ns.dns.cluster.local")}});
        CHECK(d.qname == "API.corp.example.");  // the question as the client wrote it
        CHECK(d.aa());
        REQUIRE(d.answer.size() == 2);
        CHECK(d.answer[0].owner == "API.corp.example.");
        CHECK(d.answer[0].text == "x.API.corp.example.");
        CHECK(d.answer[1].owner == "x.API.corp.example.");
        CHECK(d.answer[1].text == "10.96.0.10");
        REQUIRE(d.authority.size() == 1);
        CHECK(d.authority[0].owner == "cluster.local.");  // not below the rewritten name
        REQUIRE(d.opt() != nullptr);
    }
    SUBCASE("suffix: TO back to FROM wherever a name ends in it") {
        const Decoded d = round_trip(
            {"name suffix .corp.example .default.svc.cluster.local answer auto"},
            "api.corp.example.",
            {{Section::Answer, "api.default.svc.cluster.local", RrType::Cname,
              name_rdata("db.default.svc.cluster.local")},
             {Section::Answer, "db.default.svc.cluster.local", RrType::A, kAddress}});
        REQUIRE(d.answer.size() == 2);
        CHECK(d.answer[0].owner == "api.corp.example.");
        CHECK(d.answer[0].text == "db.corp.example.");
        CHECK(d.answer[1].owner == "db.corp.example.");
    }
    SUBCASE("regex, prefix and substring: the rewritten name back to the asked one") {
        for (const std::string& rule :
             {std::string(R"(name regex (.*)\.db\.example {1}.default.svc.cluster.local answer auto)"),
              std::string("name prefix orders.db.example orders.default.svc.cluster.local answer "
                          "auto"),
              std::string("name substring db.example default.svc.cluster.local answer auto")}) {
            CAPTURE(rule);
            const Decoded d = round_trip(
                {rule}, "orders.db.example.",
                {{Section::Answer, "orders.default.svc.cluster.local", RrType::A, kAddress},
                 {Section::Additional, "other.default.svc.cluster.local", RrType::A, kAddress}});
            REQUIRE(d.answer.size() == 1);
            CHECK(d.answer[0].owner == "orders.db.example.");
            REQUIRE(d.additional_without_opt().size() == 1);
            CHECK(d.additional_without_opt()[0].owner == "other.default.svc.cluster.local.");
        }
    }
    SUBCASE("without answer auto only the question is written back") {
        const Decoded d = round_trip(
            {"name suffix .corp.example .default.svc.cluster.local"}, "api.corp.example.",
            {{Section::Answer, "api.default.svc.cluster.local", RrType::A, kAddress}});
        CHECK(d.qname == "api.corp.example.");
        REQUIRE(d.answer.size() == 1);
        CHECK(d.answer[0].owner == "api.default.svc.cluster.local.");
    }
    SUBCASE("continue: each rule's rewrite undone, the last first") {
        const Decoded d = round_trip(
            {"continue name suffix .a .b answer auto", "name prefix x y answer auto"}, "x.q.a.",
            {{Section::Answer, "y.q.b", RrType::A, kAddress}});
        REQUIRE(d.answer.size() == 1);
        CHECK(d.answer[0].owner == "x.q.a.");
    }
}

TEST_CASE("rewrite: answer name and answer value rewrite by regex") {
    const Decoded d = round_trip(
        {R"(name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul )"
         R"(answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.coredns.rocks )"
         R"(answer value (.*)\.service\.consul\. {1}.coredns.rocks)"},
        "ftp-us-west-1.coredns.rocks.",
        {{Section::Answer, "ftp.service.us-west-1.consul", RrType::Srv,
          name_rdata("host.service.consul", {0, 1, 0, 2, 0, 80})},
         {Section::Answer, "ftp.service.us-west-1.consul", RrType::Mx,
          name_rdata("mail.service.consul", {0, 10})}});
    REQUIRE(d.answer.size() == 2);
    CHECK(d.answer[0].owner == "ftp-us-west-1.coredns.rocks.");
    CHECK(d.answer[0].text == "1 2 80 host.coredns.rocks.");
    CHECK(d.answer[1].rdata == name_rdata("mail.coredns.rocks", {0, 10}));
}

TEST_CASE("rewrite: a written-back response keeps the client's limit") {
    std::vector<Rr> records;
    for (uint8_t i = 0; i < 40; ++i) {
        records.push_back({Section::Answer, "b.default.svc.cluster.local", RrType::A,
                           {10, 0, 0, i}});
    }
    const std::string asked = std::string(50, 'x') + "." + std::string(50, 'y') + ".example.";
    const Decoded small = round_trip({"name exact " + asked + " b.default.svc.cluster.local"},
                                     asked, records, Transport::Udp, -1);
    CHECK(small.tc());
    CHECK(small.answer.size() < 40);
    const Decoded whole = round_trip({"name exact " + asked + " b.default.svc.cluster.local"},
                                     asked, records, Transport::Tcp, -1);
    CHECK_FALSE(whole.tc());
    CHECK(whole.answer.size() == 40);
}

TEST_CASE("rewrite: a forwarded answer is written back after replay") {
    Rewriter r;
    r.configure(rules({"name suffix .corp.example .example.org answer auto"}));
    const std::vector<uint8_t> query = make_query({.name = "www.Corp.example"});
    REQUIRE(r.rewrite_query(query) == Rewriter::Outcome::Rewritten);
    const std::vector<uint8_t> sent(r.rewritten().begin(), r.rewritten().end());
    const Name asked = r.asked();
    // Meanwhile other queries go through the same Rewriter.
    CHECK(rewritten(r, "nothing.test.") == "");
    Query q;
    REQUIRE(parse_query(sent, q) == ParseStatus::Ok);
    std::vector<uint8_t> buffer(kMaxMessageSize);
    ResponseWriter w(buffer, 65535);
    w.begin(q);
    REQUIRE(w.add(Section::Answer, name("www.example.org").wire(), RrType::A, 30, kAddress));
    const size_t size = w.finish();
    REQUIRE(r.replay(asked));
    buffer.resize(r.revert(sent, buffer, size, Transport::Udp));
    const Decoded d = decode(buffer);
    REQUIRE(d.ok);
    CHECK(d.qname == "www.Corp.example.");
    REQUIRE(d.answer.size() == 1);
    // Compressed against the question, so in the client's case.
    CHECK(d.answer[0].owner == "www.Corp.example.");
}

TEST_CASE("rewrite: the parser refuses what it does not support, naming the rule") {
    for (const char* type : {"type ANY HINFO", "class CH IN", "edns0 local set 0xffee abcd",
                             "ttl regex (.*)\\.example 15", "cname exact a. b.", "rcode servfail"}) {
        CAPTURE(type);
        const std::string why = refusal(type);
        CHECK(why.find(std::string_view(type).substr(0, std::string_view(type).find(' '))) !=
              std::string::npos);
        CHECK(why.find("only name rules") != std::string::npos);
    }
    CHECK(refusal("stop type ANY HINFO").find("type rules are not supported") !=
          std::string::npos);
    CHECK(refusal("answer name a b").find("must follow a name rule") != std::string::npos);
    CHECK(refusal("name a.example").find("too few arguments") != std::string::npos);
    CHECK(refusal("name").find("too few arguments") != std::string::npos);
    CHECK(refusal("stop").find("rule type") != std::string::npos);
    CHECK(refusal("").find("empty") != std::string::npos);
    CHECK(refusal("frobnicate a b").find("unknown rule type") != std::string::npos);
    CHECK(refusal("name glob a b").find("not \"glob\"") != std::string::npos);
    CHECK(refusal("name a.com b.com c.com").find("not \"a.com\"") != std::string::npos);
    CHECK(refusal("name substring a.com b.com c.com").find("answer") != std::string::npos);
    CHECK(refusal("name regex ([a]\\.com new-{1}.com").find("invalid regex") != std::string::npos);
    CHECK(refusal("name regex (a)\\.com {2}.com").find("group {2}") != std::string::npos);
    CHECK(refusal("name regex " + std::string(10001, 'a') + " b").find("too long") !=
          std::string::npos);
    CHECK(refusal("name suffix a b answer").find("answer") != std::string::npos);
    CHECK(refusal("name suffix a b answer other").find("want auto, name or value") !=
          std::string::npos);
    CHECK(refusal("name suffix a b answer name (x)").find("FROM and TO") != std::string::npos);
    CHECK(refusal("name suffix a b answer auto answer name (.*) {1}").find("cannot be combined") !=
          std::string::npos);
    CHECK(refusal("name suffix a b NoAnswer name x y").find("answer") != std::string::npos);
    // The message quotes the rule.
    CHECK(refusal("class CH IN").starts_with("rule \"class CH IN\": "));
    auto all = RewriteRules::parse({"name a b", "type A AAAA"});
    REQUIRE_FALSE(all.has_value());
    CHECK(all.error().message.find("type A AAAA") != std::string::npos);
}

TEST_CASE("rewrite: the parser reads what CoreDNS reads") {
    auto rule = parse_rewrite_rule("continue name SUFFIX .Corp.Example .svc.cluster.local");
    REQUIRE(rule.has_value());
    CHECK_FALSE(rule->stop);
    CHECK(rule->match == NameMatch::Suffix);
    CHECK(rule->from == ".corp.example.");
    CHECK(rule->to == ".svc.cluster.local.");
    CHECK_FALSE(rule->answer_auto);
    rule = parse_rewrite_rule("name exact a b");
    REQUIRE(rule.has_value());
    CHECK(rule->answer_auto);  // exact rules always write the answer back
    CHECK(rule->stop);
    rule = parse_rewrite_rule(
        "name regex (.*)\\.a {1}.b answer name (.*)\\.b {1}.a value (.*)\\.b {1}.a");
    REQUIRE(rule.has_value());
    REQUIRE(rule->answers.size() == 2);
    CHECK_FALSE(rule->answers[0].value);
    CHECK(rule->answers[1].value);
    CHECK(rule->answers[0].replacement == "{1}.a.");
    rule = parse_rewrite_rule("name suffix a b answer auto answer value (.*)\\.b {1}.a");
    REQUIRE(rule.has_value());
    CHECK(rule->answer_auto);
}

}  // namespace
}  // namespace clusterdns
