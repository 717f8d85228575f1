#pragma once
// YAML (and so JSON) text to documents. Block YAML as kubectl, Helm and generators write it (block
// mappings and sequences of plain or quoted one-line scalars) is read by a reader of its own,
// several times faster than libyaml and allocating nothing per scalar; anything else (flow
// collections, comments at the end of a line, anchors, tags, multi-line scalars, tabs, non-ASCII
// text, errors) is read by libyaml's event parser, which reads the whole stream again: iterative
// (no recursion on deep nesting), and the tree goes into an arena. Both give the same tree.

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "zone/document.h"

namespace clusterdns {

// Parses every document of a YAML stream. Aliases share the anchored node; merge keys are kept
// for DocNode::find. Fails with "LINE:COLUMN: problem" on invalid YAML, nesting (or merge keys
// chained) deeper than kMaxYamlDepth, or aliases that expand a document by more than
// kMaxAliasExpansion nodes. With `text_kept` (the text outlives the documents), scalars may point
// into the text instead of being copied into the arena.
Result<std::vector<DocNode>> parse_yaml(std::string_view text, DocArena& arena,
                                        bool text_kept = false);

// Parses a YAML stream a document at a time: `each` gets every document in turn, with its index
// from 0, as soon as it is complete, and its nodes are released from `arena` once `each` returns.
// Fails as parse_yaml, or with what `each` fails with (which stops the reading). When the block
// reader gives up part-way, libyaml reads the text again from the start: `each` sees document 0
// again and must forget what it saw.
using YamlDocumentVisitor = std::function<Status(size_t index, const DocNode& document)>;
Status parse_yaml_each(std::string_view text, DocArena& arena, bool text_kept,
                       const YamlDocumentVisitor& each);

// The two readers parse_yaml uses, for tests: libyaml's, and the block reader, which gives up
// (nullopt) on what it does not read (and on invalid YAML, which libyaml reports), leaving the
// nodes it made in the arena.
Result<std::vector<DocNode>> parse_yaml_with_libyaml(std::string_view text, DocArena& arena);
std::optional<std::vector<DocNode>> read_block_yaml(std::string_view text, DocArena& arena,
                                                    bool text_kept);

constexpr size_t kMaxYamlDepth = 128;
// Sharing makes aliases cheap to parse but not to read: a list of N aliases to a list of N
// addresses is N*N endpoints, and "<<: [*a, *a]" chains make DocNode::find exponential. go-yaml
// v3 (what kubectl parses with) refuses "excessive aliasing" past 400,000 decoded nodes too.
constexpr uint64_t kMaxAliasExpansion = 400'000;

}  // namespace clusterdns
