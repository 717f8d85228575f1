"""--corefile: the distributions' published default Corefiles run as their CoreDNS would.

- kubeadm/kind, minikube, k3s, EKS, AKS and RKE2 Corefiles, written here as published (host paths
  such as /etc/coredns/NodeHosts moved into a temporary directory), each started with --corefile
  and --manifests examples/: cluster names answer from the manifests (the kubernetes block serves
  them instead of an API server), outside names go to the upstream the Corefile's forward names
  (its /etc/resolv.conf replaced by --resolv-conf with a loopback unbound), and a stub domain an
  operator added (a block of its own, or AKS's custom/*.server and k3s's /etc/coredns/custom/*.server
  imports) goes to its own loopback unbound.
- Refusals, at start-up and with --check-config: an unknown plugin, an unknown option, a second
  kubernetes block, a bad value, blocks on two ports, a stub block with hosts; each names the
  file, the line and the token. A Corefile without kubernetes given --manifests is refused.
- --check-config FILE with --corefile FILE checks the Corefile; a config file's corefile: key reads
  it too; flags override it.
- Reload: a ConfigMap symlink swap of the Corefile, and a change of an imported file, apply
  without a restart; a broken Corefile keeps the running config and says why.
- Metrics keep CoreDNS's `server` and `zone` labels per server block: a stub domain's queries
  count under its zone, the rest under the main block's.
- examples/kube-system/corefile/: its Deployment runs --corefile on the `coredns` ConfigMap
  mounted at /etc/coredns, and kubeadm's ConfigMap there, unchanged, checks and serves.
"""

import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from upstream import Unbound  # noqa: E402

KUBEADM = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""

MINIKUBE = """\
.:53 {
    log
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    hosts {
       192.168.49.1 host.minikube.internal
       fallthrough
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""

# k3s's manifests/coredns.yaml, with %{CLUSTER_DOMAIN}% as installed.
K3S = """\
.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    hosts /etc/coredns/NodeHosts {
      ttl 60
      reload 15s
      fallthrough
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import /etc/coredns/custom/*.override
}
import /etc/coredns/custom/*.server
"""

EKS = """\
.:53 {
    errors
    health {
        lameduck 5s
      }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
"""

AKS = """\
.:53 {
    errors
    ready
    health {
      lameduck 5s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
      ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import custom/*.override
}
import custom/*.server
"""

# The rke2-coredns chart's rendering (its template's spacing and the cluster domain given twice).
RKE2 = """\
.:53 {
    errors 
    health  {
        lameduck 5s
    }
    ready 
    kubernetes   cluster.local  cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus   0.0.0.0:9153
    forward   . /etc/resolv.conf
    cache   30
    loop 
    reload 
    loadbalance 
}
"""

STUB_ZONE = "consul.local"
STUB_NAME = "web.consul.local"
STUB_ADDR = "10.150.0.5"


def stub_block(address):
    """What operators add for a stub domain (CoreDNS's documentation's example)."""
    return f"{STUB_ZONE}:53 {{\n    errors\n    cache 30\n    forward . {address}\n}}\n"


def write_tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def ran(t, *args):
    return harness.run_binary(t.binary, [str(a) for a in args])


def check_answers(t, srv, label, hosts=None, rewritten=None):
    res = srv.dig("kubernetes.default.svc.cluster.local")
    t.expect(res, answer=[("kubernetes.default.svc.cluster.local.", "A", "10.96.0.1")])
    res = srv.dig("api-service.production.svc.cluster.local")
    t.check(res.rcode == "NOERROR" and [rr.rdata for rr in res.answer] == ["10.96.10.100"],
            f"{label}: api-service from the manifests: {res}")
    res = srv.dig("1.0.96.10.in-addr.arpa", "PTR")
    t.check([rr.rdata for rr in res.answer] == ["kubernetes.default.svc.cluster.local."],
            f"{label}: PTR of the kubernetes Service: {res}")
    res = srv.dig("www.example.test")
    t.check(res.rcode == "NOERROR" and [rr.rdata for rr in res.answer] == ["192.0.2.10"],
            f"{label}: an outside name forwarded to the Corefile's upstream: {res}")
    res = srv.dig(STUB_NAME)
    t.check(res.rcode == "NOERROR" and [rr.rdata for rr in res.answer] == [STUB_ADDR],
            f"{label}: the stub domain's name from its own upstream: {res}")
    res = srv.dig("nothing.default.svc.cluster.local")
    t.check(res.rcode == "NXDOMAIN", f"{label}: a missing Service is NXDOMAIN: {res}")
    for name, address in (hosts or {}).items():
        res = srv.dig(name)
        t.check([rr.rdata for rr in res.answer] == [address],
                f"{label}: the hosts entry {name} -> {address}: {res}")
    for asked, answered in (rewritten or {}).items():
        res = srv.dig(asked)
        t.check(res.rcode == "NOERROR" and [(rr.name, rr.rdata) for rr in res.answer] ==
                [(harness.fqdn(asked), answered)],
                f"{label}: the rewrite of {asked} answers {answered} under the name asked: {res}")


def distributions(t, tmp, upstream, stub):
    resolv = tmp / "resolv.conf"
    resolv.write_text(f"nameserver {upstream.address}\n")
    common = ["--manifests", harness.EXAMPLES, "--resolv-conf", resolv]

    cases = {
        "kubeadm": ({"Corefile": KUBEADM + stub_block(stub.address)}, {}),
        "minikube": ({"Corefile": MINIKUBE + stub_block(stub.address)},
                     {"host.minikube.internal": "192.168.49.1"}),
        "eks": ({"Corefile": EKS + stub_block(stub.address)}, {}),
        "rke2": ({"Corefile": RKE2 + stub_block(stub.address)}, {}),
    }
    for name, (files, hosts) in cases.items():
        root = tmp / name
        write_tree(root, files)
        with t.server("--corefile", root / "Corefile", *common) as srv:
            check_answers(t, srv, name, hosts)
            if name == "minikube":
                t.check(harness.wait_until(lambda: "host.minikube.internal" in srv.stderr_text()
                                           or "kubernetes.default.svc" in srv.stderr_text(), 5),
                        f"minikube: `log` logs queries on stderr; {srv.describe()}")

    # k3s: NodeHosts and the custom directory, moved from /etc/coredns into the test's directory.
    root = tmp / "k3s"
    corefile = K3S.replace("/etc/coredns", str(root))
    write_tree(root, {
        "Corefile": corefile,
        "NodeHosts": "172.18.0.2 k3s-server\n172.18.0.3 k3s-agent-1\n",
        "custom/stub.server": stub_block(stub.address),
        "custom/log.override": "log\n",
    })
    with t.server("--corefile", root / "Corefile", *common) as srv:
        check_answers(t, srv, "k3s", {"k3s-server": "172.18.0.2"})

    # AKS: custom/ (the coredns-custom ConfigMap) relative to the Corefile's directory.
    root = tmp / "aks"
    write_tree(root, {
        "Corefile": AKS,
        "custom/test.server": stub_block(stub.address),
        "custom/log.override": "log\n",
        "custom/rewrite.override":
            "rewrite name exact db.corp.example api-service.production.svc.cluster.local\n",
    })
    with t.server("--corefile", root / "Corefile", *common) as srv:
        check_answers(t, srv, "aks", rewritten={"db.corp.example": "10.96.10.100"})
    # Without the custom files (the glob matches nothing) it starts all the same.
    write_tree(tmp / "aks-bare", {"Corefile": AKS + stub_block(stub.address)})
    with t.server("--corefile", tmp / "aks-bare" / "Corefile", *common) as srv:
        check_answers(t, srv, "aks without custom files")


def refusals(t, tmp):
    head = ".:53 {\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n"
    cases = [
        ("unknown plugin", head + "    whoami\n}\n", 3, "whoami", "unknown plugin"),
        ("unknown option", head + "    cache 30 {\n        keepttl\n    }\n}\n", 4, "keepttl",
         "unknown option of cache"),
        ("unknown kubernetes option",
         ".:53 {\n    kubernetes cluster.local {\n        resyncperiod 10s\n    }\n}\n", 3,
         "resyncperiod", "unknown option of kubernetes"),
        ("second kubernetes block",
         head + "}\nother.local:53 {\n    kubernetes other.local\n    forward . 10.0.0.1\n}\n",
         5, "kubernetes", "a second kubernetes block"),
        ("bad value", head + "    cache thirty\n}\n", 3, "thirty", "expected a number"),
        ("bad ttl",
         ".:53 {\n    kubernetes cluster.local {\n        ttl 99999\n    }\n}\n", 3, "99999",
         "not a number from 0 to 3600"),
        ("two ports", head + "}\nconsul.local:5353 {\n    forward . 10.0.0.1\n}\n", 4,
         "consul.local:5353", "a block on port 5353"),
        ("hosts in a stub block",
         head + "}\nconsul.local:53 {\n    hosts {\n        10.0.0.1 a.consul.local\n    }\n"
                "    forward . 10.0.0.1\n}\n", 5, "hosts", "a block for other zones"),
        ("noendpoints with an argument",
         ".:53 {\n    kubernetes cluster.local {\n        noendpoints yes\n    }\n}\n", 3,
         "yes", "noendpoints with no argument"),
        ("unclosed block", head, 1, "{", "never closed"),
    ]
    for i, (label, text, line, token, reason) in enumerate(cases):
        path = tmp / f"refused-{i}" / "Corefile"
        write_tree(path.parent, {"Corefile": text})
        expected = f'{path}:{line}: "{token}": '
        for mode, args in (("start-up", ["--corefile", path, "--manifests", harness.EXAMPLES]),
                           ("--check-config", ["--corefile", path, "--check-config", path,
                                               "--manifests", harness.EXAMPLES])):
            r = ran(t, *args)
            t.check(r.returncode not in (0, None) and expected in r.stderr and reason in r.stderr,
                    f"{label} ({mode}): expected a refusal naming {expected!r} and {reason!r}; "
                    f"got exit {r.returncode}, stderr {r.stderr!r}")
    # An imported file's error names that file.
    root = tmp / "refused-import"
    write_tree(root, {"Corefile": AKS, "custom/bad.override": "errors\nfrobnicate\n"})
    r = ran(t, "--corefile", root / "Corefile", "--manifests", harness.EXAMPLES)
    t.check(r.returncode not in (0, None) and
            f'{root}/custom/bad.override:2: "frobnicate": unknown plugin' in r.stderr,
            f"an imported file's unknown plugin names that file and line: {r.stderr!r}")
    # Manifests, but no kubernetes block to serve them in.
    write_tree(tmp / "no-kubernetes", {"Corefile": ".:53 {\n    forward . 10.0.0.1\n}\n"})
    r = ran(t, "--corefile", tmp / "no-kubernetes" / "Corefile", "--manifests", harness.EXAMPLES)
    t.check(r.returncode not in (0, None) and "no server block holds kubernetes" in r.stderr,
            f"--manifests with a Corefile without kubernetes: {r.stderr!r}")


def check_config(t, tmp):
    root = tmp / "check"
    write_tree(root, {"Corefile": KUBEADM})
    corefile = root / "Corefile"
    r = ran(t, "--corefile", corefile, "--check-config", corefile, "--manifests", harness.EXAMPLES)
    t.check(r.returncode == 0 and "valid" in r.stdout,
            f"--check-config of a good Corefile: exit {r.returncode}, {r.stdout!r} {r.stderr!r}")
    # A config file's corefile: key, and its other keys over the Corefile's.
    config = root / "config.yaml"
    config.write_text(f"corefile: {corefile}\nmanifests: [{harness.EXAMPLES}]\nttl: 7\n")
    r = ran(t, "--check-config", config)
    t.check(r.returncode == 0 and "valid" in r.stdout,
            f"--check-config of a config naming a Corefile: {r.stdout!r} {r.stderr!r}")
    with t.server("--config", config, "--upstream", "none") as srv:
        res = srv.dig("kubernetes.default.svc.cluster.local")
        t.check(res.answer and res.answer[0].ttl == 7,
                f"the config file's ttl overrides the Corefile's 30: {res}")
    # A flag overrides the Corefile.
    with t.server("--corefile", corefile, "--manifests", harness.EXAMPLES, "--ttl", "11",
                  "--upstream", "none") as srv:
        res = srv.dig("kubernetes.default.svc.cluster.local")
        t.check(res.answer and res.answer[0].ttl == 11, f"--ttl overrides the Corefile: {res}")
        res = srv.dig("www.example.test")
        t.check(res.rcode == "REFUSED", f"--upstream none overrides the Corefile's forward: {res}")


def swap_configmap(root, files, generation):
    """As the kubelet updates a mounted ConfigMap: a new directory, the ..data symlink renamed
    over the old one; each file links through ..data."""
    new = root / f"..{generation}"
    new.mkdir()
    for name, text in files.items():
        (new / name).write_text(text)
    tmp = root / "..data_tmp"
    os.symlink(new.name, tmp)
    os.replace(tmp, root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            os.symlink(f"..data/{name}", root / name)


def reload(t, tmp, upstream, stub):
    root = tmp / "reload"
    config_map = root / "coredns"
    custom = root / "custom"
    config_map.mkdir(parents=True)
    custom.mkdir()
    corefile = AKS.replace("custom/", f"{custom}/")
    swap_configmap(config_map, {"Corefile": corefile}, 1)
    swap_configmap(custom, {"stub.server": stub_block(stub.address)}, 1)
    resolv = tmp / "resolv.conf"

    def ttl():
        res = srv.dig("kubernetes.default.svc.cluster.local")
        return res.answer[0].ttl if res.answer else None

    with t.server("--corefile", config_map / "Corefile", "--manifests", harness.EXAMPLES,
                  "--resolv-conf", resolv) as srv:
        t.eq(ttl(), 30, "the Corefile's ttl")
        swap_configmap(config_map, {"Corefile": corefile.replace("ttl 30", "ttl 9")}, 2)
        t.check(harness.wait_until(lambda: ttl() == 9, 15),
                f"a ConfigMap swap of the Corefile applies: ttl {ttl()}; {srv.describe()}")
        # The imported file changes: the stub domain moves to another zone.
        moved = stub_block(stub.address).replace(STUB_ZONE, "consul2.local")
        swap_configmap(custom, {"stub.server": moved}, 2)
        t.check(harness.wait_until(
            lambda: [rr.rdata for rr in srv.dig("web.consul2.local").answer] == [STUB_ADDR], 15),
            f"a change of an imported file applies; {srv.describe()}")
        # Broken: the running config stays, and the log says why.
        swap_configmap(config_map, {"Corefile": corefile.replace("ttl 30", "ttl 9\n      bogus")},
                       3)
        t.check(harness.wait_until(lambda: "still serving the previous config" in
                                   srv.stderr_text(), 15),
                f"a broken Corefile is refused on reload; {srv.describe()}")
        t.check('"bogus": unknown option of kubernetes' in srv.stderr_text(),
                f"the reload's refusal names the option; {srv.describe()}")
        t.eq(ttl(), 9, "the running config stays after a broken Corefile")


def kube_system_variant(t, tmp, upstream):
    variant = harness.EXAMPLES / "kube-system" / "corefile"
    deployment = (variant / "deployment.yaml").read_text()
    t.check('args: ["--corefile", "/etc/coredns/Corefile"]' in deployment,
            "corefile/deployment.yaml runs --corefile /etc/coredns/Corefile")
    t.check(re.search(r"mountPath: /etc/coredns\n", deployment) and
            re.search(r"configMap:\n\s+name: coredns\n", deployment),
            "corefile/deployment.yaml mounts the coredns ConfigMap at /etc/coredns")
    # The ConfigMap's Corefile: the block scalar under `Corefile: |`, unindented.
    text = (variant / "kubeadm-coredns.yaml").read_text()
    lines = text.split("Corefile: |\n", 1)[1].splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    corefile_text = "".join(line[indent:] + "\n" for line in lines)
    t.eq(corefile_text, KUBEADM, "the example's ConfigMap holds kubeadm's Corefile unchanged")
    path = tmp / "kube-system-variant" / "Corefile"
    write_tree(path.parent, {"Corefile": corefile_text})
    r = ran(t, "--corefile", path, "--check-config", path, "--manifests", harness.EXAMPLES)
    t.check(r.returncode == 0, f"the example's Corefile checks: {r.stderr!r}")
    with t.server("--corefile", path, "--manifests", harness.EXAMPLES,
                  "--resolv-conf", tmp / "resolv.conf") as srv:
        res = srv.dig("kubernetes.default.svc.cluster.local")
        t.expect(res, answer=[("kubernetes.default.svc.cluster.local.", "A", "10.96.0.1")])
        res = srv.dig("www.example.test")
        t.check([rr.rdata for rr in res.answer] == ["192.0.2.10"],
                f"the example's Corefile forwards: {res}")


def metrics_labels(t, tmp, stub):
    root = tmp / "metrics"
    write_tree(root, {"Corefile": KUBEADM + stub_block(stub.address)})
    port = harness.free_port()
    with t.server("--corefile", root / "Corefile", "--manifests", harness.EXAMPLES,
                  "--resolv-conf", tmp / "resolv.conf", "--metrics", f"127.0.0.1:{port}") as srv:
        for _ in range(3):
            srv.dig(STUB_NAME)
        for _ in range(2):
            srv.dig("kubernetes.default.svc.cluster.local")
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        page = page.decode()

        def value(zone, metric="coredns_dns_requests_total",
                  extra='proto="udp",family="1",type="A"}'):
            prefix = f'{metric}{{server="dns://:53",zone="{zone}",view="",{extra}'
            lines = [line for line in page.splitlines() if line.startswith(prefix)]
            return sum(float(line.rsplit(" ", 1)[1]) for line in lines) if lines else None

        t.eq(value("consul.local."), 3.0, "requests of the stub block's zone, by its labels")
        t.eq(value("."), 2.0, "requests of the main block, by its labels")
        # Forwarded once, then from the cache: the `plugin` label says which.
        t.eq(value("consul.local.", "coredns_dns_responses_total", 'rcode="NOERROR",'), 3.0,
             "responses of the stub block's zone, by its labels")
        t.eq(value(".", "coredns_dns_responses_total", 'rcode="NOERROR",'), 2.0,
             "responses of the main block, by its labels")


def scenario(t):
    with tempfile.TemporaryDirectory(prefix="clusterdns-corefile-") as name:
        tmp = Path(name)
        with Unbound() as upstream, \
                Unbound(extra_zones=[STUB_ZONE, "consul2.local"],
                        extra_data=[f"{STUB_NAME}. 300 IN A {STUB_ADDR}",
                                    f"web.consul2.local. 300 IN A {STUB_ADDR}"]) as stub:
            (tmp / "resolv.conf").write_text(f"nameserver {upstream.address}\n")
            distributions(t, tmp, upstream, stub)
            refusals(t, tmp)
            check_config(t, tmp)
            kube_system_variant(t, tmp, upstream)
            metrics_labels(t, tmp, stub)
            reload(t, tmp, upstream, stub)


harness.main(__doc__, scenario)
