// Reloader (clusterdns.h): the reload plugin's job for the command-line server. The file watcher
// (watch.h) starts before the manifests load, so a change made while they load (or just after
// the listening line) is not lost: it is kept until serve(), then reloaded.

#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "clusterdns/clusterdns.h"
#include "plugins/forward/upstreams.h"
#include "plugins/manifests/manifests.h"
#include "server/watch.h"

namespace clusterdns {
namespace {

// What to watch for changes: the config file and the manifest paths, but not standard input
// ("-"), which a reload does not read again.
std::vector<std::string> watched_paths(const std::string& config_path, const Options& options) {
    std::vector<std::string> paths;
    for (const std::string& path : options.manifests) {
        if (path != kStdinPath) {
            paths.push_back(path);
        }
    }
    // kube-dns's ConfigMap: its files, as a ConfigMap volume swaps them (..data).
    if (!options.kube_dns_config.empty()) {
        for (std::string& file : kube_dns_config_files(options.kube_dns_config)) {
            paths.push_back(std::move(file));
        }
    }
    if (!config_path.empty()) {
        paths.push_back(config_path);
    }
    return paths;
}

}  // namespace

class Reloader::Impl {
public:
    Impl(int argc, const char* const* argv, const CommandLine& command_line)
        : argc_(argc),
          argv_(argv),
          config_path_(command_line.config_path),
          corefile_files_(command_line.corefile_files),
          options_(command_line.options) {}

    // A file changed: reload, or once serving, remember it.
    void changed() {
        std::lock_guard lock(mutex_);
        if (server_ == nullptr) {
            missed_ = !stopped_;
            return;
        }
        reload_locked("files changed");
    }

    // The config file and the manifests it names now.
    std::vector<std::string> watched() {
        std::lock_guard lock(mutex_);
        std::vector<std::string> paths = watched_paths(config_path_, options_);
        // The Corefile and its imports (a ConfigMap's symlink swap is seen as for the others).
        paths.insert(paths.end(), corefile_files_.begin(), corefile_files_.end());
        return paths;
    }

    void serve(Server& server) {
        std::lock_guard lock(mutex_);
        // A reload that newly names "-" never waits on a terminal.
        stop_reading_standard_input();
        server_ = &server;
        if (missed_) {
            reload_locked("files changed while loading");
        }
    }

    void reload(std::string_view why) {
        std::lock_guard lock(mutex_);
        if (server_ != nullptr) {
            reload_locked(why);
        }
    }

    void stop() {
        std::lock_guard lock(mutex_);
        server_ = nullptr;
        stopped_ = true;
    }

    std::unique_ptr<PathWatcher> watcher;

private:
    // Reads the command line and its config file again and applies them. A config that does
    // not parse or check is refused whole.
    void reload_locked(std::string_view why) {
        try {
            CommandLine command_line;
            try {
                command_line = parse_command_line(argc_, argv_);
            } catch (const std::exception&) {
                server_->reload_failed();
                throw;
            }
            server_->reload(command_line.options);
            options_ = std::move(command_line.options);
            corefile_files_ = std::move(command_line.corefile_files);
            fmt::print(stderr, "[INFO] plugin/reload: {}: reloaded\n", why);
        } catch (const std::exception& e) {
            fmt::print(stderr, "[ERROR] plugin/reload: {}: {}; still serving the previous config\n",
                       why, e.what());
        }
    }

    const int argc_;
    const char* const* const argv_;
    const std::string config_path_;
    std::mutex mutex_;
    std::vector<std::string> corefile_files_;  // as last read: an import may come or go
    Options options_;  // as last applied: its manifests are watched
    Server* server_ = nullptr;
    bool missed_ = false;
    bool stopped_ = false;
};

Reloader::Reloader(int argc, const char* const* argv, const CommandLine& command_line)
    : impl_(std::make_unique<Impl>(argc, argv, command_line)) {
    if (command_line.config_path.empty() && command_line.corefile_files.empty() &&
        command_line.options.manifests.empty() && command_line.options.kube_dns_config.empty()) {
        return;
    }
    Impl* impl = impl_.get();
    auto started =
        PathWatcher::start([impl] { return impl->watched(); }, [impl] { impl->changed(); });
    if (!started) {
        fmt::print(stderr, "[WARNING] plugin/reload: {}; reload with SIGHUP\n",
                   started.error().message);
        return;
    }
    impl_->watcher = std::move(*started);
}

Reloader::~Reloader() {
    stop();
}

void Reloader::serve(Server& server) {
    impl_->serve(server);
}

void Reloader::reload(std::string_view why) {
    impl_->reload(why);
}

void Reloader::stop() {
    impl_->stop();
    impl_->watcher.reset();  // waits for a call in progress
}

}  // namespace clusterdns
