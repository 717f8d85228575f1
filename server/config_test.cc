#include "server/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "plugins/forward/upstreams.h"

namespace clusterdns {
namespace {

Result<CommandLine> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "clusterdns");
    std::vector<const char*> argv;
    for (const std::string& a : args) {
        argv.push_back(a.c_str());
    }
    try {
        return parse_command_line(static_cast<int>(argv.size()), argv.data());
    } catch (const std::runtime_error& e) {
        return Error{e.what()};
    }
}

Options parse_ok(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    return r->options;
}

std::string parse_error(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

// A config file in the temporary directory, removed when the test ends.
class TempFile {
public:
    explicit TempFile(std::string_view text) {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("clusterdns-config-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter++) + ".yaml"))
                    .string();
        std::ofstream(path_) << text;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("config: defaults") {
    const Options o = parse_ok({});
    CHECK(o.manifests.empty());
    CHECK(o.listen == Strings{"0.0.0.0:53"});
    CHECK(o.zone == "cluster.local");
    CHECK(o.ttl_seconds == 30);
    CHECK(o.workers == 0);
}

TEST_CASE("config: flags set every option") {
    const Options o =
        parse_ok({"--manifests", "a.yaml", "--manifests", "dir/", "--listen", "127.0.0.1:0",
                  "--listen", "[::1]:5353", "--zone", "example.internal", "--ttl", "5", "--workers",
                  "2", "--tcp-idle-timeout", "3", "--max-tcp-connections", "10"});
    CHECK(o.manifests == Strings{"a.yaml", "dir/"});
    CHECK(o.listen == Strings{"127.0.0.1:0", "[::1]:5353"});  // replaces the default
    CHECK(o.zone == "example.internal");
    CHECK(o.ttl_seconds == 5);
    CHECK(o.workers == 2);
    CHECK(o.tcp_idle_timeout_seconds == 3);
    CHECK(o.max_tcp_connections == 10);
}

TEST_CASE("config: --flag=value is the same as --flag value") {
    const Options o = parse_ok({"--manifests=a.yaml", "--listen=127.0.0.1:0", "--ttl=0",
                                "--zone=Example.Internal", "--manifests", "b.yaml"});
    CHECK(o.manifests == Strings{"a.yaml", "b.yaml"});
    CHECK(o.listen == Strings{"127.0.0.1:0"});
    CHECK(o.ttl_seconds == 0);
    CHECK(o.zone == "Example.Internal");
}

TEST_CASE("config: --help and --version") {
    auto help = parse({"--help"});
    REQUIRE(help.has_value());
    CHECK(help->help);
    auto h = parse({"-h"});
    REQUIRE(h.has_value());
    CHECK(h->help);
    auto version = parse({"--version"});
    REQUIRE(version.has_value());
    CHECK(version->version);
    CHECK(std::string(usage()).find("--manifests") != std::string::npos);
}

TEST_CASE("config: bad flags are errors naming the flag") {
    CHECK(parse_error({"--bogus", "1"}).find("\"--bogus\"") != std::string::npos);
    CHECK(parse_error({"--bogus=1"}).find("--bogus") != std::string::npos);
    CHECK(parse_error({"manifests.yaml"}).find("\"manifests.yaml\"") != std::string::npos);
    CHECK(parse_error({"--ttl"}) == "--ttl needs a value");
    CHECK(parse_error({"--ttl", "abc"}) == "--ttl: \"abc\" is not a number from 0 to 3600");
    CHECK(parse_error({"--ttl", "3601"}).find("--ttl") != std::string::npos);
    CHECK(parse_error({"--workers=0"}).find("--workers") != std::string::npos);
    CHECK(parse_error({"--zone="}).find("--zone") != std::string::npos);
}

TEST_CASE("config: --config file, with flags overriding it") {
    const TempFile file(R"(
manifests: [/etc/clusterdns/a.yaml, /etc/clusterdns/b.yaml]
listen: [127.0.0.1:53, "[::1]:53"]
zone: example.internal
ttl: 15
workers: 4
tcp_idle_timeout: 20
max_tcp_connections: 100
)");
    SUBCASE("the file alone") {
        const Options o = parse_ok({"--config", file.path()});
        CHECK(o.manifests == Strings{"/etc/clusterdns/a.yaml", "/etc/clusterdns/b.yaml"});
        CHECK(o.listen == Strings{"127.0.0.1:53", "[::1]:53"});
        CHECK(o.zone == "example.internal");
        CHECK(o.ttl_seconds == 15);
        CHECK(o.workers == 4);
        CHECK(o.tcp_idle_timeout_seconds == 20);
        CHECK(o.max_tcp_connections == 100);
    }
    SUBCASE("flags win, wherever they stand") {
        const Options o = parse_ok({"--ttl", "10", "--config=" + file.path(), "--workers=1"});
        CHECK(o.ttl_seconds == 10);
        CHECK(o.workers == 1);
        CHECK(o.zone == "example.internal");
    }
    SUBCASE("a list flag replaces the file's list") {
        const Options o = parse_ok({"--config", file.path(), "--listen", "127.0.0.1:0"});
        CHECK(o.listen == Strings{"127.0.0.1:0"});
        CHECK(o.manifests == Strings{"/etc/clusterdns/a.yaml", "/etc/clusterdns/b.yaml"});
        const Options m =
            parse_ok({"--manifests", "x.yaml", "--config", file.path(), "--manifests", "y.yaml"});
        CHECK(m.manifests == Strings{"x.yaml", "y.yaml"});
        CHECK(m.listen == Strings{"127.0.0.1:53", "[::1]:53"});
    }
}

TEST_CASE("config: debug_explain is off unless asked for") {
    CHECK_FALSE(parse_ok({}).debug_explain);
    CHECK(parse_ok({"--debug-explain", "true"}).debug_explain);
    const TempFile file("debug_explain: true\n");
    CHECK(parse_ok({"--config", file.path()}).debug_explain);
    CHECK(parse_error({"--debug-explain", "yes"}).find("--debug-explain") != std::string::npos);
}

TEST_CASE("config: a single string where a list may stand") {
    const TempFile file("manifests: /srv/manifests\nlisten: 127.0.0.1:0\n");
    const Options o = parse_ok({"--config", file.path()});
    CHECK(o.manifests == Strings{"/srv/manifests"});
    CHECK(o.listen == Strings{"127.0.0.1:0"});
}

TEST_CASE("config: an empty file changes nothing") {
    const TempFile file("# nothing set\n");
    const Options o = parse_ok({"--config", file.path()});
    CHECK(o.zone == "cluster.local");
    CHECK(o.listen == Strings{"0.0.0.0:53"});
}

TEST_CASE("config: upstreams are addresses with an optional port, or none") {
    const Options o = parse_ok({"--upstream", "10.0.0.10", "--upstream", "[::1]:5353",
                                "--upstream", "127.0.0.1:5300"});
    CHECK(o.upstreams == Strings{"10.0.0.10:53", "[::1]:5353", "127.0.0.1:5300"});
    CHECK(parse_ok({"--upstream", "none"}).upstreams == Strings{"none"});
    CHECK(parse_error({"--upstream", "dns.example.com"}) ==
          "--upstream: upstream \"dns.example.com\": not an IP address (with an optional :PORT)");
    CHECK(parse_error({"--upstream", "10.0.0.1:0"}) ==
          "--upstream: upstream \"10.0.0.1:0\": port \"0\" is not 1-65535");
    CHECK(parse_ok({"--stub-domain", "consul.local=10.0.0.1:8600,10.0.0.2"}).stub_domains ==
          Strings{"consul.local=10.0.0.1:8600,10.0.0.2"});
    CHECK(parse_error({"--stub-domain", "consul.local"}) ==
          "--stub-domain: stub domain \"consul.local\": expected DOMAIN=ADDR[:PORT][,ADDR...]");
    CHECK(parse_error({"--stub-domain", "consul.local=10.0.0.1,nope"}) ==
          "--stub-domain: stub domain \"consul.local=10.0.0.1,nope\": upstream \"nope\": not an "
          "IP address (with an optional :PORT)");
    CHECK(parse_error({"--policy", "fastest"}) ==
          "--policy: \"fastest\" is not random, round_robin or sequential");
    const TempFile file("upstream: [10.0.0.1, \"10.0.0.2:5353\"]\npolicy: sequential\n"
                        "max_concurrent: 50\n");
    const Options f = parse_ok({"--config", file.path()});
    CHECK(f.upstreams == Strings{"10.0.0.1:53", "10.0.0.2:5353"});
    CHECK(f.policy == "sequential");
    CHECK(f.max_concurrent == 50);
}

TEST_CASE("config: file errors name the file and the key") {
    SUBCASE("unknown key") {
        const TempFile file("zone: cluster.local\nupstreams: 8.8.8.8\n");
        const std::string e = parse_error({"--config", file.path()});
        CHECK(e == file.path() + ": unknown key \"upstreams\"");
    }
    SUBCASE("bad value") {
        const TempFile file("ttl: soon\n");
        const std::string e = parse_error({"--config", file.path()});
        CHECK(e.starts_with(file.path() + ": ttl: \"soon\" is not a number"));
    }
    SUBCASE("a list for a single value") {
        const TempFile file("zone: [a, b]\n");
        const std::string e = parse_error({"--config", file.path()});
        CHECK(e.starts_with(file.path() + ": zone: expected a value"));
    }
    SUBCASE("not a mapping") {
        const TempFile file("- zone\n");
        CHECK(parse_error({"--config", file.path()}) ==
              file.path() + ": expected a mapping of settings");
    }
    SUBCASE("invalid YAML, with line and column") {
        const TempFile file("zone: cluster.local\nlisten: [127.0.0.1:53\n");
        const std::string e = parse_error({"--config", file.path()});
        CHECK(e.starts_with(file.path() + ":"));
        CHECK(e.find("invalid YAML") != std::string::npos);
    }
    SUBCASE("a file that does not exist") {
        CHECK(parse_error({"--config", "/nonexistent/clusterdns.yaml"}) ==
              "/nonexistent/clusterdns.yaml: cannot read");
    }
    SUBCASE("--config without a value") {
        CHECK(parse_error({"--config"}) == "--config needs a value");
    }
}

TEST_CASE("config: load_config_file fills Options directly") {
    const TempFile file("zone: example.internal\nttl: 60\n");
    Options o;
    const Status s = load_config_file(file.path(), o);
    REQUIRE(s.has_value());
    CHECK(o.zone == "example.internal");
    CHECK(o.ttl_seconds == 60);
}

namespace clusterdns {

TEST_CASE("config: refusals that must not crash or start a server that serves nothing") {
    SUBCASE("a directory as --config") {
        const std::string dir = std::filesystem::temp_directory_path().string();
        CHECK(parse_error({"--config", dir}).find("cannot read") != std::string::npos);
    }
    SUBCASE("an empty listen list") {
        TempFile file("listen: []\n");
        CHECK(parse_error({"--config", file.path()}).starts_with("listen: no address"));
    }
    SUBCASE("a flag where a value belongs") {
        CHECK(parse_error({"--zone", "--ttl", "5"}) ==
              "--zone needs a value, got the flag \"--ttl\"");
    }
    SUBCASE("a zone that is no domain name, or inside the reverse zones") {
        CHECK(parse_error({"--zone", "a..b"}) ==
              "--zone: zone \"a..b\": labels must have 1 to 63 characters");
        CHECK(parse_error({"--zone", "10.in-addr.arpa"}).find("arpa holds the reverse zones") !=
              std::string::npos);
        CHECK(parse_error({"--zone", "clu ster.local"}).find("only letters, digits") !=
              std::string::npos);
        const std::string label(60, 'a');
        const std::string zone_243 = label + "." + label + "." + label + "." + label;
        const TempFile file("zone: " + zone_243 + "\n");
        CHECK(parse_error({"--config", file.path()}).find("zone name too long") !=
              std::string::npos);
    }
}

}  // namespace clusterdns

TEST_CASE("config: a key twice is an error naming both lines") {
    const TempFile file("ttl: 30\nzone: cluster.local\nttl: 60\n");
    CHECK(parse_error({"--config", file.path()}) ==
          file.path() + ":3: duplicate key \"ttl\" (first on line 1)");
}

TEST_CASE("config: a number setting refuses a quoted string") {
    const TempFile file("ttl: \"30\"\n");
    CHECK(parse_error({"--config", file.path()}) ==
          file.path() + ": ttl: expected a number, got the string \"30\"");
    const TempFile plain("ttl: 30\nworkers: 2\n");
    CHECK(parse_ok({"--config", plain.path()}).ttl_seconds == 30);
}

TEST_CASE("config: the same listen address twice is refused") {
    CHECK(parse_error({"--listen", "127.0.0.1:5353", "--listen", "127.0.0.1:5353"}) ==
          "listen: \"127.0.0.1:5353\" is given twice");
    CHECK(parse_error({"--listen", "[::1]:53", "--listen", "[0:0::1]:53"}) ==
          "listen: \"[0:0::1]:53\" is given twice");
    // Port 0 twice is two free ports; one port on two addresses is two sockets.
    CHECK(parse_ok({"--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"}).listen.size() == 2);
    CHECK(parse_ok({"--listen", "127.0.0.1:53", "--listen", "127.0.0.2:53"}).listen.size() == 2);
    const TempFile file("listen: [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n");
    CHECK(parse_error({"--config", file.path()}) == "listen: \"127.0.0.1:53\" is given twice");
}

TEST_CASE("config: max_tcp_connections has a bound start-up can honour") {
    CHECK(parse_ok({"--max-tcp-connections", "65536"}).max_tcp_connections == 65536);
    CHECK(parse_error({"--max-tcp-connections", "1000000"}) ==
          "--max-tcp-connections: \"1000000\" is not a number from 1 to 65536");
}

TEST_CASE("config: the cache's settings, as CoreDNS's cache plugin") {
    const TempFile file(
        "cache: true\ncache_success_ttl: 30\ncache_success_min_ttl: 0\ncache_denial_ttl: 10\n"
        "cache_denial_min_ttl: 2\ncache_capacity: 500\n");
    const Options o = parse_ok({"--config", file.path(), "--cache-denial-ttl", "20"});
    CHECK(o.cache);
    CHECK(o.cache_success_ttl == 30);
    CHECK(o.cache_success_min_ttl == 0);
    CHECK(o.cache_denial_ttl == 20);  // the flag wins
    CHECK(o.cache_denial_min_ttl == 2);
    CHECK(o.cache_capacity == 500);
    CHECK_FALSE(parse_ok({"--cache", "false"}).cache);
    CHECK(parse_error({"--cache-success-ttl", "0"}) ==
          "--cache-success-ttl: \"0\" is not a number from 1 to 2147483647");
    CHECK(parse_error({"--cache-capacity", "0"}) ==
          "--cache-capacity: \"0\" is not a number from 1 to 10000000");
    CHECK(parse_error({"--cache", "false", "--prefetch", "2"}) ==
          "prefetch: keeps answers in the cache, which is off (cache: false)");
    CHECK(parse_error({"--cache", "false", "--serve-stale", "60"}) ==
          "serve_stale: keeps answers in the cache, which is off (cache: false)");
}

TEST_CASE("config: forward's options, as CoreDNS's forward") {
    const TempFile file("forward_except: [internal.example, Other.Example.]\nforce_tcp: true\n"
                        "health_check_ms: 250\nmax_fails: 0\n");
    const Options o = parse_ok({"--config", file.path()});
    CHECK(o.forward_except == Strings{"internal.example", "Other.Example."});
    CHECK(o.force_tcp);
    CHECK_FALSE(o.prefer_udp);
    CHECK(o.health_check_ms == 250);
    CHECK(o.max_fails == 0);
    CHECK(parse_ok({"--prefer-udp", "true"}).prefer_udp);
    CHECK(parse_error({"--forward-except", "a..b"}) ==
          "--forward-except: \"a..b\" is not a domain name");
    CHECK(parse_error({"--health-check-ms", "5"}) ==
          "--health-check-ms: \"5\" is not a number from 10 to 3600000");
    CHECK(parse_error({"--force-tcp", "true", "--prefer-udp", "true"}) ==
          "force_tcp and prefer_udp: give one or the other, as CoreDNS's forward");
}

TEST_CASE("config: kube-dns's ConfigMap directory is checked whole") {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("clusterdns-kube-dns-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto write = [&](const char* file, const char* text) {
        std::ofstream(dir / file) << text;
    };
    const std::string stubs = (dir / "stubDomains").string();
    const std::string upstreams = (dir / "upstreamNameservers").string();
    CHECK(parse_ok({"--kube-dns-config", dir.string()}).kube_dns_config == dir.string());
    write("stubDomains", R"({"acme.local": ["1.2.3.4", "1.2.3.5:5353"], "Corp.Example.": ["::1"]})");
    write("upstreamNameservers", R"(["8.8.8.8", "[2001:db8::1]:53"])");
    auto config = read_kube_dns_config(dir.string());
    REQUIRE(config);
    CHECK(config->upstreams == Strings{"8.8.8.8:53", "[2001:db8::1]:53"});
    REQUIRE(config->stub_domains.size() == 2);
    CHECK(config->stub_domains[0].domain == "acme.local");
    CHECK(config->stub_domains[0].upstreams == Strings{"1.2.3.4:53", "1.2.3.5:5353"});
    CHECK(config->stub_domains[1].domain == "corp.example");
    CHECK(config->stub_domains[1].upstreams == Strings{"[::1]:53"});

    write("upstreamNameservers", "[\"8.8.8.8\",");
    CHECK(parse_error({"--kube-dns-config", dir.string()}).starts_with(upstreams +
                                                                      ": invalid JSON"));
    write("upstreamNameservers", R"(["8.8.8.300"])");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          upstreams + ": upstream \"8.8.8.300\": not an IP address (with an optional :PORT)");
    write("upstreamNameservers", R"({"8.8.8.8": 1})");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          upstreams + ": expected a JSON array of nameservers, [\"ADDR\", ...]");
    write("upstreamNameservers", R"(["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"])");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          upstreams + ": 4 nameservers; kube-dns takes at most 3");
    write("upstreamNameservers", "  \n");  // empty: as if absent
    CHECK(read_kube_dns_config(dir.string())->upstreams.empty());
    write("stubDomains", R"({"acme.local": ["tcp://1.2.3.4"]})");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          stubs + ": \"acme.local\": nameserver \"tcp://1.2.3.4\": expected ADDR or ADDR:PORT");
    write("stubDomains", R"({"acme..local": ["1.2.3.4"]})");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          stubs + ": \"acme..local\" is not a domain name");
    write("stubDomains", R"({"acme.local": []})");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          stubs + ": \"acme.local\": no nameserver");
    write("stubDomains", R"({"acme.local": ["1.2.3.4"], "ACME.local.": ["1.2.3.5"]})");
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          stubs + ": \"ACME.local.\" is given twice");
    std::filesystem::remove(dir / "stubDomains");  // missing: absent
    CHECK(read_kube_dns_config(dir.string())->stub_domains.empty());
    write("federations", "myfederation=example.com");
    CHECK(parse_error({"--kube-dns-config", dir.string()}).find(
              "federations: kube-dns's federations") != std::string::npos);
    std::filesystem::remove_all(dir);
    CHECK(parse_error({"--kube-dns-config", dir.string()}) ==
          "kube_dns_config: " + dir.string() + ": not a directory");
}

}  // namespace clusterdns
