"""`clusterdns check` on the tutorial's objects (../shared/seed: api-service and Deployment
api-server, web-service, admin-service, the Ingress main-ingress, the NetworkPolicy
db-access-policy) plus a StatefulSet, each common error planted on purpose, then fixed.

Planted, each found with file, kind, namespace, name and field, and a fix:
- admin-service's selector (app: admin) matches no workload's Pod labels: a ClusterIP but no
  endpoints (warning), naming the labels the Pods there do have.
- a headless Service selecting no Pod: NXDOMAIN (warning).
- a Service with two ports, one unnamed (error); one unnamed port alone (warning: no SRV).
- an ExternalName that is an IP address (error); two Services with one ClusterIP (error).
- a Service in a namespace no manifest creates (warning).
- main-ingress with ingressClassName nginx and no IngressClass (warning); a path to a Service
  that does not exist, and to a port the Service lacks (errors).
- db-access-policy as the tutorial writes it: egress to DNS on UDP only (warning), and a
  namespaceSelector `name: kube-system` that matches no namespace (warning, naming
  kubernetes.io/metadata.name).
Errors exit 1, warnings exit 0 (1 with --strict); `-o json` carries every field. The same
objects written right pass with exit 0, --strict too, and resolve as the cluster would:
api-service and admin-service their ClusterIPs, the headless postgres its two StatefulSet Pods
(postgres-0.postgres and postgres-1.postgres), db-service its CNAME.

Every problem of a run, not the first: a directory whose files hold a document that is not YAML
(and documents after it), a clusterIP that is not an address, a port out of range, a file that is
not JSON, beside files with the common errors above, plus a path that does not exist. `check`
reports each one, grouped by file in the order the files are read (a heading per file in the
table; `-o json` has each finding's file, document and line), and reads every document after a
broken one; exit 1. The server's load of the same directory stays all or nothing: exit 1 with
one message.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

COMMON = """
apiVersion: v1
kind: Namespace
metadata: {name: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-server, namespace: production}
spec:
  replicas: 3
  selector: {matchLabels: {app: api-server}}
  template:
    metadata: {labels: {app: api-server}}
    spec: {containers: [{name: api, image: api, ports: [{name: http, containerPort: 3000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: production}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: admin, namespace: production}
spec:
  replicas: 1
  selector: {matchLabels: {app: admin-panel}}
  template:
    metadata: {labels: {app: admin-panel}}
    spec: {containers: [{name: admin, image: admin}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgres, namespace: production}
spec:
  serviceName: postgres
  replicas: 2
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec: {containers: [{name: pg, image: postgres, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: postgres, namespace: production}
spec:
  clusterIP: None
  selector: {app: postgres}
  ports: [{name: postgres, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: api-service, namespace: production}
spec:
  clusterIP: 10.96.10.100
  selector: {app: api-server}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-service, namespace: production}
spec:
  clusterIP: 10.96.10.101
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""

BROKEN = COMMON + """
---
apiVersion: v1
kind: Service
metadata: {name: admin-service, namespace: production}
spec:
  clusterIP: 10.96.10.102
  selector: {app: admin}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: search, namespace: production}
spec:
  clusterIP: None
  selector: {app: search}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: two-ports, namespace: production}
spec:
  clusterIP: 10.96.10.103
  selector: {app: web}
  ports: [{name: http, port: 80}, {port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: one-port, namespace: production}
spec:
  clusterIP: 10.96.10.104
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db-service, namespace: production}
spec: {type: ExternalName, externalName: 10.0.0.5}
---
apiVersion: v1
kind: Service
metadata: {name: web-copy, namespace: production}
spec:
  clusterIP: 10.96.10.101
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: lost, namespace: staging}
spec:
  clusterIP: 10.96.20.1
  ports: [{name: http, port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main-ingress, namespace: production}
spec:
  ingressClassName: nginx
  rules:
    - host: api.example.com
      http:
        paths:
          - {path: /v1, pathType: Prefix, backend: {service: {name: api-service, port: {number: 80}}}}
    - host: www.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web-servce, port: {number: 80}}}}
          - {path: /admin, pathType: Prefix, backend: {service: {name: api-service, port: {number: 8080}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-access-policy, namespace: production}
spec:
  podSelector: {matchLabels: {app: postgres}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: api-server}}}]
      ports: [{protocol: TCP, port: 5432}]
  egress:
    - to: [{namespaceSelector: {matchLabels: {name: kube-system}}}]
      ports: [{protocol: UDP, port: 53}]
"""

FIXED = COMMON + """
---
apiVersion: v1
kind: Service
metadata: {name: admin-service, namespace: production}
spec:
  clusterIP: 10.96.10.102
  selector: {app: admin-panel}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db-service, namespace: production}
spec: {type: ExternalName, externalName: rds-endpoint.ap-southeast-1.rds.amazonaws.com}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main-ingress, namespace: production}
spec:
  ingressClassName: nginx
  rules:
    - host: api.example.com
      http:
        paths:
          - {path: /v1, pathType: Prefix, backend: {service: {name: api-service, port: {number: 80}}}}
    - host: www.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web-service, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-access-policy, namespace: production}
spec:
  podSelector: {matchLabels: {app: postgres}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: api-server}}}]
      ports: [{protocol: TCP, port: 5432}]
  egress:
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"""


def check(t, path, *args):
    return subprocess.run([str(t.binary), "check", "--manifests", str(path), *args],
                          capture_output=True, text=True, timeout=60)


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        broken = Path(d) / "app.yaml"
        broken.write_text(BROKEN)
        p = check(t, broken, "-o", "json")
        t.eq(p.returncode, 1, f"errors exit 1: {p.stderr}")
        findings = json.loads(p.stdout)
        t.check(all(set(f) == {"severity", "file", "document", "line", "kind", "namespace",
                               "name", "field", "message", "fix"} and f["fix"] and
                    f["file"] == str(broken) and f["document"] >= 1 and f["line"] >= 1
                    for f in findings), f"every field of every finding: {findings}")

        def found(severity, kind, name, field, *words):
            hits = [f for f in findings if f["severity"] == severity and f["kind"] == kind and
                    f["name"] == name and f["field"] == field and
                    all(w in f["message"] for w in words)]
            t.check(hits, f"{severity} {kind} {name} {field} {words}: "
                          f"{[f for f in findings if f['name'] == name]}")

        found("warning", "Service", "admin-service", "spec.selector", "no endpoints",
              "app: admin", "app: admin-panel")
        found("warning", "Service", "search", "spec.selector", "NXDOMAIN")
        found("error", "Service", "two-ports", "spec.ports[1].name", "more than one port")
        found("warning", "Service", "one-port", "spec.ports[0].name", "SRV")
        found("error", "Service", "db-service", "spec.externalName", "IP address")
        found("error", "Service", "web-copy", "spec.clusterIP", "10.96.10.101", "web-service")
        found("warning", "Service", "lost", "metadata.namespace", "staging")
        found("warning", "Ingress", "main-ingress", "spec.ingressClassName", "nginx")
        found("error", "Ingress", "main-ingress",
              "spec.rules[1].http.paths[0].backend.service.name", "web-servce")
        found("error", "Ingress", "main-ingress",
              "spec.rules[1].http.paths[1].backend.service.port", "8080")
        found("warning", "NetworkPolicy", "db-access-policy", "spec.egress", "TCP 53")
        found("warning", "NetworkPolicy", "db-access-policy",
              "spec.egress[0].to[0].namespaceSelector.matchLabels",
              "kubernetes.io/metadata.name")
        for name in ("api-service", "web-service", "postgres"):
            t.eq([f for f in findings if f["name"] == name], [], f"{name} is fine")

        table = check(t, broken)
        t.check("fix:" in table.stdout and "errors" in table.stdout.splitlines()[-1],
                f"the table: {table.stdout[-300:]!r}")

        # A port range written with a named port, or beyond any number: read as not DNS's,
        # never a crash (the API refuses endPort beside a named port; a manifest may have it).
        ranges = Path(d) / "ranges.yaml"
        ranges.write_text("""apiVersion: v1
kind: Pod
metadata: {name: client, namespace: production, labels: {app: client}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ranges, namespace: production}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - ports: [{protocol: UDP, port: dns-range, endPort: 100},
              {protocol: TCP, port: 99999999999999999999, endPort: 99999999999999999999}]
""")
        p = check(t, ranges, "-o", "json")
        t.check(p.returncode in (0, 1) and p.stdout.startswith("["),
                f"a named or huge port with endPort is checked, not a crash: {p.returncode} "
                f"{p.stderr[-300:]!r}")
        t.check(any(f["name"] == "ranges" and "UDP or TCP 53" in f["message"]
                    for f in json.loads(p.stdout or "[]")),
                f"and it does not let DNS through: {p.stdout[-400:]!r}")

        fixed = Path(d) / "fixed.yaml"
        fixed.write_text(FIXED)
        p = check(t, fixed, "-o", "json")
        t.eq((p.returncode, json.loads(p.stdout or "null")), (0, []), "the fixed objects pass")
        t.eq(check(t, fixed, "--strict").returncode, 0, "--strict too")
        with t.server("--manifests", fixed) as srv:
            for name, ip in (("api-service", "10.96.10.100"), ("admin-service", "10.96.10.102")):
                t.expect(srv.dig(harness.svc(name)), answer=[(harness.svc(name), "A", ip)])
            pg = harness.svc("postgres")
            pods = sorted(rr.rdata for rr in srv.dig(pg).answer)
            t.eq(len(pods), 2, f"the StatefulSet's Pods behind postgres: {pods}")
            for i in range(2):
                t.eq(len(srv.dig(f"postgres-{i}.{pg}").answer), 1, f"postgres-{i}.postgres")
            db = harness.svc("db-service")
            t.expect(srv.dig(db, "CNAME"),
                     answer=[(db, "CNAME", "rds-endpoint.ap-southeast-1.rds.amazonaws.com.")])

        warned = Path(d) / "warned.yaml"
        warned.write_text(FIXED + "\n---\napiVersion: v1\nkind: Service\nmetadata: "
                          "{name: lonely, namespace: production}\nspec: {clusterIP: "
                          "10.96.10.120, selector: {app: lonely}, ports: [{name: h, port: 1}]}\n")
        t.eq(check(t, warned).returncode, 0, "warnings alone exit 0")
        t.eq(check(t, warned, "--strict").returncode, 1, "with --strict, 1")
        t.eq(check(t, Path(d) / "missing.yaml").returncode, 1, "a path that does not exist")

    every_problem(t)


# Files of one directory, read in path order; each problem stays a problem under any validation
# rules (a clusterIP that is not an address, a port out of range, YAML that does not parse).
MANY = {
    "a-app.yaml": BROKEN,
    "b-broken.yaml": """apiVersion: v1
kind: Service
metadata: {name: bad-ip, namespace: production}
spec:
  clusterIP: 10.96.300.1
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: not-yaml
   namespace: production
---
apiVersion: v1
kind: Service
metadata: {name: bad-port, namespace: production}
spec:
  clusterIP: 10.96.30.2
  ports: [{name: http, port: 70000}]
---
apiVersion: v1
kind: Service
metadata: {name: after, namespace: production}
spec:
  clusterIP: 10.96.30.3
  selector: {app: nothing-has-this}
  ports: [{name: http, port: 80}]
""",
    "c-fine.yaml": """apiVersion: v1
kind: Service
metadata: {name: fine, namespace: production}
spec:
  clusterIP: 10.96.30.4
  ports: [{name: http, port: 80}]
""",
    "d-not-json.json": '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"\n',
}


def every_problem(t):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "repo"
        root.mkdir()
        for name, text in MANY.items():
            (root / name).write_text(text)
        missing = Path(d) / "missing.yaml"
        p = check(t, root, "-o", "json", "--manifests", missing)
        t.eq(p.returncode, 1, f"errors: exit 1 ({p.stderr})")
        findings = json.loads(p.stdout or "[]")
        files = []
        for f in findings:
            if not files or files[-1] != f["file"]:
                files.append(f["file"])
        t.eq(files, [str(root / "a-app.yaml"), str(root / "b-broken.yaml"),
                     str(root / "d-not-json.json"), str(missing)],
             "grouped by file, in the order they are read")
        broken = [(f["severity"], f["document"], f["line"], f["name"], f["field"])
                  for f in findings if f["file"] == str(root / "b-broken.yaml")]
        t.eq(broken, [("error", 1, 5, "bad-ip", "spec.clusterIP"),
                      ("error", 2, 12, "", ""),
                      ("error", 3, 19, "bad-port", "spec.ports[0].port"),
                      ("warning", 4, 21, "after", "spec.selector")],
             "each document of the broken file, the one after the YAML error too, in order")
        messages = {f["name"]: f["message"] for f in findings}
        t.check("10.96.300.1" in messages.get("bad-ip", "") and
                "70000" in messages.get("bad-port", ""), f"the messages: {messages}")
        t.check([f for f in findings if f["file"] == str(root / "b-broken.yaml") and
                 "invalid YAML" in f["message"] and f["message"].startswith(
                     f"{root / 'b-broken.yaml'}:12:")], "the YAML error's message and line")
        t.check([f for f in findings if f["file"] == str(root / "d-not-json.json") and
                 f["document"] == 1 and "invalid YAML" in f["message"]], "the file that is not JSON")
        t.check([f for f in findings if f["file"] == str(missing) and f["document"] is None and
                 "no such file" in f["message"]], "the path that does not exist")
        t.check(len([f for f in findings if f["file"] == str(root / "a-app.yaml")]) >= 12,
                "the first file's findings are all there too")

        # The table: one heading per file, with its counts, each finding under its file.
        p = check(t, root, "--manifests", missing)
        t.eq(p.returncode, 1, "the table: exit 1")
        headings = [line for line in p.stdout.splitlines() if line and not line.startswith(" ")]
        t.eq([h.split(": ")[0] for h in headings[:-1]], files, f"file headings: {p.stdout}")
        t.check(headings and headings[1] == f"{root / 'b-broken.yaml'}: 3 errors, 1 warning",
                f"the broken file's heading: {headings}")
        t.check(headings and headings[-1].endswith("warnings in 4 files") and
                headings[-1].startswith(f"{sum(f['severity'] == 'error' for f in findings)} errors"),
                f"the total: {headings[-1:]}")
        t.check("document 3, line 19" in p.stdout, f"where: {p.stdout}")

        # The server's own load stays all or nothing: the first problem stops it, alone.
        (root / "a-app.yaml").unlink()
        ran = harness.run_binary(t.binary, ["--manifests", root, "--listen", "127.0.0.1:0"])
        t.check(ran.returncode == 1 and "listening" not in ran.stdout and
                ran.stderr.count("[ERROR]") == 1 and "b-broken.yaml" in ran.stderr,
                f"the server stops at the first problem, with one message: {ran}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
