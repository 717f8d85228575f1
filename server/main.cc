// clusterdns: the command-line server. Everything it does is the library's (server/clusterdns.h);
// this file parses flags, prints the listening line and waits for a signal.

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "server/clusterdns.h"
#include "server/config.h"

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

}  // namespace

int main(int argc, char** argv) {
    auto command_line = clusterdns::parse_command_line(argc, argv);
    if (!command_line) {
        fmt::print(stderr, "[ERROR] clusterdns: {}\n", command_line.error().message);
        return 2;
    }
    if (command_line->help) {
        fmt::print("{}", clusterdns::kUsage);
        return 0;
    }
    if (command_line->version) {
        fmt::print("clusterdns {}\n", clusterdns::version());
        return 0;
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
    if (options.manifests.empty() && options.kubeconfig.empty() && !options.in_cluster) {
        fmt::print(stderr, "[WARNING] clusterdns: no source given (--manifests, --kubeconfig): "
                           "serving an empty zone\n");
    }
    try {
        const auto loading = std::chrono::steady_clock::now();
        clusterdns::Server server(command_line->options);
        // Loaded: from here a stop signal is taken by sigwait, after a clean shutdown.
        pthread_sigmask(SIG_BLOCK, &stop, nullptr);
        server.start();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - loading;
        const clusterdns::Server::ZoneSummary zone = server.zone_summary();
        fmt::print(stderr,
                   "[INFO] clusterdns: loaded {} Namespaces, {} Services, {} endpoint sets, {} "
                   "Pods: {} Services and {} endpoints in the zone, in {:.3f} s\n",
                   zone.namespaces, zone.services, zone.endpoint_sets, zone.pods,
                   zone.zone_services, zone.zone_endpoints, took.count());
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
        int signal_number = 0;
        while (sigwait(&handled, &signal_number) == 0 && sigismember(&ignored, signal_number)) {
            fmt::print(stderr, "[INFO] clusterdns: SIG{} ignored: there is no reload yet\n",
                       sigabbrev_np(signal_number));
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
