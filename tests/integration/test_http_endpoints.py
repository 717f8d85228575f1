"""The HTTP endpoints, checked with curl and promtool as an operator's tools would.

- /health answers 200 "OK" while the process serves; /ready 200 once serving; an unknown path is
  404; all three endpoints may share one address.
- Readiness follows the API sync: while the Services list stalls, /health is 200 and /ready 503;
  once synced (the listening line), /ready is 200.
- /metrics passes `promtool check metrics` and counts real queries: requests by proto, family and
  type, responses by rcode and plugin (kubernetes, forward, cache), the cache's hits and misses,
  the forward plugin's requests to a real upstream (unbound on loopback).
- The DNS programming latency (coredns_kubernetes_dns_programming_duration_seconds): a watched
  EndpointSlice whose trigger time (endpoints.kubernetes.io/last-change-trigger-time, as the
  EndpointSlice controller writes it) is 1.5 s old is observed once it answers, at 1.5 s or more,
  for service_kind cluster_ip.
- A default port someone holds is left out with a warning, the server starts anyway; a port given
  that someone holds is an error (exit 1, the address in the message).
"""

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from harness import EXAMPLES, free_port, svc  # noqa: E402
from upstream import Unbound  # noqa: E402


def curl(url):
    """(status, body) of a GET with the real curl; status 0 if nothing answered."""
    p = subprocess.run(["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", url],
                       capture_output=True, text=True)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def samples(text, name):
    """{frozenset(labels): value} of one metric's samples in the exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[labels] = float(m.group(3))
    return out


def value(text, name, **labels):
    """The sum of a metric's samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for k, v in samples(text, name).items() if want <= k)


def endpoints(t):
    port = free_port()
    at = f"127.0.0.1:{port}"
    with t.server("--manifests", EXAMPLES, "--health", at, "--ready", at, "--metrics", at) as srv:
        t.eq(curl(f"http://{at}/health"), (200, "OK"), "/health")
        t.eq(curl(f"http://{at}/ready"), (200, "OK"), "/ready once serving")
        t.eq(curl(f"http://{at}/nope")[0], 404, "an unknown path")
        for line in ("plugin/health: serving http://", "plugin/ready: serving http://",
                     "plugin/prometheus: serving http://"):
            t.check(line in srv.stderr_text(), f"no {line!r} line: {srv.describe()}")


def readiness_follows_sync(t):
    with kube.fake_api() as api:
        api.apply([kube.service("web", "prod", cluster_ip="10.96.5.5")])
        api.stall(4, match="/api/v1/services", watch=False)
        health, ready = free_port(), free_port()
        args = harness.local_only([*kube.server_args(api, startup_timeout=30),
                                   "--health", f"127.0.0.1:{health}",
                                   "--ready", f"127.0.0.1:{ready}", "--listen", "127.0.0.1:0"])
        proc = subprocess.Popen([str(t.binary), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 3
            status = (0, "")
            while time.monotonic() < deadline and status[0] == 0:
                status = curl(f"http://127.0.0.1:{ready}/ready")
                time.sleep(0.05)
            t.eq(status[0], 503, "/ready while the Services list stalls")
            t.eq(curl(f"http://127.0.0.1:{health}/health"), (200, "OK"),
                 "/health while the list stalls")
            line = proc.stdout.readline()
            t.check("listening on" in line, f"no listening line: {line!r}")
            t.eq(curl(f"http://127.0.0.1:{ready}/ready"), (200, "OK"), "/ready once synced")
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
        t.eq(proc.returncode, 0, "exit code")


def metrics_count_queries(t):
    at = f"127.0.0.1:{free_port()}"
    # One worker: the cache is per worker, and the second ask must find the first's answer.
    with Unbound() as up, t.server("--manifests", EXAMPLES, "--metrics", at, "--workers", "1",
                                   "--upstream", up.address) as srv:
        # Counted from here: the start-up's loop probe went upstream already.
        _, before = curl(f"http://{at}/metrics")
        api = svc("api-service")
        for _ in range(3):
            t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
        t.nxdomain(srv.dig(svc("nope")))
        t.expect(srv.dig(api, "AAAA", tcp=True), answer=[])
        for _ in range(2):
            t.expect(srv.dig("www.example.test"), answer=[("www.example.test", "A", "192.0.2.10")])
        status, text = curl(f"http://{at}/metrics")
        t.eq(status, 200, "/metrics")
        check = subprocess.run(["promtool", "check", "metrics"], input=text,
                               capture_output=True, text=True)
        t.eq(check.returncode, 0, f"promtool check metrics: {check.stdout}{check.stderr}")

        def delta(name, **labels):
            return value(text, name, **labels) - value(before, name, **labels)

        server = f"dns://{srv.host}:{srv.port}"
        req = "coredns_dns_requests_total"
        t.eq(delta(req, server=server, proto="udp", family="1", type="A"), 6, "UDP A requests")
        t.eq(delta(req, proto="tcp", type="AAAA"), 1, "TCP AAAA requests")
        resp = "coredns_dns_responses_total"
        t.eq(delta(resp, rcode="NOERROR", plugin="kubernetes"), 4, "zone NOERROR answers")
        t.eq(delta(resp, rcode="NXDOMAIN", plugin="kubernetes"), 1, "zone NXDOMAIN")
        t.eq(delta(resp, rcode="NOERROR", plugin="forward"), 1, "the upstream's answer")
        t.eq(delta(resp, rcode="NOERROR", plugin="cache"), 1, "the cached answer")
        t.eq(delta("coredns_cache_hits_total", type="success"), 1, "cache hits")
        t.eq(delta("coredns_cache_misses_total"), 1, "cache misses")
        t.eq(delta("coredns_cache_entries", type="success"), 1, "cache entries")
        t.eq(delta("coredns_forward_requests_total", to=up.address), 1, "requests upstream")
        t.eq(delta("coredns_forward_responses_total", to=up.address, rcode="NOERROR"), 1,
             "responses from the upstream")
        t.eq(delta("coredns_dns_request_duration_seconds_count", type="A"), 6,
             "durations observed")
        t.check(value(text, "process_resident_memory_bytes") > 1e6, "process RSS")
        t.eq(value(text, "coredns_build_info"), 1, "build info")


def programming_latency(t):
    at = f"127.0.0.1:{free_port()}"
    with kube.fake_api() as api:
        api.apply([kube.service("web", "prod", cluster_ip="10.96.5.5")])
        with t.server(*kube.server_args(api), "--metrics", at) as srv:
            family = "coredns_kubernetes_dns_programming_duration_seconds"
            _, before = curl(f"http://{at}/metrics")
            t.eq(value(before, family + "_count", service_kind="cluster_ip"), 0,
                 "nothing observed before a watched change")
            triggered = time.time() - 1.5
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(triggered)) + \
                f".{int(triggered % 1 * 1e6):06d}Z"
            slice_ = kube.endpoint_slice("web", "prod", [("10.244.0.9", True, None, None)])
            slice_["metadata"]["annotations"] = {
                "endpoints.kubernetes.io/last-change-trigger-time": stamp}
            api.apply([slice_])
            kube.wait_for("the watched slice's latency observed",
                          lambda: value(curl(f"http://{at}/metrics")[1], family + "_count",
                                        service_kind="cluster_ip") >= 1, timeout=10)
            _, text = curl(f"http://{at}/metrics")
            total = value(text, family + "_sum", service_kind="cluster_ip")
            t.check(1.4 <= total < 10, f"observed {total:.3f} s for a change 1.5 s old")


def taken_ports(t):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--listen", "127.0.0.1:0",
                                            "--health", f"127.0.0.1:{taken}"])
        t.eq(ran.returncode, 1, f"a configured port in use: {ran.stderr}")
        t.check(f"127.0.0.1:{taken}" in ran.stderr and "in use" in ran.stderr,
                f"the message names the address: {ran.stderr!r}")
    finally:
        holder.close()
    # The defaults (:8080, :8181, :9153) may be held by another instance: warned, not fatal.
    holders = []
    for port in (8080, 8181, 9153):
        s = socket.socket(socket.AF_INET6)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("::", port))
            s.listen(1)
            holders.append(s)
        except OSError:
            s.close()  # someone else holds it already: as good
    try:
        with t.server("--manifests", EXAMPLES, "--health", "default", "--ready", "default",
                      "--metrics", "default") as srv:
            err = srv.stderr_text()
            for plugin in ("health", "ready", "prometheus"):
                t.check(f"[WARNING] plugin/{plugin}: not serving" in err,
                        f"no warning for the default port of {plugin}: {err[-600:]!r}")
            api = svc("api-service")
            t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
    finally:
        for s in holders:
            s.close()


def plugins_enabled(t):
    """coredns_plugin_enabled lists the chain's links that are on, and the plugins beside it."""
    def enabled(*args):
        at = f"127.0.0.1:{free_port()}"
        with t.server("--metrics", at, *args) as srv:
            _, text = curl(f"http://{at}/metrics")
            return {dict(k)["name"] for k, v in samples(text, "coredns_plugin_enabled").items()
                    if v == 1}, srv

    with Unbound() as up:
        on, _ = enabled("--manifests", EXAMPLES, "--upstream", up.address, "--autopath", "true")
        for name in ("autopath", "kubernetes", "cache", "forward", "loop", "errors", "reload",
                     "prometheus"):
            t.check(name in on, f"{name} enabled with upstreams and autopath: {sorted(on)}")
        on, _ = enabled("--node-local", "true", "--upstream", up.address)
        t.check("kubernetes" not in on and "autopath" not in on and "forward" in on,
                f"node-local: no zone, only cache and forward: {sorted(on)}")
    on, _ = enabled("--manifests", EXAMPLES, "--upstream", "none")
    t.check("kubernetes" in on and not {"cache", "forward", "loop", "autopath"} & on,
            f"no upstream: the zone alone: {sorted(on)}")


def scenario(t):
    endpoints(t)
    readiness_follows_sync(t)
    metrics_count_queries(t)
    plugins_enabled(t)
    programming_latency(t)
    taken_ports(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
