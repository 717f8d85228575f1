"""Forwarding: names outside the zones go to the upstreams, through c-ares, with a real unbound.

Loads examples/ and forwards to unbound on loopback (tests/integration/upstream.py), serving
example.test and 192.0.2.0/24's reverse names. Over UDP and TCP:
- www.example.test A and AAAA answer with unbound's records; a name unbound does not have is
  NXDOMAIN; the DO bit (dig +dnssec) comes back set;
- cluster names still answer from the zone; a reverse name of an address the cluster does not know
  (192.0.2.10) falls through to the upstream (kubeadm's `fallthrough in-addr.arpa ip6.arpa`),
  while a ClusterIP's reverse name answers from the zone;
- an answer too big for a client without EDNS (512 bytes) comes back with TC and no records over
  UDP (not cut), and whole over TCP and with EDNS 4096 (c-ares fetched it over TCP from unbound);
- the cache: answers stay while the upstream is stopped, with their TTLs counted down and the
  client's case; NXDOMAIN is cached too, with the upstream's SOA;
- serve-stale (`--serve-stale 60`, RFC 8767): once an answer has expired and the upstream is
  stopped, it is served with TTL 30; without serve-stale, SERVFAIL;
- prefetch (`--prefetch 1`, an upstream that notes when it is asked): a hit with a tenth or less
  of its time left fetches the answer again before it expires, so it outlives the upstream's
  refusals past its first expiry, with a fresh TTL;
- `--upstream none` answers outside names REFUSED;
- failover and health checks (`--policy sequential`, a silent first upstream, unbound second):
  the first queries wait out the silent one and are answered by unbound; after two failures in a
  row the silent one is left aside (answers come at once) and asked ". NS" every half second;
- a stub domain (`--stub-domain example.test=ADDR`) takes the names below it to its own upstream,
  with or without a default upstream (which here never answers);
- the upstream stopped (connections refused): SERVFAIL at once; an upstream that never answers:
  SERVFAIL at the 5 s deadline, and cluster names answer meanwhile;
- `--max-concurrent 2 --workers 1` with an upstream that never answers: the third query in flight
  is REFUSED at once;
- an ExternalName to an outside name answers its CNAME and, resolved through the server's own
  chain as CoreDNS does, the target's records (A and AAAA, UDP and TCP); a target that does not
  exist gives the CNAME with NXDOMAIN (RFC 6604);
- glibc as a pod uses it: with a pod's resolv.conf (search path, ndots:5) bind-mounted in a private
  mount namespace (unshare --mount) and the server on port 53 of a loopback address, `getent
  hosts` resolves a short Service name, an ExternalName and an outside name;
- an upstream that is this server itself is refused at start-up with a clear message; two
  servers forwarding to each other: the second one to start detects the loop (its probe comes
  back, as with CoreDNS's loop plugin) and exits with a message naming it.
"""

import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402
from upstream import BIG_TXT, Scripted, Unbound, free_port, question_of, reply  # noqa: E402

WWW = "www.example.test."


def silent():
    """An upstream that never answers; its `asked` lists the questions it got."""
    return Scripted(lambda query: None)


def ttl(res):
    """The first answer record's TTL, None without one."""
    return res.answer[0].ttl if res.answer else None


def until(ask, done, timeout, interval=0.2):
    """Calls ask() until done(what it returned) or `timeout` seconds; returns its last result."""
    last = [None]

    def step():
        last[0] = ask()
        return done(last[0])
    harness.wait_until(step, timeout, interval)
    return last[0]


EXTERNAL = """\
apiVersion: v1
kind: Service
metadata: {name: web-ext, namespace: shop}
spec: {type: ExternalName, externalName: www.example.test}
---
apiVersion: v1
kind: Service
metadata: {name: gone-ext, namespace: shop}
spec: {type: ExternalName, externalName: nope.example.test}
"""


def glibc(t, tmp, manifests):
    """getent hosts through glibc's resolver, as a pod of namespace production would."""
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        print("note: no private mount namespace here; the glibc part is skipped", flush=True)
        return
    address = "127.0.0.93"
    resolv = tmp / "resolv.conf"
    resolv.write_text(f"nameserver {address}\nsearch production.svc.cluster.local "
                      "svc.cluster.local cluster.local\noptions ndots:5 attempts:1 timeout:3\n")
    with Unbound() as unbound, t.server("--manifests", EXAMPLES, "--manifests", manifests,
                                        "--upstream", unbound.address,
                                        listen=(f"{address}:53",)):
        for name, want in (("api-service", "10.96.10.100"),
                           ("api-service.production", "10.96.10.100"),
                           ("web-ext.shop", "192.0.2.10"),
                           ("www.example.test", "192.0.2.10")):
            ran = subprocess.run(["unshare", "--mount", "sh", "-c",
                                  f"mount --bind {resolv} /etc/resolv.conf && "
                                  f"getent ahostsv4 {name}"],
                                 capture_output=True, text=True, timeout=20)
            t.check(ran.returncode == 0 and want in ran.stdout,
                    f"getent ahostsv4 {name}: want {want}, exit {ran.returncode}, "
                    f"out {ran.stdout!r} err {ran.stderr[-200:]!r}")


def scenario(t):
    with Unbound() as unbound, t.server("--manifests", EXAMPLES, "--upstream",
                                        unbound.address) as srv:
        for tcp in (False, True):
            res = srv.dig(WWW, "A", tcp=tcp)
            t.expect(res, aa=None, answer=[(WWW, "A", "192.0.2.10")])
            t.expect(srv.dig(WWW, "AAAA", tcp=tcp), aa=None, answer=[(WWW, "AAAA", "2001:db8::10")])
            t.expect(srv.dig("nope.example.test.", tcp=tcp), rcode="NXDOMAIN", aa=None,
                     answer=[])
            res = srv.dig(WWW, "A", tcp=tcp, extra=["+dnssec"])
            t.check(res.edns is not None and "do" in res.edns["flags"],
                    f"{res.query()}: DO comes back set: {res.edns}")
            t.expect(srv.dig(svc("api-service"), tcp=tcp),
                     answer=[(svc("api-service"), "A", "10.96.10.100")])
            t.expect(srv.dig("10.2.0.192.in-addr.arpa.", "PTR", tcp=tcp), aa=None,
                     answer=[("10.2.0.192.in-addr.arpa.", "PTR", WWW)])
            t.expect(srv.dig("100.10.96.10.in-addr.arpa.", "PTR", tcp=tcp),
                     answer=[("100.10.96.10.in-addr.arpa.", "PTR", svc("api-service"))])
        small = srv.dig("big.example.test.", "TXT", extra=["+noedns", "+ignore"])
        t.expect(small, aa=None, tc=True, answer=[], edns=False)
        for extra, tcp in ((["+bufsize=4096"], False), (["+noedns"], True)):
            res = srv.dig("big.example.test.", "TXT", tcp=tcp, extra=extra)
            t.eq(len(res.answer), len(BIG_TXT), f"{res.query()}: every TXT record")
            t.check("tc" not in res.flags, f"{res.query()}: no TC")

    with Unbound() as unbound, t.server("--manifests", EXAMPLES, "--upstream", unbound.address,
                                        "--workers", "1") as srv:
        asked = time.monotonic()
        first = srv.dig(WWW)
        t.expect(first, aa=None, answer=[(WWW, "A", "192.0.2.10")])
        nx = srv.dig("nope.example.test.")
        t.expect(nx, rcode="NXDOMAIN", aa=None, answer=[])
        # Two seconds of the cached TTL go by (it counts whole seconds from the fetch).
        if first.answer:
            until(lambda: srv.dig(WWW), lambda res: (ttl(res) or 0) <= ttl(first) - 2, 10)
        unbound.stop()
        for tcp in (False, True):
            again = srv.dig("WWW.example.TEST.", tcp=tcp)
            gone = time.monotonic() - asked  # at least as long as the answer has been cached
            t.expect(again, aa=None, answer=[("www.example.test.", "A", "192.0.2.10")])
            t.check(again.answer and first.answer and
                    ttl(first) - gone - 1 <= ttl(again) <= ttl(first) - 2,
                    f"cached TTL counts down ({gone:.1f} s): {first.answer} then {again.answer}")
            t.check(again.answer and again.answer[0].name == "WWW.example.TEST.",
                    f"the client's case: {again.answer}")
            cached_nx = srv.dig("nope.example.test.", tcp=tcp)
            t.expect(cached_nx, rcode="NXDOMAIN", aa=None, answer=[])
            t.check(any(rr.type == "SOA" for rr in cached_nx.authority),
                    f"cached NXDOMAIN keeps the SOA: {cached_nx.authority}")

    with Unbound(ttl=1) as unbound, \
            t.server("--manifests", EXAMPLES, "--upstream", unbound.address, "--workers", "1",
                     "--serve-stale", "60") as stale, \
            t.server("--manifests", EXAMPLES, "--upstream", unbound.address,
                     "--workers", "1") as fresh:
        for srv in (stale, fresh):
            t.expect(srv.dig(WWW), aa=None, answer=[(WWW, "A", "192.0.2.10")])
        unbound.stop()
        # The 1 s TTL is kept for the 5 s minimum: answered from the cache until it expires
        # (`stale` kept it first, so it has expired by then too).
        expired = until(lambda: fresh.dig(WWW, extra=["+tries=1", "+time=5"]),
                        lambda res: res.rcode != "NOERROR", 15)
        t.expect(expired, rcode="SERVFAIL", aa=None, answer=[])
        res = stale.dig(WWW, extra=["+tries=1", "+time=5"])
        t.expect(res, aa=None, answer=[(WWW, "A", "192.0.2.10")])
        t.check(ttl(res) == 30, f"a stale answer has TTL 30: {res.answer}")

    with silent() as hole, Unbound() as unbound, \
            t.server("--manifests", EXAMPLES, "--upstream", hole.address, "--upstream",
                     unbound.address, "--policy", "sequential", "--workers", "1") as srv:
        # Each of these waits out the silent upstream: two failures in a row (the start-up loop
        # probe may have been one already).
        for name in ("www", "alias"):
            res = srv.dig(f"{name}.example.test.", extra=["+tries=1", "+time=5"])
            t.check(res.rcode == "NOERROR" and res.answer, f"failed over to unbound: {res}")
        started = time.monotonic()
        t.expect(srv.dig(WWW, "AAAA", extra=["+tries=1", "+time=5"]), aa=None,
                 answer=[(WWW, "AAAA", "2001:db8::10")])
        t.check(time.monotonic() - started < 0.5, "a failing upstream is left aside")

        def health_checks():
            return hole.asked.count((".", 2))  # ". NS"
        seen = health_checks()
        harness.wait_until(lambda: health_checks() >= seen + 2, 5)
        t.check(health_checks() >= seen + 2, f"health checks of the silent upstream "
                                             f"({health_checks() - seen} in 5 s)")

    # Prefetch, with an upstream that notes when it is asked: its second fetch of www, before
    # the first answer expired, can only be the prefetch (a miss would come after).
    fetches = []  # time.monotonic() of each
    answering = [True]

    def www_for_10s(query):
        if not answering[0] or question_of(query) != (WWW, 1):
            return reply(query, rcode=5)  # REFUSED: the loop probe, health checks, and at the end
        fetches.append(time.monotonic())
        return reply(query, [(WWW, "A", 10, socket.inet_aton("192.0.2.10"))])
    with Scripted(www_for_10s) as upstream, \
            t.server("--manifests", EXAMPLES, "--upstream", upstream.address, "--workers", "1",
                     "--prefetch", "1") as srv:
        t.expect(srv.dig(WWW), aa=None, answer=[(WWW, "A", "192.0.2.10")])
        # The first hit with a tenth of its time left (TTL 1 or 0) is answered and fetches again.
        late = until(lambda: srv.dig(WWW), lambda res: (ttl(res) or 0) <= 1, 15)
        t.check(late.answer and ttl(late) <= 1,
                f"still the first answer: {late!r}, fetches at {fetches}: {srv.describe()}")
        harness.wait_until(lambda: len(fetches) >= 2, 5)
        t.check(len(fetches) == 2 and fetches[1] < fetches[0] + 10,
                f"fetched again before the first answer expired: at {fetches}")
        answering[0] = False
        # A second after the prefetch (TTL 9 or less) the first answer has expired.
        res = until(lambda: srv.dig(WWW, extra=["+tries=1", "+time=5"]),
                    lambda res: (ttl(res) or 0) <= 9, 5)
        t.expect(res, aa=None, answer=[(WWW, "A", "192.0.2.10")])
        t.check(ttl(res) is not None and ttl(res) >= 7, f"the prefetched answer: {res.answer}")

    with t.server("--manifests", EXAMPLES, "--upstream", "none") as srv:
        t.refused(srv.dig(WWW))

    with Unbound() as unbound, silent() as hole:
        stub = f"example.test={unbound.address}"
        with t.server("--manifests", EXAMPLES, "--upstream", "none", "--stub-domain", stub) as srv:
            t.expect(srv.dig(WWW), aa=None, answer=[(WWW, "A", "192.0.2.10")])
            t.refused(srv.dig("www.example.com."))
        with t.server("--manifests", EXAMPLES, "--upstream", hole.address,
                      "--stub-domain", stub) as srv:
            started = time.monotonic()
            t.expect(srv.dig(WWW, "AAAA", tcp=True), aa=None,
                     answer=[(WWW, "AAAA", "2001:db8::10")])
            t.check(time.monotonic() - started < 1.0, "a stub domain's name skips the default")
            # It saw the loop probe at start-up, and health checks once the probe failed.
            t.check(not [q for q in hole.asked if q[0].endswith("example.test.")],
                    f"the default upstream saw nothing of the stub domain: {hole.asked}")

    # Upstreams that fail: SERVFAIL soon, never a client time-out.
    with t.server("--manifests", EXAMPLES, "--upstream", f"127.0.0.1:{free_port()}") as srv:
        started = time.monotonic()
        t.expect(srv.dig(WWW, extra=["+tries=1", "+time=5"]), rcode="SERVFAIL", aa=None,
                 answer=[])
        t.check(time.monotonic() - started < 1.5, "refused upstream: SERVFAIL at once")
    # Silent, but the start-up loop probe is refused: else it would hold a slot for 5 s.
    def silent_but_probe(query):
        return reply(query, rcode=5) if question_of(query)[0].endswith(".invalid.") else None
    with Scripted(silent_but_probe) as hole, \
            t.server("--manifests", EXAMPLES, "--upstream", hole.address, "--workers", "1",
                     "--max-concurrent", "2") as srv:
        slow_names = [(f"q{i}.example.test.", 1) for i in range(2)]
        with ThreadPoolExecutor(4) as pool:
            started = time.monotonic()
            slow = [pool.submit(srv.dig, name, "A", False, ["+tries=1", "+time=8"])
                    for name, _ in slow_names]
            # Both forwarded: they hold the two slots.
            harness.wait_until(lambda: all(q in hole.asked for q in slow_names), 5, 0.01)
            over = srv.dig("q3.example.test.", extra=["+tries=1", "+time=8"])
            t.expect(over, rcode="REFUSED", aa=None, answer=[])
            t.check(time.monotonic() - started < 1.5, "over the cap: REFUSED at once")
            t.expect(srv.dig(svc("api-service")), answer=[(svc("api-service"), "A", "10.96.10.100")])
            for f in slow:
                t.expect(f.result(), rcode="SERVFAIL", aa=None, answer=[])
            t.check(time.monotonic() - started < 7.0,
                    "silent upstream: SERVFAIL at the 5 s deadline, before the client gives up")
        t.check(all(q in hole.asked for q in slow_names),
                f"the silent upstream saw the queries: {hole.asked}")

    with tempfile.TemporaryDirectory() as tmp:
        manifests = Path(tmp) / "external.yaml"
        manifests.write_text(EXTERNAL)
        with Unbound() as unbound, t.server("--manifests", EXAMPLES, "--manifests", manifests,
                                            "--upstream", unbound.address) as srv:
            web = "web-ext.shop.svc.cluster.local."
            for tcp in (False, True):
                # Not authoritative: the last record is the upstream's.
                t.expect(srv.dig(web, "A", tcp=tcp), aa=False,
                         answer=[(web, "CNAME", WWW), (WWW, "A", "192.0.2.10")])
                t.expect(srv.dig(web, "AAAA", tcp=tcp), aa=False,
                         answer=[(web, "CNAME", WWW), (WWW, "AAAA", "2001:db8::10")])
                gone = "gone-ext.shop.svc.cluster.local."
                t.expect(srv.dig(gone, "A", tcp=tcp), rcode="NXDOMAIN",
                         answer=[(gone, "CNAME", "nope.example.test.")])
            t.expect(srv.dig(web, "CNAME"), answer=[(web, "CNAME", WWW)])
        glibc(t, Path(tmp), manifests)

    first, second = free_port(), free_port()
    with t.server("--manifests", EXAMPLES, "--upstream", f"127.0.0.1:{second}",
                  listen=(f"127.0.0.1:{first}",)) as srv:
        ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--upstream",
                                            f"127.0.0.1:{first}", "--listen",
                                            f"127.0.0.1:{second}"])
        t.check(ran.returncode == 1 and "loop detected" in ran.stderr and not ran.timed_out,
                f"a forwarding loop: exit {ran.returncode}, stderr {ran.stderr[-300:]!r}")
        t.check("listening on" not in ran.stdout, "a looping server never says it listens")
        t.check(srv.alive(), "the first server survives the loop")

    port = free_port()
    ran = subprocess.run([str(t.binary), "--manifests", str(EXAMPLES), "--listen",
                          f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=10)
    t.check(ran.returncode != 0 and "is this server itself" in ran.stderr,
            f"forwarding to itself: exit {ran.returncode}, stderr {ran.stderr[-300:]!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
