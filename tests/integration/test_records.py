"""`clusterdns records`: every name the manifests make, exactly as the server answers it.

- `-o json` on examples/ is an array of {name, type, ttl, data}; for every (name, type) it lists,
  the running server answers that same set of records with that TTL (dig, UDP), SOA serials
  aside (each process numbers its own).
- `-o zone --out DIR` writes cluster.local.zone, in-addr.arpa.zone and ip6.arpa.zone; knot loads
  them, and for every (name, type) knot answers what clusterdns answers.
- The table (the default) has a header and one aligned line per record, and no colour when
  stdout is not a terminal. A bad -o is exit 2; a broken manifest exit 1 with its name.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port  # noqa: E402


def records(t, *args):
    p = subprocess.run([str(t.binary), "records", "--manifests", str(EXAMPLES), *map(str, args)],
                       capture_output=True, text=True, timeout=60)
    return p


def comparable(rtype, data):
    """An RDATA as text, an SOA without its serial."""
    if rtype == "SOA":
        fields = data.split()
        return " ".join(fields[:2] + fields[3:])
    return data.lower()


def answered(res, name, rtype):
    return sorted((rr.ttl, comparable(rtype, rr.rdata)) for rr in res.answer
                  if rr.type == rtype and rr.name.lower() == name.lower())


def dig_at(port, name, rtype):
    return harness.dig(name, rtype, server="127.0.0.1", port=port)


def scenario(t):
    p = records(t, "-o", "json")
    t.eq(p.returncode, 0, f"records -o json: {p.stderr}")
    listed = json.loads(p.stdout)
    t.check(len(listed) > 40, f"records of examples/: {len(listed)}")
    t.check(all(set(r) == {"name", "type", "ttl", "data"} for r in listed),
            "each record has name, type, ttl and data")
    expected = defaultdict(list)
    for r in listed:
        expected[(r["name"], r["type"])].append((r["ttl"], comparable(r["type"], r["data"])))
    types = {r["type"] for r in listed}
    t.check({"SOA", "NS", "A", "AAAA", "SRV", "PTR", "CNAME", "TXT"} <= types,
            f"every kind of record: {sorted(types)}")

    with t.server("--manifests", EXAMPLES) as srv:
        for (name, rtype), want in sorted(expected.items()):
            got = answered(srv.dig(name, rtype), name, rtype)
            t.eq(got, sorted(want), f"clusterdns answers {name} {rtype} as listed")

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        zones = d / "zones"
        p = records(t, "-o", "zone", "--out", zones)
        t.eq(p.returncode, 0, f"records -o zone --out: {p.stderr}")
        files = sorted(f.name for f in zones.iterdir())
        t.eq(files, ["cluster.local.zone", "in-addr.arpa.zone", "ip6.arpa.zone"], "zone files")
        if shutil.which("knotd") is None:
            t.skip("knotd is not installed: the zone files are not served")
            return
        port = free_port()
        (d / "db").mkdir()
        (d / "run").mkdir()
        conf = d / "knot.conf"
        conf.write_text("\n".join([
            "server:", f'    rundir: "{d}/run"', f"    listen: 127.0.0.1@{port}",
            "    udp-workers: 1", "    tcp-workers: 1", "    background-workers: 1",
            "log:", "  - target: stderr", "    any: warning",
            "database:", f'    storage: "{d}/db"',
            "template:", "  - id: default", f'    storage: "{zones}"', '    file: "%s.zone"',
            "    semantic-checks: off", "    zonefile-sync: -1", "    journal-content: none",
            "zone:", "  - domain: cluster.local.", "  - domain: in-addr.arpa.",
            "  - domain: ip6.arpa.", ""]))
        knot = subprocess.Popen(["knotd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if dig_at(port, "cluster.local", "SOA").rcode == "NOERROR":
                    break
                time.sleep(0.1)
            for (name, rtype), want in sorted(expected.items()):
                got = answered(dig_at(port, name, rtype), name, rtype)
                t.eq(got, sorted(want), f"knot answers {name} {rtype} as clusterdns")
        finally:
            knot.terminate()
            knot.wait(timeout=10)

    p = records(t)
    lines = p.stdout.splitlines()
    t.check(lines and lines[0].split() == ["NAME", "TTL", "TYPE", "DATA"],
            f"the table's header: {lines[:1]}")
    t.eq(len(lines) - 1, len(listed), "a line per record")
    t.check("\033[" not in p.stdout, "no colour when stdout is a pipe")
    t.eq(records(t, "-o", "yaml").returncode, 2, "-o yaml is a bad command line")
    with tempfile.TemporaryDirectory() as d:
        bad = Path(d) / "bad.yaml"
        bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
                       "spec: {clusterIP: 10.96.300.1}\n")
        p = subprocess.run([str(t.binary), "records", "--manifests", str(bad)],
                           capture_output=True, text=True, timeout=30)
        t.eq(p.returncode, 1, "a broken manifest")
        t.check("bad.yaml" in p.stderr, f"named: {p.stderr!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
