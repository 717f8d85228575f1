"""busybox nslookup (what `kubectl run -it --image=busybox -- nslookup` runs) against clusterdns.

Starts clusterdns on 127.0.0.1 (and [::1] when available) with examples/ and runs the real
`busybox nslookup NAME 127.0.0.1:PORT` (it asks A and AAAA):
- api-service.production.svc.cluster.local -> exit 0, "Name:/Address:" 10.96.10.100, and no
  "Non-authoritative answer" (AA=1);
- web-service (dual-stack) -> both 10.96.10.101 and fd00:10:96::a65;
- postgres (headless) -> the two ready pod addresses;
- a missing service -> exit 1, "** server can't find ...: NXDOMAIN";
- -type=SRV, -type=TXT (dns-version), a reverse lookup of 10.96.10.100, and the same A lookup
  through [::1]:PORT.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

API = "api-service.production.svc.cluster.local"


def scenario(t):
    v6 = harness.have_ipv6_loopback()
    listen = ("127.0.0.1:0", "[::1]:0") if v6 else ("127.0.0.1:0",)
    with t.server("--manifests", EXAMPLES, listen=listen) as srv:
        r = srv.nslookup(API)
        t.eq(r.exit_code, 0, f"{r.query()}: exit code\n{r.output}")
        t.eq(r.addresses, [(API, "10.96.10.100")], f"{r.query()}: addresses\n{r.output}")
        t.check("Non-authoritative" not in r.output, f"{r.query()}: answer not authoritative\n"
                                                     f"{r.output}")
        t.eq(r.errors, [], f"{r.query()}: errors\n{r.output}")

        web = "web-service.production.svc.cluster.local"
        r = srv.nslookup(web)
        t.eq(sorted(r.addresses), [(web, "10.96.10.101"), (web, "fd00:10:96::a65")],
             f"{r.query()}: addresses\n{r.output}")

        pg = "postgres.production.svc.cluster.local"
        r = srv.nslookup(pg)
        t.eq(sorted(r.addresses), [(pg, "10.244.1.20"), (pg, "10.244.2.21")],
             f"{r.query()}: addresses\n{r.output}")

        missing = "no-such-service.production.svc.cluster.local"
        r = srv.nslookup(missing)
        t.check(r.exit_code == 1, f"{r.query()}: expected exit 1, got {r.exit_code}\n{r.output}")
        t.check((missing, "NXDOMAIN") in r.errors, f"{r.query()}: expected NXDOMAIN\n{r.output}")

        name = "_http._tcp.api-service.production.svc.cluster.local"
        r = srv.nslookup(name, "SRV")
        t.eq(r.records, [(name, "service", "0 100 80 api-service.production.svc.cluster.local")],
             f"{r.query()}: SRV\n{r.output}")
        r = srv.nslookup("dns-version.cluster.local", "TXT")
        t.eq(r.records, [("dns-version.cluster.local", "text", '"1.1.0"')],
             f"{r.query()}: TXT\n{r.output}")
        r = srv.nslookup("10.96.10.100")
        t.eq(r.records, [("100.10.96.10.in-addr.arpa", "name", svc("api-service").rstrip("."))],
             f"{r.query()}: reverse\n{r.output}")

        if v6:
            r = srv.nslookup(API, addr=srv.addrs[1])
            t.eq((r.exit_code, r.addresses), (0, [(API, "10.96.10.100")]),
                 f"{r.query()}: over [::1]\n{r.output}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
