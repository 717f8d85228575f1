"""ExternalName Service: CNAME <svc>.<ns>.svc.cluster.local -> spec.externalName.

db-service (examples/production-services.yaml) points at the managed database. Over UDP and TCP:
- CNAME query -> exactly one CNAME to rds-endpoint.ap-southeast-1.rds.amazonaws.com., TTL 30,
  AA=1, owner in the question's case;
- an A query -> NOERROR with just that CNAME (the target is outside the zone and clusterdns
  does not forward, README "What it answers"), so no traffic leaves loopback;
- names below it (an endpoint or _port._proto label) do not exist: NXDOMAIN.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

DB = svc("db-service")
TARGET = "rds-endpoint.ap-southeast-1.rds.amazonaws.com."


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            t.expect(srv.dig(DB, "CNAME", tcp=tcp), answer=[(DB, "CNAME", TARGET)], ttl=30)
            mixed = "DB-Service.Production.svc.cluster.local."
            t.expect(srv.dig(mixed, "CNAME", tcp=tcp), answer=[(mixed, "CNAME", TARGET)],
                     exact_case=False)
            res = srv.dig(mixed, "CNAME", tcp=tcp)
            t.eq([rr.name for rr in res.answer], [mixed], f"{res.query()}: owner keeps the case")
            t.expect(srv.dig(DB, "A", tcp=tcp), answer=[(DB, "CNAME", TARGET)], ttl=30)
            t.nxdomain(srv.dig("_http._tcp." + DB, "SRV", tcp=tcp))
            t.nxdomain(srv.dig("endpoint." + DB, "CNAME", tcp=tcp))


if __name__ == "__main__":
    harness.main(__doc__, scenario)
