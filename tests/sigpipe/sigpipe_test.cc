// An embedder that never touches SIGPIPE must survive TCP clients that reset with answers unread.
// Writing to a reset connection raises SIGPIPE, whose default action kills the whole process
// (exit 141 from a shell); only clusterdns's own main() ignores it, so the library must not rely
// on the host: its sends use MSG_NOSIGNAL and its threads block the signal for libuv's writev.
//
// Rounds of: connections pipelining hundreds of queries with ~5 KB answers and reading none, so
// the server has answers pending; half also shut down their sending side first (the server's
// socket is then in CLOSE_WAIT, where a reset makes the next write fail with EPIPE at once), then
// every connection is reset (SO_LINGER 0, close). Afterwards the server must still answer over TCP
// and this process be alive to say so.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "clusterdns/clusterdns.h"

namespace {

constexpr int kRounds = 20;
constexpr int kConnections = 8;
constexpr int kQueries = 400;  // ~2 MB of answers per connection, more than socket buffers hold

std::vector<uint8_t> framed_query(uint16_t id, const std::string& name, uint16_t type) {
    std::vector<uint8_t> q = {
        0, 0, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0,
        0, 0};
    size_t start = 0;
    while (start < name.size()) {
        const size_t dot = std::min(name.find('.', start), name.size());
        q.push_back(static_cast<uint8_t>(dot - start));
        q.insert(q.end(), name.begin() + static_cast<long>(start),
                 name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    q.insert(q.end(), {0, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
    const size_t length = q.size() - 2;
    q[0] = static_cast<uint8_t>(length >> 8);
    q[1] = static_cast<uint8_t>(length);
    return q;
}

int connect_to(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        std::perror("connect");
        close(fd);
        return -1;
    }
    const timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    return fd;
}

bool send_all(int fd, const std::vector<uint8_t>& data) {
    size_t done = 0;
    while (done < data.size()) {
        // MSG_NOSIGNAL here too: this test is about the server's writes, not its own.
        const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

// One query over a fresh connection; true if a NOERROR answer with the question's id comes back.
bool answers(uint16_t port) {
    const int fd = connect_to(port);
    if (fd < 0) {
        return false;
    }
    const auto query = framed_query(4242, "big.bulk.svc.cluster.local", 1);
    uint8_t head[2];
    uint8_t reply[65535];
    bool ok = send_all(fd, query) && recv(fd, head, 2, MSG_WAITALL) == 2;
    const size_t length = ok ? static_cast<size_t>(head[0] << 8 | head[1]) : 0;
    ok = ok && length >= 12 && recv(fd, reply, length, MSG_WAITALL) == static_cast<ssize_t>(length);
    ok = ok && (reply[0] << 8 | reply[1]) == 4242 && (reply[3] & 0xF) == 0;
    close(fd);
    return ok;
}

}  // namespace

int main() {
    clusterdns::Server server({.listen = {"127.0.0.1:0"}, .workers = 2, .upstreams = {"none"}});
    server.load_manifests(CLUSTERDNS_TEST_DATA "/big-headless.yaml");
    server.start();
    const uint16_t port = server.port();
    if (!answers(port)) {
        std::fprintf(stderr, "FAIL: no answer before the resets\n");
        return 1;
    }

    std::vector<uint8_t> burst;
    for (int i = 0; i < kQueries; ++i) {
        const auto q =
            framed_query(static_cast<uint16_t>(i), "_http._tcp.big.bulk.svc.cluster.local", 33);
        burst.insert(burst.end(), q.begin(), q.end());
    }
    for (int round = 0; round < kRounds; ++round) {
        std::vector<int> fds;
        for (int i = 0; i < kConnections; ++i) {
            const int fd = connect_to(port);
            if (fd < 0 || !send_all(fd, burst)) {
                std::fprintf(stderr, "FAIL: round %d: cannot send the queries\n", round);
                return 1;
            }
            if (i % 2 == 0) {
                shutdown(fd, SHUT_WR);
            }
            fds.push_back(fd);
        }
        // Wait until the answers are flowing (the server is writing), then reset.
        for (const int fd : fds) {
            pollfd p{.fd = fd, .events = POLLIN};
            poll(&p, 1, 5000);
        }
        for (const int fd : fds) {
            const linger reset{.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
            close(fd);
        }
    }

    const bool ok = answers(port);
    const clusterdns::Server::Stats stats = server.stats();
    server.stop();
    std::printf("%d rounds of %d reset connections, %llu TCP queries: process alive, %s\n", kRounds,
                kConnections, static_cast<unsigned long long>(stats.tcp_queries),
                ok ? "server answers" : "server does NOT answer");
    return ok ? 0 : 1;
}
