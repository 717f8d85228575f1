"""A re-list after 410 Gone replaces the zone in one step: until the new list is complete the old
zone answers, whole and unchanged; then every change made while the source was away shows at
once, and /ready stays 200 throughout.

1,200 Services in `prod` (three pages of 500). While the Services watch is held up (its next
request stalls), the gap: `a-new` is created (it sorts first, into page 1), `zz-gone` deleted (a
list can only say so at its end), `m-changed` gets its port renamed (`_http._tcp` to `_web._tcp`),
and the history is compacted: the held watch gets 410 and the source lists again, each page of
the list held 1 s by the fake. A prober asks, round after round, `a-new`, then the renamed port,
then `zz-gone`, then three Services spread over the pages. The rounds must show the old zone
(`a-new` and `_web._tcp.m-changed` NXDOMAIN, `zz-gone` answering) while the slow list is under way,
then the new one, and never a mix: once a name of a round shows the new zone, the names after it
in that round and every later round show it too. The spread names never fail.
"""

import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from harness import free_port  # noqa: E402
from kube import name, query, wait_answer  # noqa: E402

COUNT = 1200
PAGE_DELAY = 1.0


def ready_status(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class RoundProber:
    """Asks the names of a round in order, again and again; each round is (time, [new?...]) where
    new? says whether that name answered as the new zone does (None: neither form)."""

    def __init__(self, srv, checks, ready_port):
        self.srv, self.checks, self.ready_port = srv, checks, ready_port
        self.rounds = []
        self.not_ready = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self._stop.is_set():
            seen = []
            for qname, is_old, is_new in self.checks:
                rcode, answer = query(self.srv, qname)
                seen.append(True if is_new(rcode, answer) else False if is_old(rcode, answer)
                            else (qname, rcode, answer))
            self.rounds.append((time.monotonic(), seen))
            n += 1
            if n % 20 == 0 and ready_status(self.ready_port) != 200:
                self.not_ready.append(time.monotonic())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def scenario(t):
    with kube.fake_api() as api:
        api.generate_services(COUNT, namespaces=1, prefix="s")  # gen-0/s-0 ... s-1199
        ns = "gen-0"
        for svc in ("m-changed", "zz-gone"):
            api.create(kube.service(svc, ns))
        ready_port = free_port()
        with t.server(*kube.server_args(api, "--ready", f"127.0.0.1:{ready_port}")) as srv:
            wait_answer(srv, name("zz-gone", ns), [kube.cluster_ip(api, "zz-gone", ns)])
            t.eq(ready_status(ready_port), 200, "ready after the first sync")
            changed_ip = kube.cluster_ip(api, "m-changed", ns)
            gone_ip = kube.cluster_ip(api, "zz-gone", ns)
            spread = [f"s-{i}" for i in (0, 700, 1199)]

            def answers(ip=None):
                return lambda rcode, answer: rcode == "NOERROR" and (ip is None or answer == [ip])

            def nxdomain(rcode, answer):
                return rcode == "NXDOMAIN"

            checks = [
                (name("a-new", ns), nxdomain, answers()),
                (f"_web._tcp.{name('m-changed', ns)}", nxdomain, answers(changed_ip)),
                (name("zz-gone", ns), answers(gone_ip), nxdomain),
            ] + [(name(s, ns), answers(), answers()) for s in spread]

            seq = kube.last_seq(api)
            with RoundProber(srv, checks, ready_port) as prober:
                # Hold the next Services watch, and make the changes while it is held.
                api.set_watch_410("http")
                api.stall(2.0, match="/api/v1/services", watch=True)
                api.close_watches(match="/api/v1/services")
                kube.wait_for("the held re-watch",
                              lambda: kube.requests_after(api, seq, "/api/v1/services"))
                api.stall(PAGE_DELAY, count=3, match="/api/v1/services", watch=False)
                api.create(kube.service("a-new", ns))
                obj = api.get("Service", ns, "m-changed")
                obj["spec"]["ports"][0]["name"] = "web"
                api.update(obj)
                api.delete("Service", ns, "zz-gone")
                api.compact()
                kube.wait_for("a Services list after the 410", lambda: [
                    r for r in kube.requests_after(api, seq, "/api/v1/services")
                    if not r["watch"]])
                list_seen = time.monotonic()
                wait_answer(srv, name("a-new", ns), [kube.cluster_ip(api, "a-new", ns)],
                            timeout=30)
                done = time.monotonic()
                time.sleep(0.2)  # a few rounds of the new zone
            t.eq(query(srv, name("zz-gone", ns))[0], "NXDOMAIN", "zz-gone deleted in the gap")
            t.eq(query(srv, f"_http._tcp.{name('m-changed', ns)}")[0], "NXDOMAIN",
                 "the old port name of m-changed")
            t.eq(query(srv, f"_web._tcp.{name('m-changed', ns)}"), ("NOERROR", [changed_ip]),
                 "the new port name of m-changed")

            lists = [r for r in kube.requests_after(api, seq, "/api/v1/services")
                     if not r["watch"]]
            t.check(len(lists) >= 3 and all(r["status"] == 200 for r in lists),
                    f"a paged re-list: {[(r['raw_query'], r['status']) for r in lists]}")
            t.check(any(r["watch"] and r["status"] == 410
                        for r in kube.requests_after(api, seq, "/api/v1/services")),
                    "the held watch got 410")

            odd = [(at, seen) for at, seen in prober.rounds
                   if any(not isinstance(s, bool) for s in seen)]
            t.eq(odd[:3], [], "every answer is the old zone's or the new one's")
            state = False
            mixed = []
            for at, seen in prober.rounds:
                for s in seen[:3]:
                    if state and s is False:
                        mixed.append((round(at - list_seen, 3), seen))
                    state = state or s is True
            t.eq(mixed[:3], [], "no round mixes the new zone with the old (times from the list)")
            old_during_list = [at for at, seen in prober.rounds
                               if list_seen + PAGE_DELAY < at < done and seen[:3] == [False] * 3]
            t.check(len(old_during_list) >= 3,
                    f"the old zone answered while the slow list was under way "
                    f"({len(old_during_list)} rounds; list {done - list_seen:.1f} s)")
            t.check(prober.rounds[-1][1][:3] == [True] * 3, f"the new zone at the end: "
                    f"{prober.rounds[-1][1]}")
            t.check(len(prober.rounds) > 50, f"the prober ran ({len(prober.rounds)} rounds)")
            t.eq(prober.not_ready, [], "/ready stayed 200 during the re-list")
            err = srv.stderr_text()
            t.check(re.search(r"services list: \d+ objects at resourceVersion \d+ in [0-9.]+ s, "
                              r"2 changed", err),
                    f"the re-list is logged with what it changed (a-new, m-changed): "
                    f"{err[-1000:]!r}")


harness.main(__doc__, scenario)
