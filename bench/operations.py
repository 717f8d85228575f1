#!/usr/bin/env python3
"""What operations cost on the query path: CPU per query with the metrics (always on) against a
build without counting (-DCLUSTERDNS_NO_COUNTERS, built here into build-nocount/ if missing),
and with the query log on (lines to a file, as a container's stderr goes to one). Prints a
table; not a test.

    python3 bench/operations.py [SECONDS=8] [ROUNDS=3]

Each server answers cluster names from examples/ with one worker pinned to CPU 0; dnsperf runs
on CPU 1 at 200 outstanding queries. The servers take turns, ROUNDS times; the median CPU per
query of each is compared. CPU per query = the server's user+system time / queries answered.

CPU time on this shared machine moves by a few percent between runs, more than counting costs.
So the same three also run under valgrind's callgrind (when installed), which counts every
instruction the server executes: two runs with different query counts, and the difference of
their totals over the difference of their queries is the user-space instructions per query,
start-up and shutdown cancelled out. (The kernel's share, most of a query's CPU, is the same
for all three.)
"""

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from forward import cpu_seconds, dnsperf, wait_port  # noqa: E402
from upstream import free_port  # noqa: E402

NAMES = ["api-service.production.svc.cluster.local A",
         "web-service.production.svc.cluster.local AAAA",
         "_http._tcp.api-service.production.svc.cluster.local SRV",
         "postgres.production.svc.cluster.local A",
         "kubernetes.default.svc.cluster.local A",
         "missing.production.svc.cluster.local A",
         "100.10.96.10.in-addr.arpa PTR"]


def nocount_binary():
    build = REPO / "build-nocount"
    binary = build / "clusterdns"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                    "-DCLUSTERDNS_TESTS=OFF", "-DCMAKE_CXX_FLAGS=-DCLUSTERDNS_NO_COUNTERS"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "-j2", "--target", "clusterdns"], check=True,
                   stdout=subprocess.DEVNULL)
    return binary


def run(binary, extra, queries, seconds, log):
    port = free_port()
    cmd = ["taskset", "-c", "0", str(binary), "--manifests", str(REPO / "examples"),
           "--listen", f"127.0.0.1:{port}", "--workers", "1", "--upstream", "none",
           "--health", "none", "--ready", "none", "--metrics", "none", "--lameduck", "0", *extra]
    with open(log, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_port_cluster(port, proc)
            dnsperf(port, queries, 2)
            before = cpu_seconds(proc.pid)
            completed, qps = dnsperf(port, queries, seconds)
            cpu = cpu_seconds(proc.pid) - before
            return cpu / max(completed, 1) * 1e6, qps
        finally:
            proc.terminate()
            proc.wait()


def wait_port_cluster(port, proc):
    import time
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.args}")
        r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1", "+tries=1",
                            "api-service.production.svc.cluster.local"],
                           capture_output=True, text=True)
        if r.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError("no answer")


def instructions_per_query(binary, extra, queries):
    """User-space instructions per query under callgrind (see the docstring)."""
    def run(repeat):
        port = free_port()
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                 str(binary), "--manifests", str(REPO / "examples"),
                                 "--listen", f"127.0.0.1:{port}", "--workers", "1",
                                 "--upstream", "none", "--health", "none", "--ready", "none",
                                 "--metrics", "none", "--lameduck", "0", *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_port_cluster(port, proc)
        out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries,
                              "-n", str(repeat), "-q", "20", "-t", "5"],
                             capture_output=True, text=True).stdout
        proc.terminate()
        err = proc.communicate()[1]
        done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
        return done, int(re.search(r"Collected : (\d+)", err).group(1))
    few, few_ir = run(300)
    many, many_ir = run(1500)
    return (many_ir - few_ir) / max(many - few, 1)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    binary = REPO / "build" / "clusterdns"
    nocount = nocount_binary()
    variants = [("no counting", nocount, []), ("metrics (default)", binary, []),
                ("metrics + query log", binary, ["--log", "true"])]
    results = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        queries = Path(tmp) / "queries.txt"
        queries.write_text("\n".join(NAMES) + "\n")
        for _ in range(rounds):
            for name, path, extra in variants:
                results[name].append(run(path, extra, str(queries), seconds, Path(tmp) / "log"))
        base = statistics.median(us for us, _ in results["no counting"])
        print(f"zone answers, {seconds} s x {rounds} rounds each, server on CPU 0, dnsperf on "
              f"CPU 1")
        print(f"{'variant':<22}{'qps':>10}{'CPU us/q':>10}{'vs none':>9}")
        for name, _, _ in variants:
            us = statistics.median(u for u, _ in results[name])
            qps = statistics.median(q for _, q in results[name])
            print(f"{name:<22}{qps:>10.0f}{us:>10.3f}{us / base:>9.3f}")
        if shutil.which("valgrind") is None:
            print("valgrind is not installed: no instruction counts")
            return
        counts = {name: instructions_per_query(path, extra, str(queries))
                  for name, path, extra in variants}
        print("\nuser-space instructions per query, counted by callgrind")
        for name, _, _ in variants:
            print(f"{name:<22}{counts[name]:>10.0f}{counts[name] / counts['no counting']:>9.3f}")


if __name__ == "__main__":
    main()
