"""Case-insensitive matching; the answer keeps the question's case.

Loads examples/. Over UDP and TCP, names in mixed case still match (services, SRV names,
headless endpoints, pods, reverse names, the apex, dns-version, namespaces) and:
- the question section and the answer owner are exactly the name as sent (RFC 1034 4.1.3:
  the answer echoes the question; CoreDNS uses the query name as sent);
- RDATA names (SRV/PTR targets) compare case-insensitively (CoreDNS lowercases API names);
- a mixed-case missing name is still NXDOMAIN, a mixed-case ENT still NODATA.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

CASES = [
    ("API-Service.Production.SVC.Cluster.Local.", "A", "10.96.10.100"),
    ("api-service.production.svc.CLUSTER.LOCAL.", "A", "10.96.10.100"),
    ("Web-Service.production.svc.cluster.local.", "AAAA", "fd00:10:96::a65"),
    ("_HTTP._TCP.Api-Service.production.svc.cluster.local.", "SRV",
     "0 100 80 " + svc("api-service")),
    ("Postgres-0.POSTGRES.production.svc.cluster.local.", "A", "10.244.1.20"),
    ("10-244-1-5.PRODUCTION.Pod.cluster.local.", "A", "10.244.1.5"),
    ("100.10.96.10.IN-ADDR.ARPA.", "PTR", svc("api-service")),
    ("DNS-Version.Cluster.Local.", "TXT", '"1.1.0"'),
]


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            for name, qtype, rdata in CASES:
                res = srv.dig(name, qtype, tcp=tcp)
                t.expect(res, answer=[(name, qtype, rdata)])
                t.eq([rr.name for rr in res.answer], [name],
                     f"{res.query()}: answer owner in the question's case")
                t.eq([q[0] for q in res.question], [name], f"{res.query()}: question echoed as sent")

            res = srv.dig("Cluster.Local.", "SOA", tcp=tcp)
            if t.expect(res, answer_types={"SOA": 1}):
                t.eq(res.answer[0].name, "Cluster.Local.", f"{res.query()}: SOA owner case")

            t.nxdomain(srv.dig("NO-SUCH.Production.svc.cluster.local", "A", tcp=tcp))
            t.nodata(srv.dig("PRODUCTION.SVC.cluster.local", "A", tcp=tcp))
            t.nodata(srv.dig("API-SERVICE.production.svc.cluster.local", "TXT", tcp=tcp))
            rev = reverse_name("10.96.10.100").upper()
            t.expect(srv.dig(rev, "PTR", tcp=tcp), answer=[(rev, "PTR", svc("api-service"))])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
