"""Every setting a reload accepts is applied: the options reach the zone through one path.

A Deployment behind a headless Service (its Pods get addresses from pod_cidrs, as the workloads
converter makes them). The config's pod_cidrs changes from 10.244.0.0/16 to 10.99.0.0/16: after
the reload the Service's addresses are in the new range (a reload that accepted the change but
kept the old range was the defect); ttl and endpoint_pod_names change with it; and a config whose
pod_cidrs is not a prefix is refused with the reason, the running zone kept.
"""

import ipaddress
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80}]}
"""

WEB = "web.shop.svc.cluster.local."


def addresses(srv):
    # Sorted: loadbalance turns their order from one answer to the next.
    return sorted(rr.rdata for rr in srv.dig(WEB).answer if rr.type == "A")


def in_range(ips, cidr):
    return bool(ips) and all(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr) for ip in ips)


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "shop.yaml").write_text(MANIFEST)
        config = tmp / "config.yaml"
        config.write_text(f"manifests: [{tmp / 'shop.yaml'}]\npod_cidrs: [10.244.0.0/16]\n"
                          "ttl: 30\n")
        with t.server("--config", config) as srv:
            t.check(in_range(addresses(srv), "10.244.0.0/16"), f"start: {addresses(srv)}")
            config.write_text(f"manifests: [{tmp / 'shop.yaml'}]\npod_cidrs: [10.99.0.0/16]\n"
                              "ttl: 12\n")
            t.check(wait_until(lambda: in_range(addresses(srv), "10.99.0.0/16"), 10),
                    f"pod_cidrs changed by a reload: {addresses(srv)}; {srv.describe()}")
            t.check(all(rr.ttl == 12 for rr in srv.dig(WEB).answer), "and the TTL with it")
            before = addresses(srv)
            config.write_text(f"manifests: [{tmp / 'shop.yaml'}]\npod_cidrs: [10.99.0.0/99]\n"
                              "ttl: 5\n")
            t.check(wait_until(lambda: "pod_cidrs" in srv.stderr_text().split(
                "files changed: reloaded")[-1], 10), f"a bad prefix is refused: {srv.describe()}")
            t.eq(addresses(srv), before, "the running zone is kept")
            t.check(all(rr.ttl == 12 for rr in srv.dig(WEB).answer), "its TTL too")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
