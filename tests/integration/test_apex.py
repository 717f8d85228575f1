"""Zone apex and negative answers: SOA, NS, dns-version, NXDOMAIN vs NODATA.

Loads examples/. Over UDP and TCP:
- cluster.local SOA -> one SOA (mname ns.dns.cluster.local., rname hostmaster.cluster.local.);
  NS -> NS records owned by cluster.local. with in-zone targets; A/AAAA at the apex: NODATA;
- dns-version.cluster.local TXT -> "1.1.0"; another type there: NODATA;
- empty non-terminals are NOERROR/NODATA: svc.cluster.local, pod.cluster.local, an existing
  namespace (production.svc, kube-system.svc, default.svc), _tcp.<svc> and _udp.kube-dns;
- an existing name with a type it lacks (SOA/NS below the apex, TXT on a service): NODATA;
- NXDOMAIN: a missing service, a missing namespace, a name whose last label before the zone is
  neither svc nor pod, too many labels below a service;
- every NXDOMAIN/NODATA is AA=1 and carries exactly one SOA (owner cluster.local.) in authority.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

ZONE = "cluster.local."
API = svc("api-service")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731

            res = d(ZONE, "SOA")
            if t.expect(res, answer_types={"SOA": 1}):
                rr = res.answer[0]
                t.eq(rr.name, ZONE, f"{res.query()}: SOA owner")
                t.eq(rr.rdata.split()[:2], ["ns.dns.cluster.local.", "hostmaster.cluster.local."],
                     f"{res.query()}: SOA mname/rname")
                t.eq(len(rr.rdata.split()), 7, f"{res.query()}: SOA has 7 fields")

            res = d(ZONE, "NS")
            t.expect(res)
            t.check(res.answer and all(rr.type == "NS" and rr.name == ZONE
                                       and rr.rdata.lower().endswith("." + ZONE)
                                       for rr in res.answer),
                    f"{res.query()}: expected NS records at the apex with in-zone targets, "
                    f"got {res.answer}")
            t.nodata(d(ZONE, "A"))
            t.nodata(d(ZONE, "AAAA"))

            t.expect(d("dns-version.cluster.local", "TXT"),
                     answer=[("dns-version.cluster.local", "TXT", '"1.1.0"')])
            t.nodata(d("dns-version.cluster.local", "A"))

            for ent in ("svc.cluster.local", "pod.cluster.local", "production.svc.cluster.local",
                        "kube-system.svc.cluster.local", "default.svc.cluster.local",
                        "_tcp." + API, "_udp.kube-dns.kube-system.svc.cluster.local"):
                t.nodata(d(ent, "A"))
                t.nodata(d(ent, "AAAA"))
            t.nodata(d("svc.cluster.local", "NS"))
            t.nodata(d("production.svc.cluster.local", "NS"))
            t.nodata(d(API, "SOA"))
            t.nodata(d(API, "NS"))
            t.nodata(d(API, "TXT"))

            for missing in (svc("no-such-service"), "no-such-namespace.svc.cluster.local",
                            svc("api-service", "no-such-namespace"), "foo.cluster.local",
                            "foo.svc.cluster.local.", "a.b.c." + API):
                t.nxdomain(d(missing, "A"))
            t.nxdomain(d(svc("no-such-service"), "TXT"))


if __name__ == "__main__":
    harness.main(__doc__, scenario)
