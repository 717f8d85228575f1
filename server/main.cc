// clusterdns: the command-line server. Everything it does is the library's (server/clusterdns.h);
// this file parses flags, prints the listening line and waits for a signal.

#include <signal.h>

#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "server/clusterdns.h"
#include "server/config.h"

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
    // Signals are taken by sigwait below; worker threads inherit the mask and never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    try {
        clusterdns::Server server(command_line->options);
        server.start();
        std::string line = "clusterdns: listening on";
        for (const std::string& address : server.listen_addresses()) {
            line += " " + address;
        }
        std::puts(line.c_str());
        std::fflush(stdout);
        int signal_number = 0;
        sigwait(&signals, &signal_number);
        const clusterdns::Server::Stats stats = server.stats();
        fmt::print(stderr,
                   "[INFO] clusterdns: signal {}, shutting down after {} UDP and {} TCP queries "
                   "({} not answered, {} truncated)\n",
                   signal_number, stats.udp_queries, stats.tcp_queries, stats.dropped,
                   stats.truncated);
        server.stop();
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns: {}\n", e.what());
        return 1;
    }
    return 0;
}
