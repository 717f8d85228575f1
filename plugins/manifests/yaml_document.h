#pragma once
// YAML (and so JSON) text to documents, with libyaml's event parser: fast, iterative (no
// recursion on deep nesting), and the tree goes into an arena.

#include <string_view>
#include <vector>

#include "server/codec/result.h"
#include "zone/document.h"

namespace clusterdns {

// Parses every document of a YAML stream. Aliases share the anchored node; merge keys are kept
// for DocNode::find. Fails with "LINE:COLUMN: problem" on invalid YAML or nesting deeper than
// kMaxYamlDepth.
Result<std::vector<DocNode>> parse_yaml(std::string_view text, DocArena& arena);

constexpr size_t kMaxYamlDepth = 128;

}  // namespace clusterdns
