"""The listening line waits for the first full sync of the API, at most `startup_timeout`.

- The Services list stalls 2 s, the startup timeout is 30 s: the line comes only once the list
  was served, so the first query after it already answers (no polling).
- The Services list stalls 8 s, the startup timeout is 1 s: the line comes (before the list is
  served), a warning says the sync waits for the Services list, names the API has not given yet
  are SERVFAIL (not NXDOMAIN, which resolvers would keep) while the zone's own names answer, and
  once the list arrives the late names answer and a name nobody has is NXDOMAIN.
- The API server down at start, with --manifests: after the timeout the manifests answer and the
  API's names are SERVFAIL; once the API is back its objects join them.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import ZONE, name, query, wait_answer  # noqa: E402

SVC = "/api/v1/services"


def waits_for_sync(t, api):
    api.stall(2, match=SVC, watch=False)
    started = time.time()
    with t.server(*kube.server_args(api, startup_timeout=30)) as srv:
        t.eq(query(srv, name("web", "prod")), ("NOERROR", [kube.cluster_ip(api, "web", "prod")]),
             "the first query after the line answers: the sync came first")
        t.check(time.time() - started >= 1.9, "the line waited for the stalled list")


def times_out(t, api):
    seq = kube.last_seq(api)
    api.stall(8, match=SVC, watch=False)
    with t.server(*kube.server_args(api, startup_timeout=1)) as srv:
        lists = [r for r in kube.requests_after(api, seq, SVC) if not r["watch"]]
        t.check(lists and lists[0]["status"] is None,
                f"the line came while the list was still stalled: {lists}")
        t.expect(srv.dig(name("web", "prod")), rcode="SERVFAIL", aa=False, answer=[],
                 authority=[])
        t.eq(query(srv, name("nobody", "prod"))[0], "SERVFAIL", "no name is NXDOMAIN yet")
        t.expect(srv.dig(ZONE, "SOA"), answer_types={"SOA": 1})
        t.check("not synced after the startup timeout" in srv.stderr_text(),
                f"the timeout is logged: {srv.stderr_text()[-400:]!r}")
        t.check("waiting for services list under way" in srv.stderr_text(),
                f"the timeout names the kind: {srv.stderr_text()[-400:]!r}")
        wait_answer(srv, name("web", "prod"), [kube.cluster_ip(api, "web", "prod")])
        t.nxdomain(srv.dig(name("nobody", "prod")))


def down_at_start(t, api):
    with tempfile.TemporaryDirectory() as d:
        manifest = Path(d) / "static.yaml"
        manifest.write_text(
            "apiVersion: v1\nkind: Service\nmetadata: {name: static, namespace: prod}\n"
            "spec: {clusterIP: 10.96.99.98, ports: [{name: http, port: 80}]}\n")
        api.go_down(4.0)
        with t.server("--manifests", manifest, *kube.server_args(api, startup_timeout=1)) as srv:
            t.eq(query(srv, name("static", "prod")), ("NOERROR", ["10.96.99.98"]),
                 "manifests answer while the API is down")
            t.eq(query(srv, name("web", "prod"))[0], "SERVFAIL", "the API's names not yet")
            wait_answer(srv, name("web", "prod"), [kube.cluster_ip(api, "web", "prod")],
                        timeout=30)
            t.eq(query(srv, name("static", "prod")), ("NOERROR", ["10.96.99.98"]),
                 "manifests still answer with the API")


def scenario(t):
    with kube.fake_api() as api:
        api.create(kube.service("web", "prod"))
        waits_for_sync(t, api)
        times_out(t, api)
        down_at_start(t, api)


harness.main(__doc__, scenario)
