// Fuzzes the Corefile reader and its translation into Options (a Corefile is a ConfigMap's
// text: untrusted). Every import reads the input again and every glob matches two files, so
// imports nest and fan out until the reader's bounds refuse them; environment variables are set.
// Whatever the input, reading ends with a tree or an error naming a line, never a crash or hang.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "plugins/corefile/corefile.h"
#include "server/corefile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clusterdns;
    const std::string text(reinterpret_cast<const char*>(data), size);
    CorefileSources sources;
    sources.read = [&text](const std::string&) -> Result<std::string> { return text; };
    sources.glob = [](const std::string& pattern) {
        return std::vector<std::string>{pattern + ".1", pattern + ".2"};
    };
    sources.getenv = [](const std::string& name) -> std::optional<std::string> {
        if (name.empty() || name[0] == 'U') {
            return std::nullopt;
        }
        return name[0] == 'S' ? "{$" + name + "}" : "cluster.local";
    };
    auto corefile = parse_corefile(text, "Corefile", sources);
    if (!corefile) {
        if (corefile.error().message.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    if (corefile->files.empty() || corefile->files.front() != "Corefile") {
        __builtin_trap();
    }
    for (const CorefileServerBlock& block : corefile->blocks) {
        if (block.keys.empty()) {
            __builtin_trap();  // a block always has a key
        }
    }
    Options options;
    auto applied = apply_corefile(*corefile, options);
    if (!applied && applied.error().message.empty()) {
        __builtin_trap();
    }
    return 0;
}
