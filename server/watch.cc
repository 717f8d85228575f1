#include "server/watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "plugins/manifests/manifests.h"
#include "base/threads.h"

namespace clusterdns {

namespace fs = std::filesystem;

namespace {

// IN_MODIFY and IN_CREATE only say a file is being written; the others say a write is done or
// a file came, went or was swapped.
constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                             IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_MODIFY;
// A file still open for writing holds a reload back (it would be read half written), until its
// writer has been silent this long: one that left it open must not stop reloads for good.
constexpr uint64_t kWriterPatienceMs = 10'000;
// Changes keep coming (files copied one by one): look at the latest this long after the first.
constexpr uint64_t kMaxBurstMs = 2'000;

uint64_t now_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

// Absolute, without "." or ".." or a trailing '/': the one spelling events are matched in.
std::string normal(const fs::path& path) {
    std::error_code ec;
    std::string out = fs::absolute(path, ec).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') {
        out.pop_back();
    }
    return out;
}

std::string parent_of(const std::string& path) {
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "/" : parent.string();
}

struct FileState {
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};

    bool operator==(const FileState& o) const {
        return path == o.path && device == o.device && inode == o.inode && size == o.size &&
               modified.tv_sec == o.modified.tv_sec && modified.tv_nsec == o.modified.tv_nsec;
    }
};

void add_state(const std::string& path, std::vector<FileState>& out) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        out.push_back({.path = path});  // missing: a state of its own
        return;
    }
    out.push_back({path, st.st_dev, st.st_ino, st.st_size, st.st_mtim});
}

// The files the paths name, as the manifest loader finds them (a file given, the manifests
// below a directory given), each with its state.
std::vector<FileState> states_of(const std::vector<std::string>& paths) {
    std::vector<FileState> out;
    for (const std::string& path : paths) {
        std::error_code ec;
        if (!fs::is_directory(path, ec)) {
            add_state(normal(path), out);
            continue;
        }
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_directory(ec) && is_manifest_file_name(it->path().filename().string())) {
                add_state(normal(it->path()), out);
            }
        }
    }
    return out;
}

// Adds `path` and every symbolic link it goes through, followed, to `out`: a ConfigMap's
// config.yaml -> ..data/config.yaml, ..data -> ..2024_06_01_10_00_00.1234/. A swap of any of
// them changes the file.
void add_chain(const std::string& path, std::set<std::string>& out, int hops = 0) {
    out.insert(path);
    if (hops > 16) {
        return;  // a loop of links; the kernel gives up at 40
    }
    fs::path prefix;
    const fs::path whole(path);
    for (auto part = whole.begin(); part != whole.end(); ++part) {
        prefix /= *part;
        std::error_code ec;
        if (!fs::is_symlink(prefix, ec)) {
            continue;
        }
        const fs::path target = fs::read_symlink(prefix, ec);
        if (ec) {
            return;
        }
        fs::path next = target.is_absolute() ? target : prefix.parent_path() / target;
        for (auto rest = std::next(part); rest != whole.end(); ++rest) {
            next /= *rest;
        }
        out.insert(normal(prefix));
        add_chain(normal(next), out, hops + 1);
        return;
    }
}

// One inotify instance over what the paths need now, and what its events mean.
struct Watch {
    struct Directory {
        std::string path;
        bool tree = false;  // inside a directory given: any manifest file in it counts
    };
    int fd = -1;
    std::map<int, Directory> directories;  // by watch descriptor
    std::set<std::string> entries;  // the files, the paths given and the links they go through

    Watch() = default;
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() {
        if (fd >= 0) {
            close(fd);
        }
    }

    // Watches what the paths need now: the parent of every path and every link (each may be
    // replaced or appear) and every directory below a directory path; stops watching the rest.
    // One inotify instance throughout, so no event falls between two. Without inotify, fd
    // stays -1.
    void update(const std::vector<std::string>& paths, const std::vector<FileState>& files) {
        if (fd < 0) {
            fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        }
        if (fd < 0) {
            return;
        }
        std::map<int, Directory> before = std::move(directories);
        directories.clear();
        entries.clear();
        for (const std::string& path : paths) {
            add_chain(normal(path), entries);
        }
        for (const FileState& file : files) {
            add_chain(file.path, entries);
        }
        for (const std::string& entry : entries) {
            add(parent_of(entry), false);
        }
        for (const std::string& path : paths) {
            std::error_code ec;
            if (!fs::is_directory(path, ec)) {
                continue;
            }
            add(normal(path), true);
            for (auto it = fs::recursive_directory_iterator(path, ec);
                 !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_directory(ec)) {
                    add(normal(it->path()), true);
                }
            }
        }
        for (const auto& [wd, directory] : before) {
            if (!directories.contains(wd)) {
                inotify_rm_watch(fd, wd);
            }
        }
    }

    void add(const std::string& directory, bool tree) {
        const int wd = inotify_add_watch(fd, directory.c_str(), kEvents);
        if (wd < 0) {
            return;  // gone, or not a directory: its parent's watch sees it come
        }
        Directory& d = directories[wd];  // the same directory twice: the same descriptor
        if (d.path.empty()) {
            d.path = directory;
        }
        d.tree = d.tree || tree;
    }
};

// What the events since the last look ask for.
struct Pending {
    bool due = false;    // something that matters is done changing
    uint64_t first = 0;  // when the first such change came, and the last
    uint64_t last = 0;
    std::map<std::string, uint64_t> writers;  // files being written, with their latest write

    void note(uint64_t now) {
        if (!due) {
            first = now;
        }
        due = true;
        last = now;
    }

    // Reads every event waiting on `w`.
    void read(const Watch& w, uint64_t now) {
        alignas(inotify_event) char buf[4096];
        ssize_t n = 0;
        while ((n = ::read(w.fd, buf, sizeof buf)) > 0) {
            for (ssize_t at = 0; at < n;) {
                const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
                take(w, *e, now);
            }
        }
    }

    void take(const Watch& w, const inotify_event& e, uint64_t now) {
        if ((e.mask & IN_Q_OVERFLOW) != 0) {
            note(now);  // events were lost: look
            return;
        }
        const auto d = w.directories.find(e.wd);
        if (d == w.directories.end() || (e.mask & IN_IGNORED) != 0) {
            return;
        }
        if (e.len == 0) {
            note(now);  // a watched directory itself was removed or moved
            return;
        }
        const std::string name(e.name);  // NUL-padded
        const std::string path = d->second.path == "/" ? "/" + name : d->second.path + "/" + name;
        const bool directory = (e.mask & IN_ISDIR) != 0;
        // A log file, an editor's swap file, anything the loader does not read: not ours.
        if (!w.entries.contains(path) &&
            !(d->second.tree && (directory || is_manifest_file_name(name)))) {
            return;
        }
        if ((e.mask & IN_MODIFY) != 0) {
            writers[path] = now;
            return;
        }
        if ((e.mask & IN_CREATE) != 0 && !directory) {
            // A regular file created is being written: its IN_CLOSE_WRITE says when it is
            // whole. A link or anything else created is whole now.
            struct stat st {};
            if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
                writers[path] = now;
                return;
            }
        }
        writers.erase(path);  // closed, removed, renamed or swapped
        note(now);
    }

    // Drops the writers silent for too long (their files are looked at); returns how long until
    // the next one would be, or -1.
    int64_t expire_writers(uint64_t now) {
        int64_t wait = -1;
        for (auto it = writers.begin(); it != writers.end();) {
            const uint64_t until = it->second + kWriterPatienceMs;
            if (now >= until) {
                it = writers.erase(it);
                note(now);
                continue;
            }
            const auto left = static_cast<int64_t>(until - now);
            wait = wait < 0 ? left : std::min(wait, left);
            ++it;
        }
        return wait;
    }

    // 0 when it is time to look, else how long to wait for more (-1: until an event).
    int64_t wait(uint64_t now, unsigned quiet_ms) {
        const int64_t writer_wait = expire_writers(now);
        if (!writers.empty()) {
            return writer_wait;
        }
        if (!due) {
            return -1;
        }
        const uint64_t at = std::min(last + quiet_ms, first + kMaxBurstMs);
        return now >= at ? 0 : static_cast<int64_t>(at - now);
    }
};

}  // namespace

struct PathWatcher::Impl {
    std::function<std::vector<std::string>()> paths;
    std::function<void()> changed;
    unsigned quiet_ms = 300;
    int stop_fd = -1;
    std::thread thread;
    std::vector<std::string> watched;
    Watch w;
    std::vector<FileState> before;

    ~Impl() {
        if (stop_fd >= 0) {
            close(stop_fd);
        }
    }

    // Before start() returns: a change made from then on is seen.
    void begin() {
        watched = paths();
        w.update(watched, states_of(watched));
        before = states_of(watched);  // after watching: nothing falls between
    }

    void run() {
        Pending pending;
        while (true) {
            if (w.fd >= 0) {
                pending.read(w, now_ms());
            }
            const int64_t wait = pending.wait(now_ms(), quiet_ms);
            if (wait != 0) {
                pollfd fds[2] = {{stop_fd, POLLIN, 0}, {w.fd, POLLIN, 0}};
                if (poll(fds, w.fd >= 0 ? 2 : 1, static_cast<int>(wait)) < 0 && errno != EINTR) {
                    break;
                }
                if ((fds[0].revents & POLLIN) != 0) {
                    break;
                }
                continue;
            }
            pending.due = false;
            // Watch what is there now (directories and links may have come or gone) before
            // looking: a change made while we look or reload is an event for the next round.
            w.update(watched, states_of(watched));
            std::vector<FileState> after = states_of(watched);
            if (after == before) {
                continue;
            }
            changed();
            if (std::vector<std::string> now = paths(); now != watched) {
                watched = std::move(now);
                w.update(watched, states_of(watched));
                after = states_of(watched);
            }
            before = std::move(after);
        }
    }
};

Result<std::unique_ptr<PathWatcher>> PathWatcher::start(
    std::function<std::vector<std::string>()> paths, std::function<void()> changed,
    unsigned quiet_ms) {
    auto impl = std::make_unique<Impl>();
    impl->paths = std::move(paths);
    impl->changed = std::move(changed);
    impl->quiet_ms = quiet_ms;
    impl->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (impl->stop_fd < 0) {
        return Error{fmt::format("watching files: {}", std::strerror(errno))};
    }
    impl->begin();
    Impl* raw = impl.get();
    impl->thread = start_quiet_thread([raw] { raw->run(); });
    return std::unique_ptr<PathWatcher>(new PathWatcher(std::move(impl)));
}

PathWatcher::PathWatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

PathWatcher::~PathWatcher() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t ignored = write(impl_->stop_fd, &one, sizeof one);
    impl_->thread.join();
}

}  // namespace clusterdns
