"""ClusterIP, NodePort and LoadBalancer Services: A, SRV (named ports) and PTR answers.

Loads every file in examples/ and checks, over UDP and TCP:
- A <svc>.<ns>.svc.cluster.local -> the clusterIP (NodePort/LoadBalancer too, never the node port
  or the load balancer's public address), TTL 30, AA=1; AAAA/TXT on an IPv4-only service: NODATA
  with the SOA in authority; a missing service: NXDOMAIN with the SOA.
- SRV _<port>._<proto>.<svc> -> "0 100 <port> <svc>." with the service's A in additional; the
  protocol label must match (kube-dns: _dns._udp and _dns-tcp._tcp, but not _dns._tcp); an
  unknown port name: NXDOMAIN; SRV on the bare name: one record per named port (CoreDNS weight
  floor(100/N)).
- PTR for each clusterIP -> <svc>.<ns>.svc.cluster.local.; for an endpoint IP of a non-headless
  Service -> <dashed-ip>.<svc>... (CoreDNS); an unknown address: NXDOMAIN.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

API = svc("api-service")
ADMIN = svc("admin-service")
KUBE_DNS = svc("kube-dns", "kube-system")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A": srv.dig(name, qtype, tcp=tcp)  # noqa: E731

            t.expect(d(API), answer=[(API, "A", "10.96.10.100")], ttl=30)
            t.nodata(d(API, "AAAA"))
            t.nodata(d(API, "TXT"))
            t.nodata(d(API, "PTR"))
            t.nxdomain(d(svc("no-such-service")))
            t.nxdomain(d(svc("no-such-service"), "SRV"))

            # SRV for a named port, with the target's address in additional.
            t.expect(d("_http._tcp." + API, "SRV"),
                     answer=[("_http._tcp." + API, "SRV", "0 100 80 " + API)],
                     additional=[(API, "A", "10.96.10.100")], ttl=30)
            t.expect(d(API, "SRV"), answer=[(API, "SRV", "0 100 80 " + API)])
            t.nxdomain(d("_https._tcp." + API, "SRV"))   # no port named https
            t.nxdomain(d("_http._udp." + API, "SRV"))    # http is TCP

            # Two named ports: SRV per port on the bare name, one A in additional.
            res = d(ADMIN, "SRV")
            t.expect(res, answer=[(ADMIN, "SRV", "0 50 80 " + ADMIN),
                                  (ADMIN, "SRV", "0 50 9090 " + ADMIN)],
                     additional=[(ADMIN, "A", "10.96.10.102")], srv_weight=False)
            t.srv_weights(res, 2)
            t.expect(d("_metrics._tcp." + ADMIN, "SRV"),
                     answer=[("_metrics._tcp." + ADMIN, "SRV", "0 100 9090 " + ADMIN)])
            t.expect(d(ADMIN), answer=[(ADMIN, "A", "10.96.10.102")])

            # NodePort and LoadBalancer answer with their clusterIP.
            t.expect(d(svc("api-nodeport")), answer=[(svc("api-nodeport"), "A", "10.96.10.110")])
            t.expect(d(svc("api-public")), answer=[(svc("api-public"), "A", "10.96.10.120")])
            t.expect(d("_http._tcp." + svc("api-public"), "SRV"),
                     answer=[("_http._tcp." + svc("api-public"), "SRV",
                              "0 100 80 " + svc("api-public"))])

            # kube-dns: UDP and TCP ports of the same number, different names.
            t.expect(d(KUBE_DNS), answer=[(KUBE_DNS, "A", "10.96.0.10")])
            t.expect(d("_dns._udp." + KUBE_DNS, "SRV"),
                     answer=[("_dns._udp." + KUBE_DNS, "SRV", "0 100 53 " + KUBE_DNS)],
                     additional=[(KUBE_DNS, "A", "10.96.0.10")])
            t.expect(d("_dns-tcp._tcp." + KUBE_DNS, "SRV"),
                     answer=[("_dns-tcp._tcp." + KUBE_DNS, "SRV", "0 100 53 " + KUBE_DNS)])
            t.expect(d("_metrics._tcp." + KUBE_DNS, "SRV"),
                     answer=[("_metrics._tcp." + KUBE_DNS, "SRV", "0 100 9153 " + KUBE_DNS)])
            t.nxdomain(d("_dns._tcp." + KUBE_DNS, "SRV"))
            res = d(KUBE_DNS, "SRV")
            # dns (UDP) and dns-tcp (TCP) give the same SRV RDATA: one record (RFC 2181 5.5).
            t.expect(res, answer=[(KUBE_DNS, "SRV", f"0 33 {p} {KUBE_DNS}") for p in (53, 9153)],
                     additional=[(KUBE_DNS, "A", "10.96.0.10")], srv_weight=False)
            t.srv_weights(res, 3, 2)

            # PTR for clusterIPs.
            for ip, name in (("10.96.10.100", API), ("10.96.10.102", ADMIN),
                             ("10.96.10.110", svc("api-nodeport")),
                             ("10.96.10.120", svc("api-public")), ("10.96.0.10", KUBE_DNS)):
                t.expect(d(reverse_name(ip), "PTR"), answer=[(reverse_name(ip), "PTR", name)],
                         ttl=30)
            res = d(reverse_name("10.96.10.250"), "PTR")
            t.expect(res, rcode="NXDOMAIN", answer=[])

            # CoreDNS: an endpoint address of a non-headless Service has a PTR too. The Pod at
            # 10.244.1.5 (app: api-server) is an endpoint of every Service selecting it: of
            # api-service by its EndpointSlice, of api-nodeport and api-public (exposure.yaml, no
            # slices of their own) as the EndpointSlice controller would make them.
            t.expect(d(reverse_name("10.244.1.5"), "PTR"),
                     answer=[(reverse_name("10.244.1.5"), "PTR",
                              f"10-244-1-5.{s}.production.svc.cluster.local.")
                             for s in ("api-service", "api-nodeport", "api-public")])

        # dig -x builds the same reverse name.
        res = srv.dig(None, extra=["-x", "10.96.10.100"])
        t.expect(res, answer=[(reverse_name("10.96.10.100"), "PTR", API)])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
