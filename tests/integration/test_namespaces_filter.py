"""`namespaces` (CoreDNS's kubernetes option): only the listed namespaces are exposed.

Loads examples/ with `--namespaces production`: production's Services answer; Services of default
and kube-system are NXDOMAIN (built-in namespaces included), as are their namespace names and
pod names; the PTR of a ClusterIP in default is NXDOMAIN while one in production answers.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--namespaces", "production") as srv:
        api = svc("api-service")
        t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
        t.expect(srv.dig(reverse_name("10.96.10.100"), "PTR"),
                 answer=[(reverse_name("10.96.10.100"), "PTR", api)])
        t.nodata(srv.dig("production.svc.cluster.local."))
        t.nxdomain(srv.dig(svc("kubernetes", "default")))
        t.nxdomain(srv.dig(svc("kube-dns", "kube-system")))
        t.nxdomain(srv.dig("default.svc.cluster.local."))
        t.nxdomain(srv.dig("10-244-0-2.kube-system.pod.cluster.local."))
        t.nxdomain(srv.dig(reverse_name("10.96.0.1"), "PTR"), zone="in-addr.arpa")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
