"""The Grafana dashboard (examples/grafana/, a ConfigMap holding its JSON) reads only metrics that
clusterdns exports.

- The file is valid JSON, outside examples/ (whose .json files `--manifests examples` reads as
  manifests): a `datasource` variable over Prometheus, `job` and `instance` variables from
  label_values(coredns_build_info, ...); panel ids unique, panels inside the 24 columns and not
  overlapping; every panel but the rows queries `${datasource}` with at least one target.
- Every metric an expression names (coredns_*, process_*; _bucket/_sum/_count taken back to their
  family) is selected with job=~"$job" and instance=~"$instance", and is a family in the real
  /metrics page (its `# TYPE` line) of a server (one worker, so its one cache sees every query)
  forwarding to unbound on loopback, after a few queries: a renamed metric breaks this test. A
  `_bucket` is read only from a histogram, a bare name never from one.
- Every label an expression aggregates by, and every {{label}} of a legend, is a label the
  exposition's samples carry (or `le` of a histogram, `job`/`instance` of the scrape).
- `promtool check rules` parses every expression. With `prometheus` installed, a real Prometheus
  scrapes the server and evaluates every expression and both variable queries: each returns
  series, and the request panels see the queries sent.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, REPO, free_port, svc  # noqa: E402
from upstream import Unbound  # noqa: E402

DASHBOARD = REPO / "examples" / "grafana" / "clusterdns-dashboard.yaml"  # a ConfigMap
METRIC_RE = re.compile(r"(?<![\w:])((?:coredns|process)_[A-Za-z0-9_]*)")
SUFFIXES = ("_bucket", "_sum", "_count")
FILTERS = ('job=~"$job"', 'instance=~"$instance"')
SCRAPE_LABELS = {"job", "instance"}


def curl(url):
    """(status, body) of a GET with the real curl; status 0 if nothing answered."""
    p = subprocess.run(["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", url],
                       capture_output=True, text=True)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def family(name):
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def query_panels(dash):
    return [p for p in dash["panels"] if p.get("type") != "row"]


def expressions(dash):
    """[(where, expr, legendFormat)] of every target of every panel."""
    return [(f"panel {p.get('id')} {p.get('title')!r} target {tg.get('refId')}", tg["expr"],
             tg.get("legendFormat", ""))
            for p in query_panels(dash) for tg in p.get("targets", []) if "expr" in tg]


def by_labels(expr):
    """The labels of every `by (...)` in an expression."""
    return {label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", expr)
            for label in group.split(",") if label.strip()}


def selector(expr, end):
    """The text between the braces right after position `end`, or None if there are none."""
    if not expr[end:].startswith("{"):
        return None
    close = expr.find("}", end)
    return expr[end + 1:close] if close > 0 else None


def exposition(text):
    """({family: type}, {family: set of label names}) of a /metrics page."""
    types, labels = {}, {}
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            labels.setdefault(m.group(1), set())
            continue
        m = re.match(r"^(\w+)(?:\{(.*)\})? \S+$", line)
        if m:
            name = m.group(1)
            fam = name if name in types else family(name)
            labels.setdefault(fam, set()).update(re.findall(r'(\w+)="', m.group(2) or ""))
    return types, labels


# --------------------------------------------------------------------------------------------
# The file alone


def check_structure(t, dash):
    t.check(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36,
            f"schemaVersion {dash.get('schemaVersion')!r}: Grafana 10 writes 38")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    t.eq((ds.get("type"), ds.get("query")), ("datasource", "prometheus"), "the datasource variable")
    for name, want in (("job", "label_values(coredns_build_info, job)"),
                       ("instance", 'label_values(coredns_build_info{job=~"$job"}, instance)')):
        var = variables.get(name, {})
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        t.eq((var.get("type"), query, var.get("definition")), ("query", want, want),
             f"the {name} variable")
        t.eq((var.get("includeAll"), var.get("allValue"), var.get("multi")), (True, ".*", True),
             f"the {name} variable: several values and All, as a regex")
        t.eq(var.get("datasource", {}).get("uid"), "${datasource}", f"the {name} variable's source")

    ids = [p.get("id") for p in dash["panels"]]
    t.check(all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids)),
            f"panel ids must be unique integers: {ids}")
    cells, overlaps = {}, set()
    for p in dash["panels"]:
        g = p.get("gridPos", {})
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if not t.check(all(isinstance(g.get(k), int) for k in "xywh") and g["x"] >= 0
                       and g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24,
                       f"{where}: gridPos {g} outside the 24 columns"):
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    overlaps.add((cells[(x, y)], p.get("id")))
                cells.setdefault((x, y), p.get("id"))
    t.eq(sorted(overlaps), [], "panels (first id, second id) that overlap")

    for p in dash["panels"]:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("type") == "row":
            t.check(not p.get("targets") and not p.get("panels"),
                    f"{where}: a row holds no queries and, open, no panels of its own")
            continue
        t.check(p.get("type") in ("timeseries", "stat"), f"{where}: type {p.get('type')!r}")
        t.eq(p.get("datasource"), {"type": "prometheus", "uid": "${datasource}"},
             f"{where}: datasource")
        targets = p.get("targets") or []
        t.check(targets and all(tg.get("expr") for tg in targets),
                f"{where}: at least one target, each with an expr: {targets}")
        refs = [tg.get("refId") for tg in targets]
        t.check(len(refs) == len(set(refs)), f"{where}: refIds {refs}")
        for tg in targets:
            t.check(tg.get("datasource", p.get("datasource")) == p.get("datasource"),
                    f"{where}: target {tg.get('refId')} has another datasource")


def used_families(t, dash):
    """{family: {'bucket': bool, 'bare': bool}} over every expression; checks the filters."""
    used = {}
    for where, expr, _ in expressions(dash):
        names = list(METRIC_RE.finditer(expr))
        t.check(names, f"{where}: no metric in {expr!r}")
        for m in names:
            sel = selector(expr, m.end())
            t.check(sel is not None and all(f in sel for f in FILTERS),
                    f"{where}: {m.group(1)} is not selected with {', '.join(FILTERS)}: {expr!r}")
            name = m.group(1)
            entry = used.setdefault(family(name), {"bucket": False, "bare": False, "where": where})
            if name.endswith("_bucket"):
                entry["bucket"] = True
            elif name == family(name):
                entry["bare"] = True
    return used


def check_promql_syntax(t, dash, workdir):
    rules = [{"record": f"dashboard:panel_{i}", "expr": expr.replace("$job", ".*")
              .replace("$instance", ".*")} for i, (_, expr, _) in enumerate(expressions(dash))]
    path = Path(workdir) / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                           text=True)
    t.eq(check.returncode, 0, f"promtool check rules: {check.stdout}{check.stderr}")


# --------------------------------------------------------------------------------------------
# Against the server's exposition


def check_against_exposition(t, dash, used, text):
    types, labels = exposition(text)
    for fam, how in sorted(used.items()):
        if not t.check(fam in types, f"{how['where']}: {fam} is not a family clusterdns exports "
                                     f"(no '# TYPE {fam}' on /metrics)"):
            continue
        if how["bucket"]:
            t.eq(types[fam], "histogram", f"{how['where']}: {fam}_bucket needs a histogram")
        if how["bare"]:
            t.check(types[fam] != "histogram",
                    f"{how['where']}: {fam} is a histogram: read its _bucket, _sum or _count")
    for where, expr, legend in expressions(dash):
        fams = {family(m.group(1)) for m in METRIC_RE.finditer(expr)}
        have = set(SCRAPE_LABELS)
        for fam in fams:
            have |= labels.get(fam, set())
            if types.get(fam) == "histogram":
                have.add("le")
        for label in sorted(by_labels(expr) - have):
            t.check(False, f"{where}: aggregates by {label!r}, which no sample of "
                           f"{sorted(fams)} carries: {expr!r}")
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            t.check(label in by_labels(expr) or (label in have and " by " not in expr),
                    f"{where}: legend {legend!r} names {label!r}, which the query drops: {expr!r}")


# --------------------------------------------------------------------------------------------
# A real Prometheus


def prom_get(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}") or {"status": "error", "error": str(e)}


def prom_vector(base, expr):
    """(ok, [(labels, value)] or an error message)."""
    got = prom_get(base, "/api/v1/query", query=expr)
    if got.get("status") != "success":
        return False, got.get("error", got)
    return True, [(s["metric"], float(s["value"][1])) for s in got["data"]["result"]]


class Prometheus:
    """prometheus on a loopback port scraping `target` every second, data in `workdir`."""

    def __init__(self, target, workdir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = Path(workdir)
        (self.dir / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "clusterdns",
                                "static_configs": [{"targets": [target]}]}]}))
        self.log = open(self.dir / "prometheus.log", "w+")
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while curl(f"{self.base}/-/ready")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise harness.Failure(f"prometheus did not get ready: {self.tail()}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def tail(self):
        self.log.seek(0)
        return "\n".join(self.log.read().splitlines()[-10:])

    def wait_for(self, expr, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, got = prom_vector(self.base, expr)
            if ok and got:
                return
            time.sleep(0.2)
        raise harness.Failure(f"prometheus: {what} not within {timeout}s; {self.tail()}")


def check_with_prometheus(t, dash, metrics_at, workdir, send_queries):
    # A series shows up with its first count, and rate() sees no rise from before it existed:
    # queries before the first scrape create them, the same after it make them rise.
    send_queries()
    with Prometheus(metrics_at, workdir) as prom:
        job, instance = "clusterdns", metrics_at
        prom.wait_for(f'up{{job="{job}"}} == 1', "a first scrape")
        send_queries()
        # Two scrapes after the queries, so rate() over [5m] sees them.
        prom.wait_for(f'count_over_time(up{{job="{job}"}}[5m]) >= 3', "two more scrapes")

        jobs = prom_get(prom.base, "/api/v1/label/job/values", **{"match[]": "coredns_build_info"})
        t.eq(jobs.get("data"), [job], "the job variable's values")
        instances = prom_get(prom.base, "/api/v1/label/instance/values",
                             **{"match[]": f'coredns_build_info{{job=~"{job}"}}'})
        t.eq(instances.get("data"), [instance], "the instance variable's values")

        results = {}
        for where, expr, _ in expressions(dash):
            concrete = expr.replace("$job", job).replace("$instance", instance)
            ok, got = prom_vector(prom.base, concrete)
            t.check(ok and got, f"{where}: Prometheus returned {got!r} for {concrete!r}")
            results[where] = got if ok else []

        def series(title, **labels):
            return [v for where, got in results.items() if f"{title!r}" in where
                    for metric, v in got if labels.items() <= metric.items()]

        t.check(any(v > 0 for v in series("Requests by query type", type="A")),
                f"A requests per second: {series('Requests by query type')}")
        for plugin in ("kubernetes", "forward", "cache"):
            t.check(any(v > 0 for v in series("Responses by plugin", plugin=plugin)),
                    f"{plugin} responses per second: {series('Responses by plugin')}")
        t.check(any(v > 0 for v in series("Upstream requests")) and
                any(v > 0 for v in series("Upstream responses by rcode", rcode="NXDOMAIN")),
                f"upstream requests per second: {series('Upstream requests')}")
        t.check(any(v > 0 for v in series("Cache hit ratio", type="success")),
                f"cache hit ratio: {series('Cache hit ratio')}")
        versions = series("Version")
        t.eq(versions, [1.0], "one instance in the Version panel")


# --------------------------------------------------------------------------------------------


def scenario(t):
    if not DASHBOARD.is_file():
        raise harness.Failure(f"{DASHBOARD} is missing")
    # A ConfigMap for Grafana's dashboard sidecar, holding the dashboard's JSON: the manifest
    # loader skips it, so examples/ still loads whole.
    try:
        import yaml
        configmap = yaml.safe_load(DASHBOARD.read_text())
        dash = json.loads(configmap["data"]["clusterdns.json"])
    except (ImportError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise harness.Failure(f"{DASHBOARD}: no dashboard JSON in data.clusterdns.json: {e}")
    t.eq(configmap["metadata"]["labels"].get("grafana_dashboard"), "1", "the sidecar's label")
    check_structure(t, dash)
    used = used_families(t, dash)
    with tempfile.TemporaryDirectory(prefix="clusterdns-grafana-") as workdir:
        check_promql_syntax(t, dash, workdir)

        at = f"127.0.0.1:{free_port()}"
        # One worker: the cache is per worker, and the second ask must find the first's answer.
        with Unbound() as up, t.server("--manifests", EXAMPLES, "--metrics", at, "--workers", "1",
                                       "--upstream", up.address) as srv:
            api = svc("api-service")
            rounds = []

            def send_queries():
                rounds.append(None)
                t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
                t.expect(srv.dig(api, "AAAA", tcp=True), answer=[])
                t.nxdomain(srv.dig(svc("nope")))
                for _ in range(2):  # from the upstream, then from the cache
                    t.expect(srv.dig("www.example.test"),
                             answer=[("www.example.test", "A", "192.0.2.10")])
                # A name not asked before: the upstream again, even when www is cached.
                t.nxdomain(srv.dig(f"round{len(rounds)}.example.test"), zone="example.test")

            if shutil.which("prometheus"):
                check_with_prometheus(t, dash, at, workdir, send_queries)
            else:
                print("note: no prometheus here; the expressions were parsed, not evaluated",
                      flush=True)
                send_queries()
            status, text = curl(f"http://{at}/metrics")
            t.eq(status, 200, "/metrics")
            check_against_exposition(t, dash, used, text)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
