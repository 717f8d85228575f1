"""The cache's options, as CoreDNS's cache plugin has them, with real dig and an upstream on
loopback that counts what it is asked:
- `cache: false`: nothing is kept; every query for the same name goes to the upstream (three
  digs, three questions there, coredns_forward_requests_total 3), however many clients ask at
  once, and /metrics lists no coredns_plugin_enabled{name="cache"}; prefetch or serve_stale
  with the cache off is refused (exit 2);
- the default keeps an answer: the second dig is not asked upstream;
- `cache_success_ttl: 2` caps an answer of TTL 300: served with TTL 2 at most and asked again
  once that has passed; `cache_denial_ttl: 1` caps an NXDOMAIN's SOA (negative TTL 60) the same;
- `cache_success_min_ttl: 30`: an answer of TTL 1 is still served from the cache seconds later
  (its TTL counted down to 0), the upstream asked once; `cache_denial_min_ttl` likewise;
- `cache_capacity: 32`: a hundred names asked leave at most 32 entries (coredns_cache_entries);
- a reload that turns the cache off takes effect without a restart.
"""

import socket
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port, wait_until  # noqa: E402
from upstream import Scripted, question_of, reply  # noqa: E402

SOA = bytes([2, *b"ns", 0, 1, ord("h"), 0]) + b"".join(
    v.to_bytes(4, "big") for v in (1, 3600, 600, 86400, 60))


def answering(ttl=300):
    """www.* answers 192.0.2.10 with `ttl`; every other name is NXDOMAIN, its SOA's negative TTL
    60 (TTL 3600)."""
    def answer(query):
        name, qtype = question_of(query)
        if name.startswith("www.") and qtype == 1:
            return reply(query, [(name, "A", ttl, socket.inet_aton("192.0.2.10"))])
        response = bytearray(reply(query, rcode=3))
        response[9] = 1  # NSCOUNT: the SOA below
        zone = name.split(".", 1)[1] if name.count(".") > 1 else name
        return bytes(response) + harness.encode_name(zone) + \
            (6).to_bytes(2, "big") + (1).to_bytes(2, "big") + (3600).to_bytes(4, "big") + \
            len(SOA).to_bytes(2, "big") + SOA
    return answer


def asked(up, name):
    return up.asked.count((name, 1))


def metrics(at):
    with urllib.request.urlopen(f"http://{at}/metrics", timeout=5) as response:
        return response.read().decode()


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def ttl(res):
    return res.answer[0].ttl if res.answer else None


def scenario(t):
    www = "www.example.test."
    at = f"127.0.0.1:{free_port()}"
    with Scripted(answering()) as up, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address, "--cache", "false",
                     "--metrics", at) as srv:
        for _ in range(3):
            t.expect(srv.dig(www), aa=None, answer=[(www, "A", "192.0.2.10")])
        t.eq(asked(up, www), 3, "cache off: every query goes to the upstream")
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: srv.dig("www.crowd.example.test."), range(8)))
        t.check(all(r.rcode == "NOERROR" for r in results), "the crowd is answered")
        t.eq(asked(up, "www.crowd.example.test."), 8, "cache off: no fetch is shared either")
        page = metrics(at)
        t.eq(metric_sum(page, "coredns_forward_requests_total"), float(len(up.asked)),
             "coredns_forward_requests_total counts every query the upstream got")
        enabled = [line for line in page.splitlines()
                   if line.startswith("coredns_plugin_enabled{")]
        t.check(any('name="forward"' in line for line in enabled) and
                not any('name="cache"' in line for line in enabled),
                f"the cache is not listed as enabled: "
                f"{enabled}")
    for flag in ("--prefetch", "--serve-stale"):
        ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--upstream", "127.0.0.1:1",
                                            "--cache", "false", flag, "10",
                                            "--listen", "127.0.0.1:0"])
        t.check(ran.returncode == 2 and "cache" in ran.stderr,
                f"{flag} with the cache off: exit 2 naming the cache: {ran.returncode} "
                f"{ran.stderr!r}")

    with Scripted(answering()) as up, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address) as srv:
        srv.dig(www)
        t.expect(srv.dig(www), aa=None, answer=[(www, "A", "192.0.2.10")])
        t.eq(asked(up, www), 1, "the default cache: the second query is a hit")

    # TTL caps: success 2 s, denial 1 s.
    with Scripted(answering()) as up, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address,
                     "--cache-success-ttl", "2", "--cache-denial-ttl", "1") as srv:
        res = srv.dig(www)
        t.expect(res, aa=None, answer=[(www, "A", "192.0.2.10")])
        t.check(ttl(res) is not None and ttl(res) <= 2, f"served TTL capped at 2: {res.answer}")
        t.check(wait_until(lambda: srv.dig(www) and asked(up, www) >= 2, 6),
                f"asked again once 2 s have passed: {asked(up, www)} times")
        nx = srv.dig("nope.example.test.")
        t.expect(nx, rcode="NXDOMAIN", aa=None, answer=[])
        t.check(nx.authority and all(rr.ttl <= 1 for rr in nx.authority),
                f"the denial's SOA TTL capped at 1: {nx.authority}")
        t.check(wait_until(lambda: srv.dig("nope.example.test.") and
                           asked(up, "nope.example.test.") >= 2, 5),
                "the denial is asked again once 1 s has passed")

    # TTL floors: an answer of TTL 1 (and a denial whose negative TTL is 60, floor irrelevant)
    # is kept 30 s.
    with Scripted(answering(ttl=1)) as up, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address,
                     "--cache-success-min-ttl", "30") as srv:
        t.expect(srv.dig(www), aa=None, answer=[(www, "A", "192.0.2.10")])
        started = time.monotonic()
        # Asked for 2.5 s, past the answer's own TTL (and past the 5 s default floor's half).
        wait_until(lambda: srv.dig(www) and time.monotonic() - started > 2.5, 10, interval=0.2)
        last = srv.dig(www)
        t.expect(last, aa=None, answer=[(www, "A", "192.0.2.10")])
        t.eq(ttl(last), 0, "served from the cache, its TTL counted down to 0")
        t.eq(asked(up, www), 1, "success's minimum TTL: asked once in 2.5 s")

    # Capacity: 100 names, at most 32 kept.
    at = f"127.0.0.1:{free_port()}"
    with Scripted(answering()) as up, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address, "--cache-capacity", "32",
                     "--metrics", at) as srv:
        for i in range(100):
            srv.dig(f"www.n{i}.example.test.")
        entries = metric_sum(metrics(at), "coredns_cache_entries")
        t.check(0 < entries <= 32, f"cache_capacity 32: {entries} entries")

    # A reload turns the cache off.
    with Scripted(answering()) as up, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text("cache: true\n")
        with t.server("--manifests", EXAMPLES, "--upstream", up.address, "--config",
                      config) as srv:
            srv.dig(www)
            srv.dig(www)
            t.eq(asked(up, www), 1, "cached before the reload")
            config.write_text("cache: false\n")
            wait_until(lambda: "reloaded" in srv.stderr_text(), 10)
            srv.dig(www)
            srv.dig(www)
            t.eq(asked(up, www), 3, f"after the reload every query goes upstream: "
                                    f"{srv.describe()}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
