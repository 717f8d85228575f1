// clusterdns: the command-line server. Everything it does is the library's (server/clusterdns.h);
// this file parses flags, prints the listening line and waits for a signal.

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "clusterdns/clusterdns.h"
#include "server/config.h"
#include "cli/check_command.h"
#include "cli/explain_command.h"
#include "cli/records_command.h"
#include "server/watch.h"
#include "plugins/manifests/manifests.h"

namespace {

// Until the server runs there is nothing to shut down, and loading may block (a slow disk, a
// huge manifest): SIGTERM and SIGINT end the process at once, before any listening line.
void exit_during_start_up(int) {
    static constexpr char kMessage[] = "[INFO] clusterdns: signal during start-up, exiting\n";
    [[maybe_unused]] const ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(0);
}

sigset_t signal_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (const int s : signals) {
        sigaddset(&set, s);
    }
    return set;
}

// --check-config: the options were read and checked; the manifests they name load as at
// start-up.
int check_config(const clusterdns::CommandLine& command_line) {
    size_t objects = 0;
    try {
        objects = clusterdns::check_config(command_line.options);
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns: {}\n", e.what());
        return 1;
    }
    fmt::print("{}: valid ({} objects in {} manifest paths)\n", command_line.config_path, objects,
               command_line.options.manifests.size());
    return 0;
}

// What to watch for changes: the config file and the manifest paths, but not standard input
// ("-"), which a reload does not read again.
std::vector<std::string> watched_paths(const std::string& config_path,
                                       const std::vector<std::string>& manifests) {
    std::vector<std::string> paths;
    for (const std::string& path : manifests) {
        if (path != clusterdns::kStdinPath) {
            paths.push_back(path);
        }
    }
    if (!config_path.empty()) {
        paths.push_back(config_path);
    }
    return paths;
}

// Reads the command line and its config file again and applies them: on SIGHUP, or when the
// config file or a manifest changes. A config that does not parse or check is refused whole.
class Reloader {
public:
    Reloader(int argc, char** argv, clusterdns::Server& server, clusterdns::Options options)
        : argc_(argc), argv_(argv), server_(server), options_(std::move(options)) {}

    void reload(std::string_view why) {
        std::lock_guard lock(mutex_);
        try {
            clusterdns::CommandLine command_line;
            try {
                command_line = clusterdns::parse_command_line(argc_, argv_);
            } catch (const std::exception&) {
                server_.reload_failed();
                throw;
            }
            server_.reload(command_line.options);
            options_ = command_line.options;
            fmt::print(stderr, "[INFO] plugin/reload: {}: reloaded\n", why);
        } catch (const std::exception& e) {
            fmt::print(stderr, "[ERROR] plugin/reload: {}: {}; still serving the previous config\n",
                       why, e.what());
        }
    }

    // The config file and the manifests it names now.
    std::vector<std::string> watched(const std::string& config_path) {
        std::lock_guard lock(mutex_);
        return watched_paths(config_path, options_.manifests);
    }

private:
    int argc_;
    char** argv_;
    clusterdns::Server& server_;
    std::mutex mutex_;
    clusterdns::Options options_;
};

// The file watcher starts before the manifests load, so a change made while they load (or just
// after the listening line) is not lost: it is kept until the server runs, then reloaded.
class ReloadGate {
public:
    explicit ReloadGate(const clusterdns::CommandLine& command_line)
        : config_path_(command_line.config_path),
          start_paths_(watched_paths(config_path_, command_line.options.manifests)) {}

    void changed() {
        std::lock_guard lock(mutex_);
        if (reloader_ == nullptr) {
            missed_ = true;
            return;
        }
        reloader_->reload("files changed");
    }

    std::vector<std::string> watched() {
        std::lock_guard lock(mutex_);
        return reloader_ ? reloader_->watched(config_path_) : start_paths_;
    }

    // Serving: changes reload from now on, and one that came while loading reloads now.
    void open(Reloader& reloader) {
        std::lock_guard lock(mutex_);
        reloader_ = &reloader;
        if (missed_) {
            reloader_->reload("files changed while loading");
        }
    }

    void close() {
        std::lock_guard lock(mutex_);
        reloader_ = nullptr;
    }

private:
    std::mutex mutex_;
    std::string config_path_;
    std::vector<std::string> start_paths_;
    Reloader* reloader_ = nullptr;
    bool missed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "explain") == 0) {
        return clusterdns::explain_command(argc - 1, argv + 1);
    }
    if (argc > 1 && std::strcmp(argv[1], "check") == 0) {
        return clusterdns::check_command(argc - 1, argv + 1);
    }
    if (argc > 1 && std::strcmp(argv[1], "records") == 0) {
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        return clusterdns::records_command(argc - 1, argv + 1);
    }
    std::optional<clusterdns::CommandLine> command_line;
    try {
        command_line = clusterdns::parse_command_line(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns: {}\n", e.what());
        return 2;
    }
    if (command_line->help) {
        fmt::print("{}", clusterdns::usage());
        return 0;
    }
    if (command_line->version) {
        fmt::print("clusterdns {}\n", clusterdns::version());
        return 0;
    }
    if (command_line->check_only) {
        return check_config(*command_line);
    }
    // SIGHUP, SIGUSR1 and SIGUSR2 would kill the process by default; they are held from now on
    // and logged once serving. Worker threads inherit the mask and never see a signal.
    const sigset_t ignored = signal_set({SIGHUP, SIGUSR1, SIGUSR2});
    const sigset_t stop = signal_set({SIGTERM, SIGINT});
    const sigset_t handled = signal_set({SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT});
    pthread_sigmask(SIG_BLOCK, &ignored, nullptr);
    struct sigaction during_start_up {};
    during_start_up.sa_handler = exit_during_start_up;
    sigaction(SIGTERM, &during_start_up, nullptr);
    sigaction(SIGINT, &during_start_up, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // Big temporary buffers (manifest text, parse trees, API list bodies) are mapped and unmapped
    // whole. glibc would otherwise raise this threshold after the first such buffer is freed and
    // carve the next ones out of the heap, leaving holes between the zone's records.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);

    const clusterdns::Options& options = command_line->options;
    if (options.manifests.empty() && options.kubeconfig.empty() && !options.in_cluster &&
        !options.node_local) {
        fmt::print(stderr, "[WARNING] clusterdns: no source given (--manifests, --kubeconfig): "
                           "serving an empty zone\n");
    }
    ReloadGate gate(*command_line);
    std::unique_ptr<clusterdns::PathWatcher> watcher;
    if (!command_line->config_path.empty() || !options.manifests.empty()) {
        auto started = clusterdns::PathWatcher::start([&gate] { return gate.watched(); },
                                                      [&gate] { gate.changed(); });
        if (!started) {
            fmt::print(stderr, "[WARNING] plugin/reload: {}; reload with SIGHUP\n",
                       started.error().message);
        } else {
            watcher = std::move(*started);
        }
    }
    try {
        const auto loading = std::chrono::steady_clock::now();
        clusterdns::Server server(command_line->options);
        // Loaded: from here a stop signal is taken by sigwait, after a clean shutdown.
        pthread_sigmask(SIG_BLOCK, &stop, nullptr);
        server.start();
        clusterdns::stop_reading_standard_input();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - loading;
        const clusterdns::Server::ZoneSummary zone = server.zone_summary();
        // The addresses the manifests did not give, and where they came from.
        const std::string allocated =
            zone.allocated_cluster_ips == 0
                ? std::string()
                : fmt::format("; {} ClusterIPs allocated from {}", zone.allocated_cluster_ips,
                              fmt::join(options.service_cidrs, ", "));
        fmt::print(stderr,
                   "[INFO] clusterdns: loaded {} Namespaces, {} Services, {} endpoint sets, {} "
                   "Pods: {} Services and {} endpoints in the zone, in {:.3f} s{}\n",
                   zone.namespaces, zone.services, zone.endpoint_sets, zone.pods,
                   zone.zone_services, zone.zone_endpoints, took.count(), allocated);
        if (std::count(options.manifests.begin(), options.manifests.end(),
                       clusterdns::kStdinPath) != 0) {
            fmt::print(stderr, "[INFO] plugin/manifests: standard input read to its end; a reload "
                               "re-reads the files only and keeps the objects standard input "
                               "held\n");
        }
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGTERM) != 1 && sigismember(&pending, SIGINT) != 1) {
            std::string line = "clusterdns: listening on";
            for (const std::string& address : server.listen_addresses()) {
                line += " " + address;
            }
            std::puts(line.c_str());
            std::fflush(stdout);
        }
        Reloader reloader(argc, argv, server, options);
        gate.open(reloader);
        const struct Closing {
            ReloadGate& gate;
            ~Closing() { gate.close(); }  // before the reloader goes, however the block ends
        } closing{gate};
        int signal_number = 0;
        while (sigwait(&handled, &signal_number) == 0 && sigismember(&ignored, signal_number)) {
            if (signal_number == SIGHUP) {
                reloader.reload("SIGHUP");
            } else {
                fmt::print(stderr, "[INFO] clusterdns: SIG{} ignored\n",
                           sigabbrev_np(signal_number));
            }
        }
        watcher.reset();
        // Lameduck: not ready, so the Service stops sending here, while the queries still
        // on their way are answered. A second stop signal ends it at once.
        server.drain();
        if (options.lameduck_seconds > 0) {
            fmt::print(stderr, "[INFO] clusterdns: SIG{}: not ready; answering {} s more\n",
                       sigabbrev_np(signal_number), options.lameduck_seconds);
            const timespec lameduck{static_cast<time_t>(options.lameduck_seconds), 0};
            sigtimedwait(&stop, nullptr, &lameduck);
        }
        const clusterdns::Server::Stats stats = server.stats();
        fmt::print(stderr,
                   "[INFO] clusterdns: SIG{}, shutting down after {} UDP and {} TCP queries "
                   "({} not answered, {} truncated)\n",
                   sigabbrev_np(signal_number), stats.udp_queries, stats.tcp_queries, stats.dropped,
                   stats.truncated);
        server.stop();
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns: {}\n", e.what());
        return 1;
    }
    return 0;
}
