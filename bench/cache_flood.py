#!/usr/bin/env python3
"""Cache hit rate of a steady working set under a flood of one-off names. Prints a table; not a
test.

    python3 bench/cache_flood.py [BINARY ...] [--working-set 2000] [--flood 12000] [--fill 10000]

The upstream is unbound on loopback serving the working set's names with TTL 300 and the flood's
with TTL 3600 under example.test. Each binary (default build/clusterdns) runs with one worker (one
cache of 10,000 entries) forwarding to it, and is asked, one query at a time from one UDP socket:
FILL one-off names first (a busy cache is full), then FLOOD more one-off names, each followed by
the next name of the working set in turn (FLOOD / WORKING_SET asks of each). The hit rate is the
cache hits of that second phase (a one-off name cannot hit) over the working-set queries but the
first of each name (which cannot hit either): 100% when the flood takes nothing from the working
set. Every binary gets a fresh server and the same upstream.
"""

import argparse
import socket
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import Server, build_query  # noqa: E402
from upstream import Unbound, free_port  # noqa: E402


def working(i):
    return f"ws-{i}.example.test."


def one_off(i):
    return f"flood-{i}.example.test."


def counters(metrics_port):
    """(cache hits, cache misses) from the server's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    hits = misses = 0.0
    for line in text.splitlines():
        if line.startswith("coredns_cache_hits_total"):
            hits += float(line.rsplit(" ", 1)[1])
        elif line.startswith("coredns_cache_misses_total"):
            misses += float(line.rsplit(" ", 1)[1])
    return hits, misses


def ask(sock, name):
    packet = build_query(name)
    sock.send(packet)
    while True:
        reply = sock.recv(4096)
        if reply[:2] == packet[:2]:
            if reply[3] & 0x0F != 0 or reply[7] == 0:
                raise RuntimeError(f"{name}: no address (rcode {reply[3] & 0x0F})")
            return


def measure(binary, upstream, working_set, flood, fill):
    metrics_port = free_port()
    server = Server(binary, "--upstream", upstream.address, "--workers", "1",
                    "--metrics", f"127.0.0.1:{metrics_port}", "--health", "none",
                    "--ready", "none", "--lameduck", "0")
    server.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.connect((server.host, server.port))
            for i in range(fill):
                ask(sock, one_off(flood + i))
            hits_before, misses_before = counters(metrics_port)
            started = time.monotonic()
            for i in range(flood):
                ask(sock, one_off(i))
                ask(sock, working(i % working_set))
            seconds = time.monotonic() - started
            hits, misses = counters(metrics_port)
    finally:
        server.stop()
    return {"binary": binary, "hits": hits - hits_before, "misses": misses - misses_before,
            "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="*", default=[str(REPO / "build" / "clusterdns")])
    parser.add_argument("--working-set", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=12000)
    parser.add_argument("--fill", type=int, default=10000)
    args = parser.parse_args()
    if args.flood <= args.working_set:
        parser.error("--flood must exceed --working-set: each name's first ask is not counted")
    data = [f"{working(i)} 300 IN A 192.0.2.{i % 250 + 1}" for i in range(args.working_set)]
    data += [f"{one_off(i)} 3600 IN A 198.51.100.{i % 250 + 1}"
             for i in range(args.flood + args.fill)]
    with Unbound(extra_data=data) as upstream:
        rows = [measure(b, upstream, args.working_set, args.flood, args.fill)
                for b in args.binaries]
    print(f"working set of {args.working_set} names (TTL 300) asked {args.flood} times between "
          f"{args.flood} one-off names (TTL 3600), after {args.fill} more; one worker")
    print(f"{'binary':<40}{'working-set hit rate':>22}{'seconds':>9}")
    for r in rows:
        print(f"{r['binary']:<40}{r['hits'] / (args.flood - args.working_set):>21.1%}"
              f"{r['seconds']:>9.1f}")


if __name__ == "__main__":
    main()
