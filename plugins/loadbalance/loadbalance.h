#pragma once
// loadbalance (CoreDNS's plugin; kubeadm's Corefile ends with it): the addresses of an answer
// come in another order from one response to the next, so clients that take the first spread
// over a headless Service's endpoints, or over an outside name's addresses. The front end turns
// every response it sends through it (server/worker.h), after the chain: the cache keeps what
// the upstream said, and each copy sent is turned on its own.

#include <cstdint>
#include <span>

namespace clusterdns {

// Rotates, in place, each run of two or more A records of one owner (or AAAA records) in the
// answer section of `response`, a NOERROR response whole as it is to be sent: the run's records
// keep their cyclic order and start at a place drawn from `turns`, which is advanced once per
// run. Records of other types stay where they are, so a CNAME chain stays first and in order,
// and so do the authority and additional sections. Owner names, and every compression pointer,
// keep their bytes: only the TTL and address of the run's records move (a pointer into those,
// which no encoder writes, reads other bytes after). A query, or a response
// with another RCODE, is left as it is, and so is everything from a record it cannot read.
// Allocates nothing and takes no lock: `turns` belongs to the caller's thread.
void rotate_addresses(std::span<uint8_t> response, uint64_t& turns) noexcept;

}  // namespace clusterdns
