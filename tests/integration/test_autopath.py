"""Server-side search path (--autopath true), as CoreDNS's autopath plugin, without its cache bugs.

Manifests: a Pod of namespace production whose address is 127.0.0.23 (the test binds its client
socket there with dig -b), a Service cache in namespace staging, and examples/ (api-service in
production). Upstream: unbound on loopback serving example.test. Over UDP and TCP:
- the pod asks cache.staging.production.svc.cluster.local (the first search expansion of the
  short name cache.staging): one answer, a CNAME to cache.staging.svc.cluster.local and its A;
- the pod asks www.example.test.production.svc.cluster.local: a CNAME to www.example.test and the
  upstream's A record;
- a name that exists as asked (api-service.production.svc...) answers normally, no CNAME;
- a client that is not a known pod (127.0.0.1), and the pod's address asking in another namespace
  (staging is not its namespace), get NXDOMAIN, before and after the pod asked the same names:
  the pod's answer never reaches anyone else through the cache;
- without --autopath the pod gets NXDOMAIN too.
- with the host's search domains (--autopath-search corp.test, as a node's resolv.conf would
  have them): the pod's api.production.svc... becomes a CNAME to api.corp.test (the upstream has
  it) with its A; www.example.test.production.svc... goes past corp.test (NXDOMAIN there) to
  www.example.test, as the pod's resolver would have; the second time from the cache alike.
- cluster names asked undotted (glibc's first query for kubernetes.default.svc.cluster.local is
  kubernetes.default.svc.cluster.local.production.svc.cluster.local) are answered by the zone at
  every step, never by the upstream, which here holds other addresses for them: a CNAME to the
  name and the zone's A; a name the zone does not have is NXDOMAIN, not forwarded.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402
from upstream import Unbound  # noqa: E402

POD = "127.0.0.23"
MANIFESTS = """\
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: production}
status: {podIP: 127.0.0.23, podIPs: [{ip: 127.0.0.23}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: staging}
spec: {clusterIP: 10.96.50.5, ports: [{name: redis, port: 6379}]}
"""

CACHE_EXPANDED = "cache.staging.production.svc.cluster.local."
CACHE = "cache.staging.svc.cluster.local."
WWW_EXPANDED = "www.example.test.production.svc.cluster.local."
WWW = "www.example.test."


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        manifests = Path(tmp) / "pods.yaml"
        manifests.write_text(MANIFESTS)
        with Unbound() as unbound, t.server("--manifests", EXAMPLES, "--manifests", manifests,
                                            "--upstream", unbound.address,
                                            "--autopath", "true") as srv:
            def strangers():
                for name in (CACHE_EXPANDED, WWW_EXPANDED):
                    for tcp in (False, True):
                        t.nxdomain(srv.dig(name, tcp=tcp))  # not a pod
                t.nxdomain(srv.dig("cache.production.staging.svc.cluster.local.",
                                   extra=["-b", POD]))  # not the pod's namespace

            strangers()
            for tcp in (False, True):
                pod = ["-b", POD]
                t.expect(srv.dig(CACHE_EXPANDED, tcp=tcp, extra=pod),
                         answer=[(CACHE_EXPANDED, "CNAME", CACHE), (CACHE, "A", "10.96.50.5")])
                t.expect(srv.dig(WWW_EXPANDED, tcp=tcp, extra=pod), aa=False,
                         answer=[(WWW_EXPANDED, "CNAME", WWW), (WWW, "A", "192.0.2.10")])
                t.expect(srv.dig(svc("api-service"), tcp=tcp, extra=pod),
                         answer=[(svc("api-service"), "A", "10.96.10.100")])
            strangers()

        with t.server("--manifests", EXAMPLES, "--manifests", manifests, "--upstream",
                      "none") as srv:
            t.nxdomain(srv.dig(CACHE_EXPANDED, extra=["-b", POD]))

        api = "api.production.svc.cluster.local."
        corp = Unbound(extra_zones=["corp.test"], extra_data=["api.corp.test. 300 IN A 192.0.2.99"])
        with corp as unbound, t.server("--manifests", EXAMPLES, "--manifests", manifests,
                                     "--upstream", unbound.address, "--autopath", "true",
                                     "--autopath-search", "corp.test", "--workers", "1") as srv:
            for tcp in (False, True, False):  # the third: every step from the cache
                pod = ["-b", POD]
                t.expect(srv.dig(api, tcp=tcp, extra=pod), aa=False,
                         answer=[(api, "CNAME", "api.corp.test."),
                                 ("api.corp.test.", "A", "192.0.2.99")])
                t.expect(srv.dig(WWW_EXPANDED, tcp=tcp, extra=pod), aa=False,
                         answer=[(WWW_EXPANDED, "CNAME", WWW), (WWW, "A", "192.0.2.10")])
            t.nxdomain(srv.dig(api))  # not a pod: as ever

        # An upstream that claims the cluster's names: the walk must never ask it for them.
        liar = Unbound(extra_zones=["cluster.local", "corp.test"], extra_data=[
            "kubernetes.default.svc.cluster.local. 300 IN A 192.0.2.1",
            "api-service.production.svc.cluster.local. 300 IN A 6.6.6.6",
            "nosuch.production.svc.cluster.local. 300 IN A 6.6.6.7"])
        for search in ([], ["--autopath-search", "corp.test"]):
            with liar as unbound, t.server("--manifests", EXAMPLES, "--manifests", manifests,
                                           "--upstream", unbound.address, "--autopath", "true",
                                           *search) as srv:
                for tcp in (False, True):
                    pod = ["-b", POD]
                    for name, address in (("kubernetes.default", "10.96.0.1"),
                                          ("api-service.production", "10.96.10.100")):
                        full = f"{name}.svc.cluster.local."
                        asked = f"{full}production.svc.cluster.local."
                        t.expect(srv.dig(asked, tcp=tcp, extra=pod),
                                 answer=[(asked, "CNAME", full), (full, "A", address)])
                    res = srv.dig("nosuch.production.svc.cluster.local.production.svc."
                                  "cluster.local.", tcp=tcp, extra=pod)
                    t.expect(res, rcode="NXDOMAIN", aa=None)
                    t.check(not [rr for rr in res.answer if rr.type == "A"],
                            f"a cluster name the zone lacks is not the upstream's: {res.answer}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
