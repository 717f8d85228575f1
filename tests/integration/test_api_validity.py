"""Manifests the API server accepts load and answer as a cluster would; what it refuses does not.

Accepted, served with real dig:
- A Pod named test-name-longer-than-63-characters-making-it-an-invalid-dns-label (66 characters, a
  DNS subdomain, as CoreDNS's CI has it) serves behind a headless Service; with
  --endpoint-pod-names its endpoint is named by its dashed address (the Pod's name is no DNS
  label), while a Pod named db-0 names its own.
- A Service port named state-snapshot-transfer (23 characters: a DNS label; the 15-character rule
  is a container port's) has its SRV record.
- publishNotReadyAddresses: yes (YAML 1.1, as kubectl reads it) publishes a Pod that is not ready.
- A Deployment named with 59 characters: its Pods are named as the controllers name them (58
  characters of NAME-HASH- and 5 more: 63), and with --endpoint-pod-names answer by those names.
- StatefulSet ordinals.start 5 with 2 replicas: ord-5 and ord-6 answer, ord-0 is NXDOMAIN.
- port: 0x50 is port 80; clusterIP 010.096.000.077 is 10.96.0.77 (leading zeros are decimal).
- A Job with parallelism 100000 and a Deployment with 20000 replicas load (no fixed 10,000 bound).

Refused (exit 1, the message naming the object, the field and the rule): an EndpointSlice of 1,001
endpoints, one of 101 ports, and replicas past what this machine's memory holds. (The smaller
refusals are files of tests/data/bad, in test_manifest_errors.)
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import svc  # noqa: E402

LONG_POD = "test-name-longer-than-63-characters-making-it-an-invalid-dns-label"
LONG_DEPLOYMENT = "a-deployment-named-with-fifty-nine-characters-abcdefghijklm"
assert len(LONG_POD) == 66 and len(LONG_DEPLOYMENT) == 59

ACCEPTED = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: production}}
---
apiVersion: v1
kind: Pod
metadata:
  name: {LONG_POD}
  namespace: production
  labels: {{app: long}}
status:
  podIP: 10.244.7.7
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: production
  labels: {{app: long}}
status:
  podIP: 10.244.7.8
---
apiVersion: v1
kind: Service
metadata: {{name: long, namespace: production}}
spec:
  clusterIP: None
  selector: {{app: long}}
  ports: [{{name: http, port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: galera, namespace: production}}
spec:
  clusterIP: 010.096.000.077
  ports:
    - {{name: mysql, port: 3306}}
    - {{name: state-snapshot-transfer, port: 4444}}
    - {{name: ist, port: 0x1168}}
---
apiVersion: v1
kind: Pod
metadata:
  name: warming-up
  namespace: production
  labels: {{app: warming}}
status:
  podIP: 10.244.8.8
  conditions: [{{type: Ready, status: "False"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: warming, namespace: production}}
spec:
  clusterIP: None
  publishNotReadyAddresses: yes
  selector: {{app: warming}}
  ports: [{{name: http, port: 80}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {LONG_DEPLOYMENT}, namespace: production}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: wide}}}}
  template:
    metadata: {{labels: {{app: wide}}}}
    spec: {{containers: [{{name: c, image: c}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: wide, namespace: production}}
spec:
  clusterIP: None
  selector: {{app: wide}}
  ports: [{{name: http, port: 0x50}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: ord, namespace: production}}
spec:
  replicas: 2
  serviceName: ord
  ordinals: {{start: 5}}
  selector: {{matchLabels: {{app: ord}}}}
  template:
    metadata: {{labels: {{app: ord}}}}
    spec: {{containers: [{{name: c, image: c}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: ord, namespace: production}}
spec:
  clusterIP: None
  selector: {{app: ord}}
  ports: [{{name: http, port: 80}}]
"""

BIG = """
apiVersion: batch/v1
kind: Job
metadata: {name: sweep, namespace: production}
spec:
  parallelism: 100000
  template:
    metadata: {labels: {app: sweep}}
    spec: {containers: [{name: c, image: c}], restartPolicy: Never}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: fleet, namespace: production}
spec:
  replicas: 20000
  selector: {matchLabels: {app: fleet}}
  template:
    metadata: {labels: {app: fleet}}
    spec: {containers: [{name: c, image: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: fleet, namespace: production}
spec:
  clusterIP: 10.96.0.88
  selector: {app: fleet}
  ports: [{name: http, port: 80}]
"""


def slice_doc(endpoints, ports):
    return ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            "metadata: {name: many-1, namespace: production, "
            "labels: {kubernetes.io/service-name: many}}\naddressType: IPv4\n"
            "endpoints: [" + ", ".join(f"{{addresses: [10.1.{i // 250}.{i % 250 + 1}]}}"
                                       for i in range(endpoints)) + "]\n"
            f"ports: [{', '.join(f'{{name: p{i}, port: {1000 + i}}}' for i in range(ports))}]\n")


def refused(t, path, what, needles):
    ran = harness.run_binary(t.binary, ["--manifests", path, "--listen", "127.0.0.1:0"], timeout=60)
    if not t.check(not ran.timed_out, f"{what}: it kept running; stdout {ran.stdout!r}"):
        return
    t.eq(ran.returncode, 1, f"{what}: exit code (stderr {ran.stderr[-400:]!r})")
    missing = [n for n in needles if n not in ran.stderr]
    t.check(not missing, f"{what}: stderr lacks {missing}: {ran.stderr[-500:]!r}")


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        accepted = Path(d) / "accepted.yaml"
        accepted.write_text(ACCEPTED)
        with t.server("--manifests", accepted, "--endpoint-pod-names", "true") as srv:
            long = svc("long")
            t.expect(srv.dig(long), answer=[(long, "A", "10.244.7.7"), (long, "A", "10.244.7.8")])
            t.expect(srv.dig("_http._tcp." + long, "SRV"), srv_weight=False, answer=[
                ("_http._tcp." + long, "SRV", f"0 50 80 10-244-7-7.{long}"),
                ("_http._tcp." + long, "SRV", f"0 50 80 db-0.{long}")])
            t.expect(srv.dig("10-244-7-7." + long), answer=[("10-244-7-7." + long, "A",
                                                             "10.244.7.7")])
            t.expect(srv.dig("db-0." + long), answer=[("db-0." + long, "A", "10.244.7.8")])

            galera = svc("galera")
            t.expect(srv.dig(galera), answer=[(galera, "A", "10.96.0.77")])
            sst = "_state-snapshot-transfer._tcp." + galera
            t.expect(srv.dig(sst, "SRV"), answer=[(sst, "SRV", f"0 100 4444 {galera}")])
            ist = "_ist._tcp." + galera
            t.expect(srv.dig(ist, "SRV"), answer=[(ist, "SRV", f"0 100 4456 {galera}")])

            warming = svc("warming")
            t.expect(srv.dig(warming), answer=[(warming, "A", "10.244.8.8")])

            wide = svc("wide")
            res = srv.dig("_http._tcp." + wide, "SRV")
            targets = sorted(rr.rdata.split()[3] for rr in res.answer)
            t.eq(len(targets), 3, f"one SRV per replica: {res.answer}")
            prefix = f"{LONG_DEPLOYMENT}-"[:58]
            for target in targets:
                pod = target.split(".")[0]
                t.check(len(pod) == 63 and pod.startswith(prefix),
                        f"{pod}: 58 characters of the ReplicaSet's name and 5 more")
                t.eq(sorted(rr.rdata.split()[2] for rr in res.answer), ["80"] * 3,
                     "port: 0x50 is port 80")
                t.eq(len(srv.dig(target).answer), 1, f"{target} answers")

            ord_ = svc("ord")
            for ordinal in (5, 6):
                name = f"ord-{ordinal}.{ord_}"
                t.eq(len(srv.dig(name).answer), 1, f"{name} answers")
            t.nxdomain(srv.dig(f"ord-0.{ord_}"))

        big = Path(d) / "big.yaml"
        big.write_text(BIG)
        with t.server("--manifests", big, "--pod-cidr", "10.128.0.0/9") as srv:
            fleet = svc("fleet")
            t.expect(srv.dig(fleet), answer=[(fleet, "A", "10.96.0.88")])
            res = srv.dig("_http._tcp." + fleet, "SRV")
            t.eq([rr.rdata.split()[2:] for rr in res.answer], [["80", fleet]],
                 "the ClusterIP Service over 20,000 replicas")

        many = Path(d) / "many-endpoints.yaml"
        many.write_text(slice_doc(1001, 1))
        refused(t, many, "1,001 endpoints in one slice",
                ["EndpointSlice production/many-1", "endpoints: 1001 endpoints",
                 "at most 1000 endpoints"])
        many.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: many, namespace: "
                        "production}\nspec: {clusterIP: None}\n---\n" + slice_doc(1000, 1))
        with t.server("--manifests", many) as srv:
            t.eq(len(srv.dig("10-1-3-250." + svc("many")).answer), 1,
                 "1,000 endpoints in one slice load: the last answers")
        ports = Path(d) / "many-ports.yaml"
        ports.write_text(slice_doc(1, 101))
        refused(t, ports, "101 ports in one slice", ["ports: 101 ports", "at most 100 ports"])
        huge = Path(d) / "huge.yaml"
        huge.write_text(BIG.replace("replicas: 20000", "replicas: 2000000000"))
        refused(t, huge, "replicas past the memory",
                ["Deployment production/fleet", "spec.replicas: 2000000000 Pods",
                 "available memory"])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
