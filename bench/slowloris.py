#!/usr/bin/env python3
"""Slowloris against clusterdns: how long a new TCP client waits while N connections trickle.

Starts build/clusterdns (or $CLUSTERDNS) on 127.0.0.1 with its default TCP settings, opens N
connections (default 1,100: more than the default cap of 1,024) that each send one byte of a query
every few seconds, and meanwhile measures, every 0.2 s, how long a new client takes to get a TCP
answer. Prints the new clients' latencies and how many trickling connections the server closed.
Before the hardening, every new client hung for as long as the attack lasted.

With --http the same against the /health listener (64 connections at most): the connections
trickle an HTTP request that never ends, and the new clients are probes (GET /health), as the
kubelet's.

    python3 bench/slowloris.py [--connections 1100] [--seconds 20] [--trickle 2] [--http]
"""

import argparse
import os
import re
import resource
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def query(qid):
    name = b"".join(bytes([len(p)]) + p for p in b"api-service.production.svc.cluster.local".split(b"."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + b"\x00\x00\x01\x00\x01"


def timed_tcp_query(port, qid, timeout):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            q = query(qid)
            s.sendall(struct.pack("!H", len(q)) + q)
            head = s.recv(2)
            if len(head) < 2:
                return None
            return time.monotonic() - started
    except OSError:
        return None


HTTP_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: "  # then "a" for ever


def timed_http_get(port, timeout):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if not s.recv(4096).startswith(b"HTTP/1.1 200"):
                return None
            return time.monotonic() - started
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=1100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--trickle", type=float, default=2.0, help="seconds between bytes")
    ap.add_argument("--binary", default=os.environ.get("CLUSTERDNS", REPO / "build" / "clusterdns"))
    ap.add_argument("--http", action="store_true", help="attack the /health listener instead")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 256), hard))

    extra = []
    if args.http:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            http_port = s.getsockname()[1]
        extra = ["--health", f"127.0.0.1:{http_port}"]
    server = subprocess.Popen([str(args.binary), "--upstream", "none", "--manifests", str(REPO / "examples"),
                               "--listen", "127.0.0.1:0", "--workers", "1", *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+)$", server.stdout.readline().strip()).group(1))
    frame = struct.pack("!H", len(query(1))) + query(1)
    if args.http:
        port = http_port
    tricklers = []
    for _ in range(args.connections):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        tricklers.append([s, 0])
    latencies, failures = [], 0
    started = time.monotonic()
    closed = [0]

    def trickle():  # on its own thread, so a slow probe never delays the bytes
        sent = 0
        while time.monotonic() - started < args.seconds:
            if args.http:
                byte = HTTP_HEAD[sent:sent + 1] or b"a"
            else:
                byte = frame[sent % len(frame):sent % len(frame) + 1]
            for t in tricklers:
                if t[0] is None:
                    continue
                try:
                    t[0].send(byte)
                except BlockingIOError:
                    pass
                except OSError:
                    t[0].close()
                    t[0] = None
                    closed[0] += 1
            sent += 1
            time.sleep(args.trickle)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    qid = 100
    while time.monotonic() - started < args.seconds:
        qid += 1
        if args.http:
            took = timed_http_get(port, timeout=args.seconds)
        else:
            took = timed_tcp_query(port, qid, timeout=args.seconds)
        if took is None:
            failures += 1
        else:
            latencies.append(took)
        time.sleep(0.2)
    thread.join()
    server.terminate()
    server.wait()
    for t in tricklers:
        if t[0] is not None:
            t[0].close()
    print(f"{args.connections} trickling connections for {args.seconds:.0f} s "
          f"(one byte every {args.trickle} s)")
    print(f"trickling connections the server closed: {closed[0]}")
    if latencies:
        latencies.sort()
        print(f"new {'HTTP' if args.http else 'TCP'} clients answered: {len(latencies)}, "
              f"failed: {failures}; latency "
              f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms, "
              f"max {latencies[-1] * 1000:.1f} ms")
    else:
        print(f"new {'HTTP' if args.http else 'TCP'} clients answered: 0, failed: {failures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
