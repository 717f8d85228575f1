// The query path allocates nothing: this binary counts every call of the global allocator (and of
// libuv's, through uv_replace_allocator) while a running server answers thousands of queries of
// every record kind over UDP and TCP, and while handle_query answers them in-process, then again
// while another thread publishes zone changes to the workers, and fails if any allocation
// happened outside that thread. Each answer's RCODE is checked too, so the test cannot pass by
// answering nothing. The metrics count every one of these queries (they are always on), so
// counting is proven allocation-free with them; so is loadbalance (on by default), which turns
// the order of every multi-address answer, the zone's and the cache's: the test checks that the
// order did turn.

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // the replacements pair malloc with free

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "plugins/hosts/hosts.h"
#include "plugins/manifests/manifests.h"
#include "plugins/rewrite/rewrite.h"
#include "clusterdns/clusterdns.h"
#include "server/handler.h"
#include "zone/snapshot_build.h"

namespace {

constexpr const char* kHostsLine = "192.168.49.1 host.minikube.internal";
// One rule of each kind; the regexes match through preallocated PCRE2 match data.
const std::vector<std::string> kRewrite = {
    "name suffix .corp.example .production.svc.cluster.local answer auto",
    "name exact legacy.example db-service.production.svc.cluster.local",
    "name prefix oldweb web-service answer auto",
    "name substring prod.internal production.svc.cluster.local answer auto",
    R"(name regex ^(.*)\.db\.example\.$ {1}.production.svc.cluster.local answer auto)",
    R"(name regex ^(.*)\.huge\.example\.$ {1}{1}{1}{1}{1}.x)"};

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
// The thread that changes the zone while queries are answered: building and publishing a
// snapshot allocates, off the query path, so its allocations are not counted.
thread_local bool control_thread = false;

void note_allocation() {
    if (counting.load(std::memory_order_relaxed) && !control_thread) {
        allocations.fetch_add(1, std::memory_order_relaxed);
    }
}

void* counted_malloc(size_t size) {
    note_allocation();
    return std::malloc(size);
}
void* counted_realloc(void* p, size_t size) {
    note_allocation();
    return std::realloc(p, size);
}
void* counted_calloc(size_t n, size_t size) {
    note_allocation();
    return std::calloc(n, size);
}

}  // namespace

void* operator new(size_t size) {
    note_allocation();
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](size_t size) {
    return operator new(size);
}
void* operator new(size_t size, std::align_val_t align) {
    note_allocation();
    const size_t a = static_cast<size_t>(align);
    if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](size_t size, std::align_val_t align) {
    return operator new(size, align);
}
// The nothrow forms too (std::stable_sort's temporary buffer uses them): left to the sanitizer
// runtime, they hand out memory our operator delete then passes to free(), which ASan reports as
// alloc-dealloc-mismatch.
void* operator new(size_t size, const std::nothrow_t&) noexcept {
    note_allocation();
    return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
    return operator new(size, tag);
}
void* operator new(size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    note_allocation();
    const size_t a = static_cast<size_t>(align);
    return std::aligned_alloc(a, (size + a - 1) / a * a);
}
void* operator new[](size_t size, std::align_val_t align, const std::nothrow_t& tag) noexcept {
    return operator new(size, align, tag);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

struct Probe {
    std::vector<uint8_t> packet;
    int expected_rcode;  // -1: no response expected
};

std::vector<uint8_t> query(const std::string& name, uint16_t type, uint16_t qclass = 1,
                           bool edns = false, uint8_t edns_version = 0, uint8_t opcode = 0) {
    std::vector<uint8_t> out = {
        0x12, 0x34, static_cast<uint8_t>(0x01 | opcode << 3), 0x00, 0, 1, 0, 0, 0,
        0,    0,    static_cast<uint8_t>(edns ? 1 : 0)};
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) {
            dot = name.size();
        }
        out.push_back(static_cast<uint8_t>(dot - start));
        out.insert(out.end(), name.begin() + static_cast<long>(start),
                   name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    out.push_back(0);
    out.insert(out.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type),
                           static_cast<uint8_t>(qclass >> 8), static_cast<uint8_t>(qclass)});
    if (edns) {
        out.insert(out.end(), {0, 0, 41, 0x04, 0xD0, 0, edns_version, 0x80, 0, 0, 0});
    }
    return out;
}

std::vector<Probe> probes() {
    const std::string z = ".cluster.local";
    return {
        {query("api-service.production.svc" + z, 1), 0},
        {query("API-Service.Production.svc" + z, 1), 0},
        {query("web-service.production.svc" + z, 28), 0},
        {query("_http._tcp.api-service.production.svc" + z, 33), 0},
        {query("api-service.production.svc" + z, 33), 0},
        {query("db-service.production.svc" + z, 1), 0},
        {query("db-service.production.svc" + z, 5), 0},
        {query("big.production.svc" + z, 1), 0},  // truncated over UDP
        {query("big.production.svc" + z, 1, 1, true), 0},
        {query("_tcp.api-service.production.svc" + z, 1), 0},
        {query("100.10.96.10.in-addr.arpa", 12), 0},
        {query("10-244-1-5.production.pod" + z, 1), 0},
        {query("not-an-ip.production.pod" + z, 1), 3},
        {query("dns-version" + z, 16), 0},
        {query("cluster.local", 6), 0},
        {query("cluster.local", 2), 0},
        {query("missing.production.svc" + z, 1), 3},
        // Headless: endpoints, an endpoint by hostname and by dashed address, SRV with targets.
        {query("postgres.production.svc" + z, 1), 0},
        {query("postgres.production.svc" + z, 33), 0},
        {query("_postgres._tcp.postgres.production.svc" + z, 33), 0},
        {query("postgres-0.postgres.production.svc" + z, 1), 0},
        {query("10-250-0-7.big.production.svc" + z, 1), 0},
        {query("_http._tcp.big.production.svc" + z, 33), 0},
        {query("_dns._udp.kube-dns.kube-system.svc" + z, 33), 0},
        {query("20.1.244.10.in-addr.arpa", 12), 0},  // an endpoint's PTR
        {query("10.96.10.in-addr.arpa", 12), 0},     // a reverse empty non-terminal
        {query("ns.dns" + z, 1), 0},
        {query("api-service.production.svc" + z, 255), 0},
        {query("production.svc" + z, 1), 0},
        {query("example.com", 1), 5},
        // The hosts plugin's lines: A, AAAA (NODATA: IPv4 only), another type, PTR.
        {query("host.minikube.internal", 1), 0},
        {query("Host.Minikube.Internal", 28), 0},
        {query("host.minikube.internal", 16), 0},
        {query("1.49.168.192.in-addr.arpa", 12), 0},
        // Names the rewrite rules (kRewrite) map into the zone, and one they make no name of.
        {query("API-Service.corp.example", 1), 0},
        {query("legacy.example", 1), 0},
        {query("oldweb.production.svc" + z, 28), 0},
        {query("postgres.prod.internal", 1), 0},
        {query("api-service.db.example", 1), 0},
        {query("_http._tcp.api-service.db.example", 33), 0},
        {query(std::string(60, 'a') + ".huge.example", 1), 2},
        {query("api-service.production.svc" + z, 1, 3), 5},
        {query("api-service.production.svc" + z, 1, 1, true, 1), 16},
        {query("api-service.production.svc" + z, 1, 1, false, 0, 5), 4},
        {{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0x3f, 'a'}, 1},
        {{0x12, 0x34, 0x81}, -1},
    };
}

int response_rcode(const uint8_t* p, size_t size) {
    int rcode = p[3] & 0xF;
    // An OPT record carries the upper bits: find it at the end of a BADVERS answer.
    if (size >= 11 && p[size - 11] == 0 && p[size - 10] == 0 && p[size - 9] == 41) {
        rcode |= p[size - 6] << 4;
    }
    return rcode;
}

int failures = 0;

void expect(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "FAIL: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: alloc_test EXAMPLES_DIR\n");
        return 2;
    }
    uv_replace_allocator(counted_malloc, counted_realloc, counted_calloc, std::free);

    // The counter itself must see allocations, or a zero below proves nothing.
    counting = true;
    delete new std::string(64, 'x');
    void* from_uv = counted_malloc(16);
    std::free(from_uv);
    counting = false;
    expect(allocations.exchange(0) >= 2, "the allocation counter counts");

    clusterdns::Server server(
        clusterdns::Options{.listen = {"127.0.0.1:0"},
                            .workers = 2,
                            .upstreams = {"none"},
                            .hosts = {kHostsLine},
                            .hosts_fallthrough_set = true,
                            .rewrite = kRewrite});
    server.load_manifests(argv[1]);
    std::string big =
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n"
        "  namespace: production\n  labels: {kubernetes.io/service-name: big}\n"
        "addressType: IPv4\nports: [{name: http, port: 80, protocol: TCP}]\nendpoints:\n";
    for (int i = 0; i < 100; ++i) {
        big += "- addresses: [10.250.0." + std::to_string(i + 1) + "]\n";
    }
    server.apply_yaml(big);
    server.add_service({.ns = "production",
                        .name = "big",
                        .cluster_ips = {"None"},
                        .ports = {{.name = "http", .port = 80}}});
    server.start();

    const std::vector<Probe> all = probes();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server.port());
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    const int udp = socket(AF_INET, SOCK_DGRAM, 0);
    timeval timeout{2, 0};
    setsockopt(udp, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const int tcp = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(tcp, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        std::perror("connect");
        return 1;
    }
    static uint8_t reply[70000];
    static uint8_t frame[70000];
    // The first addresses seen of the 100-endpoint headless Service over TCP: loadbalance turns
    // them (a fixed array: the counted rounds must not allocate for the test either).
    static bool big_first[256];
    const std::vector<uint8_t> big_query = query("big.production.svc.cluster.local", 1);

    // A snapshot of our own for the in-process half.
    clusterdns::Cluster cluster;
    if (!clusterdns::load_manifests(argv[1], cluster)) {
        return 1;
    }
    clusterdns::SnapshotConfig config;
    config.origin = *clusterdns::Name::from_text("cluster.local");
    config.ns_addresses = {*clusterdns::parse_ip("127.0.0.1")};
    const auto zone = clusterdns::build_snapshot(cluster, std::move(config));
    const clusterdns::HostsConfig hosts_config{.lines = {kHostsLine}, .fallthrough = true};
    std::vector<std::string> warnings;
    const auto hosts_lines = clusterdns::parse_hosts(kHostsLine, "hosts", warnings);
    const clusterdns::HostsTable hosts(hosts_config, {}, hosts_lines);
    clusterdns::WorkerStats stats;

    auto run_round = [&](bool checked) {
        for (const Probe& p : all) {
            // UDP
            sendto(udp, p.packet.data(), p.packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to);
            if (p.expected_rcode >= 0) {
                const ssize_t n = recv(udp, reply, sizeof reply, 0);
                if (checked) {
                    expect(n >= 12 &&
                               response_rcode(reply, static_cast<size_t>(n)) == p.expected_rcode,
                           "udp rcode");
                }
            }
            // In-process
            const size_t size =
                clusterdns::handle_query(zone.get(), p.packet, {reply, sizeof reply},
                                         clusterdns::Transport::Udp, stats, false, nullptr,
                                         nullptr, nullptr, &hosts)
                    .size;
            if (checked) {
                expect((size == 0) == (p.expected_rcode < 0), "in-process answer");
            }
        }
        // TCP: every probe that gets an answer, pipelined in one write.
        size_t frame_size = 0;
        int expected = 0;
        for (const Probe& p : all) {
            if (p.expected_rcode < 0) {
                continue;
            }
            frame[frame_size] = static_cast<uint8_t>(p.packet.size() >> 8);
            frame[frame_size + 1] = static_cast<uint8_t>(p.packet.size());
            std::memcpy(frame + frame_size + 2, p.packet.data(), p.packet.size());
            frame_size += 2 + p.packet.size();
            ++expected;
        }
        send(tcp, frame, frame_size, 0);
        for (int i = 0; i < expected; ++i) {
            uint8_t length[2];
            if (recv(tcp, length, 2, MSG_WAITALL) != 2) {
                expect(false, "tcp length");
                return;
            }
            const size_t n = static_cast<size_t>(length[0] << 8 | length[1]);
            const bool ok = recv(tcp, reply, n, MSG_WAITALL) == static_cast<ssize_t>(n);
            if (checked) {
                expect(ok && (reply[2] & 0x02) == 0, "tcp answer complete, not truncated");
            }
            // The big answer: its question as sent, then the first A record's address.
            const size_t question_end = big_query.size();
            if (ok && n > question_end + 16 &&
                std::memcmp(reply + 12, big_query.data() + 12, question_end - 12) == 0) {
                big_first[reply[question_end + 15]] = true;
            }
        }
    };

    run_round(false);  // warm-up: first touches of lazily mapped buffers
    const uint64_t regex_before = clusterdns::regex_allocations();  // PCRE2's own malloc
    counting = true;
    constexpr int kRounds = 200;
    for (int round = 0; round < kRounds; ++round) {
        run_round(true);
    }
    counting = false;
    const long counted = allocations.load();
    std::printf("%d rounds of %zu probes over UDP, TCP and in-process: %ld allocations\n", kRounds,
                all.size(), counted);
    expect(counted == 0, "no allocation on the query path");
    std::printf("PCRE2 allocations while rewriting: %llu\n",
                static_cast<unsigned long long>(clusterdns::regex_allocations() - regex_before));
    expect(clusterdns::regex_allocations() == regex_before, "no allocation by a regex match");
    int big_firsts = 0;
    for (const bool seen : big_first) {
        big_firsts += seen ? 1 : 0;
    }
    std::printf("the 100-endpoint answer began with %d different addresses\n", big_firsts);
    expect(big_firsts > 50, "loadbalance turned the answers");

    // Again while the zone changes under the workers: a Service added and removed over and
    // over, each change a new snapshot published to them, as API events are.
    std::atomic<bool> changing{true};
    std::atomic<long> changes{0};
    std::thread control([&] {
        control_thread = true;
        for (int i = 0; changing.load(); ++i) {
            server.add_service({.ns = "production",
                                .name = "churn",
                                .cluster_ips = {"10.96.200." + std::to_string(i % 250 + 1)},
                                .ports = {{.name = "http", .port = 80}}});
            server.remove_service("production", "churn");
            changes.fetch_add(2);
        }
    });
    counting = true;
    for (int round = 0; round < kRounds; ++round) {
        run_round(true);
    }
    counting = false;
    changing = false;
    control.join();
    const long counted_live = allocations.load() - counted;
    std::printf("%d more rounds while %ld zone changes were published: %ld allocations\n",
                kRounds, changes.load(), counted_live);
    expect(changes.load() > 0, "the zone changed while queries were answered");
    expect(counted_live == 0, "no allocation on the query path while the zone changes");
    close(udp);
    close(tcp);
    server.stop();

    // A cache hit: a forwarded answer served again. The upstream is a socket of this process
    // that answers every query with three A records (its allocations, if any, are not counted),
    // which loadbalance turns in each copy sent.
    const int upstream = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in upstream_address{};
    upstream_address.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &upstream_address.sin_addr);
    socklen_t upstream_size = sizeof upstream_address;
    bind(upstream, reinterpret_cast<sockaddr*>(&upstream_address), sizeof upstream_address);
    getsockname(upstream, reinterpret_cast<sockaddr*>(&upstream_address), &upstream_size);
    std::atomic<int> upstream_answers{0};
    std::thread responder([&] {
        control_thread = true;
        uint8_t q[512];
        sockaddr_in from{};
        socklen_t from_size = sizeof from;
        for (;;) {
            const ssize_t n = recvfrom(upstream, q, sizeof q - 16, 0,
                                       reinterpret_cast<sockaddr*>(&from), &from_size);
            if (n < 12) {
                return;  // the socket was shut down
            }
            q[2] |= 0x80;  // QR
            q[3] |= 0x80;  // RA
            q[7] = 3;      // ANCOUNT
            const uint8_t answer[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 10,
                                      0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 11,
                                      0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 12};
            std::memcpy(q + n, answer, sizeof answer);
            sendto(upstream, q, static_cast<size_t>(n) + sizeof answer, 0,
                   reinterpret_cast<sockaddr*>(&from), from_size);
            ++upstream_answers;
        }
    });
    {
        clusterdns::Server forwarding(clusterdns::Options{
            .listen = {"127.0.0.1:0"},
            .workers = 1,
            .upstreams = {"127.0.0.1:" + std::to_string(ntohs(upstream_address.sin_port))},
            .rewrite = {"name suffix .outside.test .example.test answer auto"}});
        forwarding.start();
        sockaddr_in to_forwarding = to;
        to_forwarding.sin_port = htons(forwarding.port());
        const int client = socket(AF_INET, SOCK_DGRAM, 0);
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        const std::vector<uint8_t> www_direct = query("www.example.test", 1);
        // The same name through a rewrite rule, answered from the cache and written back (its
        // question is as long, so the checks below read it alike).
        const std::vector<uint8_t> www_rewritten = query("www.outside.test", 1);
        int firsts[3] = {0, 0, 0};  // how often each address came first
        int asked = 0;
        const auto ask = [&] {
            const std::vector<uint8_t>& www = asked++ % 2 == 0 ? www_direct : www_rewritten;
            sendto(client, www.data(), www.size(), 0, reinterpret_cast<sockaddr*>(&to_forwarding),
                   sizeof to_forwarding);
            const ssize_t n = recv(client, reply, sizeof reply, 0);
            const size_t first_address = www.size() + 12;
            if (n < static_cast<ssize_t>(first_address + 4) || reply[7] != 3) {
                return false;
            }
            const uint8_t last = reply[first_address + 3];
            if (last >= 10 && last <= 12) {
                ++firsts[last - 10];
            }
            return response_rcode(reply, static_cast<size_t>(n)) == 0;
        };
        expect(ask(), "the first query is forwarded and answered");
        expect(ask(), "the rewritten one is answered from the cache");
        // That query and the loop probe; the responder counts after it has sent.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        const int forwarded = upstream_answers.load();
        const long before = allocations.load();
        counting = true;
        bool all_answered = true;
        for (int i = 0; i < 2000; ++i) {
            all_answered = ask() && all_answered;
        }
        counting = false;
        const long counted_hits = allocations.load() - before;
        std::printf("2000 cache hits (%d queries forwarded before them, %d after): %ld "
                    "allocations\n",
                    forwarded, upstream_answers.load() - forwarded, counted_hits);
        expect(all_answered, "every cache hit answered");
        expect(upstream_answers.load() == forwarded, "the hits did not reach the upstream");
        expect(counted_hits == 0, "no allocation on a cache hit");
        std::printf("each of the 3 addresses first: %d, %d, %d times\n", firsts[0], firsts[1],
                    firsts[2]);
        expect(firsts[0] > 400 && firsts[1] > 400 && firsts[2] > 400,
               "loadbalance turned the cache hits");
        close(client);
    }
    shutdown(upstream, SHUT_RDWR);
    responder.join();
    close(upstream);
    std::printf("%d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
    return failures == 0 ? 0 : 1;
}
