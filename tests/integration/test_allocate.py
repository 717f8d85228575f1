"""Services without clusterIP get the address the API server would allocate, the same every run.

Manifests in three files, none of whose ClusterIP/NodePort/LoadBalancer Services gives a clusterIP
(one does, one is headless), are served with dig:
- every such Service answers one A record inside 10.96.0.0/12 (the default --service-cidr), all
  different, none the given one; its PTR names it; kubernetes.default is 10.96.0.1 and
  kube-system/kube-dns 10.96.0.10 (kubeadm's); the given address is kept; the headless Service
  gets none; the start-up line says "N ClusterIPs allocated from 10.96.0.0/12";
- a second run on the same objects, in other files, in the reverse order, documents reversed,
  answers the very same addresses; so does a reload (SIGHUP) of the first run;
- with --service-cidr 10.96.0.0/16,fd00:10:96::/112, the PreferDualStack Service also answers
  AAAA in fd00:10:96::/112, and the others keep their IPv4 family;
- `records -o json` marks the allocated A and PTR records ("allocated": true), not the given one,
  and `explain` says a ClusterIP was allocated;
- a range too small (--service-cidr 10.96.0.0/29, 6 addresses, for 7 Services): exit 1, the
  message names the range; --check-config and `clusterdns check` say so too, and `check`
  reports a RequireDualStack Service as an error unless --service-cidr gives both families.
"""

import ipaddress
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import reverse_name, svc  # noqa: E402

PLATFORM = """\
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec:
  ports: [{name: https, port: 443, targetPort: 6443}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
"""

SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
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
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  type: NodePort
  selector: {app: cart}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: front, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: both, namespace: shop}
spec:
  ipFamilyPolicy: PreferDualStack
  selector: {app: web}
  ports: [{name: http, port: 80}]
"""

DATA = """\
apiVersion: v1
kind: Service
metadata: {name: pinned, namespace: data}
spec:
  clusterIP: 10.96.200.7
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: pg, namespace: data}
spec:
  clusterIP: None
  selector: {app: pg}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: data}
spec:
  ports: [{name: redis, port: 6379}]
"""

ALLOCATED = [("kubernetes", "default"), ("kube-dns", "kube-system"), ("web", "shop"),
             ("cart", "shop"), ("front", "shop"), ("both", "shop"), ("cache", "data")]
RANGE = ipaddress.ip_network("10.96.0.0/12")


def write(d, files):
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def reversed_documents(text):
    return "---\n".join(reversed(text.split("---\n")))


def addresses(t, srv, what):
    """{(name, ns): A address} of every Service that gets one."""
    out = {}
    for name, ns in ALLOCATED:
        res = srv.dig(svc(name, ns))
        got = [rr.rdata for rr in res.answer if rr.type == "A"]
        if t.check(res.rcode == "NOERROR" and len(got) == 1,
                   f"{what}: {name}.{ns}: one A record, got {res.rcode} {got}"):
            out[(name, ns)] = got[0]
    return out


def check(t, manifests, *args):
    return subprocess.run([str(t.binary), "check", "--manifests", str(manifests), *args],
                          capture_output=True, text=True, timeout=60)


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        first = write(Path(tmp) / "first", {"a-platform.yaml": PLATFORM, "b-shop.yaml": SHOP,
                                            "c-data.yaml": DATA})
        # The same objects, other files in the other order, each file's documents reversed.
        second = write(Path(tmp) / "second", {
            "1-data.yaml": reversed_documents(DATA), "2-shop.yaml": reversed_documents(SHOP),
            "3-platform.yaml": reversed_documents(PLATFORM)})

        with t.server("--manifests", first) as srv:
            got = addresses(t, srv, "first run")
            t.eq(got.get(("kubernetes", "default")), "10.96.0.1", "kubernetes.default (kubeadm)")
            t.eq(got.get(("kube-dns", "kube-system")), "10.96.0.10", "kube-dns (kubeadm)")
            for key, ip in got.items():
                t.check(ipaddress.ip_address(ip) in RANGE, f"{key}: {ip} outside {RANGE}")
            t.eq(len(set(got.values())), len(got), f"addresses are distinct: {got}")
            t.check("10.96.200.7" not in got.values(), "the given address is not handed out")
            t.expect(srv.dig(svc("pinned", "data")), answer=[(svc("pinned", "data"), "A",
                                                             "10.96.200.7")])
            t.eq([rr for rr in srv.dig(svc("pg", "data")).answer if rr.type == "A"], [],
                 "headless: no ClusterIP")
            t.expect(srv.dig(svc("both", "shop"), "AAAA"), answer=[])  # no IPv6 range
            for (name, ns), ip in got.items():
                t.expect(srv.dig(reverse_name(ip), "PTR"),
                         answer=[(reverse_name(ip), "PTR", svc(name, ns))])
            t.check(harness.wait_until(lambda: "7 ClusterIPs allocated from 10.96.0.0/12"
                                       in srv.stderr_text(), 5),
                    f"start-up line: {srv.stderr_text()[-600:]}")

            # A reload reads the same manifests again: the same addresses.
            srv.proc.send_signal(signal.SIGHUP)
            t.check(harness.wait_until(lambda: "SIGHUP: reloaded" in srv.stderr_text(), 10),
                    f"reload: {srv.stderr_text()[-400:]}")
            t.eq(addresses(t, srv, "after a reload"), got, "after a reload")

        with t.server("--manifests", second) as srv:
            t.eq(addresses(t, srv, "second run"), got, "another run, other files, other order")

        with t.server("--manifests", first, "--service-cidr",
                      "10.96.0.0/16,fd00:10:96::/112") as srv:
            both = srv.dig(svc("both", "shop"), "AAAA")
            v6 = [rr.rdata for rr in both.answer if rr.type == "AAAA"]
            t.check(len(v6) == 1 and ipaddress.ip_address(v6[0]) in
                    ipaddress.ip_network("fd00:10:96::/112"), f"both: AAAA {v6}")
            t.expect(srv.dig(svc("web", "shop"), "AAAA"), answer=[])  # SingleStack: IPv4
            t.eq(srv.dig(svc("kubernetes", "default")).answer[0].rdata, "10.96.0.1",
                 "kubernetes.default in a /16")

        p = subprocess.run([str(t.binary), "records", "-o", "json", "--manifests", str(first)],
                           capture_output=True, text=True, timeout=60)
        t.eq(p.returncode, 0, f"records: {p.stderr}")
        listed = json.loads(p.stdout or "[]")
        marks = {(r["name"], r["type"]): r.get("allocated") for r in listed}
        web = got.get(("web", "shop"), "")
        t.eq(marks.get((svc("web", "shop"), "A")), True, "records: web's A is allocated")
        t.eq(marks.get((reverse_name(web), "PTR")), True, "records: web's PTR is allocated")
        t.eq(marks.get((svc("pinned", "data"), "A")), False, "records: pinned's A is given")
        p = subprocess.run([str(t.binary), "explain", svc("web", "shop"), "--manifests",
                            str(first)], capture_output=True, text=True, timeout=60)
        t.check(web in p.stdout and "allocated from the service range" in p.stdout,
                f"explain says web's ClusterIP was allocated: {p.stdout[-600:]}")
        p = subprocess.run([str(t.binary), "explain", svc("pinned", "data"), "--manifests",
                            str(first)], capture_output=True, text=True, timeout=60)
        t.check("its ClusterIP" in p.stdout and "allocated" not in p.stdout,
                f"explain: pinned's ClusterIP is its own: {p.stdout[-600:]}")

        # 10.96.0.0/29 holds 6 addresses: 7 Services do not fit.
        p = harness.run_binary(t.binary, ["--manifests", first, "--service-cidr", "10.96.0.0/29",
                                          "--listen", "127.0.0.1:0"])
        t.eq(p.returncode, 1, f"a full range: exit code ({p.stderr[-300:]})")
        t.check("10.96.0.0/29" in p.stderr and "full" in p.stderr,
                f"a full range is named: {p.stderr[-300:]}")
        # `clusterdns check` too: the range too small, and a family no range has, are errors.
        p = check(t, first)
        t.eq(p.returncode, 0, f"check: {p.stdout[-600:]}{p.stderr[-300:]}")
        p = check(t, first, "--service-cidr", "10.96.0.0/29")
        t.eq(p.returncode, 1, f"check, a full range: {p.stdout[-300:]}")
        t.check("10.96.0.0/29" in p.stdout, f"check names the full range: {p.stdout[-600:]}")
        p = check(t, harness.DATA / "bad" / "require-dual-stack.yaml")
        t.eq(p.returncode, 1, f"check, RequireDualStack: {p.stdout[-300:]}")
        t.check("RequireDualStack" in p.stdout, f"check, RequireDualStack: {p.stdout[-600:]}")
        p = check(t, harness.DATA / "bad" / "require-dual-stack.yaml", "--service-cidr",
                  "10.96.0.0/12,fd00:10:96::/112")
        t.eq(p.returncode, 0, f"check, RequireDualStack with both ranges: {p.stdout[-600:]}")

        # --check-config allocates as the start-up does.
        for cidr, code in (("10.96.0.0/12", 0), ("10.96.0.0/29", 1)):
            config = Path(tmp) / "config.yaml"
            config.write_text(f"manifests: [{first}]\nservice_cidrs: [{cidr}]\n")
            p = harness.run_binary(t.binary, ["--check-config", config])
            t.eq(p.returncode, code, f"--check-config with {cidr}: {p.stdout}{p.stderr[-300:]}")
            t.check(code == 0 or "10.96.0.0/29" in p.stderr, f"--check-config: {p.stderr}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
