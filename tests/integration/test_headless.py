"""Headless Services (clusterIP: None): per-endpoint A/AAAA, SRV and PTR from EndpointSlices.

Loads examples/ (postgres: hostnames postgres-0/1 ready, postgres-2 not ready) and
tests/data/headless-extra.yaml (namespace testing). Over UDP and TCP:
- A on the service -> every READY endpoint address, never a not-ready one; AAAA: NODATA;
- <hostname>.<svc> -> that endpoint; a not-ready or unknown hostname: NXDOMAIN;
- endpoints without hostname are named by their dashed address (10-244-4-7.cache..., IPv6
  fd00-10-244-8--1.v6only...), and an EndpointSlice endpoint with no conditions counts as ready;
- SRV _<port>._tcp.<svc> and on the bare name -> one record per ready endpoint (and per named port
  on the bare name), target = the endpoint's name, its address in additional;
- PTR for a ready endpoint address (IPv4 and ip6.arpa) -> the endpoint's name; not ready: NXDOMAIN;
- publishNotReadyAddresses: not-ready endpoints are published;
- a legacy v1 Endpoints object (no EndpointSlice) works the same way (subsets[].addresses only);
- a headless service with no ready endpoint: NXDOMAIN (Kubernetes DNS spec, CoreDNS).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, EXAMPLES, reverse_name, svc  # noqa: E402

PG = svc("postgres")
PG0, PG1, PG2 = "postgres-0." + PG, "postgres-1." + PG, "postgres-2." + PG
CACHE = svc("cache", "testing")
EARLY = svc("early", "testing")
LEGACY = svc("legacy", "testing")
V6ONLY = svc("v6only", "testing")


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--manifests", DATA / "headless-extra.yaml") as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731

            # postgres: StatefulSet-style hostnames.
            t.expect(d(PG), answer=[(PG, "A", "10.244.1.20"), (PG, "A", "10.244.2.21")], ttl=30)
            t.nodata(d(PG, "AAAA"))
            t.expect(d(PG0), answer=[(PG0, "A", "10.244.1.20")], ttl=30)
            t.expect(d(PG1), answer=[(PG1, "A", "10.244.2.21")])
            t.nodata(d(PG0, "AAAA"))
            t.nxdomain(d(PG2))                       # not ready
            t.nxdomain(d("postgres-9." + PG))        # no such endpoint
            t.nxdomain(d("10-244-1-20." + PG))       # it has a hostname, so no dashed name

            for owner in ("_postgres._tcp." + PG, PG):
                res = d(owner, "SRV")
                t.expect(res, answer=[(owner, "SRV", "0 50 5432 " + PG0),
                                      (owner, "SRV", "0 50 5432 " + PG1)],
                         additional=[(PG0, "A", "10.244.1.20"), (PG1, "A", "10.244.2.21")],
                         srv_weight=False, ttl=30)
                t.srv_weights(res, 2)
            t.nxdomain(d("_http._tcp." + PG, "SRV"))

            t.expect(d(reverse_name("10.244.1.20"), "PTR"),
                     answer=[(reverse_name("10.244.1.20"), "PTR", PG0)], ttl=30)
            t.expect(d(reverse_name("10.244.2.21"), "PTR"),
                     answer=[(reverse_name("10.244.2.21"), "PTR", PG1)])
            t.expect(d(reverse_name("10.244.3.22"), "PTR"), rcode="NXDOMAIN", answer=[])

            # cache: no hostnames -> dashed addresses; two named ports.
            e1, e2 = "10-244-4-7." + CACHE, "10-244-5-7." + CACHE
            t.expect(d(CACHE), answer=[(CACHE, "A", "10.244.4.7"), (CACHE, "A", "10.244.5.7")])
            t.expect(d(e1), answer=[(e1, "A", "10.244.4.7")])
            t.expect(d(e2), answer=[(e2, "A", "10.244.5.7")])
            res = d("_redis._tcp." + CACHE, "SRV")
            t.expect(res, answer=[("_redis._tcp." + CACHE, "SRV", "0 50 6379 " + e1),
                                  ("_redis._tcp." + CACHE, "SRV", "0 50 6379 " + e2)],
                     additional=[(e1, "A", "10.244.4.7"), (e2, "A", "10.244.5.7")],
                     srv_weight=False)
            t.srv_weights(res, 2)
            res = d(CACHE, "SRV")
            t.expect(res, answer=[(CACHE, "SRV", f"0 25 {port} {e}")
                                  for port in (6379, 26379) for e in (e1, e2)],
                     additional=[(e1, "A", "10.244.4.7"), (e2, "A", "10.244.5.7")],
                     srv_weight=False)
            t.srv_weights(res, 4)
            t.expect(d(reverse_name("10.244.4.7"), "PTR"),
                     answer=[(reverse_name("10.244.4.7"), "PTR", e1)])

            # publishNotReadyAddresses.
            t.expect(d(EARLY), answer=[(EARLY, "A", "10.244.6.1"), (EARLY, "A", "10.244.6.2")])
            t.expect(d("early-1." + EARLY), answer=[("early-1." + EARLY, "A", "10.244.6.2")])
            t.expect(d("_peer._tcp." + EARLY, "SRV"),
                     answer=[("_peer._tcp." + EARLY, "SRV", "0 50 7000 early-0." + EARLY),
                             ("_peer._tcp." + EARLY, "SRV", "0 50 7000 early-1." + EARLY)],
                     srv_weight=False)

            # legacy v1 Endpoints.
            l0, l1 = "legacy-0." + LEGACY, "10-244-7-2." + LEGACY
            t.expect(d(LEGACY), answer=[(LEGACY, "A", "10.244.7.1"), (LEGACY, "A", "10.244.7.2")])
            t.expect(d(l0), answer=[(l0, "A", "10.244.7.1")])
            t.expect(d(l1), answer=[(l1, "A", "10.244.7.2")])
            t.nxdomain(d("legacy-2." + LEGACY))   # notReadyAddresses
            t.expect(d("_http._tcp." + LEGACY, "SRV"),
                     answer=[("_http._tcp." + LEGACY, "SRV", "0 50 8080 " + l0),
                             ("_http._tcp." + LEGACY, "SRV", "0 50 8080 " + l1)],
                     additional=[(l0, "A", "10.244.7.1"), (l1, "A", "10.244.7.2")],
                     srv_weight=False)
            t.expect(d(reverse_name("10.244.7.1"), "PTR"),
                     answer=[(reverse_name("10.244.7.1"), "PTR", l0)])

            # No ready endpoint at all.
            t.nxdomain(d(svc("starting", "testing")))

            # IPv6 endpoints.
            v6name = "fd00-10-244-8--1." + V6ONLY
            t.expect(d(V6ONLY, "AAAA"), answer=[(V6ONLY, "AAAA", "fd00:10:244:8::1")])
            t.nodata(d(V6ONLY, "A"))
            t.expect(d(v6name, "AAAA"), answer=[(v6name, "AAAA", "fd00:10:244:8::1")])
            t.expect(d("_grpc._tcp." + V6ONLY, "SRV"),
                     answer=[("_grpc._tcp." + V6ONLY, "SRV", "0 100 9000 " + v6name)],
                     additional=[(v6name, "AAAA", "fd00:10:244:8::1")])
            rev = reverse_name("fd00:10:244:8::1")
            t.expect(d(rev, "PTR"), answer=[(rev, "PTR", v6name)])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
