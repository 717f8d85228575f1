"""The kubernetes source survives what networks and API servers do, and keeps answering.

- A watch cut mid-event (half a line, then the connection closes) and a reset: the half event
  is never applied, the source reconnects and later changes arrive.
- A malformed event line: logged and skipped, the watch goes on.
- A stalled watch request that then hangs up: the source backs off and watches again.
- 500 with a Status: logged with the HTTP status and the Status's message; retried.
- 429 with Retry-After: 2: the next request of that resource comes at least 2 s later (from the
  fake's request log, not from a clock race here).
- The API server down for 3 s (connections refused): every name keeps answering from the last
  good zone meanwhile, backoff is logged, and changes made after it is back arrive.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer  # noqa: E402

SVC = "/api/v1/services"


def arrives(api, srv, svc):
    api.create(kube.service(svc, "prod"))
    wait_answer(srv, name(svc, "prod"), [kube.cluster_ip(api, svc, "prod")])


def scenario(t):
    with kube.fake_api() as api:
        api.create(kube.service("web", "prod"))
        with t.server(*kube.server_args(api)) as srv:
            web = ("NOERROR", [kube.cluster_ip(api, "web", "prod")])
            t.eq(query(srv, name("web", "prod")), web, "web at start")

            # Cut mid-event, then reset.
            api.create(kube.service("half", "prod"))
            wait_answer(srv, name("half", "prod"), [kube.cluster_ip(api, "half", "prod")])
            api.close_watches(mode="mid_event", match=SVC)
            arrives(api, srv, "after-cut")
            api.close_watches(mode="reset", match=SVC)
            arrives(api, srv, "after-reset")

            # A malformed line is skipped, the same watch goes on.
            api.wait_for_watches(SVC)
            watches_before = len([r for r in api.requests(path=SVC) if r["watch"]])
            api.malformed_event(match=SVC)
            arrives(api, srv, "after-garbage")
            t.eq(len([r for r in api.requests(path=SVC) if r["watch"]]), watches_before,
                 "no new watch after a malformed event")
            t.check("malformed event skipped" in srv.stderr_text(), "the bad event is logged")

            # A stalled watch that hangs up.
            api.wait_for_watches(SVC)
            api.stall(2, match=SVC, watch=True, then="close")
            api.close_watches(match=SVC)
            t.eq(query(srv, name("web", "prod")), web, "web while the watch stalls")
            arrives(api, srv, "after-stall")

            # 500 with a message.
            api.wait_for_watches(SVC)
            api.fail_next(500, match=SVC, watch=True, message="etcd is having a bad day")
            api.close_watches(match=SVC)
            arrives(api, srv, "after-500")
            t.check("HTTP 500: etcd is having a bad day" in srv.stderr_text(),
                    f"the Status message is logged: {srv.stderr_text()[-600:]!r}")

            # 429 Retry-After: 2.
            api.wait_for_watches(SVC)
            seq = kube.last_seq(api)
            api.fail_next(429, retry_after=2, match=SVC, watch=True)
            api.close_watches(match=SVC)
            arrives(api, srv, "after-429")
            sent = kube.requests_after(api, seq, SVC)
            refused = [i for i, r in enumerate(sent) if r["status"] == 429]
            if t.check(refused and refused[0] + 1 < len(sent),
                       f"a 429 and a request after it: {[(r['status'], r['watch']) for r in sent]}"):
                i = refused[0]
                gap = sent[i + 1]["time"] - sent[i]["time"]
                t.check(gap >= 1.95, f"Retry-After: 2 honoured: the next request came {gap:.2f} s "
                                     f"after the 429")

            # Down for 3 s: keep answering.
            seq = kube.last_seq(api)
            api.go_down(3.0)
            deadline = time.monotonic() + 2.5
            answered = 0
            while time.monotonic() < deadline:
                t.eq(query(srv, name("web", "prod")), web, "web while the API is down")
                answered += 1
                time.sleep(0.1)
            t.check(answered >= 10, f"queried while down ({answered})")
            kube.wait_for("the API back", api.is_up)
            arrives(api, srv, "after-down")
            t.check("retrying in" in srv.stderr_text(), "the backoff is logged")
            t.check(srv.alive(), "still running")


harness.main(__doc__, scenario)
