#include "server/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace clusterdns {

namespace {

constexpr int kUdpReceiveBuffer = 4 << 20;
constexpr int kPortAttempts = 32;
// Descriptors the process needs besides the TCP connections: listeners, each loop's epoll and
// eventfd, and room for the host program's own (stdio, manifest files, its other sockets).
constexpr unsigned kDescriptorsPerWorker = 4;
constexpr unsigned kSpareDescriptors = 64;

}  // namespace

socklen_t socket_address(const std::string& host, uint16_t port, sockaddr_storage& out) {
    out = {};
    if (host.find(':') != std::string::npos) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&out);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr);
        return sizeof *sa;
    }
    auto* sa = reinterpret_cast<sockaddr_in*>(&out);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &sa->sin_addr);
    return sizeof *sa;
}

namespace {

// A socket with SO_REUSEPORT bound to addr:port, so the workers share the port. The first socket
// of an address (`first`) is bound without it and joins the group afterwards: then the bind
// fails if anyone holds the port, even another clusterdns with SO_REUSEPORT (which would
// otherwise get half our queries), and with port 0 the kernel picks a port nobody holds.
int bind_socket(const ListenAddress& address, int type, uint16_t port, bool first) {
    sockaddr_storage storage{};
    const socklen_t length = socket_address(address.host, port, storage);
    const bool v6 = storage.ss_family == AF_INET6;
    const int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    const int yes = 1;
    if (type == SOCK_STREAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    }
    if (v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
    }
    if (type == SOCK_DGRAM) {
        // Room for bursts while the worker is busy: the kernel's default of ~200 KiB drops
        // queries at a few thousand outstanding. It caps this at net.core.rmem_max.
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kUdpReceiveBuffer, sizeof kUdpReceiveBuffer);
    }
    if (!first) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
        const int err = errno;
        close(fd);
        return -err;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
    return ntohs(storage.ss_family == AF_INET6
                     ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

}  // namespace

void close_all(BoundFds& fds) {
    for (const int fd : fds.udp) {
        if (fd >= 0) {
            close(fd);
        }
    }
    for (const int fd : fds.tcp) {
        if (fd >= 0) {
            close(fd);
        }
    }
    fds = {};
}

Result<BoundFds> bind_address(const ListenAddress& address, unsigned workers, uint16_t& port_out) {
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
        BoundFds fds;
        uint16_t port = address.port;
        int err = 0;
        for (unsigned i = 0; i < workers && err == 0; ++i) {
            const int udp = bind_socket(address, SOCK_DGRAM, port, i == 0);
            if (udp < 0) {
                err = udp;
                break;
            }
            fds.udp.push_back(udp);
            port = local_port(udp);
            const int tcp = bind_socket(address, SOCK_STREAM, port, i == 0);
            if (tcp < 0) {
                err = tcp;
                break;
            }
            fds.tcp.push_back(tcp);
        }
        if (err == 0) {
            port_out = port;
            return fds;
        }
        close_all(fds);
        if (address.port != 0 || err != -EADDRINUSE) {
            return Error{fmt::format("listen {}: {}", address.to_text(), std::strerror(-err))};
        }
    }
    return Error{fmt::format("listen {}: no free port for both UDP and TCP", address.to_text())};
}

Status reserve_descriptors(unsigned connections, unsigned workers, size_t addresses) {
    const rlim_t needed = rlim_t{connections} + rlim_t{workers} * (2 * addresses) +
                          rlim_t{workers} * kDescriptorsPerWorker + kSpareDescriptors;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) {
        return {};
    }
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= needed) {
        const rlimit raised{.rlim_cur = needed, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            return {};
        }
    }
    return Error{fmt::format(
        "max_tcp_connections {} needs {} file descriptors, but the limit (RLIMIT_NOFILE) is {} "
        "and its hard limit {}: lower max_tcp_connections or raise the limit (ulimit -n)",
        connections, needed, limit.rlim_cur, limit.rlim_max)};
}

std::string ListenAddress::to_text() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
    ListenAddress out;
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return Error{fmt::format("\"{}\" is not [IPv6]:PORT", text)};
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon != std::string_view::npos &&
            text.substr(0, colon).find(':') != std::string_view::npos) {
            return Error{
                fmt::format("\"{}\": write an IPv6 address in brackets, [ADDR]:PORT", text)};
        }
        if (colon == std::string_view::npos) {
            return Error{fmt::format("\"{}\" is not ADDR:PORT", text)};
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    out.host = std::string(host);
    uint8_t scratch[16];
    const bool v6 = out.host.find(':') != std::string::npos;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, out.host.c_str(), scratch) != 1) {
        return Error{fmt::format("\"{}\": \"{}\" is not an IP address", text, host)};
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
        return Error{fmt::format("\"{}\": \"{}\" is not a port (0-65535)", text, port)};
    }
    out.port = static_cast<uint16_t>(value);
    return out;
}

}  // namespace clusterdns
