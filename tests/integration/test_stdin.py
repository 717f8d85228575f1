"""`--manifests -` reads the manifests from standard input, as `kubectl apply -f -`, for the
server and for `records`, `check` and `explain`: what `helm template ... | clusterdns --manifests
-` feeds it.

- The server, fed a `helm template`-style stream through a pipe (`# Source:` comments, a first
  document without `---`, an empty document, a JSON document, a `kind: List`, a Deployment and a
  StatefulSet behind their Services) together with a manifest file, answers every Service and the
  StatefulSet's Pods, and says at start-up that a reload keeps standard input's objects.
- A reload (SIGHUP, after the file changed) applies the file's change and keeps what standard
  input held: its names still answer, with the same addresses.
- `records`, `explain` and `check` read the same stream through a pipe; `explain` names the source
  `<stdin>`.
- Errors name `<stdin>` with the document and line, as for a file: a clusterIP that is not an
  address and a document that is not YAML stop the server (exit 1) with one message; `check`
  reports both (and the rest of the stream is read).
- `-` twice is a bad command line (exit 2), for the server and for `check`.
- A reload that names `-` when the server did not start with it is refused (the previous zone
  keeps answering): standard input is read at start-up only, never waited on later.
"""

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

# What `helm template` prints: each document after a `---` and a `# Source:` comment. The first
# one has no `---`; one template renders empty.
STREAM = """# Source: shop/templates/namespace.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# Source: shop/templates/empty.yaml
---
# Source: shop/templates/web.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app.kubernetes.io/name: web}
spec:
  clusterIP: 10.96.40.10
  selector: {app.kubernetes.io/name: web}
  ports:
    - {name: http, port: 80, targetPort: http}
---
# Source: shop/templates/web-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: web}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web}
    spec:
      containers:
        - name: web
          image: nginx
          ports: [{name: http, containerPort: 8080}]
---
# Source: shop/templates/db.yaml
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: pg, image: postgres, ports: [{name: pg, containerPort: 5432}]}]}
---
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
 "spec": {"clusterIP": "10.96.40.11", "ports": [{"name": "grpc", "port": 9000}]}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: cache, namespace: shop}
    spec:
      clusterIP: 10.96.40.12
      ports: [{name: redis, port: 6379}]
"""

FILE_SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: from-file, namespace: default}}
spec:
  clusterIP: {ip}
  ports: [{{name: http, port: 80}}]
"""

BAD_IP = """---
apiVersion: v1
kind: Service
metadata: {name: bad-ip, namespace: shop}
spec:
  clusterIP: 10.96.300.1
  ports: [{name: http, port: 80}]
"""

NOT_YAML = """---
apiVersion: v1
kind: Service
metadata:
  name: not-yaml
   namespace: shop
"""

BAD_PORT = """---
apiVersion: v1
kind: Service
metadata: {name: bad-port, namespace: shop}
spec:
  clusterIP: 10.96.40.13
  ports: [{name: http, port: 70000}]
"""

STREAM_DOCUMENTS = 8  # documents in STREAM, the empty one counted


def run(t, *args, stdin=""):
    return subprocess.run([str(t.binary), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=60)


def lines_of(text):
    """Where each document after the first (which has no `---`) starts: 1-based document number
    -> the line of its `---`."""
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("---")]
    return {n + 2: line for n, line in enumerate(starts)}


def answers(t, srv):
    """Every name the stream makes answers, with the addresses it gives."""
    shop = lambda name: harness.svc(name, "shop")  # noqa: E731
    for name, ip in (("web", "10.96.40.10"), ("api", "10.96.40.11"), ("cache", "10.96.40.12")):
        t.expect(srv.dig(shop(name)), answer=[(shop(name), "A", ip)])
    pods = srv.dig(shop("db"))
    t.expect(pods, answer_types={"A": 2})
    for i in range(2):
        t.expect(srv.dig(f"db-{i}.{shop('db')}"), answer_types={"A": 1})
    srv_res = srv.dig(f"_http._tcp.{shop('web')}", "SRV")
    t.expect(srv_res, answer_types={"SRV": 1})
    return sorted(rr.rdata for rr in pods.answer)


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        file = Path(d) / "file.yaml"
        file.write_text(FILE_SERVICE.format(ip="10.96.40.20"))
        with t.server("--manifests", "-", "--manifests", file, stdin_data=STREAM) as srv:
            pods = answers(t, srv)
            name = harness.svc("from-file", "default")
            t.expect(srv.dig(name), answer=[(name, "A", "10.96.40.20")])
            log = srv.stderr_text()
            t.eq(log.count("a reload re-reads the files only"), 1,
                 f"the start-up log says once that a reload keeps standard input's objects: {log}")

            # The file changes: the reload applies it, and standard input's objects stay.
            file.write_text(FILE_SERVICE.format(ip="10.96.40.21"))
            reloads = srv.stderr_text().count("reloaded")
            srv.proc.send_signal(signal.SIGHUP)
            t.check(harness.wait_until(
                lambda: srv.stderr_text().count("reloaded") >= reloads + 1 and
                srv.dig(name).answer and srv.dig(name).answer[0].rdata == "10.96.40.21", 10),
                f"the reload applies the file's change: {srv.dig(name)}; {srv.describe()}")
            t.eq(answers(t, srv), pods, "standard input's objects stay, with the same addresses")
            t.check("ERROR" not in srv.stderr_text(), f"no error: {srv.describe()}")

        # A config that names "-" only after start-up: the reload is refused, nothing changes.
        config = Path(d) / "config.yaml"
        config.write_text(f"manifests: [{file}]\n")
        with t.server("--config", config, stdin_data=STREAM) as srv:
            name = harness.svc("from-file", "default")
            t.expect(srv.dig(name), answer=[(name, "A", "10.96.40.21")])
            config.write_text(f"manifests: [{file}, '-']\n")
            t.check(harness.wait_until(lambda: "read at start-up only" in srv.stderr_text(), 10),
                    f"the reload naming - is refused: {srv.describe()}")
            t.expect(srv.dig(name), answer=[(name, "A", "10.96.40.21")])
            t.nxdomain(srv.dig(harness.svc("web", "shop")))

        # Nothing on standard input (/dev/null): no objects, an empty zone.
        with t.server("--manifests", "-") as srv:
            t.nxdomain(srv.dig(harness.svc("web", "shop")))

        # records, explain and check read the same stream from a pipe.
        p = run(t, "records", "--manifests", "-", "-o", "json", stdin=STREAM)
        t.eq(p.returncode, 0, f"records: {p.stderr}")
        records = {(r["name"], r["type"], r["data"]) for r in json.loads(p.stdout or "[]")}
        for want in (("web.shop.svc.cluster.local.", "A", "10.96.40.10"),
                     ("cache.shop.svc.cluster.local.", "A", "10.96.40.12"),
                     ("12.40.96.10.in-addr.arpa.", "PTR", "cache.shop.svc.cluster.local.")):
            t.check(want in records, f"records -o json from standard input has {want}")
        p = run(t, "explain", "cache.shop.svc.cluster.local", "--manifests", "-", stdin=STREAM)
        t.eq(p.returncode, 0, f"explain: {p.stdout} {p.stderr}")
        t.check("10.96.40.12" in p.stdout and "<stdin>" in p.stdout,
                f"explain names the address and <stdin>: {p.stdout}")
        p = run(t, "check", "--manifests", "-", "-o", "json", stdin=STREAM)
        t.check(p.returncode == 0 and not [f for f in json.loads(p.stdout or "[1]")
                                           if f["severity"] == "error"],
                f"check of the good stream: no error: {p.stdout} {p.stderr}")

        # Errors name <stdin>, the document and the line.
        bad_ip = STREAM + BAD_IP
        where = lines_of(bad_ip)
        p = run(t, "--manifests", "-", "--listen", "127.0.0.1:0", "--upstream", "none",
                stdin=bad_ip)
        t.eq(p.returncode, 1, f"a bad clusterIP on standard input stops the server: {p.stderr}")
        t.check(f"<stdin>:{where[STREAM_DOCUMENTS + 1] + 5}: document {STREAM_DOCUMENTS + 1} "
                "(Service shop/bad-ip): spec.clusterIP" in p.stderr and "listening" not in p.stdout,
                f"the message names <stdin>, the line and the document: {p.stderr}")
        not_yaml = STREAM + NOT_YAML
        p = run(t, "--manifests", "-", "--listen", "127.0.0.1:0", "--upstream", "none",
                stdin=not_yaml)
        t.eq(p.returncode, 1, f"a document that is not YAML stops the server: {p.stderr}")
        t.check(f"<stdin>:{lines_of(not_yaml)[STREAM_DOCUMENTS + 1] + 5}:" in p.stderr and
                "invalid YAML" in p.stderr, f"... with <stdin> and its line: {p.stderr}")
        t.eq(p.stderr.count("[ERROR]"), 1, f"one message: {p.stderr}")

        # check reads on past both, and the good documents after them.
        both = STREAM + BAD_IP + NOT_YAML + BAD_PORT
        where = lines_of(both)
        p = run(t, "check", "--manifests", "-", "-o", "json", stdin=both)
        t.eq(p.returncode, 1, f"check: errors exit 1: {p.stderr}")
        findings = [(f["file"], f["document"], f["name"]) for f in json.loads(p.stdout or "[]")
                    if f["severity"] == "error"]
        t.eq(findings, [("<stdin>", STREAM_DOCUMENTS + 1, "bad-ip"),
                        ("<stdin>", STREAM_DOCUMENTS + 2, ""),
                        ("<stdin>", STREAM_DOCUMENTS + 3, "bad-port")],
             "check reports each bad document of the stream, by document")
        lines = [f["line"] for f in json.loads(p.stdout or "[]") if f["severity"] == "error"]
        t.eq(lines[1], where[STREAM_DOCUMENTS + 2] + 5, "the YAML error's line")

        # "-" twice: standard input can be read once.
        for args in (["--manifests", "-", "--manifests", "-", "--listen", "127.0.0.1:0"],
                     ["check", "--manifests", "-", "--manifests", "-"],
                     ["records", "--manifests", "-", "--manifests", "-"]):
            p = run(t, *args, stdin=STREAM)
            t.check(p.returncode == 2 and "given twice" in p.stderr,
                    f"{' '.join(args)}: exit 2, 'given twice': {p.returncode} {p.stderr}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
