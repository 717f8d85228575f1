// clusterdns: the command-line server. Everything it does is the library's
// (<clusterdns/clusterdns.h>); this file parses flags, prints the listening line and waits for a
// signal.

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <clusterdns/clusterdns.h>

#include "check_command.h"
#include "explain_command.h"
#include "records_command.h"

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
    // One heap for all threads. A manifest load converts files on several threads and this one
    // frees what they made; with a heap per thread, its cache would hand those chunks out again
    // for the zone's records, which would then pin the other heaps' pages (4 MiB more resident
    // at 100,000 Services). The query path allocates nothing: no lock is shared there.
    mallopt(M_ARENA_MAX, 1);

    const clusterdns::Options& options = command_line->options;
    if (options.manifests.empty() && options.kubeconfig.empty() && !options.in_cluster &&
        !options.node_local) {
        fmt::print(stderr, "[WARNING] clusterdns: no source given (--manifests, --kubeconfig): "
                           "serving an empty zone\n");
    }
    // Changes made while the manifests load are kept, and reloaded once serving.
    clusterdns::Reloader reloader(argc, argv, *command_line);
    try {
        const auto loading = std::chrono::steady_clock::now();
        clusterdns::Server server(command_line->options);
        // Loaded: from here a stop signal is taken by sigwait, after a clean shutdown.
        pthread_sigmask(SIG_BLOCK, &stop, nullptr);
        server.start();
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
        // --manifests -: standard input, read once (the Reloader does not read it again).
        if (std::count(options.manifests.begin(), options.manifests.end(), "-") != 0) {
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
        reloader.serve(server);
        const struct Stopping {
            clusterdns::Reloader& reloader;
            ~Stopping() { reloader.stop(); }  // before the server goes, however the block ends
        } stopping{reloader};
        int signal_number = 0;
        while (sigwait(&handled, &signal_number) == 0 && sigismember(&ignored, signal_number)) {
            if (signal_number == SIGHUP) {
                reloader.reload("SIGHUP");
            } else {
                fmt::print(stderr, "[INFO] clusterdns: SIG{} ignored\n",
                           sigabbrev_np(signal_number));
            }
        }
        reloader.stop();
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
