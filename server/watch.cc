#include "server/watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "server/codec/threads.h"

namespace clusterdns {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                             IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

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

// Every file the paths name, as the manifest loader would find them, with its state.
std::vector<FileState> states_of(const std::vector<std::string>& paths) {
    std::vector<FileState> out;
    for (const std::string& path : paths) {
        std::error_code ec;
        if (!fs::is_directory(path, ec)) {
            add_state(path, out);
            continue;
        }
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_directory(ec)) {
                add_state(it->path().string(), out);
            }
        }
    }
    return out;
}

// The directories to watch: each path's parent (it may be replaced or appear), and each
// directory path with everything below it.
std::vector<std::string> directories_of(const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    for (const std::string& path : paths) {
        const fs::path parent = fs::path(path).parent_path();
        out.push_back(parent.empty() ? "." : parent.string());
        std::error_code ec;
        if (!fs::is_directory(path, ec)) {
            continue;
        }
        out.push_back(path);
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec)) {
                out.push_back(it->path().string());
            }
        }
    }
    return out;
}

}  // namespace

struct PathWatcher::Impl {
    std::function<std::vector<std::string>()> paths;
    std::function<void()> changed;
    unsigned quiet_ms = 300;
    int stop_fd = -1;
    std::thread thread;

    ~Impl() {
        if (stop_fd >= 0) {
            close(stop_fd);
        }
    }

    // A fresh inotify instance watching what the paths need now; -1 if inotify is unavailable.
    static int watch(const std::vector<std::string>& paths) {
        const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            return -1;
        }
        for (const std::string& dir : directories_of(paths)) {
            inotify_add_watch(fd, dir.c_str(), kEvents);  // a directory that is gone: nothing
        }
        return fd;
    }

    static void drain(int fd) {
        alignas(inotify_event) char buf[4096];
        while (read(fd, buf, sizeof buf) > 0) {
        }
    }

    void run() {
        std::vector<std::string> watched = paths();
        int fd = watch(watched);
        std::vector<FileState> before = states_of(watched);
        while (true) {
            pollfd fds[2] = {{stop_fd, POLLIN, 0}, {fd, POLLIN, 0}};
            if (poll(fds, fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) {
                break;
            }
            if ((fds[0].revents & POLLIN) != 0) {
                break;
            }
            if ((fds[1].revents & POLLIN) == 0) {
                continue;
            }
            // Wait for the writes to settle: one call for a burst (an editor's save, a
            // ConfigMap swap, many files copied).
            do {
                drain(fd);
                fds[1].revents = 0;
            } while (poll(&fds[1], 1, static_cast<int>(quiet_ms)) > 0 &&
                     (fds[1].revents & POLLIN) != 0);
            // Watch anew before looking (directories may have come or gone): a change made
            // while we look or reload is an event for the next round, never lost.
            close(fd);
            fd = watch(watched);
            std::vector<FileState> after = states_of(watched);
            if (after == before) {
                continue;
            }
            changed();
            std::vector<std::string> now = paths();
            if (now != watched) {
                watched = std::move(now);
                close(fd);
                fd = watch(watched);
                after = states_of(watched);
            }
            before = std::move(after);
        }
        if (fd >= 0) {
            close(fd);
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
