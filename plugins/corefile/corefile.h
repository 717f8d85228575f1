#pragma once
// Reading a Corefile, CoreDNS's configuration (the Caddyfile syntax of Caddy 1, which CoreDNS
// forked): server blocks, each with its keys (`.:53`, `dns://cluster.local:53`, several zones in
// one key) and its directives (a plugin's name, arguments on the same line, an optional `{ }`
// block of option lines, nested), `#` comments, double quotes, environment substitution
// (`{$VAR}`, `{%VAR%}`), snippets (`(name) { ... }` and `import name`) and `import` of files and
// globs, relative to the importing file's directory. What the plugins mean is not known here:
// server/corefile.cc translates the tree into Options.
//
// A Corefile is input from a ConfigMap: nothing it says crashes or hangs the reader (imports
// nest at most kMaxImportDepth deep, blocks kMaxBlockDepth, a read expands to at most kMaxTokens
// tokens), and every
// error names the file, the line and the token.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace clusterdns {

struct CorefileToken {
    std::string text;  // quotes removed, environment substituted
    std::string file;  // as named: the Corefile's path, or the imported file's
    uint32_t line = 0;
};

// One line of a block: `forward . 10.0.0.1 {` ... `}`. A plugin at a server block's level, an
// option inside a plugin's block.
struct CorefileDirective {
    CorefileToken name;
    std::vector<CorefileToken> args;
    bool has_block = false;  // `{ }` given, even empty
    std::vector<CorefileDirective> block;
};

struct CorefileServerBlock {
    std::vector<CorefileToken> keys;  // ".:53", "dns://cluster.local:53", ...
    std::vector<CorefileDirective> directives;
};

struct Corefile {
    std::vector<CorefileServerBlock> blocks;
    std::vector<std::string> files;  // every file read (the Corefile first), for reload to watch
};

// Where the reader gets files and the environment from: the real ones, or a test's.
struct CorefileSources {
    // The whole file, or an error saying why not (the message names the path).
    std::function<Result<std::string>(const std::string& path)> read;
    // The paths a pattern matches, sorted; none is not an error.
    std::function<std::vector<std::string>(const std::string& pattern)> glob;
    std::function<std::optional<std::string>(const std::string& name)> getenv;
};
CorefileSources system_corefile_sources();

inline constexpr unsigned kMaxImportDepth = 10;
inline constexpr unsigned kMaxBlockDepth = 16;  // `{` inside `{`: no plugin needs more
inline constexpr size_t kMaxTokens = 200000;
inline constexpr size_t kMaxCorefileBytes = 1 << 20;

// Reads the Corefile at `path` and what it imports.
Result<Corefile> read_corefile(const std::string& path,
                               const CorefileSources& sources = system_corefile_sources());
// The same for text already read; `path` names it in errors and roots its relative imports.
Result<Corefile> parse_corefile(std::string_view text, const std::string& path,
                                const CorefileSources& sources);

// "FILE:LINE: " for a message about `token`.
std::string corefile_position(const CorefileToken& token);

}  // namespace clusterdns
