#include "server/clusterdns.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

size_t open_descriptors() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

// Whether `port` on 127.0.0.1 can be bound again with `type` (no SO_REUSEPORT: exclusive).
bool can_bind(uint16_t port, int type) {
    const int fd = socket(AF_INET, type, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    return bound;
}

TEST_CASE("server: stop() gives back every socket and descriptor, start after start fails cleanly") {
    {
        // libuv opens a pipe of its own for the whole process with the first loop: not ours.
        Server first({.listen = {"127.0.0.1:0"}, .workers = 1, .upstreams = {"none"}});
        first.start();
    }
    const size_t before = open_descriptors();
    uint16_t port = 0;
    {
        Server server({.listen = {"127.0.0.1:0"}, .workers = 2, .upstreams = {"none"}});
        server.start();
        port = server.port();
        CHECK_FALSE(can_bind(port, SOCK_DGRAM));
        server.stop();
        CHECK(can_bind(port, SOCK_DGRAM));
        CHECK(can_bind(port, SOCK_STREAM));
    }
    CHECK(open_descriptors() == before);

    // A second server on the port the first holds fails, and leaves nothing open behind.
    Server holder({.listen = {"127.0.0.1:0"}, .workers = 1, .upstreams = {"none"}});
    holder.start();
    const size_t holding = open_descriptors();
    Server second({.listen = {"127.0.0.1:" + std::to_string(holder.port())},
                   .workers = 2,
                   .upstreams = {"none"}});
    CHECK_THROWS(second.start());
    CHECK(open_descriptors() == holding);
}

}  // namespace
}  // namespace clusterdns
