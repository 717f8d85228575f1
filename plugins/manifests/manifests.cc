#include "plugins/manifests/manifests.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/yaml_document.h"
#include "zone/convert.h"

namespace clusterdns {

Status load_manifest_text(std::string_view text, std::string_view source, Cluster& cluster) {
    DocArena arena;  // the parse tree of this text, freed in one piece
    auto documents = parse_yaml(text, arena);
    if (!documents) {
        return Error{fmt::format("{}:{}", source, documents.error().message)};
    }
    for (size_t i = 0; i < documents->size(); ++i) {
        const DocNode& doc = (*documents)[i];
        if (doc.is_null()) {
            continue;  // an empty document, as between two "---"
        }
        if (Status s = add_objects(doc, source, fmt::format("document {}", i + 1), cluster); !s) {
            return s;
        }
    }
    return {};
}

Status load_manifests(const std::string& path, Cluster& cluster) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            const std::string ext = it->path().extension().string();
            if (it->is_regular_file(ec) && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
                files.push_back(it->path());
            }
        }
        if (ec) {
            return Error{fmt::format("{}: {}", path, ec.message())};
        }
        std::sort(files.begin(), files.end());
    } else if (fs::exists(path, ec)) {
        files.emplace_back(path);
    } else {
        return Error{fmt::format("{}: no such file or directory", path)};
    }
    for (const fs::path& file : files) {
        std::ifstream in(file, std::ios::binary | std::ios::ate);
        if (!in) {
            return Error{fmt::format("{}: cannot read", file.string())};
        }
        std::string text(static_cast<size_t>(in.tellg()), '\0');
        in.seekg(0);
        if (!in.read(text.data(), static_cast<std::streamsize>(text.size()))) {
            return Error{fmt::format("{}: cannot read", file.string())};
        }
        if (auto s = load_manifest_text(text, file.string(), cluster); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace clusterdns
