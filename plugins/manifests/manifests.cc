#include "plugins/manifests/manifests.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/yaml_document.h"
#include "base/threads.h"
#include "zone/convert.h"

namespace clusterdns {
namespace {

// Reads a whole manifest file into `text` (whose memory is reused). Opened without blocking and
// checked once open, so a FIFO or a device named by mistake (or swapped in after a check) is
// refused instead of hanging the start.
Status read_manifest_file(const std::string& path, std::string& text) {
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
    text.resize(size);
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
    return {};
}

// Standard input, read to its end once: it cannot be read again, so a reload (or `explain`, which
// reads the manifests twice) applies the text first read. Held for the life of the process.
struct StandardInput {
    std::mutex mutex;
    std::optional<Result<std::string>> read;
    bool closed = false;  // stop_reading_standard_input()
};

StandardInput& standard_input() {
    static StandardInput input;
    return input;
}

Result<std::string_view> standard_input_text() {
    StandardInput& input = standard_input();
    std::lock_guard lock(input.mutex);
    auto& read = input.read;
    if (!read && input.closed) {
        return Error{fmt::format("{}: standard input is read at start-up only ({} was not given "
                                 "then)",
                                 kStdinName, kStdinPath)};
    }
    if (!read) {
        read = [&]() -> Result<std::string> {
            std::string text;
            for (;;) {
                const size_t done = text.size();
                text.resize(std::max<size_t>(done + 64 * 1024, done * 2));
                const ssize_t n = ::read(STDIN_FILENO, text.data() + done, text.size() - done);
                if (n < 0 && errno == EINTR) {
                    text.resize(done);
                    continue;
                }
                if (n < 0 && errno == EAGAIN) {  // a non-blocking descriptor we inherited
                    text.resize(done);
                    pollfd wait{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
                    poll(&wait, 1, -1);
                    continue;
                }
                if (n < 0) {
                    return Error{fmt::format("{}: cannot read: {}", kStdinName,
                                             std::strerror(errno))};
                }
                text.resize(done + static_cast<size_t>(n));
                if (n == 0) {
                    break;
                }
                if (text.size() > kMaxManifestFileBytes) {
                    return Error{fmt::format("{}: more than the {} MiB a manifest file may have",
                                             kStdinName, kMaxManifestFileBytes >> 20)};
                }
            }
            text.shrink_to_fit();
            return text;
        }();
    }
    if (!*read) {
        return read->error();
    }
    return std::string_view(**read);
}

// What messages call a path: standard input by its name.
std::string_view source_name(const std::string& path) {
    return path == kStdinPath ? kStdinName : std::string_view(path);
}

// A file's text, or standard input's for "-" (kept for the process's life, so only viewed).
struct ManifestText {
    std::string owned;
    std::string_view kept;
    bool is_kept = false;
    std::string_view text() const { return is_kept ? kept : std::string_view(owned); }
};

// A manifest's documents. Their strings may point into the text, which goes with them.
struct ParsedText {
    ManifestText text;
    DocArena arena;  // the rest of the parse tree, freed in one piece
    std::vector<DocNode> documents;
};

Result<std::unique_ptr<ParsedText>> parse_text(ManifestText text, std::string_view source) {
    auto parsed = std::make_unique<ParsedText>();
    parsed->text = std::move(text);
    auto documents = parse_yaml(parsed->text.text(), parsed->arena, true);
    if (!documents) {
        return Error{fmt::format("{}:{}", source, documents.error().message)};
    }
    parsed->documents = std::move(*documents);
    return parsed;
}

Result<ManifestText> read_manifest(const std::string& path) {
    ManifestText out;
    if (path == kStdinPath) {
        auto text = standard_input_text();
        if (!text) {
            return text.error();
        }
        out.kept = *text;
        out.is_kept = true;
        return out;
    }
    if (Status s = read_manifest_file(path, out.owned); !s) {
        return s.error();
    }
    return out;
}

Result<std::unique_ptr<ParsedText>> parse_file(const std::string& path) {
    auto text = read_manifest(path);
    if (!text) {
        return text.error();
    }
    return parse_text(std::move(*text), source_name(path));
}

// Where parse_yaml's "LINE:COLUMN: problem" says the problem is: (line, column), 1-based.
std::pair<uint32_t, uint32_t> problem_mark(std::string_view message) {
    uint32_t numbers[2] = {0, 0};
    size_t i = 0;
    for (uint32_t& n : numbers) {
        for (; i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i) {
            n = n * 10 + static_cast<uint32_t>(message[i] - '0');
        }
        if (i < message.size() && message[i] == ':') {
            ++i;
        }
    }
    return {numbers[0], numbers[1]};
}

// The offset of the line after the one `at` is in, or the text's end. Lines end as libyaml
// counts them: at "\r\n", "\r", "\n", and NEL, LS or PS in UTF-8.
size_t next_line(std::string_view text, size_t at) {
    while ((at = text.find_first_of("\r\n\xC2\xE2", at)) != std::string_view::npos) {
        const std::string_view rest = text.substr(at, 3);
        if (rest.starts_with("\r\n") || rest.starts_with("\xC2\x85")) {
            return at + 2;
        }
        if (rest[0] == '\r' || rest[0] == '\n') {
            return at + 1;
        }
        if (rest == "\xE2\x80\xA8" || rest == "\xE2\x80\xA9") {
            return at + 3;
        }
        ++at;
    }
    return text.size();
}

// The offsets of the lines that start a document: "---" alone or before a space or tab. YAML
// forbids such a line inside any scalar or collection, so a document that is not valid ends at
// the next one.
std::vector<size_t> document_starts(std::string_view text) {
    std::vector<size_t> starts;
    for (size_t at = 0; at < text.size(); at = next_line(text, at)) {
        const std::string_view line = text.substr(at, 4);
        if (line.starts_with("---") &&
            (line.size() == 3 || line[3] == '\n' || line[3] == '\r' || line[3] == ' ' ||
             line[3] == '\t')) {
            starts.push_back(at);
        }
    }
    return starts;
}

// A file with more documents that are not valid YAML than this is read up to the last one.
constexpr size_t kMaxInvalidDocuments = 100;
constexpr size_t kMaxDepth = 16;

// The documents of a text some of which are not valid YAML. A part of the text is parsed; where
// it fails, the document the problem is in is passed to `problem` and stands as an empty one (so
// the others keep their numbers), the part before it is parsed again, and the rest after it. A
// part is parsed where it stands: the newlines before it are written over the text just before
// it (already parsed), so lines count as in the file, and each part costs what it holds.
class LenientParser {
public:
    LenientParser(std::string_view original, std::string_view source, ParsedText& out,
                  const ProblemVisitor& problem)
        : original_(original),
          text_(original),
          starts_(document_starts(original)),
          source_(source),
          out_(out),
          problem_(problem) {}

    void parse() { parse(0, text_.size(), 0); }

private:
    // Parses text [from, to): `from` and `to` are each 0, the text's end or a document's start.
    // `depth`: how many parts this one is before a problem found in.
    void parse(size_t from, size_t to, size_t depth) {
        while (from < to && !stopped_) {
            size_t lines = 0;
            for (size_t at = 0; at < from; at = next_line(original_, at)) {
                ++lines;
            }
            std::fill_n(text_.begin() + static_cast<ptrdiff_t>(from - lines), lines, '\n');
            auto documents = parse_yaml(
                std::string_view(text_).substr(from - lines, to - (from - lines)), out_.arena);
            if (documents) {
                out_.documents.insert(out_.documents.end(), documents->begin(), documents->end());
                return;
            }
            const std::string& message = documents.error().message;
            const auto [line, column] = problem_mark(message);
            // The document the problem is in. One found at the very start of a "---" line (a
            // quote or a bracket left open) is the previous document's, which that line ends.
            const size_t at = std::min(to, offset_of(from, lines + 1, line, column));
            const auto next = std::lower_bound(starts_.begin(), starts_.end(), at);
            const size_t begin = std::max(from, next == starts_.begin() ? 0 : *std::prev(next));
            const auto after = std::upper_bound(starts_.begin(), starts_.end(), begin);
            const size_t end = after == starts_.end() ? text_.size() : std::min(*after, to);
            // The part before parses at once, unless the problem was found late (then another
            // is before it, and so on, not far: past kMaxDepth the rest of the file goes).
            const bool too_deep = depth == kMaxDepth && begin > from;
            if (!too_deep) {
                parse(from, begin, depth + 1);
                if (stopped_) {
                    return;
                }
            }
            stopped_ = too_deep || ++invalid_ == kMaxInvalidDocuments;
            problem_({.file = std::string(source_),
                      .document = too_deep ? ManifestProblem::kWholeFile : out_.documents.size(),
                      .line = line,
                      .message = fmt::format(
                          "{}:{}{}", source_, message,
                          stopped_ ? fmt::format(" (and the rest of the file is not read: {})",
                                                 too_deep ? "its problems are not where found"
                                                          : fmt::format("{} of its documents "
                                                                        "are not valid YAML",
                                                                        kMaxInvalidDocuments))
                                   : "")});
            out_.documents.emplace_back();  // in its place, an empty document
            from = end;
        }
    }

    // The offset of LINE:COLUMN (1-based), counting from `from`, which is on line `from_line`;
    // the text's end past it.
    size_t offset_of(size_t from, size_t from_line, uint32_t line, uint32_t column) const {
        size_t at = from;
        for (size_t l = from_line; l < line && at < original_.size(); ++l) {
            at = next_line(original_, at);
        }
        return std::min(original_.size(), at + (column > 0 ? column - 1 : 0));
    }

    std::string_view original_;
    std::string text_;  // the original, but for the newlines written before each part
    std::vector<size_t> starts_;
    std::string_view source_;
    ParsedText& out_;
    const ProblemVisitor& problem_;
    size_t invalid_ = 0;
    bool stopped_ = false;
};

std::unique_ptr<ParsedText> parse_text_leniently(std::string_view text, std::string_view source,
                                                 const ProblemVisitor& problem) {
    auto parsed = std::make_unique<ParsedText>();
    auto documents = parse_yaml(text, parsed->arena);
    if (documents) {
        parsed->documents = std::move(*documents);
        return parsed;
    }
    parsed = std::make_unique<ParsedText>();  // the failed parse's nodes go
    LenientParser(text, source, *parsed, problem).parse();
    return parsed;
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

// A file read, parsed and converted, to be applied: its objects, and what stopped it (a file that
// cannot be read or parsed, a document that cannot be converted) after them, if anything did.
struct ConvertedFile {
    ConvertedObjects objects;
    Status status;
    std::exception_ptr thrown;  // thrown again where the file is applied
};

// What a thread reuses from one file to the next: the buffer of the text, and the arena of the
// parse tree, which holds one document at a time. A load then maps and faults in no new memory
// for each file.
struct Scratch {
    std::string text;
    DocArena arena{256 * 1024};
};

// "document N" for the document of index `index`, in `buffer`.
std::string_view document_where(size_t index, char (&buffer)[32]) {
    constexpr std::string_view kDocument = "document ";
    std::copy(kDocument.begin(), kDocument.end(), buffer);
    const auto end = std::to_chars(buffer + kDocument.size(), std::end(buffer), index + 1).ptr;
    return {buffer, static_cast<size_t>(end - buffer)};
}

// Each document is converted as soon as it is parsed, and its nodes go: a file's objects are
// kept, not its tree. Invalid YAML anywhere in the file is its error, as when it was parsed
// whole first: the objects converted before it go too.
std::unique_ptr<ConvertedFile> convert_file(const std::string& path, Scratch& scratch) {
    auto out = std::make_unique<ConvertedFile>();
    try {
        std::string_view text;
        if (path == kStdinPath) {
            const auto kept = standard_input_text();
            if (!kept) {
                out->status = kept.error();
                return out;
            }
            text = *kept;
        } else {
            if (Status s = read_manifest_file(path, scratch.text); !s) {
                out->status = s;
                return out;
            }
            text = scratch.text;
        }
        const std::string_view source = source_name(path);
        Status converted;  // the first document that did not convert: the rest are only parsed
        const Status parsed = parse_yaml_each(
            text, scratch.arena, true, [&](size_t index, const DocNode& document) -> Status {
                if (index == 0) {  // from the start (again, if the block reader gave up)
                    out->objects.clear();
                    converted = {};
                }
                if (converted && !document.is_null()) {  // null: empty, as between two "---"
                    char where[32];
                    converted =
                        add_objects(document, source, document_where(index, where), out->objects);
                }
                return {};
            });
        if (!parsed) {
            out->objects.clear();
            out->status = Error{fmt::format("{}:{}", source, parsed.error().message)};
            return out;
        }
        out->status = converted;
    } catch (const std::bad_alloc&) {
        out->status = Error{fmt::format("{}: out of memory", path)};
    } catch (...) {
        out->thrown = std::current_exception();
    }
    return out;
}

// The CPUs this process may run on (taskset, a container's cpuset), at least 1.
size_t usable_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        return std::max(1, CPU_COUNT(&set));
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

// Reads, parses, converts and applies a list of files. Files are independent until applied: this
// thread and the helpers (one fewer than the CPUs, at most 3) each take the next file nobody has
// taken, read, parse and convert it, and this thread alone applies each file's objects to the
// sink, in order, so that files are applied, and errors reported, as they sort, and the result
// is the same whatever the threads. Files are taken at most a few ahead of the one applied: the
// objects held at once stay few (and of the parse trees, one document per thread).
class FilePipeline {
public:
    explicit FilePipeline(const std::vector<std::filesystem::path>& files)
        : files_(files), converted_(files.size()) {}

    Status apply(ObjectSink& sink) {
        const size_t helpers = files_.size() > 1 ? std::min<size_t>(usable_cpus(), 4) - 1 : 0;
        window_ = 2 * (helpers + 1);
        std::vector<std::thread> threads;
        for (size_t h = 0; h < helpers; ++h) {
            threads.push_back(start_quiet_thread([this] {
                Scratch scratch;
                while (convert_next(false, scratch)) {
                }
            }));
        }
        Scratch scratch;
        Status status;
        std::exception_ptr thrown;
        for (size_t i = 0; i < files_.size() && status && !thrown; ++i) {
            while (!ready(i) && convert_next(true, scratch)) {
            }
            std::unique_ptr<ConvertedFile> file = take(i);
            try {
                if (file->thrown) {
                    std::rethrow_exception(file->thrown);
                }
                status = file->objects.apply(sink, source_name(files_[i].string()));
                if (status) {
                    status = file->status;
                }
            } catch (...) {
                thrown = std::current_exception();
            }
        }
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            changed_.notify_all();
        }
        for (std::thread& t : threads) {
            t.join();
        }
        if (thrown) {
            std::rethrow_exception(thrown);
        }
        return status;
    }

private:
    // Converts the next file nobody has taken, if it is within the window. A helper waits for
    // one; the applying thread (`if_any`) returns false at once instead. False: nothing to take.
    bool convert_next(bool if_any, Scratch& scratch) {
        size_t k = 0;
        {
            std::unique_lock lock(mutex_);
            const auto can_take = [this] {
                return stopping_ || next_ == files_.size() || next_ < applied_ + window_;
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
        std::unique_ptr<ConvertedFile> file = convert_file(files_[k].string(), scratch);
        std::lock_guard lock(mutex_);
        converted_[k] = std::move(file);
        changed_.notify_all();
        return true;
    }
    bool ready(size_t i) {
        std::lock_guard lock(mutex_);
        return converted_[i] != nullptr;
    }
    // File i once converted; the window moves on past it.
    std::unique_ptr<ConvertedFile> take(size_t i) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return converted_[i] != nullptr; });
        applied_ = i + 1;
        changed_.notify_all();
        return std::move(converted_[i]);
    }

    const std::vector<std::filesystem::path>& files_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::unique_ptr<ConvertedFile>> converted_;
    size_t next_ = 0;     // the first file nobody has taken
    size_t applied_ = 0;  // files before this one are taken to be applied
    size_t window_ = 2;
    bool stopping_ = false;
};

}  // namespace

Status load_manifest_text(std::string_view text, std::string_view source, ObjectSink& cluster) {
    auto parsed = parse_text({.owned = std::string(text)}, source);
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
    if (path == kStdinPath) {
        files.emplace_back(path);
    } else if (fs::is_directory(path, ec)) {
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
    return FilePipeline(*files).apply(cluster);
}

void stop_reading_standard_input() {
    StandardInput& input = standard_input();
    std::lock_guard lock(input.mutex);
    input.closed = true;
}

Status check_manifest_paths(const std::vector<std::string>& paths) {
    if (std::count(paths.begin(), paths.end(), kStdinPath) > 1) {
        return Error{fmt::format("manifests: {} (standard input) given twice: it can be read once",
                                 kStdinPath)};
    }
    return {};
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
        const std::string source(source_name(file.string()));
        for (size_t i = 0; i < (*parsed)->documents.size(); ++i) {
            const DocNode& doc = (*parsed)->documents[i];
            if (doc.is_null()) {
                continue;
            }
            if (Status s = visit(source, i, doc); !s) {
                return s;
            }
        }
    }
    return {};
}

Status visit_manifest_documents(const std::string& path, const DocumentVisitor& visit,
                                const ProblemVisitor& problem) {
    auto files = manifest_files(path);
    if (!files) {
        problem({.file = path, .message = files.error().message});
        return {};
    }
    for (const auto& file : *files) {
        const std::string source(source_name(file.string()));
        auto text = read_manifest(file.string());
        if (!text) {
            problem({.file = source, .message = text.error().message});
            continue;
        }
        if (Status s = visit_manifest_text(text->text(), source, visit, problem); !s) {
            return s;
        }
    }
    return {};
}

Status visit_manifest_text(std::string_view text, const std::string& source,
                           const DocumentVisitor& visit, const ProblemVisitor& problem) {
    const std::unique_ptr<ParsedText> parsed = parse_text_leniently(text, source, problem);
    for (size_t i = 0; i < parsed->documents.size(); ++i) {
        const DocNode& doc = parsed->documents[i];
        if (doc.is_null()) {
            continue;
        }
        if (Status s = visit(source, i, doc); !s) {
            return s;
        }
    }
    return {};
}

}  // namespace clusterdns
