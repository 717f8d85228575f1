"""`clusterdns records`: every name the manifests make, exactly as the server answers it.

- `-o json` on examples/ is an array of {name, type, ttl, data, allocated}; for every (name,
  type) it lists, the running server answers that same set of records with that TTL (dig, UDP),
  SOA serials aside (each process numbers its own).
- `-o zone --out DIR` writes cluster.local.zone, in-addr.arpa.zone and ip6.arpa.zone; knot loads
  them, and for every (name, type) knot answers what clusterdns answers.
- every zone file written is one kzonecheck accepts (exit 0): the cluster zone carries the glue of
  its name server, ns.dns.cluster.local, the addresses the server answers for it (where it
  listens: `--listen 127.0.0.1:53` gives A 127.0.0.1, as the running server answers); the same on
  a corpus with a headless StatefulSet, an ExternalName, dual-stack Services and Pods, and an
  external zone (--external-zone example.com: its own file, with ns.dns.example.com's glue, an
  Ingress's hosts, a wildcard, a LoadBalancer Service), which knot and clusterdns then answer
  alike; and on every directory of tests/corpus/ that loads.
- The table (the default) has a header and one aligned line per record, and no colour when
  stdout is not a terminal. A bad -o is exit 2; a broken manifest exit 1 with its name.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port  # noqa: E402


# The server's answers for ns.dns.<zone> are where it listens: the listing is asked for the same.
LISTEN = ("--listen", "127.0.0.1:53")

CORPUS = """
apiVersion: v1
kind: Namespace
metadata: {name: db}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pg, namespace: db}
spec:
  serviceName: pg
  replicas: 3
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers: [{name: pg, image: postgres, ports: [{name: pg, containerPort: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: pg, namespace: db}
spec:
  clusterIP: None
  selector: {app: pg}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: pg-rw, namespace: db}
spec:
  clusterIP: 10.96.40.1
  clusterIPs: [10.96.40.1, "fd00:10:96::40:1"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  selector: {app: pg}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: billing, namespace: db}
spec:
  type: ExternalName
  externalName: billing.example.org
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: LoadBalancer
  clusterIP: 10.96.41.1
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.20}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
    - host: "*.apps.example.com"
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}]
"""
CORPUS_ARGS = ("--pod-cidr", "10.244.0.0/16", "--pod-cidr", "fd00:10:244::/64",
               "--external-zone", "example.com")


def records(t, *args, manifests=EXAMPLES):
    p = subprocess.run([str(t.binary), "records", "--manifests", str(manifests), *map(str, args)],
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


def listed_records(t, manifests, args):
    """records -o json: {(name, type): [(ttl, data)]}."""
    p = records(t, "-o", "json", *LISTEN, *args, manifests=manifests)
    t.eq(p.returncode, 0, f"records -o json: {p.stderr}")
    listed = json.loads(p.stdout)
    expected = defaultdict(list)
    for r in listed:
        expected[(r["name"], r["type"])].append((r["ttl"], comparable(r["type"], r["data"])))
    return listed, expected


def kzonecheck(t, zones):
    """Every zone file written passes kzonecheck."""
    if shutil.which("kzonecheck") is None:
        t.skip("kzonecheck (knot-dnssecutils) is not installed: the zone files are not checked")
        return
    for f in sorted(zones.iterdir()):
        origin = f.name[:-len("zone")]
        p = subprocess.run(["kzonecheck", "-o", origin, str(f)], capture_output=True, text=True,
                           timeout=60)
        t.eq(p.returncode, 0, f"kzonecheck {f.name}: {p.stdout}{p.stderr}")


def knot_answers(t, d, zones, expected):
    """knot serves the zone files and answers each listed (name, type) as listed."""
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
        "zone:", *(f"  - domain: {f.name[:-len('zone')]}" for f in sorted(zones.iterdir())),
        ""]))
    knot = subprocess.Popen(["knotd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        for f in sorted(zones.iterdir()):
            apex = f.name[:-len("zone")]
            t.check(harness.wait_until(lambda: dig_at(port, apex, "SOA").rcode == "NOERROR", 20),
                    f"knot serves {apex}")
        for (name, rtype), want in sorted(expected.items()):
            got = answered(dig_at(port, name, rtype), name, rtype)
            t.eq(got, sorted(want), f"knot answers {name} {rtype} as clusterdns")
    finally:
        knot.terminate()
        knot.wait(timeout=10)


def zone_files(t, manifests, args, files):
    """records -o zone: the files, each accepted by kzonecheck, and knot answers as listed; the
    running server answers as listed. Returns the listing."""
    listed, expected = listed_records(t, manifests, args)
    with t.server("--manifests", manifests, *args) as srv:
        for (name, rtype), want in sorted(expected.items()):
            got = answered(srv.dig(name, rtype), name, rtype)
            t.eq(got, sorted(want), f"clusterdns answers {name} {rtype} as listed")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        zones = d / "zones"
        p = records(t, "-o", "zone", "--out", zones, *LISTEN, *args, manifests=manifests)
        t.eq(p.returncode, 0, f"records -o zone --out: {p.stderr}")
        t.check("WARNING" not in p.stderr, f"no warning: {p.stderr}")
        t.eq(sorted(f.name for f in zones.iterdir()), files, "zone files")
        cluster = (zones / "cluster.local.zone").read_text()
        t.check("\nns.dns.cluster.local. 30 IN A 127.0.0.1\n" in cluster,
                "the name server's glue: where the server listens")
        kzonecheck(t, zones)
        knot_answers(t, d, zones, expected)
    return listed, expected


def scenario(t):
    listed, expected = zone_files(t, EXAMPLES, (),
                                  ["cluster.local.zone", "in-addr.arpa.zone", "ip6.arpa.zone"])
    t.check(len(listed) > 40, f"records of examples/: {len(listed)}")
    t.check(all(set(r) == {"name", "type", "ttl", "data", "allocated"} for r in listed),
            "each record has name, type, ttl, data and allocated")
    types = {r["type"] for r in listed}
    t.check({"SOA", "NS", "A", "AAAA", "SRV", "PTR", "CNAME", "TXT"} <= types,
            f"every kind of record: {sorted(types)}")

    with tempfile.TemporaryDirectory() as d:
        corpus = Path(d) / "corpus.yaml"
        corpus.write_text(CORPUS)
        _, expected = zone_files(t, corpus, CORPUS_ARGS,
                                 ["cluster.local.zone", "example.com.zone", "in-addr.arpa.zone",
                                  "ip6.arpa.zone"])
        for key in (("pg-0.pg.db.svc.cluster.local.", "A"), ("pg-rw.db.svc.cluster.local.", "AAAA"),
                    ("billing.db.svc.cluster.local.", "CNAME"),
                    ("ns.dns.example.com.", "A"), ("*.apps.example.com.", "A"),
                    ("web.shop.example.com.", "A")):
            t.check(key in expected, f"the corpus lists {key}")
        t.eq(expected.get(("ns.dns.example.com.", "A")), [(30, "127.0.0.1")],
             "the external zone's name server answers where the server listens")

    # Whatever realistic manifests the corpus holds (tests/corpus/, one directory or file per
    # project) make zone files kzonecheck accepts; loading them is test_corpus's to check.
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    for entry in sorted(corpus.iterdir()) if corpus.is_dir() else ():
        if not (entry.is_dir() or entry.suffix in (".yaml", ".yml", ".json")):
            continue
        with tempfile.TemporaryDirectory() as d:
            zones = Path(d) / "zones"
            p = records(t, "-o", "zone", "--out", zones, *LISTEN, *CORPUS_ARGS, manifests=entry)
            if p.returncode == 0:
                kzonecheck(t, zones)

    p = records(t, *LISTEN)
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
