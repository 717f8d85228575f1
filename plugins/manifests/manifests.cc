#include "plugins/manifests/manifests.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
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
    // Files parse independently, so the CPUs share them; the objects are then merged in path
    // order, so a later file wins as it would loading one by one, and the first error reported is
    // that of the first bad file.
    struct Part {
        Cluster objects;
        Status status;
    };
    std::vector<Part> parts(files.size());
    std::atomic<size_t> next{0};
    const auto work = [&] {
        for (size_t i = next++; i < files.size(); i = next++) {
            std::ifstream in(files[i], std::ios::binary);
            if (!in) {
                parts[i].status = Error{fmt::format("{}: cannot read", files[i].string())};
                continue;
            }
            std::ostringstream text;
            text << in.rdbuf();
            parts[i].status = load_manifest_text(text.str(), files[i].string(), parts[i].objects);
        }
    };
    const size_t helpers =
        std::min<size_t>(files.size(), std::max(1u, std::thread::hardware_concurrency())) - 1;
    std::vector<std::thread> threads;
    for (size_t t = 0; t < helpers; ++t) {
        threads.emplace_back(work);
    }
    work();
    for (std::thread& t : threads) {
        t.join();
    }
    for (Part& part : parts) {
        if (!part.status) {
            return part.status;
        }
        cluster.absorb(std::move(part.objects));
    }
    return {};
}

}  // namespace clusterdns
