"""Helpers for the kubernetes-source scenarios (test_kubernetes_*.py): the fake API server in a
temporary directory, object builders, fast raw queries, and polling with a deadline.

Nothing here sleeps to wait for a change: wait_for() polls a condition until it holds or its
deadline passes, so a slow machine only makes a test slower, never wrong.
"""

import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fake_apiserver"))
import harness  # noqa: E402
from fake_apiserver import FakeApiServer  # noqa: E402

ZONE = "cluster.local"
RCODE_NAMES = harness.RCODES


@contextlib.contextmanager
def fake_api(**kwargs):
    """A started FakeApiServer with its state (certificates, token, kubeconfig) in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="clusterdns-api-") as d:
        api = FakeApiServer(d, **kwargs)
        api.start()
        try:
            yield api
        finally:
            api.stop()


def server_args(api, *extra, startup_timeout=20, watch_timeout=None):
    """clusterdns arguments that watch `api` (its kubeconfig's current context, a token)."""
    args = ["--kubeconfig", str(api.kubeconfig), "--startup-timeout", str(startup_timeout)]
    if watch_timeout is not None:
        args += ["--api-watch-timeout", str(watch_timeout)]
    return [*args, *extra]


def service(name, ns="default", ports=(("http", 80),), headless=False, labels=None,
            cluster_ip=None):
    spec = {"ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}
    if headless:
        spec["clusterIP"] = "None"
    elif cluster_ip:
        spec["clusterIP"] = cluster_ip
    meta = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def endpoint_slice(service_name, ns, endpoints, name=None, port=("http", 80)):
    """endpoints: [(address, ready, hostname or None, pod name or None)]."""
    eps = []
    for address, ready, hostname, pod in endpoints:
        ep = {"addresses": [address], "conditions": {"ready": ready}}
        if hostname:
            ep["hostname"] = hostname
        if pod:
            ep["targetRef"] = {"kind": "Pod", "name": pod, "namespace": ns}
        eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service_name}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": port[0], "port": port[1], "protocol": "TCP"}]}


def name(svc, ns="default"):
    return f"{svc}.{ns}.svc.{ZONE}"


def query(srv, qname, qtype="A", timeout=2.0):
    """One raw UDP query: (rcode name, sorted answer RDATA as text for A, else raw bytes), or
    ("TIMEOUT", []) when no answer came."""
    packet = harness.build_query(qname, qtype)
    reply = srv.udp(packet, timeout=timeout)
    if reply is None:
        return "TIMEOUT", []
    msg = harness.parse_message(reply)
    out = []
    for rr in msg.answer:
        out.append(harness.rdata_a(rr.rdata) if rr.type == 1 else rr.rdata)
    return RCODE_NAMES.get(msg.rcode, str(msg.rcode)), sorted(out, key=str)


def wait_for(what, condition, timeout=15.0, interval=0.02):
    """Polls condition() until it returns something truthy (returned), or raises Failure."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise harness.Failure(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def wait_answer(srv, qname, expected, qtype="A", timeout=15.0):
    """Waits until `qname` answers NOERROR with exactly the A records `expected` (a list), or
    NXDOMAIN when expected is None."""
    def ok():
        rcode, answer = query(srv, qname, qtype)
        if expected is None:
            return rcode == "NXDOMAIN"
        return rcode == "NOERROR" and answer == sorted(expected)
    wait_for(f"{qname} {qtype} -> {expected}", ok, timeout)


def cluster_ip(api, svc, ns="default"):
    return api.get("Service", ns, svc)["spec"]["clusterIP"]


class Prober:
    """Queries names in a loop on a thread of its own and records every answer that is not
    NOERROR with at least one record: proof that no name vanished while something happened."""

    def __init__(self, srv, names):
        self.srv = srv
        self.names = list(names)
        self.bad = []
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for qname in self.names:
                rcode, answer = query(self.srv, qname)
                self.queries += 1
                if rcode != "NOERROR" or not answer:
                    self.bad.append((time.monotonic(), qname, rcode))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def requests_after(api, seq, path):
    """Logged API requests to `path` (a substring) after sequence number `seq`."""
    return [r for r in api.requests(path=path) if r["seq"] > seq]


def last_seq(api):
    log = api.requests()
    return log[-1]["seq"] if log else 0
