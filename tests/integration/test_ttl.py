"""TTLs: 30 by default, --ttl 5 applies to every record the Services produce.

For the default and for --ttl 5, over UDP and TCP, the TTL is checked on: a ClusterIP A, an SRV
answer and its additional A, a PTR, an ExternalName CNAME, headless A records, a pod A record,
and the SOA in the authority section of an NXDOMAIN (CoreDNS: SOA TTL = min(ttl, 300)).
dns-version TXT is not checked (CoreDNS pins it to 28800).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

API = svc("api-service")


def check_ttls(t, srv, ttl):
    for tcp in (False, True):
        d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731
        for name, qtype in ((API, "A"), ("_http._tcp." + API, "SRV"),
                            (reverse_name("10.96.10.100"), "PTR"), (svc("db-service"), "CNAME"),
                            (svc("postgres"), "A"), ("postgres-0." + svc("postgres"), "A"),
                            ("10-244-1-5.production.pod.cluster.local", "A"),
                            (svc("web-service"), "AAAA")):
            res = d(name, qtype)
            t.expect(res, answer_types=None)
            t.check(res.answer and all(rr.ttl == ttl for rr in res.answer),
                    f"{res.query()}: answer TTLs {[rr.ttl for rr in res.answer]}, expected {ttl}")
            if qtype == "SRV":
                t.check(res.additional and all(rr.ttl == ttl for rr in res.additional),
                        f"{res.query()}: additional TTLs {[rr.ttl for rr in res.additional]}, "
                        f"expected {ttl}")
        res = d(svc("no-such-service"))
        t.nxdomain(res)
        t.eq([rr.ttl for rr in res.authority], [min(ttl, 300)], f"{res.query()}: SOA TTL")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        check_ttls(t, srv, 30)
    with t.server("--manifests", EXAMPLES, "--ttl", "5") as srv:
        check_ttls(t, srv, 5)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
