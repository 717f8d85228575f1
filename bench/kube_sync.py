#!/usr/bin/env python3
"""The kubernetes source against the fake API server: start to full sync, a re-list after 410
Gone beside the fresh sync it should beat, and resident memory. Not a test.

    python3 bench/kube_sync.py build/clusterdns [COUNT=10000] [NAMESPACES=100]
    python3 bench/kube_sync.py build/clusterdns --manifests DIR [--runs 3] [--knot]
                               [--settle 3] [--no-relist] [--pin] [--list-delay S]

The fake API server (tests/fake_apiserver) runs in this process; clusterdns lists the objects in
pages of 500 over HTTPS. With --manifests (the manifests folder of a `bench/gen_cluster.py --shape
real` cluster, or any folder of YAML) the API serves those objects (Namespaces, Services,
EndpointSlices; read with PyYAML once, then from a pickle beside this run's temporary files),
else COUNT bare ClusterIP Services.

Each run starts clusterdns (`--workers 1`) and reads, from that one process:
- start to line: from the fork to the listening line, which waits for the full sync;
- sync: clusterdns's own "synced in" (its source's start to every kind listed), the fresh sync;
- CPU s of the process at its listening line;
- settled RSS (`--settle` seconds after the line) and the peak (VmHWM) until then;
- the re-list: every open watch gets ERROR 410 (the fake's expire_watches), every kind lists
  again; its time from the fault to the last "list: N objects" line, its CPU seconds (the
  process's, over the same span), and both beside the fresh sync's (ratio);
- RSS settled after the re-list and the peak over the whole run;
- the fake API server's CPU over the sync and the re-list (this process: if it nears the wall
  time, the fake is what limits);
- with a gen_cluster.py folder, its expected.txt asked of the server after the sync and after the
  re-list (dnscheck.py expect): the zone is whole before and after.
Then the median of each figure over the runs. With --knot, knotd loads the same records from the
cluster's zone files (DIR/../zones, written by gen_cluster.py) with the configuration
bench/memory.sh uses, and its load time (fork to both zones answering) is printed beside, unpinned
and pinned to one CPU. --pin runs clusterdns pinned to CPU 0 (and the fake to CPU 1).
"""

import argparse
import hashlib
import os
import pickle
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests" / "fake_apiserver"))
from fake_apiserver import FakeApiServer, find_resource  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
KINDS = ("namespaces", "services", "endpointslices")


def read_objects(directory, cache_dir):
    """(kind, object) of every YAML document below `directory`; parsed once, then pickled."""
    paths = sorted(Path(directory).rglob("*.yaml"))
    stamp = hashlib.sha1(repr([(str(p), p.stat().st_mtime_ns, p.stat().st_size)
                               for p in paths]).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"kube_sync-{stamp}.pickle"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    import yaml  # only this mode needs PyYAML (python3-yaml)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    objects = []
    for path in paths:
        with open(path) as f:
            objects.extend((o["kind"], o) for o in yaml.load_all(f, Loader=loader) if o)
    with open(cache, "wb") as f:
        pickle.dump(objects, f, protocol=pickle.HIGHEST_PROTOCOL)
    return objects


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{key}:\s+(\d+) kB", f.read()).group(1))


def resident_mappings(pid, top=12):
    """The largest resident mappings (KiB, path), for where RSS goes."""
    kib, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                name = fields[5] if len(fields) > 5 else "[anonymous]"
            elif fields[0] == "Rss:":
                kib[name] = kib.get(name, 0) + int(fields[1])
    return sorted(((v, k) for k, v in kib.items()), reverse=True)[:top]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Lines:
    """A process's stderr, line by line, each with the monotonic time it was read."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append((time.monotonic(), line))
                self.cond.notify_all()

    def wait(self, pattern, start=0, timeout=600):
        """The first (time, match) at or after line `start` whose line matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = regex.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no line matching {pattern!r} within {timeout} s")
                self.cond.wait(left)

    def count(self):
        with self.cond:
            return len(self.lines)

    def text(self):
        with self.cond:
            return "".join(line for _, line in self.lines)


def check_answers(line, expected):
    """dnscheck.py's verdict on the cluster's expected.txt, asked of the server on `line`."""
    port = re.search(r":(\d+)\b", line.split("listening on", 1)[-1])
    if not expected or not port:
        return "not checked"
    done = subprocess.run([sys.executable, str(BENCH / "dnscheck.py"), "expect", "--server",
                           f"127.0.0.1:{port.group(1)}", "--expected", str(expected)],
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"


def one_run(binary, api, settle, relist, pin, expected=None):
    out = {}
    cmd = [binary, "--upstream", "none", "--lameduck", "0", "--kubeconfig", str(api.kubeconfig),
           "--listen", "127.0.0.1:0", "--workers", "1", "--startup-timeout", "300"]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    fake_cpu = time.process_time()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = Lines(proc.stderr)
    try:
        line = proc.stdout.readline()
        out["to_line"] = time.monotonic() - started
        out["cpu_at_line"] = cpu_seconds(proc.pid)
        out["fake_cpu_sync"] = time.process_time() - fake_cpu
        if "listening" not in line:
            raise RuntimeError(f"no listening line: {line!r}; {err.text()[-2000:]}")
        _, m = err.wait(r"synced in ([0-9.]+) s")
        out["sync"] = float(m.group(1))
        time.sleep(settle)
        out["rss_settled"] = status_kib(proc.pid, "VmRSS") / 1024
        out["rss_anon"] = status_kib(proc.pid, "RssAnon") / 1024
        out["rss_file"] = status_kib(proc.pid, "RssFile") / 1024
        out["mappings"] = resident_mappings(proc.pid)
        out["peak_sync"] = status_kib(proc.pid, "VmHWM") / 1024
        out["check_sync"] = check_answers(line, expected)
        if relist:
            for kind in KINDS:
                if not api.wait_for_watches(f"/{kind}", timeout=60):
                    raise RuntimeError(f"no {kind} watch open")
            mark = err.count()
            cpu0 = cpu_seconds(proc.pid)
            fake_cpu = time.process_time()
            t0 = time.monotonic()
            api.expire_watches()
            last = t0
            for kind in KINDS:
                at, m = err.wait(rf"{kind} list: \d+ objects at resourceVersion \d+"
                                 r"(?: in ([0-9.]+) s)?", mark, timeout=600)
                last = max(last, at)
                out[f"relist_{kind}"] = float(m.group(1) or "nan")
            out["relist_cpu"] = cpu_seconds(proc.pid) - cpu0
            out["relist"] = last - t0
            out["fake_cpu_relist"] = time.process_time() - fake_cpu
            out["relist_ratio"] = out["relist"] / out["sync"]
            time.sleep(settle)
            out["rss_after_relist"] = status_kib(proc.pid, "VmRSS") / 1024
            out["check_relist"] = check_answers(line, expected)
        out["peak"] = status_kib(proc.pid, "VmHWM") / 1024
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.thread.join(timeout=5)
    out["log"] = err.text()
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u.bind(("127.0.0.1", port))
        return port


def knot_load(data, work, pin):
    """Seconds from knotd's fork to both zones answering, as bench/memory.sh measures it."""
    zones = data / "zones"
    kdir = Path(work) / ("knot-pinned" if pin else "knot")
    shutil.rmtree(kdir, ignore_errors=True)
    (kdir / "db").mkdir(parents=True)
    port = free_port()
    (kdir / "knot.conf").write_text(f"""server:
    rundir: "{kdir}"
    pidfile: "{kdir}/knot.pid"
    listen: 127.0.0.1@{port}
    udp-workers: 2
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{kdir}/db"
template:
  - id: default
    storage: "{zones}"
    file: "%s.zone"
    semantic-checks: off
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: cluster.local
  - domain: 10.in-addr.arpa
""")
    expected = (data / "expected.txt").read_text().split("\n")
    sample = expected[0].split()[0]
    ptr = next(line.split()[0] for line in expected if len(line.split()) > 1
               and line.split()[1] == "PTR")
    cmd = ["knotd", "-c", str(kdir / "knot.conf")]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    started = time.monotonic()
    with open(kdir / "knotd.log", "w") as log:
        knot = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        subprocess.run([sys.executable, str(BENCH / "dnscheck.py"), "wait", "--server",
                        f"127.0.0.1:{port}", "--query", f"{sample} A", "--query", f"{ptr} PTR",
                        "--pid", str(knot.pid), "--timeout", "600"], check=True,
                       stdout=subprocess.DEVNULL)
        return time.monotonic() - started, cpu_seconds(knot.pid)
    finally:
        knot.terminate()
        knot.wait(timeout=30)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("binary")
    p.add_argument("count", nargs="?", type=int, default=10000)
    p.add_argument("namespaces", nargs="?", type=int, default=100)
    p.add_argument("--manifests", help="a folder of manifests the fake API serves")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--settle", type=float, default=3.0, help="seconds before an RSS reading")
    p.add_argument("--mappings", action="store_true",
                   help="print each run's largest resident mappings at the settled reading")
    p.add_argument("--no-relist", dest="relist", action="store_false")
    p.add_argument("--knot", action="store_true", help="knotd's load of the same records too")
    p.add_argument("--pin", action="store_true", help="clusterdns on CPU 0, the fake on CPU 1")
    p.add_argument("--list-delay", type=float, default=0.0, metavar="S",
                   help="each list page waits S seconds in the fake, as an etcd read would")
    p.add_argument("--log", help="write the last run's clusterdns log here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kube_sync-") as d:
        api = FakeApiServer(d, history_size=1000)
        count, namespaces = a.count, a.namespaces
        if a.manifests:
            counts = {}
            t = time.monotonic()
            for kind, obj in read_objects(a.manifests, tempfile.gettempdir()):
                api.store.put(find_resource(kind), obj, "upsert", owned=True)
                counts[kind] = counts.get(kind, 0) + 1
            count, namespaces = counts.get("Service", 0), counts.get("Namespace", 0)
            print(f"fake API: {counts} loaded in {time.monotonic() - t:.0f} s", file=sys.stderr)
        else:
            api.generate_services(count, namespaces=namespaces)
        if a.pin:
            os.sched_setaffinity(0, {1})
        api.set_config(list_delay=a.list_delay)
        api.start()
        runs = []
        expected = Path(a.manifests).resolve().parent / "expected.txt" if a.manifests else None
        expected = expected if expected and expected.exists() else None
        try:
            for i in range(a.runs):
                r = one_run(a.binary, api, a.settle, a.relist, a.pin, expected)
                runs.append(r)
                line = (f"run {i + 1}: start to line {r['to_line']:.2f} s, sync {r['sync']:.2f} s, "
                        f"{r['cpu_at_line']:.2f} CPU s at the line (fake {r['fake_cpu_sync']:.2f}),"
                        f" RSS settled {r['rss_settled']:.1f} MiB (heap and stacks {r['rss_anon']:.1f},"
                        f" mapped files {r['rss_file']:.1f}), peak {r['peak_sync']:.1f} MiB")
                if a.mappings:
                    line += "".join(f"\n    {k:6d} KiB {m}" for k, m in r["mappings"])
                if a.relist:
                    line += (f"; re-list {r['relist']:.2f} s ({r['relist_ratio']:.2f}x the sync), "
                             f"{r['relist_cpu']:.2f} CPU s ({r['relist_cpu'] / r['cpu_at_line']:.2f}"
                             f"x the start's; fake {r['fake_cpu_relist']:.2f}), lists "
                             + "/".join(f"{r[f'relist_{k}']:.2f}" for k in KINDS)
                             + f" s, RSS after {r['rss_after_relist']:.1f} MiB, peak {r['peak']:.1f}"
                             " MiB")
                line += f"; answers: {r['check_sync']}"
                if a.relist:
                    line += f", after the re-list {r['check_relist']}"
                print(line, flush=True)
            if a.log:
                Path(a.log).write_text(runs[-1]["log"])
        finally:
            api.stop()

        def med(key):
            return statistics.median(r[key] for r in runs)

        print(f"{count} Services in {namespaces} namespaces, median of {len(runs)} run(s)"
              f"{' pinned to one CPU' if a.pin else ''}"
              f"{f', list pages {a.list_delay * 1000:.0f} ms late' if a.list_delay else ''}:")
        print(f"  start to full sync      {med('to_line'):6.2f} s   (sync {med('sync'):.2f} s, "
              f"{med('cpu_at_line'):.2f} CPU s; fake API {med('fake_cpu_sync'):.2f} CPU s)")
        if a.relist:
            print(f"  re-list after 410       {med('relist'):6.2f} s   {med('relist_cpu'):.2f} CPU s;"
                  f" {med('relist_ratio'):.2f}x the fresh sync's time, "
                  f"{statistics.median(r['relist_cpu'] / r['cpu_at_line'] for r in runs):.2f}x"
                  f" its CPU (fake API {med('fake_cpu_relist'):.2f} CPU s)")
        peak_ratio = statistics.median(r["peak"] / r["rss_settled"] for r in runs)
        print(f"  RSS settled             {med('rss_settled'):6.1f} MiB, peak {med('peak'):.1f} MiB"
              f" ({peak_ratio:.2f}x settled)"
              + (f", after the re-list {med('rss_after_relist'):.1f} MiB" if a.relist else ""))
        if a.knot:
            data = Path(a.manifests).resolve().parent if a.manifests else None
            if data is None or not (data / "zones").is_dir() or not shutil.which("knotd"):
                print("  knot: needs --manifests of a gen_cluster.py folder (zones/) and knotd;"
                      " bench/memory.sh measures it")
            else:
                for pin in (False, True):
                    loads = [knot_load(data, d, pin) for _ in range(len(runs))]
                    print(f"  knot loading the zones  {statistics.median(s for s, _ in loads):6.2f} s"
                          f"   ({statistics.median(c for _, c in loads):.2f} CPU s"
                          f"{', pinned to one CPU' if pin else ', two cores'}; the reference)")


main()
