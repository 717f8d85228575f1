#include "plugins/hosts/hosts.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

namespace clusterdns {
namespace {

constexpr uint16_t kA = 1;
constexpr uint16_t kPtr = 12;
constexpr uint16_t kTxt = 16;
constexpr uint16_t kAaaa = 28;

struct Asked {
    HostsTable::Outcome outcome;
    test::Decoded d;
};

Asked ask(const HostsTable& table, const std::string& name, uint16_t type, uint16_t qclass = 1) {
    const std::vector<uint8_t> packet =
        test::make_query({.name = name, .type = type, .qclass = qclass});
    Query q;
    REQUIRE(parse_query(packet, q) == ParseStatus::Ok);
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, out.size());
    w.begin(q);
    const HostsTable::Outcome outcome = table.answer(q, w);
    const size_t size = w.finish();
    return {outcome, test::decode({out.data(), size})};
}

std::vector<HostsLine> parse(std::string_view text, std::vector<std::string>* warnings = nullptr) {
    std::vector<std::string> unused;
    return parse_hosts(text, "hosts.txt", warnings != nullptr ? *warnings : unused);
}

HostsTable table_of(std::string_view text, HostsConfig config = {}) {
    const std::vector<HostsLine> lines = parse(text);
    return HostsTable(config, lines, {});
}

TEST_CASE("hosts: lines, comments and blanks") {
    std::vector<std::string> warnings;
    const auto lines = parse(
        "# a comment\n"
        "\n"
        "127.0.0.1\tlocalhost   # the loopback\n"
        "  192.168.1.10 Example.COM example\r\n"
        "::1 localhost ip6-localhost\n"
        "fe80::1%eth0 link.local\n"
        "::ffff:10.0.0.9 mapped.test\n",
        &warnings);
    CHECK(warnings.empty());
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].address == *parse_ip("127.0.0.1"));
    REQUIRE(lines[1].names.size() == 2);
    CHECK(lines[1].names[0].to_text() == "example.com.");  // lowercased
    CHECK(lines[1].names[1].to_text() == "example.");
    CHECK(lines[2].address.v6);
    CHECK(lines[3].address == *parse_ip("fe80::1"));    // the zone dropped
    CHECK(lines[4].address == *parse_ip("10.0.0.9"));   // IPv4-mapped is IPv4
}

TEST_CASE("hosts: a broken line is skipped with its file and line") {
    std::vector<std::string> warnings;
    const auto lines = parse(
        "10.0.0.1 good\n"
        "10.0.0.2\n"
        "not-an-address name\n"
        "10.0.0.3 ok bad..name also-ok\n",
        &warnings);
    REQUIRE(lines.size() == 2);
    CHECK(lines[1].names.size() == 2);
    REQUIRE(warnings.size() == 3);
    CHECK(warnings[0] == "hosts.txt:2: \"10.0.0.2\" has no name; line skipped");
    CHECK(warnings[1] == "hosts.txt:3: \"not-an-address\" is not an IP address; line skipped");
    CHECK(warnings[2].starts_with("hosts.txt:4: \"bad..name\" is not a domain name"));
}

TEST_CASE("hosts: inline lines are checked whole, zones are names") {
    CHECK(check_hosts_line("192.168.49.1 host.minikube.internal"));
    CHECK(check_hosts_line("# only a comment"));
    CHECK(check_hosts_line(""));
    CHECK(check_hosts_line("10.0.0.1").error().message == "\"10.0.0.1\": \"10.0.0.1\" has no name");
    CHECK(!check_hosts_line("10.0.0.1 a\n10.0.0.2 b"));
    CHECK(!check_hosts_config({.lines = {"x y"}}));
    CHECK(!check_hosts_config({.zones = {"a..b"}}));
    CHECK(!check_hosts_config({.ttl_seconds = 0}));
    CHECK(!check_hosts_config({.ttl_seconds = 65536}));
    CHECK(check_hosts_config({.lines = {"10.0.0.1 a"}, .zones = {"."}}));
}

TEST_CASE("hosts: A and AAAA of a name, any case, with the TTL") {
    const HostsTable t = table_of(
        "192.168.1.10 example.com\n"
        "192.168.1.11 example.com\n"
        "192.168.1.10 example.com\n"  // the same address again: listed once
        "fdfc::1 example.com\n",
        {.ttl_seconds = 120});
    const Asked a = ask(t, "EXAMPLE.com", kA);
    CHECK(a.outcome == HostsTable::Outcome::Answered);
    CHECK(a.d.aa());
    CHECK(a.d.rcode() == 0);
    REQUIRE(a.d.answer.size() == 2);
    CHECK(a.d.answer[0].text == "192.168.1.10");
    CHECK(a.d.answer[1].text == "192.168.1.11");
    CHECK(a.d.answer[0].ttl == 120);
    CHECK(a.d.answer[0].owner == "EXAMPLE.com.");  // the question's case
    const Asked aaaa = ask(t, "example.com", kAaaa);
    REQUIRE(aaaa.d.answer.size() == 1);
    CHECK(aaaa.d.answer[0].type == kAaaa);
}

TEST_CASE("hosts: a name of the table asked for another type is NODATA") {
    const HostsTable t = table_of("172.18.0.2 k3d-server-0\n");
    for (const uint16_t type : {kAaaa, kTxt, uint16_t{15}, uint16_t{255}}) {
        const Asked r = ask(t, "k3d-server-0", type);
        CHECK(r.outcome == HostsTable::Outcome::Answered);
        CHECK(r.d.rcode() == 0);
        CHECK(r.d.aa());
        CHECK(r.d.answer.empty());
        CHECK(r.d.authority.empty());  // no SOA to give
    }
}

TEST_CASE("hosts: a name without a line is SERVFAIL, or goes on with fallthrough") {
    const std::string text = "10.0.0.1 a.example\n";
    CHECK(ask(table_of(text), "b.example", kA).outcome == HostsTable::Outcome::ServFail);
    CHECK(ask(table_of(text, {.fallthrough = true}), "b.example", kA).outcome ==
          HostsTable::Outcome::Next);
    const HostsTable some =
        table_of(text, {.fallthrough = true, .fallthrough_zones = {"example"}});
    CHECK(ask(some, "b.example", kA).outcome == HostsTable::Outcome::Next);
    CHECK(ask(some, "b.other", kA).outcome == HostsTable::Outcome::ServFail);
    CHECK(ask(some, "b.other", kTxt).outcome == HostsTable::Outcome::ServFail);
    CHECK(ask(table_of(text), "a.example", kA, 3).outcome == HostsTable::Outcome::Next);  // CH
}

TEST_CASE("hosts: names outside its zones go on, and are not in the table") {
    const HostsTable t = table_of("10.0.0.1 a.example b.other\n", {.zones = {"example."}});
    CHECK(ask(t, "a.example", kA).outcome == HostsTable::Outcome::Answered);
    CHECK(ask(t, "b.other", kA).outcome == HostsTable::Outcome::Next);
    CHECK(ask(t, "c.example", kA).outcome == HostsTable::Outcome::ServFail);
    // The reverse name is answered though in-addr.arpa is not a zone, with the names kept.
    const Asked ptr = ask(t, "1.0.0.10.in-addr.arpa", kPtr);
    CHECK(ptr.outcome == HostsTable::Outcome::Answered);
    REQUIRE(ptr.d.answer.size() == 1);
    CHECK(ptr.d.answer[0].text == "a.example.");
}

TEST_CASE("hosts: PTR of a line's address, IPv4 and IPv6") {
    const HostsTable t = table_of(
        "192.168.49.1 host.minikube.internal minikube-host\n"
        "2001:db8::1 six.example\n");
    const Asked v4 = ask(t, "1.49.168.192.IN-ADDR.ARPA", kPtr);
    CHECK(v4.outcome == HostsTable::Outcome::Answered);
    CHECK(v4.d.aa());
    REQUIRE(v4.d.answer.size() == 2);
    CHECK(v4.d.answer[0].text == "host.minikube.internal.");
    CHECK(v4.d.answer[1].text == "minikube-host.");
    CHECK(v4.d.answer[0].ttl == 3600);
    const Asked v6 = ask(
        t, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", kPtr);
    REQUIRE(v6.d.answer.size() == 1);
    CHECK(v6.d.answer[0].text == "six.example.");
    // An address with no line goes on, fallthrough or not; so does PTR of a forward name.
    CHECK(ask(t, "2.49.168.192.in-addr.arpa", kPtr).outcome == HostsTable::Outcome::Next);
    CHECK(ask(t, "host.minikube.internal", kPtr).outcome == HostsTable::Outcome::Next);
    // A reverse name asked for A has no address: SERVFAIL, as any name without a line.
    CHECK(ask(t, "1.49.168.192.in-addr.arpa", kA).outcome == HostsTable::Outcome::ServFail);
    // no_reverse: no PTR at all.
    const HostsTable plain = table_of("192.168.49.1 host.minikube.internal\n", {.no_reverse = true});
    CHECK(ask(plain, "1.49.168.192.in-addr.arpa", kPtr).outcome == HostsTable::Outcome::Next);
    CHECK(ask(plain, "host.minikube.internal", kA).d.answer.size() == 1);
}

TEST_CASE("hosts: a wildcard stands for one label more, with no PTR") {
    const HostsTable t = table_of(
        "192.168.1.10 *.example.com\n"
        "192.168.1.11 www.example.com\n");
    const auto first = [&](const std::string& name) {
        const Asked r = ask(t, name, kA);
        return r.d.answer.empty() ? std::string() : r.d.answer[0].text;
    };
    CHECK(first("www.example.com") == "192.168.1.11");
    CHECK(first("apps.example.com") == "192.168.1.10");
    CHECK(ask(t, "example.com", kA).outcome == HostsTable::Outcome::ServFail);
    CHECK(ask(t, "deep.apps.example.com", kA).outcome == HostsTable::Outcome::ServFail);
    CHECK(ask(t, "apps.example.com", kTxt).d.answer.empty());
    const Asked ptr = ask(t, "10.1.168.192.in-addr.arpa", kPtr);
    CHECK(ptr.outcome == HostsTable::Outcome::Next);
}

TEST_CASE("hosts: a file's addresses come before the inline ones") {
    const std::vector<HostsLine> file = parse("10.0.0.1 both\n");
    const std::vector<HostsLine> inline_lines = parse("10.0.0.2 both\n10.0.0.3 inline-only\n");
    const HostsTable t({}, file, inline_lines);
    const Asked r = ask(t, "both", kA);
    REQUIRE(r.d.answer.size() == 2);
    CHECK(r.d.answer[0].text == "10.0.0.1");
    CHECK(r.d.answer[1].text == "10.0.0.2");
    CHECK(ask(t, "inline-only", kA).d.answer.size() == 1);
}

struct TempFile {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("hosts_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    static inline int counter = 0;
    ~TempFile() { std::filesystem::remove(path); }
    void write(const std::string& text) const {
        std::ofstream(path, std::ios::trunc) << text;
    }
};

TEST_CASE("hosts: the file is read again only when it changed") {
    TempFile f;
    f.write("172.18.0.2 k3d-server-0\n");
    auto source = HostsSource::open({.lines = {"192.168.49.1 host.minikube.internal"},
                                     .file = f.path.string()});
    REQUIRE(source);
    const auto first = (*source)->table();
    CHECK(ask(*first, "k3d-server-0", kA).d.answer.size() == 1);
    CHECK(ask(*first, "host.minikube.internal", kA).d.answer.size() == 1);
    CHECK((*source)->reread() == nullptr);  // unchanged

    f.write("172.18.0.2 k3d-server-0\n172.18.0.3 k3d-agent-0\n");
    const auto second = (*source)->reread();
    REQUIRE(second != nullptr);
    CHECK(ask(*second, "k3d-agent-0", kA).d.answer.size() == 1);
    CHECK(ask(*second, "host.minikube.internal", kA).d.answer.size() == 1);  // inline stays
    CHECK((*source)->table() == second);

    std::filesystem::remove(f.path);  // gone: the last table stays
    CHECK((*source)->reread() == nullptr);
    CHECK((*source)->table() == second);
    f.write("172.18.0.4 k3d-server-1\n");  // back: read again
    const auto third = (*source)->reread();
    REQUIRE(third != nullptr);
    CHECK(ask(*third, "k3d-server-1", kA).d.answer.size() == 1);
    CHECK(ask(*third, "k3d-agent-0", kA).outcome == HostsTable::Outcome::ServFail);
}

TEST_CASE("hosts: a file that cannot be read at the start is an error naming it") {
    auto missing = HostsSource::open({.file = "/nonexistent/hosts"});
    REQUIRE(!missing);
    CHECK(missing.error().message ==
          "plugin/hosts: /nonexistent/hosts: cannot read: No such file or directory");
    auto directory = HostsSource::open({.file = "/tmp"});
    REQUIRE(!directory);
    CHECK(directory.error().message == "plugin/hosts: /tmp: cannot read: not a regular file");
    CHECK(!HostsSource::open({.lines = {"10.0.0.1"}}));
}

}  // namespace
}  // namespace clusterdns
