#include "plugins/manifests/yaml_document.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

const std::string kData = CLUSTERDNS_TEST_DATA;

// The first difference between two trees ("" when none): kind, quoting, line, text, and the
// same of every item and member.
std::string difference(const DocNode& a, const DocNode& b, const std::string& path) {
    if (a.kind != b.kind || a.quoted != b.quoted || a.line != b.line || a.text != b.text ||
        a.items.size() != b.items.size() || a.members.size() != b.members.size()) {
        return path + ": kind " + std::to_string(int(a.kind)) + "/" + std::to_string(int(b.kind)) +
               ", quoted " + std::to_string(a.quoted) + "/" + std::to_string(b.quoted) + ", line " +
               std::to_string(a.line) + "/" + std::to_string(b.line) + ", text \"" +
               std::string(a.text) + "\"/\"" + std::string(b.text) + "\"";
    }
    for (size_t i = 0; i < a.items.size(); ++i) {
        if (auto d = difference(a.items[i], b.items[i], path + "[" + std::to_string(i) + "]");
            !d.empty()) {
            return d;
        }
    }
    for (size_t i = 0; i < a.members.size(); ++i) {
        const std::string at = path + "." + std::string(a.members[i].key);
        if (a.members[i].key != b.members[i].key) {
            return at + ": key \"" + std::string(b.members[i].key) + "\" in the other";
        }
        if (auto d = difference(a.members[i].value, b.members[i].value, at); !d.empty()) {
            return d;
        }
    }
    return {};
}

std::string difference(const std::vector<DocNode>& a, const std::vector<DocNode>& b) {
    if (a.size() != b.size()) {
        return std::to_string(a.size()) + " documents, " + std::to_string(b.size()) +
               " in the other";
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (auto d = difference(a[i], b[i], "document " + std::to_string(i)); !d.empty()) {
            return d;
        }
    }
    return {};
}

// The block reader reads `text`, as libyaml does.
void check_read_alike(const std::string& text) {
    INFO("the text:\n" << text);
    DocArena block_arena;
    DocArena libyaml_arena;
    const auto block = read_block_yaml(text, block_arena, true);
    const auto libyaml = parse_yaml_with_libyaml(text, libyaml_arena);
    REQUIRE(libyaml.has_value());
    REQUIRE(block.has_value());
    CHECK(difference(*block, *libyaml) == "");
}

// The block reader leaves `text` to libyaml, and parse_yaml gives what libyaml gives.
void check_left_to_libyaml(const std::string& text) {
    INFO("the text:\n" << text);
    DocArena arena;
    CHECK_FALSE(read_block_yaml(text, arena, true).has_value());
    DocArena libyaml_arena;
    const auto libyaml = parse_yaml_with_libyaml(text, libyaml_arena);
    DocArena both_arena;
    const auto both = parse_yaml(text, both_arena, true);
    REQUIRE(both.has_value() == libyaml.has_value());
    if (both) {
        CHECK(difference(*both, *libyaml) == "");
    } else {
        CHECK(both.error().message == libyaml.error().message);
    }
}

// A Service and its EndpointSlice as bench/gen_cluster.py --shape real writes them (kubectl's
// layout: sequences at their key's indentation, timestamps and numbers-as-strings quoted).
constexpr const char* kGenerated = R"(apiVersion: v1
kind: Service
metadata:
  name: svc-000001
  namespace: ns-001
  uid: 6b0c2a4e-3f1d-4c1e-9d52-8f0a1b2c3d4e
  resourceVersion: "100001"
  creationTimestamp: "2024-01-15T10:00:00Z"
  labels:
    app.kubernetes.io/name: svc-000001
    app.kubernetes.io/part-of: ns-001
  annotations:
    bench.clusterdns/generated: "true"
spec:
  type: ClusterIP
  clusterIP: 10.96.0.20
  clusterIPs:
  - 10.96.0.20
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
  selector:
    app.kubernetes.io/name: svc-000001
  sessionAffinity: None
status:
  loadBalancer: {}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-000001-3fa9c
  namespace: ns-001
  generateName: svc-000001-
  labels:
    kubernetes.io/service-name: svc-000001
  ownerReferences:
  - apiVersion: v1
    kind: Service
    name: svc-000001
    blockOwnerDeletion: true
    controller: true
addressType: IPv4
endpoints:
- addresses:
  - 10.130.1.5
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-07
  targetRef:
    kind: Pod
    name: svc-000001-7d9f8b6c5-x2k4q
    namespace: ns-001
ports:
- name: http
  protocol: TCP
  port: 8080
)";

}  // namespace

TEST_CASE("yaml: the block reader reads block YAML as libyaml does") {
    check_read_alike(kGenerated);
    // Without a trailing line feed, a first "---", comments and blank lines between.
    check_read_alike(std::string("---\n# a comment\n\n") + kGenerated + "---\nkind: Namespace");
    // A key without value is null: before a sibling, a key less indented, a document's end,
    // the end of the text; a sequence item's mapping is where its first key is.
    check_read_alike("a:\nb:\n  c:\nd: 1\ne:\n");
    check_read_alike("items:\n- name:\n  port:\n-   name: x\n    port: 1\n- last:\n---\nz:");
    // Sequences indented under their key, or at its indentation; nested in sequence items.
    check_read_alike("a:\n  - 1\n  - 2\nb:\n- 3\n- x:\n    - 4\n  y:\n  - 5\nc: 6\n");
    check_read_alike("- a\n- b: 1\n  c: 2\n- {}\n- []\n- 'q'\n- \"dq\"\n");
    // Plain scalars: numbers, booleans as YAML 1.1 writes them, nulls, colons and spaces
    // inside, a leading '-' before a digit.
    check_read_alike(
        "a: 0x50\nb: yes\nc: off\ne: null\nf: http://x:80/y\ng: a b  c\n"
        "h: -1\ni: 2024-01-31\nj: 1e3\nk: .inf\nl: a,b=c@d+e(f)~\n");
    // Quoted scalars, empty or holding what would otherwise be YAML.
    check_read_alike("a: \"\"\nb: ''\nc: \"# not: a comment, {x}\"\nd: 'say \"hi\"'\n");
    // Empty documents, explicit ones only.
    check_read_alike("---\n---\na: 1\n---\n");
    check_read_alike("---\n# nothing but a comment\n---\n- 1\n");
    // Deep nesting, within libyaml's limits.
    std::string deep;
    for (int i = 0; i < 100; ++i) {
        deep += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
    }
    check_read_alike(deep + std::string(200, ' ') + "leaf: 1\n");
}

TEST_CASE("yaml: the block reader leaves the rest to libyaml") {
    const std::string texts[] = {
        // Flow collections, comments after a value, anchors, aliases, tags, merge keys.
        "a: {b: 1}\n",
        "a: [1, 2]\n",
        "a: 1 # one\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "base: {x: 1}\nm:\n  <<: {y: 2}\n",
        // Block and multi-line scalars.
        "a: |\n  text\n",
        "a: >-\n  text\n",
        "a: one\n  two\n",
        "- one\n  two\n",
        "a: one\n\n  two\n",
        "a: \"one\n  two\"\n",
        // Escapes in quotes, a quote doubled.
        "a: \"tab\\there\"\n",
        "a: 'it''s'\n",
        // Tabs, CR line ends, non-ASCII text, control characters, a byte-order mark.
        "a:\t1\n",
        "a: 1\r\nb: 2\r\n",
        "a: caf\xC3\xA9\n",
        "# \xC2\x85 a NEL\na: 1\n",
        std::string("a: 1\n\0b: 2\n", 12),
        "\xEF\xBB\xBF"
        "a: 1\n",
        // Document markers with content, a document end, directives.
        "--- a: 1\n",
        "a: 1\n...\n",
        "%YAML 1.1\n---\na: 1\n",
        // Null or nested items, nested sequences, a root scalar or an indented root.
        "- \n- a\n",
        "-\n  a: 1\n",
        "- - a\n",
        "just text\n",
        "  a: 1\n",
        "a: b: c\n",
        "\"quoted key\": 1\n",
        "a key: 1\n",
        "a: 1   \n",
        "   \na: 1\n",
        // Invalid YAML: libyaml says where and why.
        "a: 1\n  b: 2\n",
        "a:\n    b: 1\n  c: 2\n",
        "a: 1\na: 2\n",
        "- a\nb: 1\n",
        "a:\n  - 1\n  b: 2\n",
        "a: \"unclosed\n",
        "",
        "# only a comment\n",
    };
    for (const std::string& text : texts) {
        check_left_to_libyaml(text);
    }
    // A key longer than the reader takes.
    check_left_to_libyaml(std::string(300, 'k') + ": 1\n");
    // Nesting deeper than parse_yaml allows: refused by libyaml's reading, with its position.
    std::string deep;
    for (size_t i = 0; i <= kMaxYamlDepth; ++i) {
        deep += std::string(i, ' ') + "k:\n";
    }
    check_left_to_libyaml(deep + std::string(kMaxYamlDepth + 1, ' ') + "leaf: 1\n");
}

TEST_CASE("yaml: documents one at a time") {
    const auto visit = [](const std::string& text) {
        std::vector<std::string> seen;
        DocArena arena(1024);
        const Status s =
            parse_yaml_each(text, arena, true, [&](size_t index, const DocNode& doc) -> Status {
                seen.push_back(std::to_string(index) + ":" + std::string(scalar_at(doc, {"name"})));
                return {};
            });
        if (!s) {
            seen.push_back(s.error().message);
        }
        return seen;
    };
    using Seen = std::vector<std::string>;
    CHECK(visit("name: a\n---\nname: b\n") == Seen{"0:a", "1:b"});
    // The block reader gives up in the third document: libyaml reads them all again.
    CHECK(visit("name: a\n---\nname: b\n---\nname: c # a comment\n") ==
          Seen{"0:a", "1:b", "0:a", "1:b", "2:c"});
    // Invalid YAML after documents already seen.
    CHECK(visit("name: a\n---\nname: [b\n") == Seen{"0:a", "0:a",
                                                    "4:1: invalid YAML: did not "
                                                    "find expected ',' or ']' "
                                                    "while parsing a flow sequence"});
    // What the visitor fails with stops the reading, in either reader.
    for (const std::string text : {"name: a\n---\nname: b\n", "{name: a}\n---\n{name: b}\n"}) {
        size_t calls = 0;
        DocArena arena;
        const Status s = parse_yaml_each(text, arena, true, [&](size_t, const DocNode&) -> Status {
            ++calls;
            return Error{"enough"};
        });
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error().message == "enough");
        CHECK(calls == 1);
    }
}

TEST_CASE("yaml: every manifest of the tests and examples reads the same with libyaml alone") {
    namespace fs = std::filesystem;
    size_t files = 0;
    size_t by_block_reader = 0;
    for (const std::string& dir : {kData, kData + "/../corpus", kData + "/../../examples"}) {
        for (const auto& entry : fs::recursive_directory_iterator(dir)) {
            const std::string ext = entry.path().extension().string();
            if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml" && ext != ".json")) {
                continue;
            }
            std::ifstream in(entry.path());
            std::stringstream read;
            read << in.rdbuf();
            const std::string text = read.str();
            INFO(entry.path().string());
            DocArena arena;
            DocArena libyaml_arena;
            const auto both = parse_yaml(text, arena, true);
            const auto libyaml = parse_yaml_with_libyaml(text, libyaml_arena);
            REQUIRE(both.has_value() == libyaml.has_value());
            if (both) {
                CHECK(difference(*both, *libyaml) == "");
            } else {
                CHECK(both.error().message == libyaml.error().message);
            }
            DocArena block_arena;
            by_block_reader += read_block_yaml(text, block_arena, true).has_value();
            ++files;
        }
    }
    CHECK(files > 50);
    CHECK(by_block_reader > 10);
}

}  // namespace clusterdns
