"""Every file in examples/ loads and answers what its comment promises.

For each manifest under examples/ (subdirectories included, keyed by relative path such as
"kube-system/service.yaml"), loaded with examples/namespaces.yaml (which holds the namespaces the
others use), the server starts, and over UDP and TCP the probes listed for that file hold. Then
the whole directory is loaded with one --manifests examples and every probe of every file holds
at once; examples/kube-system/ alone (the drop-in) serves kube-dns. Also each file loads entirely
on its own (starts, serves, exits 0 on SIGTERM). Kinds clusterdns skips (Ingress, NetworkPolicy,
Deployment, DaemonSet, ConfigMap, RBAC, PodDisruptionBudget, HPA...) create no names. A new
example file without probes here fails this test.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, reverse_name, svc  # noqa: E402

API = svc("api-service")
KDNS = svc("kube-dns", "kube-system")
PG = svc("postgres")
WEB = svc("web-service")

KUBE_DNS = [
    (KDNS, "A", [("A", "10.96.0.10")]),
    ("_dns._udp." + KDNS, "SRV", [("SRV", "0 100 53 " + KDNS)]),
    ("_dns-tcp._tcp." + KDNS, "SRV", [("SRV", "0 100 53 " + KDNS)]),
    ("_metrics._tcp." + KDNS, "SRV", [("SRV", "0 100 9153 " + KDNS)]),
    (reverse_name("10.96.0.10"), "PTR", [("PTR", KDNS)]),
]

# file (relative to examples/) -> [(name, type, expected)] where expected is a list of
# (type, rdata) answers, or "NXDOMAIN" / "NODATA".
PROBES = {
    "namespaces.yaml": [
        ("production.svc.cluster.local", "A", "NODATA"),
        ("default.svc.cluster.local", "A", "NODATA"),
        ("10-244-1-5.production.pod.cluster.local", "A", [("A", "10.244.1.5")]),
    ],
    "default.yaml": [
        (svc("kubernetes", "default"), "A", [("A", "10.96.0.1")]),
        ("_https._tcp." + svc("kubernetes", "default"), "SRV",
         [("SRV", "0 100 443 " + svc("kubernetes", "default"))]),
        (reverse_name("10.96.0.1"), "PTR", [("PTR", svc("kubernetes", "default"))]),
        (reverse_name("192.168.49.2"), "PTR",
         [("PTR", "192-168-49-2." + svc("kubernetes", "default"))]),
    ],
    "kube-dns-endpoints.yaml": [
        ("kube-system.svc.cluster.local", "A", "NODATA"),
        ("10-244-0-2.kube-system.pod.cluster.local", "A", [("A", "10.244.0.2")]),
    ],
    "production-services.yaml": [
        (API, "A", [("A", "10.96.10.100")]),
        ("_http._tcp." + API, "SRV", [("SRV", "0 100 80 " + API)]),
        (WEB, "AAAA", [("AAAA", "fd00:10:96::a65")]),
        ("_metrics._tcp." + svc("admin-service"), "SRV",
         [("SRV", "0 100 9090 " + svc("admin-service"))]),
        (svc("db-service"), "CNAME", [("CNAME", "rds-endpoint.ap-southeast-1.rds.amazonaws.com.")]),
    ],
    "exposure.yaml": [
        (svc("api-nodeport"), "A", [("A", "10.96.10.110")]),
        (svc("api-public"), "A", [("A", "10.96.10.120")]),
        (svc("main-ingress"), "A", "NXDOMAIN"),                     # an Ingress
        (svc("db-access-policy"), "A", "NXDOMAIN"),                 # a NetworkPolicy
    ],
    "postgres-statefulset.yaml": [
        (PG, "A", [("A", "10.244.1.20"), ("A", "10.244.2.21")]),
        ("postgres-1." + PG, "A", [("A", "10.244.2.21")]),
        ("postgres-2." + PG, "A", "NXDOMAIN"),
        ("_postgres._tcp." + PG, "SRV", None),                      # checked in test_headless
    ],
    # The drop-in (kube-system/README.md): only the Service makes names.
    "kube-system/service.yaml": KUBE_DNS,
    "kube-system/rbac.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),       # a ServiceAccount
    ],
    "kube-system/configmap.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/deployment.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/pdb.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/autoscaler.yaml": [
        (svc("clusterdns-autoscaler", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/autoscaler-rbac.yaml": [
        (svc("clusterdns-autoscaler", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/alternatives/hpa.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/corefile/deployment.yaml": [
        (svc("clusterdns", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/corefile/kubeadm-coredns.yaml": [
        (svc("coredns", "kube-system"), "A", "NXDOMAIN"),      # a ConfigMap
    ],
    "kube-system/node-local/configmap.yaml": [
        (svc("clusterdns-node-local", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/node-local/daemonset.yaml": [
        (svc("clusterdns-node-local", "kube-system"), "A", "NXDOMAIN"),
    ],
    "kube-system/network-policy/allow-dns.yaml": [
        (svc("allow-dns"), "A", "NXDOMAIN"),
    ],
    "grafana/clusterdns-dashboard.yaml": [
        (svc("clusterdns-dashboard", "monitoring"), "A", "NXDOMAIN"),  # a ConfigMap
    ],
    "workloads.yaml": [
        (svc("api-server"), "A", "NXDOMAIN"),                       # a Deployment
        ("10-244-1-20.production.pod.cluster.local", "A", [("A", "10.244.1.20")]),
    ],
}


def probe(t, srv, probes, tcp):
    for name, qtype, expected in probes:
        res = srv.dig(name, qtype, tcp=tcp)
        if expected == "NXDOMAIN":
            t.nxdomain(res)
        elif expected == "NODATA":
            t.nodata(res)
        elif expected is None:
            t.expect(res)
            t.check(res.answer, f"{res.query()}: expected an answer, got none")
        else:
            t.expect(res, answer=[(name, typ, rdata) for typ, rdata in expected])


def scenario(t):
    # What the loader reads: these suffixes at any depth.
    files = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*")
                   if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
    t.eq([f for f in files if f not in PROBES], [], "examples/ files without probes")
    t.eq([f for f in PROBES if f not in files], [], "probes for missing examples/ files")

    for name in files:
        args = ["--manifests", EXAMPLES / name]
        if name != "namespaces.yaml":
            args += ["--manifests", EXAMPLES / "namespaces.yaml"]
        with t.server(*args) as srv:
            for tcp in (False, True):
                probe(t, srv, PROBES.get(name, []), tcp)
        with t.server("--manifests", EXAMPLES / name) as srv:
            res = srv.dig("dns-version.cluster.local", "TXT")
            t.expect(res, answer=[("dns-version.cluster.local", "TXT", '"1.1.0"')])

    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            for name in files:
                probe(t, srv, PROBES.get(name, []), tcp)

    with t.server("--manifests", EXAMPLES / "kube-system") as srv:
        for tcp in (False, True):
            probe(t, srv, KUBE_DNS, tcp)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
