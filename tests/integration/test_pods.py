"""Pod records: a-b-c-d.<ns>.pod.cluster.local -> A a.b.c.d (CoreDNS `pods insecure`).

Loads examples/ (namespaces production, default, kube-system exist). Over UDP and TCP:
- 10-244-1-5.production.pod -> A 10.244.1.5 (a Pod has that IP) and 10-244-9-99.production.pod
  -> A 10.244.9.99 (insecure mode: any address), TTL 30, AA=1;
- AAAA on an IPv4 pod name: NODATA with the SOA;
- a namespace that does not exist: NXDOMAIN even for a valid address;
- a first label that is not a dashed IPv4 address (words, 3 or 5 parts, 300): NXDOMAIN;
- <ns>.pod.cluster.local and pod.cluster.local: NODATA (they exist as empty non-terminals).
With `--pods verified` only addresses a Pod of that namespace has (status.podIP/podIPs) answer,
others NXDOMAIN; with `--pods disabled` every pod name is NXDOMAIN.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES  # noqa: E402


def pod(label, ns="production"):
    return f"{label}.{ns}.pod.cluster.local."


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731
            t.expect(d(pod("10-244-1-5")), answer=[(pod("10-244-1-5"), "A", "10.244.1.5")],
                     ttl=30)
            t.expect(d(pod("10-244-9-99")), answer=[(pod("10-244-9-99"), "A", "10.244.9.99")])
            t.expect(d(pod("10-244-0-2", "kube-system")),
                     answer=[(pod("10-244-0-2", "kube-system"), "A", "10.244.0.2")])
            t.nodata(d(pod("10-244-1-5"), "AAAA"))
            t.nxdomain(d(pod("10-244-1-5", "no-such-namespace")))
            for bad in ("not-an-ip", "10-244-1", "10-244-1-5-6", "300-1-1-1", "a-b-c-d"):
                t.nxdomain(d(pod(bad)))
            t.nodata(d("production.pod.cluster.local."))
            t.nodata(d("pod.cluster.local."))

    # `pods verified` (CoreDNS): only an address some Pod of that namespace has.
    with t.server("--manifests", EXAMPLES, "--pods", "verified") as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731
            t.expect(d(pod("10-244-1-5")), answer=[(pod("10-244-1-5"), "A", "10.244.1.5")])
            t.expect(d(pod("10-244-2-8")), answer=[(pod("10-244-2-8"), "A", "10.244.2.8")])
            t.nxdomain(d(pod("10-244-9-99")))                       # no Pod has it
            t.nxdomain(d(pod("10-244-1-5", "kube-system")))          # a Pod of another namespace
            t.nodata(d("production.pod.cluster.local."))

    # `pods disabled`: no pod names at all.
    with t.server("--manifests", EXAMPLES, "--pods", "disabled") as srv:
        t.nxdomain(srv.dig(pod("10-244-1-5")))
        t.nxdomain(srv.dig(pod("10-244-9-99")))


if __name__ == "__main__":
    harness.main(__doc__, scenario)
