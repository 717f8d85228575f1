#!/usr/bin/env python3
"""A dead upstream: CPU per query of clusterdns forwarding names to an upstream that never
answers, next to unbound and dnsmasq doing the same job, in one run. Prints a table; not a test.

    python3 bench/dead_upstream.py [build/clusterdns] [SECONDS=10] [QPS=2000]

The upstream is a UDP port on loopback that reads every query and answers none. Each server is
pinned to CPU 0 with one thread, dnsperf to CPU 1, sending QPS queries a second for SECONDS, each
for a name never asked before (nothing can come from a cache). clusterdns keeps at most
max_concurrent (1000) clients waiting and answers the rest REFUSED at once; unbound and dnsmasq
have their own limits. CPU per query = the server's user+system CPU time over the run / queries
sent; also how many queries reached the upstream per query sent (retries), and what the clients
heard.
"""

import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from forward import conf_forwarder, cpu_seconds  # noqa: E402
from upstream import free_port  # noqa: E402


class Hole:
    """Reads queries on loopback, answers none, counts them."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()
        self.received = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.sock.recv(4096)
                self.received += 1
            except OSError:
                pass


def run(name, cmd, port, queries, seconds, qps, hole):
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited")
        received = hole.received
        before = cpu_seconds(proc.pid)
        out = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port),
                              "-d", str(queries), "-l", str(seconds), "-Q", str(qps), "-q",
                              "20000", "-t", "6"], capture_output=True, text=True).stdout
        cpu = cpu_seconds(proc.pid) - before
        sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
        codes = dict((code, int(n)) for code, n in
                     re.findall(r"([A-Z]+) (\d+) \(", out.split("Response codes:")[-1]))
        lost = re.search(r"Queries lost:\s+(\d+)", out)
        codes["no answer"] = int(lost.group(1)) if lost else 0
        return {"server": name, "sent": sent, "us": cpu / max(sent, 1) * 1e6,
                "upstream": (hole.received - received) / max(sent, 1), "codes": codes}
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "build" / "clusterdns")
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    qps = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    hole = Hole()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for name in ("clusterdns", "unbound", "dnsmasq"):
            queries = tmp / f"{name}.txt"  # names nobody asked before, per server
            queries.write_text("".join(f"n{i}.{name}.dead.test A\n"
                                       for i in range(seconds * qps + 1000)))
            port = free_port()
            if name == "clusterdns":
                cmd = [binary, "--manifests", str(REPO / "examples"), "--listen",
                       f"127.0.0.1:{port}", "--workers", "1", "--lameduck", "0", "--health",
                       "none", "--ready", "none", "--metrics", "none",
                       "--upstream", f"127.0.0.1:{hole.port}"]
            elif name == "unbound":
                conf = tmp / "unbound.conf"
                conf.write_text(conf_forwarder(tmp, port, hole))
                cmd = ["unbound", "-d", "-c", str(conf)]
            else:
                cmd = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                       f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                       f"--server=127.0.0.1#{hole.port}", f"--pid-file={tmp}/dnsmasq.pid"]
            rows.append(run(name, cmd, port, queries, seconds, qps, hole))
    hole.stop = True
    print(f"dead upstream: {qps} new names a second for {seconds} s, server on CPU 0, "
          f"dnsperf on CPU 1")
    print(f"{'server':<12}{'sent':>8}{'CPU us/q':>10}{'vs unbound':>12}{'upstream/q':>12}  answers")
    unbound_us = next(r["us"] for r in rows if r["server"] == "unbound")
    for r in rows:
        print(f"{r['server']:<12}{r['sent']:>8}{r['us']:>10.2f}{r['us'] / unbound_us:>12.2f}"
              f"{r['upstream']:>12.2f}  {r['codes']}")


if __name__ == "__main__":
    main()
