#include "plugins/corefile/corefile.h"

#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

// Files and environment in memory: imports read these, globs match their names.
struct Fake {
    std::map<std::string, std::string> files;
    std::map<std::string, std::string> env;

    CorefileSources sources() const {
        CorefileSources s;
        s.read = [this](const std::string& path) -> Result<std::string> {
            if (auto it = files.find(path); it != files.end()) {
                return it->second;
            }
            return Error{path + ": cannot read"};
        };
        s.glob = [this](const std::string& pattern) {
            // One '*' at most (the reader refuses more): prefix*suffix.
            std::vector<std::string> out;
            const size_t star = pattern.find('*');
            for (const auto& [path, text] : files) {
                if (star == std::string::npos ? path == pattern
                                              : path.size() >= pattern.size() - 1 &&
                                                    path.starts_with(pattern.substr(0, star)) &&
                                                    path.ends_with(pattern.substr(star + 1))) {
                    out.push_back(path);
                }
            }
            return out;
        };
        s.getenv = [this](const std::string& name) -> std::optional<std::string> {
            if (auto it = env.find(name); it != env.end()) {
                return it->second;
            }
            return std::nullopt;
        };
        return s;
    }

    Result<Corefile> parse(const std::string& text, const std::string& path = "dir/Corefile") {
        return parse_corefile(text, path, sources());
    }
};

std::vector<std::string> texts(const std::vector<CorefileToken>& tokens) {
    std::vector<std::string> out;
    for (const auto& t : tokens) {
        out.push_back(t.text);
    }
    return out;
}

std::vector<std::string> names(const std::vector<CorefileDirective>& directives) {
    std::vector<std::string> out;
    for (const auto& d : directives) {
        out.push_back(d.name.text);
    }
    return out;
}

std::string error_of(Fake& fake, const std::string& text) {
    auto parsed = fake.parse(text);
    REQUIRE_FALSE(parsed);
    return parsed.error().message;
}

TEST_CASE("corefile: kubeadm's Corefile: keys, plugins, arguments, nested blocks, lines") {
    Fake fake;
    auto parsed = fake.parse(R"(.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
)");
    REQUIRE(parsed);
    REQUIRE(parsed->blocks.size() == 1);
    const auto& block = parsed->blocks[0];
    CHECK(texts(block.keys) == std::vector<std::string>{".:53"});
    CHECK(names(block.directives) ==
          std::vector<std::string>{"errors", "health", "ready", "kubernetes", "prometheus",
                                   "forward", "cache", "loop", "reload", "loadbalance"});
    const auto& kubernetes = block.directives[3];
    CHECK(kubernetes.name.line == 7);
    CHECK(texts(kubernetes.args) ==
          std::vector<std::string>{"cluster.local", "in-addr.arpa", "ip6.arpa"});
    REQUIRE(kubernetes.has_block);
    CHECK(names(kubernetes.block) == std::vector<std::string>{"pods", "fallthrough", "ttl"});
    CHECK(texts(kubernetes.block[1].args) == std::vector<std::string>{"in-addr.arpa", "ip6.arpa"});
    CHECK(kubernetes.block[2].name.line == 10);
    CHECK(kubernetes.block[2].name.file == "dir/Corefile");
    CHECK_FALSE(block.directives[0].has_block);
    CHECK(parsed->files == std::vector<std::string>{"dir/Corefile"});
}

TEST_CASE("corefile: several blocks, several keys, schemes, commas across lines, no braces") {
    Fake fake;
    auto parsed = fake.parse(
        "cluster.local:53 in-addr.arpa:53 {\n kubernetes\n}\n"
        "dns://consul.local:53 { forward . 10.150.0.1 }\n"
        "a.example:53,\n  b.example:53\n{\n forward . 10.0.0.1\n}\n");
    REQUIRE(parsed);
    REQUIRE(parsed->blocks.size() == 3);
    CHECK(texts(parsed->blocks[0].keys) ==
          std::vector<std::string>{"cluster.local:53", "in-addr.arpa:53"});
    CHECK(texts(parsed->blocks[1].keys) == std::vector<std::string>{"dns://consul.local:53"});
    CHECK(texts(parsed->blocks[1].directives[0].args) ==
          std::vector<std::string>{".", "10.150.0.1"});
    CHECK(texts(parsed->blocks[2].keys) ==
          std::vector<std::string>{"a.example:53", "b.example:53"});
    CHECK(names(parsed->blocks[2].directives) == std::vector<std::string>{"forward"});

    auto single = fake.parse(".:53\nerrors\nforward . 10.0.0.1\n");
    REQUIRE(single);
    REQUIRE(single->blocks.size() == 1);
    CHECK(names(single->blocks[0].directives) == std::vector<std::string>{"errors", "forward"});
}

TEST_CASE("corefile: quotes, escapes, comments") {
    Fake fake;
    auto parsed = fake.parse(
        ".:53 { # the root\n"
        "  rewrite name regex \"(.*)\\.corp\\.example\" \"{1}.svc.cluster.local\" # comment\n"
        "  log \"a \\\"quoted\\\" # not a comment\"\n"
        "  hosts {\n    10.0.0.1 a#b c\n  }\n"
        "  template \"two\nlines\" x\n"
        "  next \"{\"\n"
        "}\n");
    REQUIRE(parsed);
    const auto& d = parsed->blocks[0].directives;
    REQUIRE(d.size() == 5);
    CHECK(texts(d[0].args) == std::vector<std::string>{"name", "regex", "(.*)\\.corp\\.example",
                                                       "{1}.svc.cluster.local"});
    CHECK(texts(d[1].args) == std::vector<std::string>{"a \"quoted\" # not a comment"});
    // `#` starts a comment even inside a word, as Caddy's lexer has it.
    CHECK(texts(d[2].block[0].args) == std::vector<std::string>{"a"});
    CHECK(texts(d[3].args) == std::vector<std::string>{"two\nlines", "x"});
    CHECK(d[4].name.line == 9);   // after the quoted newline
    CHECK_FALSE(d[4].has_block);  // a quoted brace is text
    CHECK(texts(d[4].args) == std::vector<std::string>{"{"});
}

TEST_CASE("corefile: environment substitution in keys and arguments") {
    Fake fake;
    fake.env = {{"DOMAIN", "cluster.local"}, {"PORT", "5353"}, {"UP", "10.0.0.9"}};
    auto parsed = fake.parse(
        ".:{$PORT} {\n kubernetes {$DOMAIN} in-addr.arpa\n forward . {%UP%}:53 {$UNSET}x\n}\n");
    REQUIRE(parsed);
    CHECK(texts(parsed->blocks[0].keys) == std::vector<std::string>{".:5353"});
    CHECK(texts(parsed->blocks[0].directives[0].args) ==
          std::vector<std::string>{"cluster.local", "in-addr.arpa"});
    CHECK(texts(parsed->blocks[0].directives[1].args) ==
          std::vector<std::string>{".", "10.0.0.9:53", "x"});
    // A value is not substituted again: a variable naming itself ends.
    fake.env = {{"SELF", "{$SELF}"}};
    auto self = fake.parse(".:53 {\n log {$SELF}\n}\n");
    REQUIRE(self);
    CHECK(self->blocks[0].directives[0].args[0].text == "{$SELF}");
}

TEST_CASE("corefile: snippets") {
    Fake fake;
    fake.env = {{"UP", "10.0.0.7"}};
    auto parsed = fake.parse(
        "(common) {\n  errors\n  cache 30 {\n    prefetch 10\n  }\n  forward . {$UP}\n}\n"
        ".:53 {\n  import common\n  loop\n}\n"
        "consul.local:53 {\n  import common\n}\n");
    REQUIRE(parsed);
    REQUIRE(parsed->blocks.size() == 2);  // a snippet is no block
    CHECK(names(parsed->blocks[0].directives) ==
          std::vector<std::string>{"errors", "cache", "forward", "loop"});
    CHECK(names(parsed->blocks[0].directives[1].block) == std::vector<std::string>{"prefetch"});
    CHECK(texts(parsed->blocks[0].directives[2].args) == std::vector<std::string>{".", "10.0.0.7"});
    CHECK(names(parsed->blocks[1].directives) ==
          std::vector<std::string>{"errors", "cache", "forward"});
    CHECK(parsed->blocks[0].directives[0].name.line == 2);  // where the snippet says it
}

TEST_CASE("corefile: imports of files and globs, relative to the importing file") {
    Fake fake;
    fake.files = {
        {"dir/custom/a.override", "log\n"},
        {"dir/custom/b.override", "hosts {\n  10.0.0.1 b.example\n}\n"},
        {"dir/custom/stub.server", "consul.local:53 {\n  forward . 10.150.0.1\n}\n"},
        {"/etc/coredns/custom/x.server", "x.example:53 {\n forward . 10.0.0.2\n}\n"},
        {"dir/plain", "errors\n"},
    };
    // AKS: relative to the Corefile's directory; k3s: absolute.
    auto parsed = fake.parse(
        ".:53 {\n  import plain\n  import custom/*.override\n  import custom/*.none\n  loop\n}\n"
        "import custom/*.server\nimport /etc/coredns/custom/*.server\n");
    REQUIRE(parsed);
    REQUIRE(parsed->blocks.size() == 3);
    CHECK(names(parsed->blocks[0].directives) ==
          std::vector<std::string>{"errors", "log", "hosts", "loop"});
    const auto& hosts = parsed->blocks[0].directives[2];
    CHECK(hosts.name.file == "dir/custom/b.override");
    CHECK(hosts.name.line == 1);
    CHECK(texts(parsed->blocks[1].keys) == std::vector<std::string>{"consul.local:53"});
    CHECK(texts(parsed->blocks[2].keys) == std::vector<std::string>{"x.example:53"});
    CHECK(parsed->files ==
          std::vector<std::string>{"dir/Corefile", "dir/plain", "dir/custom/a.override",
                                   "dir/custom/b.override", "dir/custom/stub.server",
                                   "/etc/coredns/custom/x.server"});
}

TEST_CASE("corefile: errors name the file, the line and the token") {
    Fake fake;
    fake.files = {{"dir/loop", "import loop\n"}, {"dir/bad", "errors\n}\n"}};
    CHECK(error_of(fake, ".:53 {\n  errors\n") ==
          "dir/Corefile:1: \"{\": this '{' is never closed");
    CHECK(error_of(fake, ".:53 {\n}\n}\n") ==
          "dir/Corefile:3: \"}\": unexpected '}': no block is open");
    CHECK(error_of(fake, ".:53 {\n log \"open\n}\n") ==
          "dir/Corefile:2: a quote opened here is never closed");
    CHECK(error_of(fake, ".:53 {\n  import missing\n}\n") ==
          "dir/Corefile:2: \"missing\": import \"missing\": dir/missing: cannot read");
    CHECK(error_of(fake, ".:53 {\n  import\n}\n")
              .starts_with("dir/Corefile:2: \"import\": import needs"));
    CHECK(error_of(fake, ".:53 {\n  import a b\n}\n") ==
          "dir/Corefile:2: \"b\": import takes one argument, not also \"b\"");
    CHECK(error_of(fake, "import loop\n").find("imports nest more than 10 deep") !=
          std::string::npos);
    // An import is its tokens, as in Caddy: the file's `}` closes the block that imports it.
    CHECK(error_of(fake, ".:53 {\n import bad\n}\n") ==
          "dir/Corefile:3: \"}\": unexpected '}': no block is open");
    CHECK(error_of(fake, "import bad\n") == "dir/bad:2: \"}\": unexpected '}': no block is open");
    CHECK(error_of(fake, ".:53 {\n import */*.x\n}\n").find("one wildcard") != std::string::npos);
    CHECK(error_of(fake, "(snip)\n").find("snippet \"snip\" needs a block") != std::string::npos);
    CHECK(error_of(fake, "a.example:53,\n").find("another key") != std::string::npos);
    CHECK(error_of(fake, "{\n}\n").starts_with("dir/Corefile:1: \"{\": unexpected '{'"));
    CHECK(error_of(fake, ".:53 {\n forward . 10.0.0.1\n {\n }\n}\n")
              .starts_with("dir/Corefile:3: \"{\": unexpected '{'"));
}

TEST_CASE("corefile: a snippet that imports itself ends, and expansions are bounded") {
    Fake fake;
    std::string nested = ".:53 {\n";
    for (int i = 0; i < 1000; ++i) {
        nested += "a {\n";
    }
    CHECK(error_of(fake, nested) == "dir/Corefile:18: \"{\": blocks nest more than 16 deep");
    CHECK(error_of(fake, "(a) {\n import a\n}\n.:53 {\n import a\n}\n")
              .find("imports nest more than 10 deep") != std::string::npos);
    // Each level doubles: 2^9 copies of a line, nine imports deep.
    std::string text = "(s0) {\n log\n}\n";
    for (int i = 1; i <= 9; ++i) {
        text += "(s" + std::to_string(i) + ") {\n import s" + std::to_string(i - 1) +
                "\n import s" + std::to_string(i - 1) + "\n}\n";
    }
    text += ".:53 {\n import s9\n}\n";
    auto parsed = fake.parse(text);
    REQUIRE(parsed);
    CHECK(parsed->blocks[0].directives.size() == 512);
}

}  // namespace
}  // namespace clusterdns
