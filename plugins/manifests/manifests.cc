#include "plugins/manifests/manifests.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/yaml_document.h"
#include "server/codec/threads.h"
#include "zone/convert.h"

namespace clusterdns {
namespace {

// Reads a whole manifest file. Opened without blocking and checked once open, so a FIFO or a
// device named by mistake (or swapped in after a check) is refused instead of hanging the start.
Result<std::string> read_manifest_file(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return Error{fmt::format("{}: cannot read: {}", path, std::strerror(errno))};
    }
    struct Closer {
        int fd;
        ~Closer() { close(fd); }
    } closer{fd};
    struct stat info {};
    if (fstat(fd, &info) != 0) {
        return Error{fmt::format("{}: cannot read: {}", path, std::strerror(errno))};
    }
    if (!S_ISREG(info.st_mode)) {
        return Error{fmt::format("{}: not a regular file or a directory", path)};
    }
    const auto size = static_cast<uint64_t>(info.st_size);
    if (size > kMaxManifestFileBytes) {
        return Error{fmt::format("{}: {} bytes, more than the {} MiB a manifest file may have",
                                 path, size, kMaxManifestFileBytes >> 20)};
    }
    std::string text(size, '\0');
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = read(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return Error{fmt::format("{}: cannot read: {}", path, std::strerror(errno))};
        }
        if (n == 0) {
            break;  // shrank while we read: take what is there
        }
        done += static_cast<size_t>(n);
    }
    text.resize(done);
    return text;
}

// A manifest's text and its documents' parse trees (which point into the text).
struct ParsedText {
    std::string text;
    DocArena arena;  // the parse tree, freed in one piece
    std::vector<DocNode> documents;
};

Result<std::unique_ptr<ParsedText>> parse_text(std::string text, std::string_view source) {
    auto parsed = std::make_unique<ParsedText>();
    parsed->text = std::move(text);
    auto documents = parse_yaml(parsed->text, parsed->arena);
    if (!documents) {
        return Error{fmt::format("{}:{}", source, documents.error().message)};
    }
    parsed->documents = std::move(*documents);
    return parsed;
}

Result<std::unique_ptr<ParsedText>> parse_file(const std::string& path) {
    auto text = read_manifest_file(path);
    if (!text) {
        return text.error();
    }
    return parse_text(std::move(*text), path);
}

Status add_documents(const ParsedText& parsed, std::string_view source, ObjectSink& cluster) {
    for (size_t i = 0; i < parsed.documents.size(); ++i) {
        const DocNode& doc = parsed.documents[i];
        if (doc.is_null()) {
            continue;  // an empty document, as between two "---"
        }
        if (Status s = add_objects(doc, source, fmt::format("document {}", i + 1), cluster); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace

Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster) {
    auto parsed = parse_text(std::string(text), source);
    if (!parsed) {
        return parsed.error();
    }
    return add_documents(**parsed, source, cluster);
}

Status load_manifests(const std::string& path, ObjectSink& cluster) {
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
    // Helper threads read and parse the next files (libyaml's part, most of the time) while this
    // one converts each file's objects into `cluster`, in order: files are still applied, and
    // errors reported, as they sort.
    const size_t cores = std::thread::hardware_concurrency();  // 0 when unknown
    const size_t ahead = std::clamp<size_t>(cores > 1 ? cores - 1 : 1, 1, 4);
    std::vector<Result<std::unique_ptr<ParsedText>>> parsed;
    parsed.reserve(files.size());
    for (size_t k = 0; k < files.size(); ++k) {
        parsed.emplace_back(Error{});
    }
    std::vector<std::thread> helpers(files.size());
    const auto start = [&](size_t k) {
        if (k >= files.size()) {
            return;
        }
        helpers[k] = start_quiet_thread([&parsed, k, path = files[k].string()] {
            try {
                parsed[k] = parse_file(path);
            } catch (const std::bad_alloc&) {
                parsed[k] = Error{fmt::format("{}: out of memory", path)};
            }
        });
    };
    for (size_t k = 1; k <= ahead; ++k) {
        start(k);
    }
    parsed[0] = parse_file(files[0].string());  // one file needs no helper
    Status status;
    for (size_t i = 0; i < files.size(); ++i) {
        if (helpers[i].joinable()) {
            helpers[i].join();
        }
        if (status) {
            status = parsed[i] ? add_documents(**parsed[i], files[i].string(), cluster)
                               : Status(parsed[i].error());
        }
        parsed[i] = Error{};  // its tree is freed while the helpers go on
        if (status) {
            start(i + 1 + ahead);
        }
    }
    return status;
}

}  // namespace clusterdns
