"""The fake kube-apiserver (tests/fake_apiserver) answers real clients as a kube-apiserver does.

No clusterdns here (argv[1] is accepted and ignored): this proves the double that the API-watch
tests rely on. Started on 127.0.0.1:0 from its command line, it is driven by:
- the official Python client (python3-kubernetes) with the kubeconfig it writes: list services in
  all namespaces; a paged list (limit/continue, one resourceVersion, remainingItemCount); selectors;
  an expired continue token is 410; kubernetes.watch.Watch sees ADDED/MODIFIED/DELETED made over the
  control API, resumes from a resourceVersion (by hand and by itself after a closed stream), and a
  too-old resourceVersion raises ApiException 410 in both forms (HTTP 410, ERROR event in a 200);
  the client-certificate context works, a wrong token is 401;
- kubectl (each of $KUBECTL, separated by ':', else `kubectl` on PATH) with that kubeconfig:
  get services -A -o json, create -f (Namespace + Service), get service -o yaml, get
  endpointslices -A, get namespaces, delete service, and "Unauthorized" for a wrong token;
- plain sockets, for each fault: 410 both forms, 429 with Retry-After, 500 then success, 401/403
  on command (403 worded as RBAC words it, which kubectl prints as is), garbage, an endless list,
  stall, clean and mid-event close, a malformed line, expiry mid-stream, bookmarks
  (periodic, on command, only when asked), timeoutSeconds, selector-driven DELETED, down and back
  on the same port, and the request log.
Exits 77 when python3-kubernetes or kubectl is missing.
"""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FAKE = REPO / "tests" / "fake_apiserver" / "fake_apiserver.py"
sys.path.insert(0, str(HERE))
import harness  # noqa: E402

try:
    import kubernetes  # noqa: F401
except ImportError:
    # python3-kubernetes is installed for Debian's /usr/bin/python3; another python3 first on PATH
    # (pyenv, a venv) cannot import it, so run this file with Debian's once.
    debian = "/usr/bin/python3"
    if os.path.exists(debian) and os.path.realpath(sys.executable) != os.path.realpath(debian) \
            and not os.environ.get("FIDELITY_REEXEC"):
        os.environ["FIDELITY_REEXEC"] = "1"
        os.execv(debian, [debian, __file__, *sys.argv[1:]])
    kubernetes = None

if kubernetes is not None:
    from kubernetes import client as kclient, config as kconfig, watch as kwatch  # noqa: E402


def kubectls():
    paths = os.environ.get("KUBECTL", "").split(os.pathsep) if os.environ.get("KUBECTL") else \
        [shutil.which("kubectl") or ""]
    return [p for p in paths if p and os.access(p, os.X_OK)]


# --------------------------------------------------------------------------------------------
# The fake, started from its command line


class Fake:
    def __init__(self, state_dir, *args):
        self.dir = Path(state_dir)
        self.proc = subprocess.Popen([sys.executable, str(FAKE), "--state-dir", str(self.dir),
                                      "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("fake-apiserver: listening on https://127.0.0.1:"):
            self.proc.kill()
            raise harness.Failure(f"fake apiserver printed {line!r}; stderr "
                                  f"{self.proc.stderr.read()[-2000:]}")
        self.url = line.rsplit(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.control = (self.dir / "control-url").read_text().strip()
        self.token = (self.dir / "token").read_text().strip()
        self.kubeconfig = self.dir / "kubeconfig"
        self.ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    # -- control API (plain HTTP) --

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def apply(self, *objs):
        return self.ctl("POST", "/_fake/objects", list(objs))

    def delete(self, *refs):
        return self.ctl("POST", "/_fake/objects/delete", list(refs))

    def fault(self, **spec):
        return self.ctl("POST", "/_fake/fault", spec)

    def config(self, **kw):
        return self.ctl("POST", "/_fake/config", kw)

    def rv(self):
        return int(self.ctl("GET", "/_fake/health")["resourceVersion"])

    def requests(self, path=None, since=0):
        q = f"?since={since}" + (f"&path={path}" if path else "")
        return self.ctl("GET", "/_fake/requests" + q)["requests"]

    def last_seq(self):
        return self.ctl("GET", "/_fake/requests?since=0")["next"]

    def watch_count(self, path):
        return len(self.ctl("GET", f"/_fake/watches?path={path}")["watches"])

    def wait_watches(self, path, count=1, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.watch_count(path) >= count:
                return True
            time.sleep(0.02)
        return False

    # -- the API over plain TLS sockets --

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=timeout)

    def get(self, path, token=None, timeout=10):
        c = self.conn(timeout)
        try:
            c.request("GET", path, headers={"Authorization": f"Bearer {token or self.token}"})
            r = c.getresponse()
            body = r.read()
            return r.status, dict(r.getheaders()), json.loads(body) if body else None
        finally:
            c.close()

    def watch(self, path):
        return RawWatch(self, path)


class RawWatch:
    """A watch read from an ssl socket, chunk by chunk, so partial lines and a missing final
    chunk are visible."""

    def __init__(self, fake, path):
        raw = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
        self.sock = fake.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                          f"{fake.token}\r\nAccept: application/json\r\n\r\n".encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.body = b""          # de-chunked bytes
        self.clean_end = False   # saw the zero-length chunk
        self.eof = False
        self.chunked = False

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLError, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        self._parse()
        return True

    def _parse(self):
        if self.status is None:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.decode().split("\r\n")
            self.status = int(lines[0].split()[1])
            self.headers = {k.lower(): v.strip() for k, _, v in
                            (ln.partition(":") for ln in lines[1:])}
            self.chunked = self.headers.get("transfer-encoding") == "chunked"
            self.buf = rest
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            return
        while not self.clean_end:
            size_line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line, 16)
            if size == 0:
                self.clean_end = True
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.buf = rest[size + 2:]

    def lines(self):
        return [ln for ln in self.body.split(b"\n")[:-1]]

    def events(self):
        return [json.loads(ln) for ln in self.lines()]

    def wait(self, pred, timeout=10):
        """Read until pred(self) holds, the stream ends, or timeout. Returns pred(self)."""
        deadline = time.monotonic() + timeout
        while not pred(self) and not self.eof and not self.clean_end \
                and time.monotonic() < deadline:
            self._fill(deadline)
        return pred(self)

    def wait_end(self, timeout=10):
        return self.wait(lambda s: s.eof or s.clean_end, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def svc(name, ns="default", labels=None, ip=None, port=80):
    o = {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
         "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port}]}}
    if ip:
        o["spec"]["clusterIP"] = ip
    return o


# --------------------------------------------------------------------------------------------
# python3-kubernetes


def python_client(t, fake):
    api_client = kconfig.new_client_from_config(str(fake.kubeconfig))
    v1 = kclient.CoreV1Api(api_client)

    fake.apply(svc("alpha", "team-a"), svc("beta", "team-b", ip="10.96.5.5"),
               {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "alpha-x1", "namespace": "team-a",
                             "labels": {"kubernetes.io/service-name": "alpha"}},
                "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.7"]}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    r = v1.list_service_for_all_namespaces()
    got = sorted((s.metadata.namespace, s.metadata.name, s.spec.cluster_ip) for s in r.items)
    t.check(("default", "kubernetes", "10.96.0.1") in got and
            ("team-b", "beta", "10.96.5.5") in got and
            any(n == "alpha" and ip.startswith("10.9") for _, n, ip in got),
            f"python: list_service_for_all_namespaces: {got}")
    t.check(r.metadata.resource_version.isdigit(), "python: ServiceList has a resourceVersion")
    eps = kclient.DiscoveryV1Api(api_client).list_endpoint_slice_for_all_namespaces()
    t.check(any(e.metadata.name == "alpha-x1" and e.endpoints[0].addresses == ["10.244.0.7"]
                for e in eps.items), "python: discovery.k8s.io/v1 EndpointSlices list")
    ns = [n.metadata.name for n in v1.list_namespace().items]
    t.check({"default", "kube-system", "team-a", "team-b"} <= set(ns),
            f"python: namespaces {ns}")

    # Paged list: one resourceVersion, every item once, remainingItemCount counting down.
    fake.ctl("POST", "/_fake/generate", {"count": 1234, "namespaces": 7, "prefix": "page"})
    total = len(v1.list_service_for_all_namespaces().items)
    names, rvs, remaining, pages, cont = [], set(), [], 0, None
    while True:
        r = v1.list_service_for_all_namespaces(limit=100, _continue=cont)
        pages += 1
        names += [(s.metadata.namespace, s.metadata.name) for s in r.items]
        rvs.add(r.metadata.resource_version)
        remaining.append(r.metadata.remaining_item_count)
        cont = r.metadata._continue
        if not cont:
            break
    t.eq((len(names), len(set(names)), pages), (total, total, -(-total // 100)),
         "python: paged list (items, distinct items, pages)")
    t.eq(len(rvs), 1, "python: every page carries the first page's resourceVersion")
    t.check(remaining[:-1] == sorted(remaining[:-1], reverse=True) and remaining[-1] is None
            and remaining[0] == total - 100, f"python: remainingItemCount {remaining[:3]}...")
    t.eq(names, sorted(names), "python: list order is namespace/name, as etcd keys")

    # Consistency: an object created between pages is not in the paged snapshot.
    r1 = v1.list_service_for_all_namespaces(limit=500)
    fake.apply(svc("zzz-late", "zzz"))
    rest = []
    cont = r1.metadata._continue
    while cont:
        r = v1.list_service_for_all_namespaces(limit=500, _continue=cont)
        rest += [s.metadata.name for s in r.items]
        cont = r.metadata._continue
    t.check("zzz-late" not in rest, "python: a paged list is a snapshot at its resourceVersion")

    # Selectors.
    r = v1.list_service_for_all_namespaces(label_selector="app in (alpha,beta)")
    t.eq(sorted(s.metadata.name for s in r.items), ["alpha", "beta"], "python: labelSelector in")
    r = v1.list_service_for_all_namespaces(label_selector="shard=3,app!=page-3")
    t.check(r.items and all(s.metadata.labels["shard"] == "3" and s.metadata.name != "page-3"
                            for s in r.items), "python: labelSelector a=b,c!=d")
    r = v1.list_service_for_all_namespaces(field_selector="metadata.namespace=team-b")
    t.eq([s.metadata.name for s in r.items], ["beta"], "python: fieldSelector metadata.namespace")
    r = v1.list_namespaced_service("team-a", field_selector="metadata.name=alpha")
    t.eq([s.metadata.name for s in r.items], ["alpha"], "python: fieldSelector metadata.name")

    # An expired continue token: 410, as the client raises it.
    r = v1.list_service_for_all_namespaces(limit=10)
    fake.fault(fault="expire_continue")
    try:
        v1.list_service_for_all_namespaces(limit=10, _continue=r.metadata._continue)
        t.check(False, "python: expired continue token: expected ApiException 410")
    except kclient.rest.ApiException as e:
        body = json.loads(e.body)
        t.eq((e.status, body["reason"], body["code"]), (410, "Expired", 410),
             "python: expired continue token")
        t.check(body["metadata"].get("continue"), "python: 410 Expired offers an inconsistent "
                                                  "continue token")

    # Watch: ADDED/MODIFIED/DELETED made over the control API.
    list_rv = v1.list_namespaced_service("team-a").metadata.resource_version
    events = []
    w = kwatch.Watch()

    def consume():
        try:
            for ev in w.stream(v1.list_namespaced_service, "team-a", resource_version=list_rv,
                               timeout_seconds=20):
                events.append((ev["type"], ev["object"].metadata.name,
                               ev["object"].metadata.resource_version))
                if len(events) == 3:
                    w.stop()
        except Exception:  # reported below through the events seen
            events.append(("EXCEPTION", traceback.format_exc(), ""))
    th = threading.Thread(target=consume, daemon=True)
    th.start()
    t.check(fake.wait_watches("/namespaces/team-a/services"), "python: the watch is open")
    fake.apply(svc("gamma", "team-a"))
    fake.apply(svc("gamma", "team-a", labels={"app": "gamma", "v": "2"}))
    fake.delete({"kind": "Service", "namespace": "team-a", "name": "gamma"})
    th.join(20)
    t.eq([e[:2] for e in events], [("ADDED", "gamma"), ("MODIFIED", "gamma"),
                                   ("DELETED", "gamma")], "python: watch events")
    rvs = [int(e[2]) for e in events if e[2].isdigit()]
    t.check(len(rvs) == 3 and rvs == sorted(rvs) and rvs[0] > int(list_rv),
            f"python: event resourceVersions rise after the list's {list_rv}: {rvs}")

    # Resume by hand from the last resourceVersion seen: only what came after.
    last = events[-1][2] if events else list_rv
    fake.apply(svc("delta", "team-a"))
    seen = []
    for ev in w.stream(v1.list_namespaced_service, "team-a", resource_version=last,
                       timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
    t.eq(seen, [("ADDED", "delta")], f"python: a watch resumed from {last} sees only later events")

    # Resume by itself: the stream is closed, Watch.stream re-watches from its last event.
    seq = fake.last_seq()
    got = []
    w2 = kwatch.Watch()
    start_rv = str(fake.rv())

    def consume2():
        try:
            for ev in w2.stream(v1.list_namespaced_service, "team-a", resource_version=start_rv):
                got.append((ev["type"], ev["object"].metadata.name,
                            ev["object"].metadata.resource_version))
                if ev["object"].metadata.name == "zeta":
                    w2.stop()
        except Exception:
            got.append(("EXCEPTION", traceback.format_exc(), ""))
    th = threading.Thread(target=consume2, daemon=True)
    th.start()
    fake.wait_watches("/namespaces/team-a/services")
    fake.apply(svc("epsilon", "team-a"))
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    fake.fault(fault="close_watches", mode="clean")
    time.sleep(0.3)
    fake.wait_watches("/namespaces/team-a/services")
    fake.apply(svc("zeta", "team-a"))
    th.join(15)
    t.eq([g[:2] for g in got], [("ADDED", "epsilon"), ("ADDED", "zeta")],
         "python: Watch.stream resumes by itself after the server closes the stream")
    watches = [r for r in fake.requests("/namespaces/team-a/services", since=seq)
               if r["watch"]]
    t.check(len(watches) >= 2 and got and
            watches[1]["query"].get("resourceVersion") == [got[0][2]],
            f"python: the re-watch asks for resourceVersion={got[0][2] if got else '?'}: "
            f"{[w['raw_query'] for w in watches]}")

    # 410: too old, after compaction, as an HTTP status.
    fake.fault(fault="compact")
    try:
        for _ in w.stream(v1.list_namespaced_service, "team-a", resource_version=list_rv,
                          timeout_seconds=2):
            pass
        t.check(False, "python: watch from a compacted resourceVersion: expected 410")
    except kclient.rest.ApiException as e:
        t.eq((e.status, json.loads(e.body)["reason"]), (410, "Expired"),
             "python: watch too old (HTTP 410) raises ApiException 410")
    # ... and as an ERROR event in a 200 stream, which Watch.stream raises as ApiException 410
    # after re-watching once from the same resourceVersion.
    fake.fault(fault="watch_410", mode="event")
    seq = fake.last_seq()
    try:
        for _ in kwatch.Watch().stream(v1.list_namespaced_service, "team-a",
                                       resource_version=list_rv):
            pass
        t.check(False, "python: watch too old (ERROR event): expected 410")
    except kclient.rest.ApiException as e:
        t.check(e.status == 410 and "Expired" in str(e.reason),
                f"python: ERROR event 410 raises ApiException 410: {e.status} {e.reason}")
    tries = [r for r in fake.requests("/namespaces/team-a/services", since=seq) if r["watch"]]
    t.eq(len(tries), 2, "python: Watch.stream re-watches once after an ERROR 410, then raises")
    fake.fault(fault="watch_410", mode="http")

    # Client certificate context; a wrong token.
    cert_client = kconfig.new_client_from_config(str(fake.kubeconfig), context="fake-cert")
    t.check(len(kclient.CoreV1Api(cert_client).list_namespace().items) >= 4,
            "python: the client-certificate context lists namespaces")
    cfg = kclient.Configuration()
    cfg.host = fake.url
    cfg.ssl_ca_cert = str(fake.dir / "ca.crt")
    cfg.api_key = {"authorization": "Bearer wrong"}
    try:
        kclient.CoreV1Api(kclient.ApiClient(cfg)).list_namespace()
        t.check(False, "python: wrong token: expected 401")
    except kclient.rest.ApiException as e:
        t.eq(e.status, 401, "python: wrong token")


# --------------------------------------------------------------------------------------------
# kubectl

SERVICE_YAML = """apiVersion: v1
kind: Namespace
metadata:
  name: kubectl-test
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: kubectl-test
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
"""


FORBIDDEN_MESSAGE = ('endpointslices.discovery.k8s.io is forbidden: User '
                     '"system:serviceaccount:kube-system:clusterdns" cannot list resource '
                     '"endpointslices" in API group "discovery.k8s.io" at the cluster scope')
FORBIDDEN_LINE = "Error from server (Forbidden): " + FORBIDDEN_MESSAGE


def kubectl_checks(t, fake, kubectl, work):
    home = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "HOME": str(home)}
    env.pop("KUBECONFIG", None)
    tag = f"kubectl {Path(kubectl).name}"
    ver = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True,
                         env=env).stdout
    tag += " " + (ver.split("GitVersion:")[1].split(",")[0].strip('"') if "GitVersion:" in ver
                  else ver.strip().splitlines()[0] if ver.strip() else "")

    def k(*args, ok=True):
        p = subprocess.run([kubectl, "--kubeconfig", str(fake.kubeconfig), *args],
                           capture_output=True, text=True, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        if ok:
            t.check(p.returncode == 0, f"{tag}: kubectl {' '.join(args)}: exit {p.returncode}: "
                                       f"{p.stderr.strip()[-500:]}")
        return p

    p = k("get", "services", "-A", "-o", "json")
    if p.returncode == 0:
        doc = json.loads(p.stdout)
        got = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]}
        t.check(doc.get("kind") == "List" and ("default", "kubernetes") in got and
                all(i.get("kind") == "Service" for i in doc["items"]),
                f"{tag}: get services -A -o json: kind {doc.get('kind')}, {len(got)} items")
    yaml_file = Path(work) / "service.yaml"
    yaml_file.write_text(SERVICE_YAML)
    p = k("create", "-f", str(yaml_file))
    t.check("namespace/kubectl-test created" in p.stdout and "service/web created" in p.stdout,
            f"{tag}: create -f: {p.stdout.strip()!r}")
    p = k("get", "service", "web", "-n", "kubectl-test", "-o", "yaml")
    import yaml
    if p.returncode == 0:
        doc = yaml.safe_load(p.stdout)
        spec = doc.get("spec", {})
        t.check(doc.get("kind") == "Service" and spec.get("clusterIP", "").startswith("10.")
                and spec.get("ports", [{}])[0].get("targetPort") == 8080
                and spec.get("type") == "ClusterIP" and doc["metadata"].get("uid"),
                f"{tag}: get service -o yaml: {p.stdout[:400]!r}")
    p = k("get", "endpointslices", "-A")
    t.check("kubernetes" in p.stdout and "IPv4" in p.stdout and "NAMESPACE" in p.stdout,
            f"{tag}: get endpointslices -A: {p.stdout!r}")
    p = k("get", "namespaces")
    t.check(all(n in p.stdout for n in ("default", "kube-system", "kubectl-test")) and
            "Active" in p.stdout, f"{tag}: get namespaces: {p.stdout!r}")
    p = k("get", "services", "-A")
    t.check("web" in p.stdout and "CLUSTER-IP" in p.stdout and "80/TCP" in p.stdout,
            f"{tag}: get services -A (server-side Table): {p.stdout!r}")
    p = k("--context", "fake-cert", "get", "namespaces", "-o", "name")
    t.check("namespace/default" in p.stdout, f"{tag}: client-certificate context: {p.stdout!r}")
    p = k("delete", "service", "web", "-n", "kubectl-test")
    t.check('service "web" deleted' in p.stdout, f"{tag}: delete service: {p.stdout!r}")
    p = k("get", "service", "web", "-n", "kubectl-test", ok=False)
    t.check(p.returncode != 0 and "NotFound" in p.stderr,
            f"{tag}: get after delete: NotFound: {p.stderr!r}")
    k("delete", "namespace", "kubectl-test")
    p = k("--token", "wrong", "get", "services", ok=False)
    t.check(p.returncode != 0 and "Unauthorized" in p.stderr,
            f"{tag}: wrong token: exit {p.returncode}, stderr {p.stderr!r}")
    fake.fault(fault="error", status=403, match="/endpointslices")
    p = k("get", "endpointslices", "-A", ok=False)
    t.check(p.returncode != 0 and FORBIDDEN_LINE in p.stderr,
            f"{tag}: 403 as RBAC words it: exit {p.returncode}, stderr {p.stderr!r}")


# --------------------------------------------------------------------------------------------
# Faults over plain sockets


def raw_get(fake, path, limit=None):
    """(status, body bytes) of a GET, reading at most `limit` bytes of the body."""
    c = fake.conn()
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {fake.token}"})
        r = c.getresponse()
        return r.status, r.read(limit) if limit else r.read()
    finally:
        c.close()


def faults(t, fake):
    base = "/api/v1/namespaces/faults/services"
    fake.apply(svc("one", "faults"))

    # 403 words it as RBAC does; garbage is a 200 that is not JSON; endless never ends.
    fake.fault(fault="error", status=403, match="/endpointslices")
    st, _, body = fake.get("/apis/discovery.k8s.io/v1/endpointslices?limit=500")
    t.eq((st, body["reason"], body["message"], body["details"]),
         (403, "Forbidden", FORBIDDEN_MESSAGE,
          {"group": "discovery.k8s.io", "kind": "endpointslices"}), "faults: 403 as RBAC")
    fake.fault(fault="garbage", match="/faults/")
    st, body = raw_get(fake, base)
    t.check(st == 200 and body.startswith(b"<html>"), f"faults: garbage: {st} {body[:40]!r}")
    fake.fault(fault="endless", match="/faults/")
    st, body = raw_get(fake, base, limit=3 << 20)
    t.check(st == 200 and len(body) == 3 << 20 and body.startswith(b'{"kind":"List"'),
            f"faults: endless: {st}, {len(body)} bytes read")
    t.eq(fake.get(base)[0], 200, "faults: the request after the endless one succeeds")

    # 410, HTTP form and ERROR-event form.
    old = fake.rv()
    fake.apply(svc("two", "faults"))
    fake.fault(fault="compact")
    st, _, body = fake.get(f"{base}?watch=true&resourceVersion={old}")
    t.eq((st, body and body.get("kind"), body and body.get("reason"), body and body.get("code")),
         (410, "Status", "Expired", 410), "faults: watch too old: HTTP 410 Status")
    fake.fault(fault="watch_410", mode="event")
    w = fake.watch(f"{base}?watch=1&resourceVersion={old}")
    w.wait_end()
    ev = w.events()
    t.check(w.status == 200 and len(ev) == 1 and ev[0]["type"] == "ERROR" and
            ev[0]["object"]["code"] == 410 and ev[0]["object"]["reason"] == "Expired"
            and w.clean_end, f"faults: watch too old as ERROR event: {w.status} {ev}")
    w.close()
    fake.fault(fault="watch_410", mode="http")

    # 429 with Retry-After, then success.
    fake.fault(fault="error", status=429, retry_after=3, match="/faults/")
    st, hdr, body = fake.get(base)
    t.eq((st, hdr.get("Retry-After"), body["reason"], body["details"]["retryAfterSeconds"]),
         (429, "3", "TooManyRequests", 3), "faults: 429 with Retry-After")
    t.eq(fake.get(base)[0], 200, "faults: the request after the 429 succeeds")
    # 500 twice, then success; 401 and 403 on command.
    fake.fault(fault="error", status=500, count=2)
    t.eq([fake.get(base)[0] for _ in range(3)], [500, 500, 200], "faults: 500 x2 then 200")
    for code, reason in ((401, "Unauthorized"), (403, "Forbidden")):
        fake.fault(fault="error", status=code)
        st, _, body = fake.get(base)
        t.eq((st, body["reason"]), (code, reason), f"faults: {code} on command")
    st, _, _ = fake.get(base, token="wrong")
    t.eq(st, 401, "faults: a wrong token is 401")

    # Stall: nothing for 1.5 s; a client with a 0.5 s timeout gives up, a patient one is served.
    fake.fault(fault="stall", seconds=1.5, match="/faults/")
    t0 = time.monotonic()
    try:
        fake.get(base, timeout=0.5)
        t.check(False, "faults: stall: expected a client timeout")
    except (socket.timeout, TimeoutError):
        t.check(True, "stall")
    fake.fault(fault="stall", seconds=1.0, match="/faults/")
    t0 = time.monotonic()
    st = fake.get(base, timeout=10)[0]
    took = time.monotonic() - t0
    t.check(st == 200 and 0.9 <= took < 5, f"faults: stall then serve: {st} after {took:.2f}s")

    # Clean close: the zero-length chunk ends a stream of whole lines.
    w = fake.watch(f"{base}?watch=true&resourceVersion={fake.rv()}")
    fake.wait_watches("/faults/")
    fake.apply(svc("three", "faults"))
    w.wait(lambda s: len(s.lines()) >= 1)
    fake.fault(fault="close_watches", mode="clean")
    w.wait_end()
    t.check(w.clean_end and w.body.endswith(b"\n") and w.events()[0]["type"] == "ADDED",
            f"faults: clean close: {w.body!r}")
    w.close()

    # Mid-event close: half a line, then the connection drops without the final chunk.
    w = fake.watch(f"{base}?watch=true&resourceVersion={fake.rv()}")
    fake.wait_watches("/faults/")
    fake.apply(svc("four", "faults"))
    w.wait(lambda s: len(s.lines()) >= 1)
    fake.fault(fault="close_watches", mode="mid_event")
    w.wait_end()
    tail = w.body.split(b"\n")[-1]
    t.check(w.eof and not w.clean_end and tail and not tail.endswith(b"}"),
            f"faults: mid-event close leaves a partial line: eof={w.eof} clean={w.clean_end} "
            f"tail={tail!r}")
    w.close()

    # Malformed line, then the stream goes on.
    w = fake.watch(f"{base}?watch=true&resourceVersion={fake.rv()}")
    fake.wait_watches("/faults/")
    fake.fault(fault="malformed_event")
    fake.apply(svc("five", "faults"))
    w.wait(lambda s: len(s.lines()) >= 2)
    lines = w.lines()
    bad = 0
    for ln in lines:
        try:
            json.loads(ln)
        except ValueError:
            bad += 1
    t.check(len(lines) >= 2 and bad == 1 and json.loads(lines[-1])["type"] == "ADDED",
            f"faults: a malformed line, then valid events: {lines!r}")
    # ... and expiry mid-stream: an ERROR 410 event ends it.
    fake.fault(fault="expire_watches")
    w.wait_end()
    last = json.loads(w.lines()[-1])
    t.check(last["type"] == "ERROR" and last["object"]["code"] == 410 and w.clean_end,
            f"faults: expire_watches sends ERROR 410: {last}")
    w.close()

    # Bookmarks: periodic when asked, never when not; on command.
    fake.config(bookmark_interval=0.3)
    wb = fake.watch(f"{base}?watch=true&allowWatchBookmarks=true&resourceVersion={fake.rv()}")
    wn = fake.watch(f"{base}?watch=true&resourceVersion={fake.rv()}")
    wb.wait(lambda s: len(s.lines()) >= 2, timeout=5)
    wn.wait(lambda s: len(s.lines()) >= 1, timeout=1)
    bms = [e for e in wb.events() if e["type"] == "BOOKMARK"]
    t.check(len(bms) >= 2 and bms[0]["object"]["kind"] == "Service" and
            bms[-1]["object"]["metadata"]["resourceVersion"] == str(fake.rv()),
            f"faults: periodic BOOKMARK events: {bms[:2]}")
    t.eq(wn.events(), [], "faults: no bookmarks without allowWatchBookmarks")
    wb.close()
    wn.close()
    fake.config(bookmark_interval=3600)
    # The watches just closed stay open on the server's side until it next writes to them: the
    # bookmark ordered below must wait for the new one, not find only those.
    before = fake.watch_count("/faults/")
    wb = fake.watch(f"{base}?watch=true&allowWatchBookmarks=true&resourceVersion={fake.rv()}")
    fake.wait_watches("/faults/", count=before + 1)
    fake.fault(fault="bookmark")
    t.check(wb.wait(lambda s: any(e["type"] == "BOOKMARK" for e in s.events()), timeout=10),
            "faults: a BOOKMARK on command")
    wb.close()

    # timeoutSeconds ends the stream cleanly.
    t0 = time.monotonic()
    w = fake.watch(f"{base}?watch=true&timeoutSeconds=1&resourceVersion={fake.rv()}")
    w.wait_end(timeout=6)
    took = time.monotonic() - t0
    t.check(w.clean_end and 0.8 <= took < 4, f"faults: timeoutSeconds=1 ends cleanly after "
                                             f"{took:.2f}s (clean {w.clean_end})")
    w.close()

    # Watch without resourceVersion: synthetic ADDED for what exists.
    w = fake.watch(f"{base}?watch=true&timeoutSeconds=1")
    w.wait_end(timeout=5)
    names = sorted(e["object"]["metadata"]["name"] for e in w.events())
    t.eq(names, ["five", "four", "one", "three", "two"], "faults: watch without resourceVersion "
                                                        "starts with ADDED for every object")
    w.close()

    # A label change that leaves the selector is DELETED for that watcher.
    w = fake.watch(f"{base}?watch=true&labelSelector=app%3Done&resourceVersion={fake.rv()}")
    fake.wait_watches("/faults/")
    fake.apply(svc("one", "faults", labels={"app": "other"}))
    w.wait(lambda s: len(s.lines()) >= 1)
    ev = w.events()
    t.check(ev and ev[0]["type"] == "DELETED" and ev[0]["object"]["metadata"]["name"] == "one",
            f"faults: leaving the selector is DELETED: {ev}")
    w.close()

    # Down for 1 s: connections refused, then served again on the same port.
    fake.fault(fault="down", seconds=1.0)
    refused = False
    try:
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()
    except OSError:
        refused = True
    t.check(refused, "faults: down: connections are refused")
    deadline = time.monotonic() + 10
    st = None
    while time.monotonic() < deadline:
        try:
            st = fake.get(base, timeout=2)[0]
            break
        except OSError:
            time.sleep(0.1)
    t.eq(st, 200, "faults: back up on the same port")

    # The request log names paths and query strings.
    reqs = fake.requests("/faults/")
    t.check(any(r["query"].get("timeoutSeconds") == ["1"] and r["watch"] for r in reqs) and
            any(r["status"] == 429 for r in reqs),
            "faults: the request log records query strings and statuses")

    # Not-found and conflict answers are Status objects.
    st, _, body = fake.get(f"{base}/nope")
    t.eq((st, body["kind"], body["reason"], body["details"]["name"]),
         (404, "Status", "NotFound", "nope"), "api: 404 Status")
    c = fake.conn()
    c.request("POST", base, body=json.dumps(svc("two", "faults")),
              headers={"Authorization": f"Bearer {fake.token}",
                       "Content-Type": "application/json"})
    r = c.getresponse()
    body = json.loads(r.read())
    t.eq((r.status, body["reason"]), (409, "AlreadyExists"), "api: create twice is 409")
    c.close()


# --------------------------------------------------------------------------------------------


def scenario(t):
    if kubernetes is None:
        t.skip("python3-kubernetes is not installed (apt-get install python3-kubernetes)")
    ks = kubectls()
    if not ks:
        t.skip("kubectl is not installed (apt-get install kubernetes-client)")
    if shutil.which("openssl") is None:
        t.skip("openssl is not installed")
    with tempfile.TemporaryDirectory(prefix="fake-apiserver-") as work:
        fake = Fake(Path(work) / "state")
        try:
            python_client(t, fake)
            for kubectl in ks:
                kubectl_checks(t, fake, kubectl, work)
            faults(t, fake)
        finally:
            rc = fake.stop()
        t.eq(rc, 0, "the fake exits 0 on SIGTERM")


def main():
    title = Path(sys.argv[0]).stem
    print(f"== {title}: {__doc__.strip().splitlines()[0]}", flush=True)
    t = harness.Checker(title)
    try:
        scenario(t)
    except harness.Skip as e:
        print(f"SKIP: {e}", flush=True)
        sys.exit(harness.SKIP_EXIT)
    except harness.Failure as e:
        t.failures.append(str(e))
        print(f"FAIL: {e}", flush=True)
    except Exception:
        tb = traceback.format_exc()
        t.failures.append(tb)
        print(f"FAIL: exception\n{tb}", flush=True)
    print(f"{title}: {t.passed} passed, {len(t.failures)} failed", flush=True)
    sys.exit(1 if t.failures else 0)


if __name__ == "__main__":
    main()
