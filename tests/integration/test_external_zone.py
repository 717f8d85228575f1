"""External zones (CoreDNS's k8s_external / k8s_gateway), opt-in with --external-zone.

On the tutorial's Ingress main-ingress (hosts api.example.com and www.example.com) and
exposure.yaml's LoadBalancer Service api-public (status.loadBalancer.ingress 52.1.2.3):
- without --external-zone, api.example.com is not ours (REFUSED with no upstream);
- with --external-zone example.com and --external-address 203.0.113.10, the Ingress hosts answer
  A 203.0.113.10 (no status in the manifest), api-public.production.example.com answers its
  published 52.1.2.3; an Ingress whose status has an address answers that one; a Service with
  spec.externalIPs answers them; a wildcard host answers any one label under it;
- an unknown name in the zone is NXDOMAIN and an Ingress host asked for AAAA is NODATA, both with
  the zone's SOA; the apex answers SOA and NS; every answer is authoritative.
- the zone's name server ns.dns.example.com answers where the server listens (A 127.0.0.1, and
  in the additional section of the apex NS), as ns.dns.cluster.local does: the zone has its glue;
  dns.example.com above it exists (NODATA).
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES  # noqa: E402

MORE = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: production}
spec:
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web-service, port: {number: 80}}}}]}
    - host: "*.apps.example.com"
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web-service, port: {number: 80}}}}]}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: production}
spec:
  clusterIP: 10.96.77.1
  externalIPs: [192.0.2.44]
  ports: [{name: http, port: 80}]
"""


def addresses(res):
    return sorted(rr.rdata for rr in res.answer if rr.type in ("A", "AAAA"))


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        t.refused(srv.dig("api.example.com"))

    with tempfile.TemporaryDirectory() as d:
        more = Path(d) / "more.yaml"
        more.write_text(MORE)
        with t.server("--manifests", EXAMPLES, "--manifests", more, "--external-zone",
                      "example.com", "--external-address", "203.0.113.10") as srv:
            for host in ("api.example.com", "www.example.com"):
                t.expect(srv.dig(host), answer=[(host, "A", "203.0.113.10")], soa=None)
            lb = "api-public.production.example.com"
            t.expect(srv.dig(lb), answer=[(lb, "A", "52.1.2.3")])
            t.expect(srv.dig("shop.example.com"),
                     answer=[("shop.example.com", "A", "198.51.100.7")])
            t.expect(srv.dig("one.apps.example.com"),
                     answer=[("one.apps.example.com", "A", "198.51.100.7")])
            legacy = "legacy.production.example.com"
            t.expect(srv.dig(legacy), answer=[(legacy, "A", "192.0.2.44")])
            t.nxdomain(srv.dig("nope.example.com"), zone="example.com")
            t.nodata(srv.dig("api.example.com", "AAAA"), zone="example.com")
            t.nxdomain(srv.dig("api-service.production.example.com"), zone="example.com")
            soa = srv.dig("example.com", "SOA")
            t.check(soa.answer and soa.answer[0].type == "SOA" and soa.flags and "aa" in soa.flags,
                    f"the apex SOA: {soa.answer}")
            t.expect(srv.dig("example.com", "NS"),
                     answer=[("example.com", "NS", "ns.dns.example.com.")],
                     additional=[("ns.dns.example.com", "A", "127.0.0.1")])
            # The name server answers where the server listens, as ns.dns.cluster.local.
            t.expect(srv.dig("ns.dns.example.com"),
                     answer=[("ns.dns.example.com", "A", "127.0.0.1")])
            t.nodata(srv.dig("ns.dns.example.com", "AAAA"), zone="example.com")
            t.nodata(srv.dig("dns.example.com"), zone="example.com")
            api = harness.svc("api-service")
            t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
