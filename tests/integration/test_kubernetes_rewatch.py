"""A dropped watch that was healthy is watched again at once, whatever failed before it.

Three Services watches fail with 500 first, so the backoff climbs to 3.2 s (0.8, 1.6, 3.2, each
with up to 50% jitter); then a watch opens. Each time the connection of a healthy watch is reset,
the next watch request must come at once, not after the doubled backoff (6.4 s or more) that an
old outage left behind:
- a quiet watch that stayed open over a second (no events), then reset;
- a watch that delivered an event, then reset; a Service created after the reset answers.
Times come from the fake API server's request log.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, wait_answer, wait_for  # noqa: E402

SVC = "/api/v1/services"
AT_ONCE = 3.0  # seconds; the backoff would be 6.4 s at least


def fail_three_watches(t, api):
    """Three failed Services watches (the backoff at 3.2 s), then an open one."""
    seq = kube.last_seq(api)
    api.fail_next(500, count=3, match=SVC, watch=True)
    api.close_watches(mode="reset", match=SVC)
    wait_for("three failed watches, then an open one",
             lambda: len([r for r in kube.requests_after(api, seq, SVC) if r["watch"]]) >= 4
             and api.open_watches(SVC), timeout=30)
    statuses = [r["status"] for r in kube.requests_after(api, seq, SVC) if r["watch"]]
    t.eq(statuses[:3], [500, 500, 500], "the three watches failed")


def rewatch_delay(api):
    """Resets the open Services watch; seconds until the next watch request."""
    seq = kube.last_seq(api)
    dropped = time.time()
    api.close_watches(mode="reset", match=SVC)
    request = wait_for("the next watch", lambda: [r for r in kube.requests_after(api, seq, SVC)
                                                  if r["watch"]], timeout=40)[0]
    return request["time"] - dropped


def scenario(t):
    with kube.fake_api() as api:
        with t.server(*kube.server_args(api)) as srv:
            api.wait_for_watches(SVC)

            fail_three_watches(t, api)
            wait_for("the watch open over a second",
                     lambda: any(time.time() - w["startedAt"] > 1.2
                                 for w in api.open_watches(SVC)), timeout=10)
            delay = rewatch_delay(api)
            t.check(delay < AT_ONCE, f"a quiet healthy watch is watched again at once: {delay:.1f} s")

            fail_three_watches(t, api)
            api.create(kube.service("event", "prod"))
            wait_answer(srv, name("event", "prod"), [kube.cluster_ip(api, "event", "prod")])
            delay = rewatch_delay(api)
            t.check(delay < AT_ONCE, f"a watch with events is watched again at once: {delay:.1f} s")
            api.create(kube.service("after", "prod"))
            wait_answer(srv, name("after", "prod"), [kube.cluster_ip(api, "after", "prod")],
                        timeout=AT_ONCE + 2)
            t.check("connection lost after" in srv.stderr_text(), "the drop is logged")


harness.main(__doc__, scenario)
