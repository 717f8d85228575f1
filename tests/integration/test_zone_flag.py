"""--zone example.test: every name moves under the given zone; cluster.local becomes foreign.

Loads examples/ with --zone example.test. Over UDP and TCP:
- api-service.production.svc.example.test A -> 10.96.10.100 (AA=1), SRV targets, PTR targets
  and headless endpoint names end in .svc.example.test., pods live under .pod.example.test,
  dns-version.example.test TXT "1.1.0";
- example.test SOA: owner example.test., mname/rname under example.test.;
  NXDOMAIN/NODATA carry that SOA;
- the same names under cluster.local are REFUSED (out of zone).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

Z = "example.test"
API = svc("api-service", zone=Z)
PG = svc("postgres", zone=Z)


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--zone", Z) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731
            t.expect(d(API), answer=[(API, "A", "10.96.10.100")])
            t.expect(d("_http._tcp." + API, "SRV"),
                     answer=[("_http._tcp." + API, "SRV", "0 100 80 " + API)],
                     additional=[(API, "A", "10.96.10.100")])
            t.expect(d(reverse_name("10.96.10.100"), "PTR"),
                     answer=[(reverse_name("10.96.10.100"), "PTR", API)])
            t.expect(d(reverse_name("10.244.1.20"), "PTR"),
                     answer=[(reverse_name("10.244.1.20"), "PTR", "postgres-0." + PG)])
            t.expect(d("postgres-0." + PG), answer=[("postgres-0." + PG, "A", "10.244.1.20")])
            t.expect(d("10-244-1-5.production.pod.example.test"),
                     answer=[("10-244-1-5.production.pod.example.test", "A", "10.244.1.5")])
            t.expect(d("dns-version.example.test", "TXT"),
                     answer=[("dns-version.example.test", "TXT", '"1.1.0"')])
            res = d(Z, "SOA")
            if t.expect(res, answer_types={"SOA": 1}):
                t.eq(res.answer[0].name, Z + ".", f"{res.query()}: SOA owner")
                t.eq(res.answer[0].rdata.split()[:2], ["ns.dns.example.test.",
                                                       "hostmaster.example.test."],
                     f"{res.query()}: SOA mname/rname")
            t.nxdomain(d(svc("no-such-service", zone=Z)), zone=Z)
            t.nodata(d(API, "AAAA"), zone=Z)
            t.nodata(d("production.svc." + Z), zone=Z)
            t.refused(d(svc("api-service")))
            t.refused(d("cluster.local", "SOA"))


if __name__ == "__main__":
    harness.main(__doc__, scenario)
