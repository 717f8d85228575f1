#include "plugins/manifests/manifests.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/yaml_document.h"
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

}  // namespace

Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster) {
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
    for (const fs::path& file : files) {
        auto text = read_manifest_file(file.string());
        if (!text) {
            return text.error();
        }
        if (auto s = load_manifest_text(*text, file.string(), cluster); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace clusterdns
