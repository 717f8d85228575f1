"""noendpoints (CoreDNS's kubernetes option; `no_endpoints: true`, `--no-endpoints true`, or
`noendpoints` in a Corefile's kubernetes block): EndpointSlices are neither watched nor read.

- Manifests with a ClusterIP Service and a headless one with an EndpointSlice: by default the
  headless name, its endpoint's name and its SRV answer; with the option the ClusterIP Service
  still answers its address and SRV, the headless name and its endpoint's are NXDOMAIN (as a
  headless Service without endpoints is), from the flag, the config file and a Corefile alike.
- The API: with the option clusterdns never asks the API server for EndpointSlices (no list, no
  watch), and still syncs: Services answer, the headless one does not.
- The option needs a restart: a reload that changes it is refused by name.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from harness import wait_until  # noqa: E402

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-abcde
  namespace: shop
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  hostname: db-0
  conditions: {ready: true}
ports: [{name: pg, port: 5432, protocol: TCP}]
"""

WEB = "web.shop.svc.cluster.local."
DB = "db.shop.svc.cluster.local."
DB0 = "db-0." + DB


def probe(t, srv, endpoints, how):
    t.expect(srv.dig(WEB), answer=[(WEB, "A", "10.96.0.20")])
    t.expect(srv.dig("_http._tcp." + WEB, "SRV"),
             answer=[("_http._tcp." + WEB, "SRV", "0 100 80 " + WEB)])
    if endpoints:
        t.expect(srv.dig(DB), answer=[(DB, "A", "10.244.1.5")])
        t.expect(srv.dig(DB0), answer=[(DB0, "A", "10.244.1.5")])
        t.expect(srv.dig("_pg._tcp." + DB, "SRV"),
                 answer=[("_pg._tcp." + DB, "SRV", "0 100 5432 " + DB0)])
    else:
        for name in (DB, DB0):
            t.check(srv.dig(name).rcode == "NXDOMAIN", f"{how}: {name} has no records")
        t.check(srv.dig("_pg._tcp." + DB, "SRV").rcode == "NXDOMAIN",
                f"{how}: the headless Service's SRV has no records")


def manifests(t, d):
    m = d / "shop.yaml"
    m.write_text(MANIFEST)
    with t.server("--manifests", m) as srv:
        probe(t, srv, True, "default")
    with t.server("--manifests", m, "--no-endpoints", "true") as srv:
        probe(t, srv, False, "--no-endpoints true")
    config = d / "config.yaml"
    config.write_text(f"upstream: [none]\nno_endpoints: true\nmanifests: [{m}]\n")
    with t.server("--config", config) as srv:
        probe(t, srv, False, "no_endpoints: true")
        config.write_text(f"upstream: [none]\nno_endpoints: false\nmanifests: [{m}]\n")
        t.check(wait_until(lambda: "no_endpoints changed" in srv.stderr_text(), 10),
                f"a reload changing no_endpoints is refused by name: {srv.describe()}")
        probe(t, srv, False, "after the refused reload")
    corefile = d / "Corefile"
    corefile.write_text(".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                        "        pods insecure\n        noendpoints\n    }\n}\n")
    with t.server("--corefile", corefile, "--manifests", m) as srv:
        probe(t, srv, False, "Corefile noendpoints")


def api(t):
    with kube.fake_api() as fake:
        fake.create(kube.service("web", "shop", cluster_ip="10.96.0.20"))
        fake.create(kube.service("db", "shop", ports=(("pg", 5432),), headless=True))
        fake.create(kube.endpoint_slice("db", "shop", [("10.244.1.5", True, "db-0", "db-0")],
                                        port=("pg", 5432)))
        with t.server(*kube.server_args(fake)) as srv:
            probe(t, srv, True, "API, default")
        fake.clear_requests()
        with t.server(*kube.server_args(fake, "--no-endpoints", "true")) as srv:
            probe(t, srv, False, "API, --no-endpoints true")
            t.check(fake.requests(path="/services"), "Services were listed")
            t.eq(fake.requests(path="endpointslices"), [], "no EndpointSlice list or watch")


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        manifests(t, Path(d))
    api(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
