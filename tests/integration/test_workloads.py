"""Workloads become endpoints: manifests with Deployments, a StatefulSet, bare Pods and their
Services but no EndpointSlices answer as the cluster would, once its controllers had run.

- A headless Service selecting a Deployment's 3 replicas: 3 A records, from the pod CIDR
  (10.244.0.0/16 by default), the same on every run; SRV with the named targetPort resolved to the
  container port (8080); each address has a PTR to its dashed name under the Service.
- A ClusterIP Service over the same Pods still answers its ClusterIP.
- StatefulSet `web` with `serviceName: nginx`: web-0.nginx and web-1.nginx answer, and the
  headless Service lists both.
- A bare Pod with `hostname` and `subdomain` names its endpoint under the Service of that name.
- A Service whose selector matches nothing has no endpoints (headless: NXDOMAIN).
- Explicit EndpointSlices win over the Pods a selector matches.
- A Pod whose status says not ready is no endpoint, unless `publishNotReadyAddresses`.
- Pods the manifests give that a Deployment's labels select are its own: only the missing
  replicas are made (3 replicas, 1 Pod given: 2 made).
- `--pod-cidr` twice (IPv4 and IPv6): each Pod gets one address of each, AAAA answers too.
- A Deployment whose selector does not select its template is refused, naming the field.
"""

import ipaddress
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import reverse_name, svc  # noqa: E402

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-server, namespace: production}
spec:
  replicas: 3
  selector: {matchLabels: {app: api-server}}
  template:
    metadata: {labels: {app: api-server, tier: backend}}
    spec:
      containers:
        - name: api
          image: api:1.0
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api-service, namespace: production}
spec:
  clusterIP: 10.96.10.100
  selector: {app: api-server}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: api-headless, namespace: production}
spec:
  clusterIP: None
  selector: {app: api-server}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: production}
spec:
  serviceName: nginx
  replicas: 2
  selector:
    matchLabels: {app: nginx}
    matchExpressions: [{key: tier, operator: NotIn, values: [backend]}]
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{name: web, containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: production}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: web, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: busybox-1, namespace: production, labels: {name: busybox}}
spec:
  hostname: busybox-1
  subdomain: default-subdomain
  containers: [{name: busybox, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: default-subdomain, namespace: production}
spec:
  clusterIP: None
  selector: {name: busybox}
  ports: [{name: foo, port: 1234}]
---
apiVersion: v1
kind: Service
metadata: {name: orphan, namespace: production}
spec:
  clusterIP: None
  selector: {app: nothing-has-this}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: pinned, namespace: production}
spec:
  clusterIP: None
  selector: {app: api-server}
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pinned-1
  namespace: production
  labels: {kubernetes.io/service-name: pinned}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints: [{addresses: [10.1.2.3]}]
---
apiVersion: v1
kind: Pod
metadata: {name: warming, namespace: production, labels: {app: cache}}
status:
  podIP: 10.244.200.7
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: production}
spec:
  clusterIP: None
  selector: {app: cache}
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: cache-all, namespace: production}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: cache}
  ports: [{name: redis, port: 6379}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: production}
spec:
  replicas: 3
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: w, image: w}]}
---
apiVersion: v1
kind: Pod
metadata: {name: worker-manual, namespace: production, labels: {app: worker}}
status: {podIP: 10.244.99.9}
---
apiVersion: v1
kind: Service
metadata: {name: workers, namespace: production}
spec:
  clusterIP: None
  selector: {app: worker}
  ports: [{name: http, port: 80}]
"""

BAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: production}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: c}]}
"""


def addresses(res, rtype="A"):
    return sorted(rr.rdata for rr in res.answer if rr.type == rtype)


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        app = Path(d) / "app.yaml"
        app.write_text(APP)
        headless = svc("api-headless")
        runs = []
        for _ in range(2):
            with t.server("--manifests", app) as srv:
                res = srv.dig(headless)
                ips = addresses(res)
                runs.append(ips)
                t.eq(len(ips), 3, f"one address per replica: {res.answer}")
                t.check(all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.244.0.0/16")
                            for ip in ips), f"addresses from the pod CIDR: {ips}")
                srv_res = srv.dig("_http._tcp." + headless, "SRV")
                t.eq(sorted(rr.rdata.split()[2] for rr in srv_res.answer), ["8080"] * 3,
                     f"SRV ports are the named container port: {srv_res.answer}")
                for ip in ips:
                    t.expect(srv.dig(reverse_name(ip), "PTR"), answer=[
                        (reverse_name(ip), "PTR",
                         f"{ip.replace('.', '-')}.{s}.production.svc.cluster.local.")
                        for s in ("api-headless", "api-service")])
                api = svc("api-service")
                t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])

                nginx = svc("nginx")
                web = addresses(srv.dig(nginx))
                t.eq(len(web), 2, "the StatefulSet's two Pods")
                for i in range(2):
                    name = f"web-{i}.{nginx}"
                    res = srv.dig(name)
                    t.eq(len(res.answer), 1, f"{name} answers: {res.answer}")
                sub = svc("default-subdomain")
                res = srv.dig("busybox-1." + sub)
                t.eq(len(res.answer), 1, f"busybox-1.{sub}: {res.answer}")
                t.nxdomain(srv.dig(svc("orphan")))
                pinned = svc("pinned")
                t.expect(srv.dig(pinned), answer=[(pinned, "A", "10.1.2.3")])
                t.nxdomain(srv.dig(svc("cache")))
                cache_all = svc("cache-all")
                t.expect(srv.dig(cache_all), answer=[(cache_all, "A", "10.244.200.7")])
                workers = addresses(srv.dig(svc("workers")))
                t.eq(len(workers), 3, f"1 Pod given and 2 made: {workers}")
                t.check("10.244.99.9" in workers, "the Pod given is one of them")
        t.eq(runs[0], runs[1], "the same addresses on every run")

        with t.server("--manifests", app, "--pod-cidr", "10.244.0.0/16",
                      "--pod-cidr", "fd00:10:244::/64") as srv:
            # Without ipFamilyPolicy a headless Service is single-stack in the primary (here
            # the only) service range's family, as the API server defaults it: its slices hold
            # the Pods' IPv4 addresses only (tests/corpus/dual-stack has the dual-stack ones).
            v6 = addresses(srv.dig(headless, "AAAA"), "AAAA")
            t.eq(v6, [], f"single-stack: no IPv6 endpoints: {v6}")
            t.eq(addresses(srv.dig(headless)), runs[0], "IPv4 addresses unchanged")

        bad = Path(d) / "bad.yaml"
        bad.write_text(BAD)
        ran = harness.run_binary(t.binary, ["--manifests", bad, "--listen", "127.0.0.1:0"])
        t.eq(ran.returncode, 1, f"a Deployment whose selector misses its template: {ran.stderr}")
        t.check("spec.selector: does not match spec.template.metadata.labels" in ran.stderr and
                "Deployment production/broken" in ran.stderr, f"the message: {ran.stderr!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
