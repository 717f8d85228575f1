#pragma once
// The listening sockets: one UDP and one TCP socket per worker on every listen address, all of an
// address on one port (SO_REUSEPORT, so the kernel spreads queries across workers).

#include <sys/socket.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "server/frontend.h"

namespace clusterdns {

struct BoundFds {
    std::vector<int> udp;  // one per worker
    std::vector<int> tcp;
};

// Binds one UDP and one TCP socket per worker on the same port (port 0: one free for both), the
// first of them exclusively: someone holding the port is an error, even another clusterdns.
Result<BoundFds> bind_address(const ListenAddress& address, unsigned workers, uint16_t& port_out);

// Closes the sockets no handle has taken yet (-1 once one has).
void close_all(BoundFds& fds);

// Every TCP connection is a file descriptor: makes sure the process may open enough, raising the
// soft limit toward the hard one if needed (many systems start processes with a soft limit of
// 1024), so the cap is not silently lower than configured.
Status reserve_descriptors(unsigned connections, unsigned workers, size_t addresses);

// The socket address of an IPv4 or IPv6 literal and a port; returns its length.
socklen_t socket_address(const std::string& host, uint16_t port, sockaddr_storage& out);

}  // namespace clusterdns
