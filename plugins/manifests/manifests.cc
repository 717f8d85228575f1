#include "plugins/manifests/manifests.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
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

// Reads, parses and applies a list of files. Parsing (libyaml's part, most of the time) is shared
// by this thread and the helpers; this thread alone converts each file's objects into the sink,
// in order, so files are applied, and errors reported, as they sort. Whoever is free parses the
// next file nobody has taken, at most a few files ahead of the conversion: the parse trees held
// at once stay few.
class ParsePipeline {
public:
    explicit ParsePipeline(const std::vector<std::filesystem::path>& files) : files_(files) {
        for (size_t k = 0; k < files.size(); ++k) {
            parsed_.emplace_back(Error{});
        }
        done_.assign(files.size(), false);
    }

    Status apply(ObjectSink& cluster) {
        const size_t cores = std::thread::hardware_concurrency();  // 0 when unknown
        const size_t helpers = files_.size() > 1 ? std::clamp<size_t>(cores, 2, 4) - 1 : 0;
        window_ = 2 * (helpers + 1);
        std::vector<std::thread> threads;
        for (size_t h = 0; h < helpers; ++h) {
            threads.push_back(start_quiet_thread([this] {
                while (parse_next(false)) {
                }
            }));
        }
        Status status;
        for (size_t i = 0; i < files_.size() && status; ++i) {
            while (!ready(i) && parse_next(true)) {
            }
            wait_for(i);
            status = parsed_[i] ? add_documents(**parsed_[i], files_[i].string(), cluster)
                                : Status(parsed_[i].error());
            std::lock_guard lock(mutex_);
            parsed_[i] = Error{};  // its tree is freed while the helpers go on
            converted_ = i + 1;
            changed_.notify_all();
        }
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            changed_.notify_all();
        }
        for (std::thread& t : threads) {
            t.join();
        }
        return status;
    }

private:
    // Parses the next file nobody has taken, if it is within the window. A helper waits for one;
    // the converting thread (`if_any`) returns false at once instead. False: nothing to take.
    bool parse_next(bool if_any) {
        size_t k = 0;
        {
            std::unique_lock lock(mutex_);
            const auto can_take = [this] {
                return stopping_ || next_ == files_.size() || next_ < converted_ + window_;
            };
            if (if_any && !can_take()) {
                return false;
            }
            changed_.wait(lock, can_take);
            if (stopping_ || next_ == files_.size()) {
                return false;
            }
            k = next_++;
        }
        Result<std::unique_ptr<ParsedText>> result = Error{};
        try {
            result = parse_file(files_[k].string());
        } catch (const std::bad_alloc&) {
            result = Error{fmt::format("{}: out of memory", files_[k].string())};
        }
        std::lock_guard lock(mutex_);
        parsed_[k] = std::move(result);
        done_[k] = true;
        changed_.notify_all();
        return true;
    }
    bool ready(size_t i) {
        std::lock_guard lock(mutex_);
        return done_[i];
    }
    void wait_for(size_t i) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return static_cast<bool>(done_[i]); });
    }

    const std::vector<std::filesystem::path>& files_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Result<std::unique_ptr<ParsedText>>> parsed_;
    std::vector<bool> done_;
    size_t next_ = 0;       // the first file nobody has taken
    size_t converted_ = 0;  // files before this one are applied
    size_t window_ = 2;
    bool stopping_ = false;
};

}  // namespace

Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster) {
    auto parsed = parse_text(std::string(text), source);
    if (!parsed) {
        return parsed.error();
    }
    return add_documents(**parsed, source, cluster);
}

bool is_manifest_file_name(std::string_view name) {
    const std::string ext = std::filesystem::path(name).extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

namespace {

// The files load_manifests reads for `path`, in the order it applies them.
Result<std::vector<std::filesystem::path>> manifest_files(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_regular_file(ec) && is_manifest_file_name(it->path().filename().string())) {
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
    return files;
}

}  // namespace

Status load_manifests(const std::string& path, ObjectSink& cluster) {
    auto files = manifest_files(path);
    if (!files) {
        return files.error();
    }
    return ParsePipeline(*files).apply(cluster);
}

Status visit_manifest_documents(const std::string& path, const DocumentVisitor& visit) {
    auto files = manifest_files(path);
    if (!files) {
        return files.error();
    }
    for (const auto& file : *files) {
        auto parsed = parse_file(file.string());
        if (!parsed) {
            return parsed.error();
        }
        for (size_t i = 0; i < (*parsed)->documents.size(); ++i) {
            const DocNode& doc = (*parsed)->documents[i];
            if (doc.is_null()) {
                continue;
            }
            if (Status s = visit(file.string(), i, doc); !s) {
                return s;
            }
        }
    }
    return {};
}

}  // namespace clusterdns
