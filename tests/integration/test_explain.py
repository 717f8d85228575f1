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


def scenario(t):
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
