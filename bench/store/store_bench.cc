// What one change costs at scale: loads a cluster's manifests into a Store, then times single
// changes (upsert and snapshot, as the server publishes them) and one burst of many changes.
//
//     build/bench/store/store_bench /tmp/clusterdns-memory-data/real-100000-seed42/manifests
//
// Prints the load time, then p50/p99/max of a change to a Service, to an EndpointSlice (one
// endpoint added), and the time of a batch of 1,000 such changes published at once; then what a
// query's Service lookup (Snapshot::service) costs, for names in random order, found and not.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugins/manifests/manifests.h"
#include "zone/store.h"

namespace {

using Clock = std::chrono::steady_clock;

double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

void report(const char* what, std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    fmt::print("{:<40} p50 {:8.1f} us   p99 {:8.1f} us   max {:8.1f} us\n", what,
               samples[samples.size() / 2], samples[samples.size() * 99 / 100], samples.back());
}

}  // namespace

int main(int argc, char** argv) {
    using namespace clusterdns;
    if (argc < 2) {
        fmt::print(stderr, "usage: store_bench MANIFESTS\n");
        return 2;
    }
    // The objects to change, collected first (a Cluster copy costs nothing in the timings).
    Cluster objects;
    if (Status s = load_manifests(argv[1], objects); !s) {
        fmt::print(stderr, "{}\n", s.error().message);
        return 1;
    }
    std::vector<const Service*> services;
    for (const auto& [key, s] : objects.services) {
        services.push_back(&s);
    }
    std::vector<const EndpointSet*> sets;
    for (const auto& [key, s] : objects.endpoint_sets) {
        sets.push_back(&s);
    }

    Store store(SnapshotConfig{.origin = *Name::from_text("cluster.local")});
    const auto load_start = Clock::now();
    Store::Writer writer = store.writer(Source::Api);
    if (Status s = load_manifests(argv[1], writer); !s) {
        fmt::print(stderr, "{}\n", s.error().message);
        return 1;
    }
    auto snapshot = store.snapshot();
    fmt::print("loaded {} Services, {} endpoints in {:.2f} s\n", snapshot->service_count(),
               snapshot->endpoint_count(), micros(Clock::now() - load_start) / 1e6);

    std::mt19937 rng(42);
    std::vector<double> service_changes;
    std::vector<double> slice_changes;
    for (int i = 0; i < 2000; ++i) {
        Service service = *services[rng() % services.size()];
        service.ports.push_back({"extra", "tcp", static_cast<uint16_t>(1000 + i % 1000)});
        const auto start = Clock::now();
        store.upsert(std::move(service), Source::Api);
        snapshot = store.snapshot();  // the previous one is freed here, as after a publish
        service_changes.push_back(micros(Clock::now() - start));

        EndpointSet set = *sets[rng() % sets.size()];
        IpAddress address{};
        address.bytes = {10, 250, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        set.endpoints.push_back({.addresses = {address}});
        const auto slice_start = Clock::now();
        store.upsert(std::move(set), Source::Api);
        snapshot = store.snapshot();
        slice_changes.push_back(micros(Clock::now() - slice_start));
    }
    report("one Service changed, published", service_changes);
    report("one EndpointSlice changed, published", slice_changes);

    const auto burst_start = Clock::now();
    for (int i = 0; i < 1000; ++i) {
        EndpointSet set = *sets[rng() % sets.size()];
        set.endpoints.pop_back();
        store.upsert(std::move(set), Source::Api);
    }
    snapshot = store.snapshot();
    fmt::print("{:<40} {:8.1f} ms for the batch\n", "1,000 EndpointSlices changed, one publish",
               micros(Clock::now() - burst_start) / 1000);

    // Lookups as queries make them: every Service's name in random order, then names that are
    // not there (the namespace's NXDOMAIN). A snapshot is read on one core, so the time per
    // lookup is mostly the cache misses of its chase.
    std::vector<std::pair<std::string, std::string>> names;
    for (const Service* s : services) {
        names.emplace_back(s->ns, s->name);
    }
    std::shuffle(names.begin(), names.end(), rng);
    const auto time_lookups = [&](const char* what, bool rename) {
        std::vector<std::pair<std::string, std::string>> asked = names;
        for (auto& [ns, name] : asked) {
            name = rename ? "x" + name : name;
        }
        std::vector<double> rounds;
        size_t found = 0;
        for (int round = 0; round < 5; ++round) {
            const auto start = Clock::now();
            for (const auto& [ns, name] : asked) {
                found += snapshot->service(ns, name) != nullptr;
            }
            rounds.push_back(micros(Clock::now() - start) * 1000 / static_cast<double>(asked.size()));
        }
        std::sort(rounds.begin(), rounds.end());
        fmt::print("{:<40} {:8.1f} ns a lookup (median of 5 rounds of {}; {} found)\n", what,
                   rounds[2], asked.size(), found / 5);
    };
    time_lookups("Service lookups, found", false);
    time_lookups("Service lookups, not found", true);
    return 0;
}
