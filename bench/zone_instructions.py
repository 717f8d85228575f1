#!/usr/bin/env python3
"""User-space instructions per cluster query, counted by callgrind, for one or more builds.

    python3 bench/gen_cluster.py --shape real --services 10000 --out /tmp/r10k
    python3 bench/zone_instructions.py /tmp/r10k before=/tmp/old/clusterdns after=build/clusterdns

For each binary and each query set of the generated cluster (mixed: queries.txt, every kind;
internal: queries-internal.txt, the names of Services and endpoints; see gen_cluster.py) the
server loads DATA/manifests under `valgrind --tool=callgrind` and dnsperf sends the first
QUERIES (20,000) lines of the set once, then again three times; the difference of the two
totals over the difference of the queries answered is the instructions per query, start-up and
shutdown cancelled out. Instructions do not move with the load on the machine as CPU time does,
so builds compare on a busy machine; the kernel's share of a query (most of its CPU) is not in
them, nor are cache misses (a pass over the same names again finds them cached: for what a
lookup's misses cost, see the lookup lines of bench/store/store_bench).

Prints a row per binary and set, and each binary's ratio to the first.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = int(os.environ.get("QUERIES", "20000"))
SETS = (("internal", "queries-internal.txt"), ("mixed", "queries.txt"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def totals(out_file):
    """The event totals of a callgrind output file, by event name."""
    events = summary = None
    for line in Path(out_file).read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:") or line.startswith("totals:"):
            summary = [int(x) for x in line.split()[1:]]
    return dict(zip(events, summary))


def run(binary, data, queries, passes, tmp):
    port = free_port()
    out_file = Path(tmp) / f"callgrind.{port}.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", binary, "--upstream", "none", "--lameduck", "0", "--manifests",
            str(Path(data) / "manifests"), "--listen", f"127.0.0.1:{port}", "--workers", "1",
            "--health", "none", "--ready", "none", "--metrics", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # the listening line: loaded
        if "listening on" not in line:
            raise RuntimeError(f"{binary}: no listening line ({line!r})")
        out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries,
                              "-n", str(passes), "-q", "20", "-t", "10"],
                             capture_output=True, text=True).stdout
        done = re.search(r"Queries completed:\s+(\d+)", out)
        if not done:
            raise RuntimeError(f"dnsperf: {out}")
    finally:
        proc.terminate()
        proc.wait(timeout=600)
    return int(done.group(1)), totals(out_file)


def per_query(binary, data, queries, tmp):
    few, few_events = run(binary, data, queries, 1, tmp)
    many, many_events = run(binary, data, queries, 4, tmp)
    count = max(many - few, 1)
    return {k: (many_events[k] - few_events[k]) / count for k in many_events}, many - few


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data = sys.argv[1]
    builds = [a.split("=", 1) if "=" in a else (a, a) for a in sys.argv[2:]]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, file_name in SETS:
            queries = Path(tmp) / file_name
            lines = (Path(data) / file_name).read_text().splitlines()[:QUERIES]
            queries.write_text("\n".join(lines) + "\n")
            for label, binary in builds:
                t0 = time.time()
                results[(label, set_name)], counted = per_query(binary, data, str(queries), tmp)
                print(f"[{label} {set_name}: {counted} queries counted, {time.time() - t0:.0f} s]",
                      file=sys.stderr)
    print(f"\nuser-space instructions per query (callgrind), {QUERIES} queries of {data}")
    print(f"{'build':<12}{'set':<10}{'Ir':>10}{'ratio':>8}")
    for set_name, _ in SETS:
        first = results[(builds[0][0], set_name)]["Ir"]
        for label, _ in builds:
            ir = results[(label, set_name)]["Ir"]
            print(f"{label:<12}{set_name:<10}{ir:>10.1f}{ir / first:>8.3f}")


if __name__ == "__main__":
    main()
