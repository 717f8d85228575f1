"""loadbalance: the A and AAAA records of every answer come in another order from one to the next.

On by default, as kubeadm's Corefile ends with CoreDNS's `loadbalance`. A dual-stack headless
Service with 8 IPv4 and 4 IPv6 endpoints (tests/data/loadbalance.yaml), asked with real `dig`:
- 800 A queries over UDP: every answer holds the 8 addresses in one cyclic order, and each
  address comes first between 60 and 140 times (a fixed order gives one address all 800); the
  same over TCP; 400 AAAA queries: each of the 4 first between 60 and 140 times;
- an outside name with 6 A records, forwarded to a real unbound on loopback
  (tests/integration/upstream.py) and then served from the cache: each address comes first
  between 60 and 140 times in 600 answers; the same behind an ExternalName's CNAME (a chase),
  where the CNAME stays first in every answer;
- /metrics lists coredns_plugin_enabled{name="loadbalance"};
- `loadbalance: false` in the config: the zone's and the cache's answers keep one order every
  time, and /metrics does not list it; `--loadbalance false` on the command line does the same;
- a reload switches it on and off.
"""

import re
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, DigResult, free_port, wait_until  # noqa: E402
from upstream import Unbound  # noqa: E402

MANIFEST = DATA / "loadbalance.yaml"
EIGHT = "eight.lb.svc.cluster.local."
V4 = [f"10.244.8.{i}" for i in range(1, 9)]
V6 = [f"fd00:10:244:8::{i}" for i in range(1, 5)]
POOL = [f"192.0.2.{i}" for i in range(101, 107)]
POOL_DATA = [f"pool.example.test. 300 IN A {a}" for a in POOL]
OUTSIDE = "outside.lb.svc.cluster.local."


def dig_many(srv, name, qtype, count, tcp=False):
    """`count` answers to NAME QTYPE from one dig run in batch mode (-f): each query its own
    socket, so they spread over the workers as separate clients' do."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as batch:
        batch.write(f"{name} {qtype}\n" * count)
        batch.flush()
        cmd = ["dig", f"@{srv.host}", "-p", str(srv.port), "-f", batch.name, "+tries=3",
               "+time=2"] + (["+tcp"] if tcp else [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    chunks = [c for c in re.split(r"(?m)^; <<>> DiG", out) if ";; Got answer:" in c]
    return [DigResult(cmd, 0, c) for c in chunks]


def orders(results, qtype):
    return [tuple(rr.rdata for rr in r.answer if rr.type == qtype) for r in results]


def rotations_of(order):
    return {order[i:] + order[:i] for i in range(len(order))}


def check_spread(t, results, qtype, addresses, what):
    """Every answer holds `addresses` in one cyclic order; each comes first 60-140 times per 100
    answers each."""
    got = orders(results, qtype)
    expected = len(addresses) * 100
    if not t.eq(len(got), expected, f"{what}: answers"):
        return
    t.check(all(r.rcode == "NOERROR" for r in results), f"{what}: every answer NOERROR")
    common = Counter(got).most_common(1)[0][0]  # not the first: it may be the odd one
    t.eq(sorted(set(common)), sorted(addresses), f"{what}: the addresses")
    cyclic = rotations_of(common)
    odd = [r for r, o in zip(results, got) if o not in cyclic]
    # dig's whole text of the first odd one: an answer without records was seen once in CI.
    t.check(not odd,
            f"{what}: every answer is a rotation of {common}; not: "
            f"{[o for o in got if o not in cyclic][:3]}; the first as dig printed it:\n"
            + (odd[0].text if odd else ""))
    first = Counter(o[0] for o in got if o)
    t.check(all(60 <= first[a] <= 140 for a in addresses),
            f"{what}: each address first 60-140 times of {expected}: {dict(first)}")


def check_fixed(t, results, qtype, what):
    got = orders(results, qtype)
    t.check(len(got) > 0 and len(got[0]) > 1 and len(set(got)) == 1,
            f"{what}: one order every time, got {len(set(got))}: {sorted(set(got))[:3]}")


def enabled_plugins(at):
    with urllib.request.urlopen(f"http://{at}/metrics", timeout=5) as response:
        text = response.read().decode()
    return set(re.findall(r'coredns_plugin_enabled\{[^}]*name="([^"]+)"[^}]*\} 1', text))


def on_by_default(t, up):
    at = f"127.0.0.1:{free_port()}"
    with t.server("--manifests", MANIFEST, "--upstream", up.address, "--metrics", at) as srv:
        check_spread(t, dig_many(srv, EIGHT, "A", 800), "A", V4, "headless A over UDP")
        check_spread(t, dig_many(srv, EIGHT, "A", 800, tcp=True), "A", V4, "headless A over TCP")
        check_spread(t, dig_many(srv, EIGHT, "AAAA", 400), "AAAA", V6, "headless AAAA")
        check_spread(t, dig_many(srv, "pool.example.test.", "A", 600), "A", POOL,
                     "forwarded, then cached, A")
        results = dig_many(srv, OUTSIDE, "A", 600)
        check_spread(t, results, "A", POOL, "an ExternalName's target, chased")
        t.check(all(r.answer and r.answer[0].type == "CNAME" for r in results),
                "the CNAME stays first in every answer")
        t.check("loadbalance" in enabled_plugins(at),
                f"coredns_plugin_enabled names loadbalance: {sorted(enabled_plugins(at))}")


def off(t, up):
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(f"manifests: [{MANIFEST}]\nloadbalance: false\n")
        at = f"127.0.0.1:{free_port()}"
        with t.server("--config", config, "--upstream", up.address, "--metrics", at) as srv:
            check_fixed(t, dig_many(srv, EIGHT, "A", 100), "A", "loadbalance: false, headless A")
            check_fixed(t, dig_many(srv, EIGHT, "AAAA", 50), "AAAA",
                        "loadbalance: false, headless AAAA")
            check_fixed(t, dig_many(srv, "pool.example.test.", "A", 100), "A",
                        "loadbalance: false, forwarded A")
            check_fixed(t, dig_many(srv, OUTSIDE, "A", 100), "A",
                        "loadbalance: false, an ExternalName's target")
            t.check("loadbalance" not in enabled_plugins(at),
                    f"off: not in coredns_plugin_enabled: {sorted(enabled_plugins(at))}")
    with t.server("--manifests", MANIFEST, "--loadbalance", "false") as srv:
        check_fixed(t, dig_many(srv, EIGHT, "A", 100, tcp=True), "A",
                    "--loadbalance false, headless A over TCP")


def reload(t):
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(f"upstream: [none]\nmanifests: [{MANIFEST}]\nloadbalance: false\n")
        at = f"127.0.0.1:{free_port()}"
        with t.server("--config", config, "--metrics", at) as srv:
            check_fixed(t, dig_many(srv, EIGHT, "A", 50), "A", "before the reload, off")
            config.write_text(f"upstream: [none]\nmanifests: [{MANIFEST}]\nloadbalance: true\n")
            t.check(wait_until(lambda: "loadbalance" in enabled_plugins(at), 10),
                    f"a reload turns it on: {srv.describe()}")
            check_spread(t, dig_many(srv, EIGHT, "A", 800), "A", V4, "after the reload, on")
            config.write_text(f"upstream: [none]\nmanifests: [{MANIFEST}]\nloadbalance: false\n")
            t.check(wait_until(lambda: "loadbalance" not in enabled_plugins(at), 10),
                    f"a reload turns it off: {srv.describe()}")
            check_fixed(t, dig_many(srv, EIGHT, "A", 50), "A", "after the reload, off")


def scenario(t):
    with Unbound(extra_data=POOL_DATA) as up:
        on_by_default(t, up)
        off(t, up)
    reload(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
