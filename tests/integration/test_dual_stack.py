"""Dual-stack Service: A and AAAA from spec.clusterIPs, SRV additionals, IPv6 reverse (ip6.arpa).

web-service (examples/production-services.yaml) has clusterIPs 10.96.10.101 and fd00:10:96::a65
and one EndpointSlice per family. Over UDP and TCP:
- A -> 10.96.10.101 and AAAA -> fd00:10:96::a65 (one record each, TTL 30, AA=1);
- _http._tcp SRV -> one record for port 80 (weight as CoreDNS: floor(100/N), N counting both
  clusterIPs), additional holds both the A and the AAAA of the target;
- PTR on the 32-nibble ip6.arpa name of the IPv6 clusterIP -> web-service.production.svc...,
  also through `dig -x`; on the IPv4 one likewise; an unknown IPv6 address: NXDOMAIN;
- PTR for an IPv6 endpoint address -> its dashed name (CoreDNS: ':' -> '-', no expansion).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

WEB = svc("web-service")
V6 = "fd00:10:96::a65"


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731
            t.expect(d(WEB), answer=[(WEB, "A", "10.96.10.101")], ttl=30)
            t.expect(d(WEB, "AAAA"), answer=[(WEB, "AAAA", V6)], ttl=30)

            res = d("_http._tcp." + WEB, "SRV")
            t.expect(res, answer=[("_http._tcp." + WEB, "SRV", "0 50 80 " + WEB)],
                     additional=[(WEB, "A", "10.96.10.101"), (WEB, "AAAA", V6)],
                     srv_weight=False)
            t.srv_weights(res, 2, 1)

            rev6 = reverse_name(V6)
            t.check(rev6.count(".") == 34 and rev6.endswith(".ip6.arpa."), f"nibble name {rev6}")
            t.expect(d(rev6, "PTR"), answer=[(rev6, "PTR", WEB)], ttl=30)
            t.expect(d(reverse_name("10.96.10.101"), "PTR"),
                     answer=[(reverse_name("10.96.10.101"), "PTR", WEB)])
            t.expect(d(reverse_name("fd00:10:96::ffff"), "PTR"), rcode="NXDOMAIN", answer=[])

            rev_ep = reverse_name("fd00:10:244:1::7")
            t.expect(d(rev_ep, "PTR"),
                     answer=[(rev_ep, "PTR", "fd00-10-244-1--7." + WEB)])

        res = srv.dig(None, extra=["-x", V6])
        t.expect(res, answer=[(reverse_name(V6), "PTR", WEB)])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
