"""410 Gone: the kubernetes source lists again and swaps the result in without a gap.

While a prober queries 30 Services without pause (raw UDP, a few thousand queries), the
Services watch is made too old three ways, each while the source is not watching (its next watch
request stalls) so changes happen it can only learn from a new list: `late-N` created, `gone-N`
deleted:
- HTTP 410 on the watch request (history compacted);
- a 200 watch whose only event is ERROR with a 410 Status (the watch cache's form);
- ERROR 410 in-band on the open watch (expire_watches).
Each time: a list follows, `late-N` answers, `gone-N` is NXDOMAIN, and no probed name ever
failed. Then an expired continue token: with 1,200 Services and every token expired, page 2 gets
410 and the source lists again in one piece (limit=0), then serves all of them.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer  # noqa: E402


def make_stale(t, api, srv, form, round_no):
    """Stall the next Services watch, change things meanwhile, compact, let the watch go."""
    gone = f"gone-{round_no}"
    api.create(kube.service(gone, "prod"))
    wait_answer(srv, name(gone, "prod"), [kube.cluster_ip(api, gone, "prod")])
    seq = kube.last_seq(api)
    if form == "in-band":
        api.delete("Service", "prod", gone)
        api.create(kube.service(f"late-{round_no}", "prod"))
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"p{round_no}", "namespace": "prod"}})
        api.compact()
        api.expire_watches(match="/api/v1/services")
    else:
        api.set_watch_410("http" if form == "http" else "event")
        api.stall(1.5, match="/api/v1/services", watch=True)
        api.close_watches(match="/api/v1/services")
        kube.wait_for("the stalled re-watch", lambda: kube.requests_after(
            api, seq, "/api/v1/services"))
        api.delete("Service", "prod", gone)
        api.create(kube.service(f"late-{round_no}", "prod"))
        api.compact()
    late_ip = kube.cluster_ip(api, f"late-{round_no}", "prod")
    wait_answer(srv, name(f"late-{round_no}", "prod"), [late_ip])
    t.eq(query(srv, name(gone, "prod"))[0], "NXDOMAIN", f"{form}: {gone} deleted meanwhile")
    # The new name may come through the watch before the 410 does: wait for the list itself.
    kube.wait_for(f"{form}: a Services list after the 410", lambda: [
        r for r in kube.requests_after(api, seq, "/api/v1/services") if not r["watch"]])
    after = kube.requests_after(api, seq, "/api/v1/services")
    relisted = [r for r in after if not r["watch"]]
    t.check(relisted and relisted[0]["status"] == 200,
            f"{form}: a new Services list after the 410: "
            f"{[(r['raw_query'], r['status']) for r in after]}")
    if form == "http":
        t.check(any(r["watch"] and r["status"] == 410 for r in after),
                f"{form}: the watch request got HTTP 410")


def relists(t, api):
    for i in range(30):
        api.create(kube.service(f"s{i}", "prod"))
    with t.server(*kube.server_args(api)) as srv:
        probed = [name(f"s{i}", "prod") for i in range(30)]
        with kube.Prober(srv, probed) as prober:
            for round_no, form in enumerate(("http", "event", "in-band")):
                make_stale(t, api, srv, form, round_no)
        t.check(prober.queries > 100, f"the prober ran ({prober.queries} queries)")
        t.eq(prober.bad[:5], [], "no probed name failed during the re-lists")
        err = srv.stderr_text()
        t.check("410" in err and "listing again" in err, f"the re-list is logged: {err[-800:]!r}")


def expired_continue(t):
    with kube.fake_api() as api:
        api.generate_services(1200, namespaces=4)
        api.expire_continue()
        with t.server(*kube.server_args(api)) as srv:
            for i in (0, 599, 1199):
                t.eq(query(srv, name(f"svc-{i}", f"gen-{i % 4}"))[0], "NOERROR",
                     f"svc-{i} after the list in one piece")
            lists = [r for r in api.requests(path="/api/v1/services") if not r["watch"]]
            shape = [("continue" in r["query"], r["query"].get("limit", [""])[0], r["status"])
                     for r in lists]
            t.eq(shape[:3], [(False, "500", 200), (True, "500", 410), (False, "0", 200)],
                 "page 1, page 2 expired, the whole list")
            t.check("listing again in one piece" in srv.stderr_text(),
                    "the fallback is logged")


def scenario(t):
    with kube.fake_api() as api:
        relists(t, api)
    expired_continue(t)


harness.main(__doc__, scenario)
