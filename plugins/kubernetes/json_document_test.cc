#include "plugins/kubernetes/json_document.h"

#include <string>

#include <doctest/doctest.h>

#include "zone/convert.h"

namespace clusterdns {
namespace {

TEST_CASE("json: objects, arrays and scalars become DocNodes; strings are quoted") {
    JsonParser parser;
    DocArena arena;
    auto doc = parser.parse(
        R"({"a":"80","b":80,"c":true,"d":null,"e":[1,-2,2.5],"f":{"g":"x\u0000y"},"h":18446744073709551615})",
        arena);
    REQUIRE(doc.has_value());
    REQUIRE(doc->is_mapping());
    CHECK(doc->members.size() == 7);
    CHECK(doc->find("a")->quoted);
    CHECK(doc->find("a")->text == "80");
    CHECK_FALSE(doc->find("b")->quoted);
    CHECK(doc->find("b")->text == "80");
    CHECK(doc->find("c")->text == "true");
    CHECK(doc->find("d")->is_null());
    const DocNode& e = *doc->find("e");
    REQUIRE(e.is_sequence());
    CHECK(e.items[1].text == "-2");
    CHECK(e.items[2].text == "2.5");
    CHECK(doc->find("f")->find("g")->text == std::string_view("x\0y", 3));
    CHECK(doc->find("h")->text == "18446744073709551615");
}

TEST_CASE("json: invalid text and excessive nesting are errors") {
    JsonParser parser;
    DocArena arena;
    CHECK_FALSE(parser.parse(R"({"a":)", arena).has_value());
    CHECK_FALSE(parser.parse("", arena).has_value());
    CHECK(parser.parse(std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']'),
                       arena)
              .has_value());
    const auto deep =
        parser.parse(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'),
                     arena);
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error().message.find("invalid JSON") == 0);
}

TEST_CASE("json: typed fields keep their JSON type through the converter") {
    JsonParser parser;
    DocArena arena;
    Cluster cluster;
    auto good = parser.parse(
        R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"prod"},
            "spec":{"clusterIP":"10.96.0.5","ports":[{"name":"http","port":80}]}})",
        arena);
    REQUIRE(good.has_value());
    REQUIRE(add_objects(*good, "API", "object", cluster).has_value());
    CHECK(cluster.services.at("prod/web").ports.at(0).port == 80);
    auto bad = parser.parse(
        R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"api","namespace":"prod"},
            "spec":{"clusterIP":"10.96.0.6","ports":[{"port":"80"}]}})",
        arena);
    REQUIRE(bad.has_value());
    const Status s = add_objects(*bad, "API", "object", cluster);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().message ==
          "API: object (Service prod/api): spec.ports[0].port: expected an integer, got \"80\"");
}

// A tree as text, to compare two parses of one document.
std::string dump(const DocNode& node) {
    switch (node.kind) {
        case DocNode::Kind::Null:
            return "null";
        case DocNode::Kind::Scalar:
            return (node.quoted ? "'" : "") + std::string(node.text);
        case DocNode::Kind::Sequence: {
            std::string out = "[";
            for (const DocNode& item : node.items) {
                out += dump(item) + ",";
            }
            return out + "]";
        }
        case DocNode::Kind::Mapping: {
            std::string out = "{";
            for (const DocMember& m : node.members) {
                out += std::string(m.key) + ":" + dump(m.value) + ",";
            }
            return out + "}";
        }
    }
    return "?";
}

TEST_CASE("json: a list that wants every item is the list parsed as any document") {
    JsonParser parser;
    DocArena arena;
    for (
        const char* text : {
            R"({"kind":"ServiceList","metadata":{"continue":"a\"b"},"items":[]})",
            R"({"items":[{"metadata":{"name":"x]}\\"},"a":["[{",{"}":"\"]"}]},7,"s",null,[1,[2]],true]})",
            R"(  { "items" : [ { "a" : 1 } , { "b" : [ ] } ] , "metadata" : { "resourceVersion" : "9" } }  )",
            R"({"items":[{"a":1}],"items":[{"b":2}]})",
            R"({"a":{"items":[1]},"items":[{"c":"\u0041"}],"z":-1.5e3})",
            R"({"items":{"a":1}})",
            R"({"items":[1,2]} x)",
            R"({"items":[1 2]})",
            R"({"items":[{"a":1}})",
            R"({"items":[{"a":"x}]})",
            R"({"items":[{"a":1},]})",
            R"([{"items":[]}])",
            R"("items")",
            R"({"items":[{"a":1}],})",
            "",
        }) {
        INFO(std::string(text));
        auto whole = parser.parse(text, arena);
        auto split = parser.parse_list(text, arena, [](const ItemHeader&) { return true; });
        REQUIRE(whole.has_value() == split.has_value());
        if (whole) {
            CHECK(dump(*whole) == dump(*split));
        }
    }
}

}  // namespace
}  // namespace clusterdns
