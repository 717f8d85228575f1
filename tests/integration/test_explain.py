"""`clusterdns explain NAME`: the answer and why.

On the workloads of test_workloads.py (Deployments, a StatefulSet, Services, no EndpointSlices):
- a headless Service's records each name the Service, its file, the Pod and the Deployment that
  makes it; a ClusterIP answer names the Service's ClusterIP; exit 0;
- NXDOMAIN reasons: a typo ("did you mean api-service"), a namespace that does not exist, a
  headless Service whose selector matches no Pod; exit 1;
- the records explain prints are the server's answers (dig against the server);
- `--from production/pod` walks a Pod's search path with ndots:5: an outside name is asked under
  the three search domains (NXDOMAIN) before it goes upstream; a short Service name answers at the
  first.
- with --debug-explain true, the running server answers the same at
  GET /debug/explain?name=&type=&from= on its metrics listener (400 without a name); without
  it (the default) /debug/explain is 404 while /metrics answers: the metrics port is open to
  every pod, and the suggestions would list Service names.
- the server's explain refuses with 400 and the reason a label over 63 bytes, a name over 255,
  a NUL inside the name (it used to be cut there and the rest explained), an empty label, a type
  it does not know and a `from` that is not a namespace name.
- with --kubeconfig (the fake API server) instead of manifests, the cluster's Service explains
  by its ClusterIP, and a typo of it is found.
- a name that answers but leads nowhere (the seed article's first common error: a ClusterIP and
  no endpoints): a ClusterIP Service whose selector has a typo answers its ClusterIP (exit 0)
  and explain says every connection to it fails, with the selector, the label sets of the
  namespace's Pods (a Deployment's made Pods, the manifests' own) closest first, and the closest
  with the value that differs; its SRV name says the same; a Service whose Pods are all not ready
  says "2 endpoints, none ready: Pod warming-0 not ready, ..."; a selector matching Pods of
  another namespace says where they are; a headless Service's NXDOMAIN names a key typo; a
  Service with endpoints says nothing of the kind. Over HTTP, without the manifests' labels,
  the same warning and where to look.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from harness import svc  # noqa: E402
from test_workloads import APP  # noqa: E402


def explain(t, manifests, *args):
    return subprocess.run([str(t.binary), "explain", *map(str, args), "--manifests",
                           str(manifests)], capture_output=True, text=True, timeout=60)


NOWHERE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-server, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: api-server}}
  template:
    metadata: {labels: {app: api-server, tier: backend}}
    spec:
      containers: [{name: api, image: api:1.0, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: tools, namespace: shop, labels: {run: tools}}
spec:
  containers: [{name: t, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  clusterIP: 10.96.20.1
  selector: {app: api-servr, tier: backend}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: api-ok, namespace: shop}
spec:
  clusterIP: 10.96.20.4
  selector: {app: api-server}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: warming-0, namespace: shop, labels: {app: cache}}
status:
  podIP: 10.244.200.7
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata: {name: warming-1, namespace: shop, labels: {app: cache}}
status:
  podIP: 10.244.200.8
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  clusterIP: 10.96.20.2
  selector: {app: cache}
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: shop}
spec:
  clusterIP: None
  selector: {apps: cache}
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: front}
spec:
  clusterIP: 10.96.20.3
  selector: {app: api-server}
  ports: [{name: http, port: 80}]
"""


def leads_nowhere(t, d):
    app = Path(d) / "nowhere.yaml"
    app.write_text(NOWHERE)
    p = explain(t, app, svc("api", "shop"))
    t.eq(p.returncode, 0, f"the name answers: {p.stdout}")
    out = p.stdout
    t.check("30 A 10.96.20.1" in out, f"its ClusterIP: {out}")
    t.check("but it leads nowhere: Service shop/api has no ready endpoints, so every "
            "connection to 10.96.20.1 fails" in out, f"says so: {out}")
    t.check("its selector {app: api-servr, tier: backend} matches no Pod in namespace shop"
            in out, f"the selector: {out}")
    lines = [line.strip() for line in out.splitlines()]
    first = lines.index("the labels of the Pods in shop, closest first:")
    t.eq(lines[first + 1:first + 4],
         [f"{{app: api-server, tier: backend}}: 3 Pods of Deployment shop/api-server ({app})",
          "{app: cache}: Pods warming-0, warming-1", f"{{run: tools}}: Pod tools ({app})"],
         f"the Pods' labels, made Pods too, closest first: {out}")
    t.check('closest: {app: api-server, tier: backend} (3 Pods of Deployment shop/api-server'
            in out and 'app is "api-server" where the selector wants "api-servr" (a typo?)'
            in out, f"the closest match and its difference: {out}")

    p = explain(t, app, "_http._tcp." + svc("api", "shop"), "--type", "SRV")
    t.check(p.returncode == 0 and "leads nowhere" in p.stdout and "(a typo?)" in p.stdout,
            f"its SRV name too: {p.stdout}")

    p = explain(t, app, svc("cache", "shop"))
    t.check(p.returncode == 0 and "leads nowhere" in p.stdout and
            "2 endpoints, none ready: Pod warming-0 not ready, Pod warming-1 not ready"
            in p.stdout, f"none ready: {p.stdout}")

    p = explain(t, app, svc("api", "front"))
    t.check("matches no Pod in namespace front" in p.stdout and
            "Pods it would select are in namespace shop" in p.stdout and
            "no Pod is in namespace front" in p.stdout, f"Pods of another namespace: {p.stdout}")

    p = explain(t, app, svc("hl", "shop"))
    t.check(p.returncode == 1 and "NXDOMAIN" in p.stdout and
            'closest: {app: cache} (Pods warming-0, warming-1): key "app" where the selector '
            'wants "apps" (a typo?)' in p.stdout, f"a headless Service's key typo: {p.stdout}")

    p = explain(t, app, svc("api-ok", "shop"))
    t.check(p.returncode == 0 and "leads nowhere" not in p.stdout and
            "its ClusterIP" in p.stdout, f"a Service with endpoints: {p.stdout}")

    at = f"127.0.0.1:{harness.free_port()}"
    with t.server("--manifests", app, "--metrics", at, "--debug-explain", "true"):
        r = subprocess.run(["curl", "-s", "-m", "5", f"http://{at}/debug/explain?name="
                            + svc("api", "shop")], capture_output=True, text=True)
        t.check("leads nowhere" in r.stdout and "kubectl get endpointslices -n shop -l "
                "kubernetes.io/service-name=api" in r.stdout, f"over HTTP: {r.stdout!r}")
        r = subprocess.run(["curl", "-s", "-m", "5", f"http://{at}/debug/explain?name="
                            + svc("api-ok", "shop")], capture_output=True, text=True)
        t.check("10.96.20.4" in r.stdout and "leads nowhere" not in r.stdout,
                f"over HTTP, a Service with endpoints: {r.stdout!r}")


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        leads_nowhere(t, d)

    with tempfile.TemporaryDirectory() as d:
        app = Path(d) / "app.yaml"
        app.write_text(APP)
        headless = svc("api-headless")
        p = explain(t, app, headless)
        t.eq(p.returncode, 0, f"explain {headless}: {p.stderr}")
        addresses = re.findall(r" 30 A (\S+)\n", p.stdout)
        t.eq(len(addresses), 3, f"three records: {p.stdout}")
        t.eq(p.stdout.count("of Deployment production/api-server"), 3,
             f"each made by the Deployment: {p.stdout}")
        t.check(f"Service production/api-headless ({app})" in p.stdout, "the Service and its file")
        with t.server("--manifests", app) as srv:
            t.eq(sorted(rr.rdata for rr in srv.dig(headless).answer), sorted(addresses),
                 "explain prints what the server answers")

        p = explain(t, app, svc("api-service"))
        t.check("its ClusterIP" in p.stdout and "10.96.10.100" in p.stdout, p.stdout)

        for name, why in ((svc("api-servce"), "did you mean api-service"),
                          (svc("api-service", "staging"), 'no namespace "staging"'),
                          (svc("orphan"), "matches no Pod")):
            p = explain(t, app, name)
            t.eq(p.returncode, 1, f"{name} does not answer")
            t.check("NXDOMAIN" in p.stdout and why in p.stdout, f"{name}: {p.stdout!r}")

        p = explain(t, app, "www.example.com", "--from", "production/web-0")
        steps = re.findall(r"^  (\d+)\. (\S+) -> (.*)$", p.stdout, re.M)
        t.eq([s[1] for s in steps], ["www.example.com.production.svc.cluster.local.",
                                     "www.example.com.svc.cluster.local.",
                                     "www.example.com.cluster.local.", "www.example.com."],
             f"the search path, then the name: {p.stdout}")
        t.eq([s[2] for s in steps[:3]], ["NXDOMAIN"] * 3, "three NXDOMAIN first")
        p = explain(t, app, "api-service", "--from", "production/web-0")
        t.check("1. api-service.production.svc.cluster.local. -> NOERROR" in p.stdout,
                f"a short name answers at the first: {p.stdout}")

        at = f"127.0.0.1:{harness.free_port()}"

        def get(query, path="/debug/explain"):
            r = subprocess.run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                                f"http://{at}{path}?{query}"],
                               capture_output=True, text=True)
            body, _, code = r.stdout.rpartition("\n")
            return int(code or 0), body

        with t.server("--manifests", app, "--metrics", at):
            t.eq(get("name=" + svc("api-servce"))[0], 404,
                 "/debug/explain is off by default")
            t.eq(get("", "/metrics")[0], 200, "while /metrics answers")

        with t.server("--manifests", app, "--metrics", at, "--debug-explain", "true"):
            for query, why in ((f"name={'a' * 64}.production.svc.cluster.local", "63"),
                               ("name=" + ".".join(["a" * 50] * 6), "255"),
                               (f"name=api-service%00.{svc('x')}", "printable"),
                               ("name=api-service..production.svc.cluster.local", "empty label"),
                               ("name=" + svc("api-service") + "&type=BOGUS", "unknown type"),
                               ("name=api-service&from=Bad_NS", "from")):
                code, body = get(query)
                t.eq(code, 400, f"{query[:60]!r} is refused: {body!r}")
                t.check(why in body, f"{query[:60]!r}: the reason says {why!r}: {body!r}")
            code, body = get("name=" + svc("api-servce"))
            t.check(code == 200 and "did you mean api-service" in body, f"over HTTP: {body!r}")
            code, body = get(f"name={headless}&type=a")
            t.eq(sorted(re.findall(r" 30 A (\S+)\n", body)), sorted(addresses),
                 "the same records over HTTP")
            code, body = get("name=www.example.com&from=production")
            t.check(body.count("NXDOMAIN") == 3 and "forwarded" in body, f"the walk: {body!r}")
            t.eq(get("")[0], 400, "no name")

    with kube.fake_api() as api:
        api.apply([kube.service("web", "prod", cluster_ip="10.96.5.5")])
        args = [str(t.binary), "explain", "--kubeconfig", str(api.kubeconfig)]
        p = subprocess.run([*args, "web.prod.svc.cluster.local"], capture_output=True, text=True,
                           timeout=60)
        t.check(p.returncode == 0 and "10.96.5.5" in p.stdout and "its ClusterIP" in p.stdout,
                f"explain over the API: {p.stdout!r} {p.stderr!r}")
        p = subprocess.run([*args, "wbe.prod.svc.cluster.local"], capture_output=True, text=True,
                           timeout=60)
        t.check(p.returncode == 1 and "did you mean web" in p.stdout, f"a typo: {p.stdout!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
