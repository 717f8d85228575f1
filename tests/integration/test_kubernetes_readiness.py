"""/ready says 200 only once every watched kind has been listed, whatever startup_timeout let through.

The startup timeout is 1 s, so the server starts answering while one kind cannot be listed; then
/ready must stay 503, its body and the log must say which kind fails and why, and the DNS answers
must not deny what the missing kind would hold:
- EndpointSlices refused with 403 (RBAC): the log names the rule the account lacks (`list
  endpointslices.discovery.k8s.io`), once per attempt, the attempts spaced by the backoff; a
  headless name is SERVFAIL, a ClusterIP Service answers. Once the API allows it, /ready is 200
  and the headless name answers.
- EndpointSlices answered with garbage (an HTML page as 200): /ready 503 saying "invalid answer".
- EndpointSlices answered with a list that never ends: /ready 503 saying the list is under way.
"""

import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer, wait_for  # noqa: E402

SLICES = "/endpointslices"
RBAC_LINE = "RBAC: the account may not list endpointslices.discovery.k8s.io"


def ready(port):
    """(status, body) of GET /ready."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def serve(t, api):
    port = harness.free_port()
    return port, t.server(*kube.server_args(api, "--ready", f"127.0.0.1:{port}",
                                            startup_timeout=1))


def forbidden(t, api):
    api.fail_next(403, count=100000, match=SLICES, watch=False)
    seq = kube.last_seq(api)
    port, server = serve(t, api)
    with server as srv:
        t.eq(query(srv, name("web", "prod")), ("NOERROR", [kube.cluster_ip(api, "web", "prod")]),
             "a ClusterIP Service answers")
        t.eq(query(srv, name("db", "prod"))[0], "SERVFAIL",
             "a headless Service without its slices: SERVFAIL, not NXDOMAIN")
        status, body = ready(port)
        t.eq(status, 503, "/ready while EndpointSlices are forbidden")
        t.check("endpointslices list: HTTP 403" in body and RBAC_LINE in body,
                f"/ready says which kind and why: {body!r}")
        t.check("not synced after the startup timeout" in srv.stderr_text()
                and "waiting for" in srv.stderr_text(), "the timeout says what it waits for")
        # Three refusals: one log line each, spaced by the backoff (0.8 s, then doubling).
        wait_for("three EndpointSlices lists",
                 lambda: len(kube.requests_after(api, seq, SLICES)) >= 3, timeout=20)
        times = [r["time"] for r in kube.requests_after(api, seq, SLICES)]
        gaps = [b - a for a, b in zip(times, times[1:])]
        t.check(all(g >= 0.75 for g in gaps), f"retries wait for the backoff: {gaps}")
        lines = len([x for x in srv.stderr_text().splitlines()
                     if RBAC_LINE in x and "retrying in" in x])
        t.check(1 <= lines <= len(times), f"one line per refusal ({lines} lines, "
                f"{len(times)} requests)")
        t.eq(ready(port)[0], 503, "/ready still 503")

        api.fault({"fault": "clear"})
        wait_for("/ready 200 once the API allows the list", lambda: ready(port)[0] == 200,
                 timeout=30)
        wait_answer(srv, name("db", "prod"), ["10.244.1.5"])
        t.eq(query(srv, name("nobody", "prod"))[0], "NXDOMAIN", "synced: NXDOMAIN again")


def garbage(t, api):
    api.garbage(count=100000, match=SLICES, watch=False)
    port, server = serve(t, api)
    with server as srv:
        status, body = ready(port)
        t.eq(status, 503, "/ready while EndpointSlices are garbage")
        t.check("endpointslices list: invalid answer" in body, f"/ready says why: {body!r}")
        t.check("endpointslices list: invalid answer" in srv.stderr_text(), "logged")
        api.fault({"fault": "clear"})
        wait_for("/ready 200 after the garbage", lambda: ready(port)[0] == 200, timeout=30)


def endless(t, api):
    api.endless(rate=2000, match=SLICES, watch=False)
    port, server = serve(t, api)
    with server as srv:
        status, body = ready(port)
        t.eq(status, 503, "/ready while the EndpointSlices list never ends")
        t.check("endpointslices list under way" in body, f"/ready says why: {body!r}")
        t.eq(query(srv, name("web", "prod")), ("NOERROR", [kube.cluster_ip(api, "web", "prod")]),
             "the rest answers")


def scenario(t):
    with kube.fake_api() as api:
        api.create(kube.service("web", "prod"))
        api.create(kube.service("db", "prod", headless=True))
        api.create(kube.endpoint_slice("db", "prod", [("10.244.1.5", True, None, None)]))
        forbidden(t, api)
        garbage(t, api)
        endless(t, api)


harness.main(__doc__, scenario)
