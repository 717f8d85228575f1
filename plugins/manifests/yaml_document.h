#pragma once
// YAML (and so JSON) text to documents, with libyaml's event parser: fast, iterative (no
// recursion on deep nesting), and the tree goes into an arena.

#include <string_view>
#include <vector>

#include "base/result.h"
#include "zone/document.h"

namespace clusterdns {

// Parses every document of a YAML stream. Aliases share the anchored node; merge keys are kept
// for DocNode::find. Fails with "LINE:COLUMN: problem" on invalid YAML, nesting (or merge keys
// chained) deeper than kMaxYamlDepth, or aliases that expand a document by more than
// kMaxAliasExpansion nodes.
Result<std::vector<DocNode>> parse_yaml(std::string_view text, DocArena& arena);

constexpr size_t kMaxYamlDepth = 128;
// Sharing makes aliases cheap to parse but not to read: a list of N aliases to a list of N
// addresses is N*N endpoints, and "<<: [*a, *a]" chains make DocNode::find exponential. go-yaml
// v3 (what kubectl parses with) refuses "excessive aliasing" past 400,000 decoded nodes too.
constexpr uint64_t kMaxAliasExpansion = 400'000;

}  // namespace clusterdns
