#!/usr/bin/env python3
"""Cache hits: CPU per query of clusterdns answering forwarded names from its cache, next to
unbound and dnsmasq doing the same job (forwarding to the same upstream, with a cache), in one
run. Prints a table; not a test.

    python3 bench/forward.py [build/clusterdns] [SECONDS=10] [NAMES=1000]

The upstream is unbound on loopback serving NAMES A records under example.test. Each server under
test is pinned to CPU 0 with one thread, dnsperf to CPU 1; after a warm-up pass (every name once,
so all later queries are hits), dnsperf sends the names for SECONDS at 200 outstanding queries.
CPU per query = the server's user+system CPU time over the run / queries answered. dnsperf is
near its own ceiling here, so CPU per query is the figure to compare, not qps.

Also the `ndots:5` search sequence a pod sends for an outside name (www.example.test from
namespace production: three NXDOMAINs, then the name), and the single query that replaces it with
--autopath true: the CPU per name resolved and the round trips each takes.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from upstream import Unbound, free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def dnsperf(port, queries, seconds, warm=False, source=None):
    args = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries,
            "-q", "200", "-t", "2"]
    if source:
        args += ["-a", source]
    args += ["-n", "1"] if warm else ["-l", str(seconds)]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    completed = re.search(r"Queries completed:\s+(\d+)", out)
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    return int(completed.group(1)) if completed else 0, float(qps.group(1)) if qps else 0.0


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.args}")
        r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1",
                            "+tries=1", "name-0.example.test"], capture_output=True, text=True)
        if r.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"no answer from {proc.args}")


def measure(name, cmd, port, queries, seconds, source=None):
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        dnsperf(port, queries, seconds, warm=True, source=source)
        before = cpu_seconds(proc.pid)
        completed, qps = dnsperf(port, queries, seconds, source=source)
        cpu = cpu_seconds(proc.pid) - before
        return {"server": name, "qps": qps, "us": cpu / max(completed, 1) * 1e6, "n": completed}
    finally:
        proc.terminate()
        proc.wait()


def conf_forwarder(tmp, port, upstream):
    """unbound as a caching forwarder to `upstream` (with .host and .port), one thread, on
    127.0.0.1:port."""
    return "\n".join([
        "server:", f"  interface: 127.0.0.1@{port}", f"  port: {port}", "  num-threads: 1",
        "  do-daemonize: no", "  use-syslog: no", '  chroot: ""', '  username: ""',
        f'  directory: "{tmp}"', f'  pidfile: "{tmp}/unbound-{port}.pid"', '  logfile: ""',
        "  do-ip6: no", "  do-not-query-localhost: no", "  msg-cache-size: 16m",
        "  rrset-cache-size: 32m", "  module-config: iterator",
        # .test is one of unbound's built-in empty zones (RFC 6761): forward it instead.
        '  local-zone: "test." nodefault',
        "forward-zone:", '  name: "."', f"  forward-addr: {upstream.host}@{upstream.port}",
        "remote-control:", "  control-enable: no", ""])


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "build" / "clusterdns")
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    names = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    data = [f"name-{i}.example.test. 3600 IN A 192.0.2.{i % 250 + 1}" for i in range(names)]
    with tempfile.TemporaryDirectory() as tmp, Unbound(ttl=3600, extra_data=data) as upstream:
        tmp = Path(tmp)
        queries = tmp / "queries.txt"
        queries.write_text("".join(f"name-{i}.example.test A\n" for i in range(names)))
        rows = []
        port = free_port()
        rows.append(measure("clusterdns", [binary, "--manifests", str(REPO / "examples"),
                                           "--listen", f"127.0.0.1:{port}", "--workers", "1", "--lameduck", "0",
                                           "--upstream", upstream.address], port, str(queries),
                            seconds))
        port = free_port()
        conf = tmp / "unbound-forward.conf"
        conf.write_text(conf_forwarder(tmp, port, upstream))
        rows.append(measure("unbound", ["unbound", "-d", "-c", str(conf)], port, str(queries),
                            seconds))
        port = free_port()
        rows.append(measure("dnsmasq", ["dnsmasq", "--keep-in-foreground", "--no-resolv",
                                        "--no-hosts", f"--port={port}",
                                        "--listen-address=127.0.0.1", "--bind-interfaces",
                                        f"--server=127.0.0.1#{upstream.port}",
                                        "--cache-size=10000", f"--pid-file={tmp}/dnsmasq.pid"],
                            port, str(queries), seconds))
        print(f"cache hits: {names} names, {seconds} s each, server on CPU 0, dnsperf on CPU 1")
        print(f"{'server':<12}{'qps':>10}{'CPU us/q':>10}{'vs unbound':>12}")
        unbound_us = next(r["us"] for r in rows if r["server"] == "unbound")
        for r in rows:
            print(f"{r['server']:<12}{r['qps']:>10.0f}{r['us']:>10.2f}{r['us'] / unbound_us:>12.2f}")

        # A pod of namespace production (address 127.0.0.23) resolving outside names: with
        # ndots:5 its resolver asks three cluster expansions (NXDOMAIN) before the name itself;
        # with --autopath the first expansion answers at once.
        pod = tmp / "pod.yaml"
        pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: production}"
                       "\nstatus: {podIP: 127.0.0.23, podIPs: [{ip: 127.0.0.23}]}\n")
        suffixes = ["production.svc.cluster.local", "svc.cluster.local", "cluster.local"]
        sequence = tmp / "sequence.txt"
        sequence.write_text("".join(f"name-{i}.example.test.{s} A\n" for i in range(names)
                                    for s in [*suffixes, ""]).replace(". A", " A"))
        first = tmp / "first.txt"
        first.write_text("".join(f"name-{i}.example.test.{suffixes[0]} A\n"
                                 for i in range(names)))
        results = []
        for label, extra, queries_file, per_name in (
                ("clusterdns", [], sequence, 4),
                ("clusterdns autopath", ["--autopath", "true"], first, 1)):
            port = free_port()
            r = measure(label, [binary, "--manifests", str(REPO / "examples"), "--manifests",
                                str(pod), "--listen", f"127.0.0.1:{port}", "--workers", "1", "--lameduck", "0",
                                "--upstream", upstream.address, *extra],
                        port, str(queries_file), seconds, source="127.0.0.23")
            r["per_name"] = r["us"] * per_name
            r["trips"] = per_name
            results.append(r)
        # The same job for the peers: the cluster domain answered locally (NXDOMAIN for these
        # names), everything else forwarded and cached.
        port = free_port()
        conf = tmp / "unbound-cluster.conf"
        conf.write_text(conf_forwarder(tmp, port, upstream) +
                        'server:\n  local-zone: "cluster.local." static\n')
        peers = [("unbound", ["unbound", "-d", "-c", str(conf)], port)]
        port = free_port()
        peers.append(("dnsmasq", ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                                  f"--port={port}", "--listen-address=127.0.0.1",
                                  "--bind-interfaces", f"--server=127.0.0.1#{upstream.port}",
                                  "--local=/cluster.local/", "--cache-size=10000",
                                  f"--pid-file={tmp}/dnsmasq-cluster.pid"], port))
        for label, cmd, peer_port in peers:
            r = measure(label, cmd, peer_port, str(sequence), seconds)
            r["per_name"] = r["us"] * 4
            r["trips"] = 4
            results.append(r)
        print(f"\na pod of production resolving {names} outside names (cached), ndots:5:")
        print(f"{'server':<22}{'round trips':>12}{'CPU us/name':>13}")
        for r in results:
            print(f"{r['server']:<22}{r['trips']:>12}{r['per_name']:>13.2f}")


if __name__ == "__main__":
    main()
