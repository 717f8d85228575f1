"""The kube-system drop-in (examples/kube-system/) holds together, and the image can run it.

- Every manifest under examples/kube-system/ loads through clusterdns's own loader: the server
  starts on each file alone and answers.
- Parsed with PyYAML (a key given twice is refused, as kubectl does), the objects say what a
  drop-in for CoreDNS needs: Service kube-dns at 10.96.0.10 with UDP and TCP 53 and TCP 9153,
  selecting the Deployment's pods; the Deployment's probes (/health on 8080, /ready on 8181),
  ports and mount agree with its config; every clusterdns container runs as non-root on a
  read-only root fs, drops ALL and adds only NET_BIND_SERVICE; the ClusterRole grants list and
  watch, nothing more, on exactly the collections the server reads (the paths in
  plugins/kubernetes/kubernetes.cc); the NetworkPolicy lets DNS through on UDP and TCP 53; the
  autoscaler, the HPA alternative and the node-local DaemonSet point at what they should.
- Every ConfigMap's config.yaml passes `clusterdns --check-config`; copies with an unknown key or
  a bad value fail with a message naming it. The node-local config passes also inside a pod
  (KUBERNETES_SERVICE_HOST set, no token mounted): it must not reach for the API.
- Dockerfile: the runtime stage installs the Debian package of every library the binary links
  (readelf's NEEDED, resolved by ldd, owned per dpkg -S), the build stage the -dev package that
  holds each one's link-time .so, and both use the contract commands. Skipped without dpkg.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, REPO  # noqa: E402

DROP_IN = EXAMPLES / "kube-system"
KUBE_DNS_IP = "10.96.0.10"
CONFIG_DIR = "/etc/clusterdns"

try:
    import yaml
except ImportError:  # python3-yaml (a dependency of python3-kubernetes in .ci/packages)
    yaml = None


def manifests():
    # corefile/ is the --corefile variant: another Deployment clusterdns, checked by
    # test_corefile.py.
    return sorted(p for p in DROP_IN.rglob("*") if p.suffix in (".yaml", ".yml", ".json")
                  and "corefile" not in p.relative_to(DROP_IN).parts)


# --------------------------------------------------------------------------------------------
# Parsing


def strict_loader():
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        loader.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Strict


def load_objects(t):
    """{(kind, namespace, name): (object, path relative to examples/kube-system)}."""
    loader = strict_loader()
    objects = {}
    for path in manifests():
        rel = path.relative_to(DROP_IN).as_posix()
        try:
            docs = [d for d in yaml.load_all(path.read_text(), Loader=loader) if d is not None]
        except yaml.YAMLError as e:
            t.check(False, f"{rel}: not valid YAML: {e}")
            continue
        for doc in docs:
            for obj in doc.get("items", []) if doc.get("kind") == "List" else [doc]:
                meta = obj.get("metadata", {})
                key = (obj.get("kind"), meta.get("namespace"), meta.get("name"))
                t.check(key not in objects, f"{rel}: {key} is defined twice")
                objects[key] = (obj, rel)
    return objects


def get(t, objects, kind, name, namespace="kube-system"):
    found = objects.get((kind, namespace, name))
    t.check(found, f"no {kind} {namespace}/{name} in examples/kube-system/")
    return found[0] if found else {}


def port_of(address):
    """':8080' or '169.254.20.10:8080' -> 8080."""
    return int(str(address).rsplit(":", 1)[1])


def config_of(t, configmap):
    text = configmap.get("data", {}).get("config.yaml")
    t.check(text, f"ConfigMap {configmap['metadata']['name']}: no config.yaml key")
    return text or "", (yaml.load(text or "", Loader=strict_loader()) or {})


def pod_spec(workload):
    return workload.get("spec", {}).get("template", {}).get("spec", {})


def container(t, workload, name):
    found = [c for c in pod_spec(workload).get("containers", []) if c.get("name") == name]
    t.check(len(found) == 1, f"{workload['kind']} {workload['metadata']['name']}: "
                             f"no single container {name!r}")
    return found[0] if found else {}


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def ports_of(spec_ports, port_key):
    return sorted((p.get(port_key), p.get("protocol", "TCP"), p.get("name")) for p in spec_ports)


# --------------------------------------------------------------------------------------------
# Structural checks


def check_hardened(t, where, c, add):
    """The securityContext every container here has; `add` is the one capability it keeps."""
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    t.eq(caps.get("drop"), ["ALL"], f"{where}: capabilities.drop")
    t.eq(caps.get("add", []), add, f"{where}: capabilities.add")
    t.eq(sc.get("readOnlyRootFilesystem"), True, f"{where}: readOnlyRootFilesystem")
    t.eq(sc.get("allowPrivilegeEscalation"), False, f"{where}: allowPrivilegeEscalation")


def check_clusterdns_container(t, where, c, config):
    check_hardened(t, where, c, ["NET_BIND_SERVICE"])
    sc = c.get("securityContext", {})
    t.eq(sc.get("runAsNonRoot"), True, f"{where}: runAsNonRoot")
    t.eq(sc.get("runAsUser"), 65532, f"{where}: runAsUser (the image's USER)")
    t.eq(c.get("args"), ["--config", f"{CONFIG_DIR}/config.yaml"], f"{where}: args")
    t.eq([m.get("mountPath") for m in c.get("volumeMounts", [])], [CONFIG_DIR],
         f"{where}: volume mounts")
    live = c.get("livenessProbe", {}).get("httpGet", {})
    t.eq((live.get("path"), live.get("port")), ("/health", port_of(config.get("health", ":8080"))),
         f"{where}: livenessProbe against the config's health address")


def check_config_volume(t, workload, configmap):
    where = f"{workload['kind']} {workload['metadata']['name']}"
    volumes = {v.get("name"): v for v in pod_spec(workload).get("volumes", [])}
    containers = pod_spec(workload).get("containers", [])
    mounts = [m for c in containers for m in c.get("volumeMounts", [])]
    for m in mounts:
        source = volumes.get(m.get("name"), {}).get("configMap", {})
        t.eq(source.get("name"), configmap["metadata"]["name"], f"{where}: mounted ConfigMap")
        t.check(not m.get("subPath"), f"{where}: a subPath mount never sees ConfigMap updates")
        t.check(any(i.get("key") == "config.yaml" and i.get("path") == "config.yaml"
                    for i in source.get("items", [{"key": "config.yaml", "path": "config.yaml"}])),
                f"{where}: config.yaml not mounted as config.yaml")


def check_service_and_deployment(t, objects):
    service = get(t, objects, "Service", "kube-dns")
    spec = service.get("spec", {})
    t.eq(spec.get("clusterIP"), KUBE_DNS_IP, "Service kube-dns: clusterIP")
    t.eq(ports_of(spec.get("ports", []), "port"),
         sorted([(53, "UDP", "dns"), (53, "TCP", "dns-tcp"), (9153, "TCP", "metrics")]),
         "Service kube-dns: ports")
    annotations = service.get("metadata", {}).get("annotations", {})
    t.eq((annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/port")),
         ("true", "9153"), "Service kube-dns: prometheus scrape annotations")

    deployment = get(t, objects, "Deployment", "clusterdns")
    dspec = deployment.get("spec", {})
    pod_labels = dspec.get("template", {}).get("metadata", {}).get("labels", {})
    t.eq(pod_labels.get("k8s-app"), "kube-dns", "Deployment clusterdns: pod label k8s-app")
    t.check(labels_match(spec.get("selector"), pod_labels),
            f"Service kube-dns selects {spec.get('selector')}, the pods are {pod_labels}")
    t.check(labels_match(dspec.get("selector", {}).get("matchLabels"), pod_labels),
            "Deployment clusterdns: its selector does not match its pods")
    t.eq(dspec.get("replicas"), 2, "Deployment clusterdns: replicas")
    pod = pod_spec(deployment)
    for field, want in (("priorityClassName", "system-cluster-critical"),
                        ("dnsPolicy", "Default"), ("serviceAccountName", "clusterdns")):
        t.eq(pod.get(field), want, f"Deployment clusterdns: {field}")
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    terms = [w.get("podAffinityTerm", {})
             for w in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    t.check(any(term.get("topologyKey") == "kubernetes.io/hostname" and
                labels_match(term.get("labelSelector", {}).get("matchLabels"), pod_labels)
                for term in terms),
            "Deployment clusterdns: no preferred anti-affinity by hostname against its own pods")
    t.check(any(tol.get("key") == "node-role.kubernetes.io/control-plane"
                for tol in pod.get("tolerations", [])),
            "Deployment clusterdns: no toleration for control-plane nodes")

    configmap = get(t, objects, "ConfigMap", "clusterdns")
    _, config = config_of(t, configmap)
    for key in ("listen", "health", "ready", "metrics"):
        t.check(key in config, f"ConfigMap clusterdns: config.yaml has no {key}")
    t.check(pod.get("terminationGracePeriodSeconds", 30) > config.get("lameduck", 5),
            "Deployment clusterdns: terminationGracePeriodSeconds must exceed the lameduck")
    c = container(t, deployment, "clusterdns")
    check_clusterdns_container(t, "Deployment clusterdns", c, config)
    ready = c.get("readinessProbe", {}).get("httpGet", {})
    t.eq((ready.get("path"), ready.get("port")), ("/ready", port_of(config.get("ready", ":8181"))),
         "Deployment clusterdns: readinessProbe against the config's ready address")
    t.eq(ports_of(c.get("ports", []), "containerPort"),
         sorted([(53, "UDP", "dns"), (53, "TCP", "dns-tcp"), (9153, "TCP", "metrics")]),
         "Deployment clusterdns: container ports")
    t.eq(sorted({port_of(a) for a in config.get("listen", [])}), [53],
         "ConfigMap clusterdns: listen port (the Service's targetPort)")
    t.eq(port_of(config.get("metrics", ":9153")), 9153, "ConfigMap clusterdns: metrics port")
    resources = c.get("resources", {})
    t.eq((resources.get("requests"), resources.get("limits")),
         ({"cpu": "100m", "memory": "70Mi"}, {"memory": "170Mi"}),
         "Deployment clusterdns: resources")
    check_config_volume(t, deployment, configmap)

    pdb = get(t, objects, "PodDisruptionBudget", "clusterdns")
    pspec = pdb.get("spec", {})
    t.check(pspec.get("maxUnavailable") == 1 or pspec.get("minAvailable") == 1,
            f"PodDisruptionBudget: maxUnavailable or minAvailable 1, got {pspec}")
    t.check(labels_match(pspec.get("selector", {}).get("matchLabels"), pod_labels),
            "PodDisruptionBudget: its selector does not match the clusterdns pods")


def server_reads():
    """{(API group, resource)} of the collections plugins/kubernetes lists and watches."""
    source = (REPO / "plugins" / "kubernetes" / "kubernetes.cc").read_text()
    reads = {("", r) for r in re.findall(r'"/api/v1/([a-z]+)"', source)}
    reads |= set(re.findall(r'"/apis/([a-z0-9.-]+)/v[0-9a-z]+/([a-z]+)"', source))
    return reads


def check_rbac(t, objects):
    role = get(t, objects, "ClusterRole", "system:clusterdns", namespace=None)
    granted = set()
    for rule in role.get("rules", []):
        t.eq(sorted(rule.get("verbs", [])), ["list", "watch"],
             f"ClusterRole system:clusterdns: verbs of {rule}")
        t.check("resourceNames" not in rule and "nonResourceURLs" not in rule,
                f"ClusterRole system:clusterdns: unexpected rule {rule}")
        granted |= {(g, r) for g in rule.get("apiGroups", []) for r in rule.get("resources", [])}
    reads = server_reads()
    t.check({("", "services"), ("discovery.k8s.io", "endpointslices")} <= reads,
            f"plugins/kubernetes/kubernetes.cc: found no list of what it reads ({reads})")
    t.eq(sorted(granted), sorted(reads),
         "ClusterRole system:clusterdns: (group, resource) granted vs read by the server")
    binding = get(t, objects, "ClusterRoleBinding", "system:clusterdns", namespace=None)
    t.eq(binding.get("roleRef", {}).get("name"), "system:clusterdns", "ClusterRoleBinding: roleRef")
    t.eq([(s.get("kind"), s.get("namespace"), s.get("name")) for s in binding.get("subjects", [])],
         [("ServiceAccount", "kube-system", "clusterdns")], "ClusterRoleBinding: subjects")
    get(t, objects, "ServiceAccount", "clusterdns")


def check_network_policy(t, objects):
    policy = get(t, objects, "NetworkPolicy", "allow-dns", namespace="production")
    spec = policy.get("spec", {})
    t.check("Egress" in spec.get("policyTypes", []), "NetworkPolicy allow-dns: not for Egress")
    kube_system = {"kubernetes.io/metadata.name": "kube-system"}
    dns_peer = {"namespaceSelector": {"matchLabels": kube_system},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    rules = [r for r in spec.get("egress", []) if dns_peer in r.get("to", [])]
    t.check(rules, f"NetworkPolicy allow-dns: no egress rule to {dns_peer}")
    allowed = {(p.get("protocol", "TCP"), p.get("port")) for r in rules for p in r.get("ports", [])}
    t.check({("UDP", 53), ("TCP", 53)} <= allowed,
            f"NetworkPolicy allow-dns: DNS needs UDP and TCP 53 (TCP for truncated answers), "
            f"allows {sorted(allowed)}")


def check_scaling(t, objects):
    params = get(t, objects, "ConfigMap", "clusterdns-autoscaler").get("data", {}).get("linear")
    linear = json.loads(params or "{}")
    t.eq({k: linear.get(k) for k in ("coresPerReplica", "nodesPerReplica", "min",
                                     "preventSinglePointFailure")},
         {"coresPerReplica": 256, "nodesPerReplica": 16, "min": 2,
          "preventSinglePointFailure": True}, "autoscaler ConfigMap: linear parameters")
    autoscaler = get(t, objects, "Deployment", "clusterdns-autoscaler")
    c = container(t, autoscaler, "autoscaler")
    flags = c.get("command", []) + c.get("args", [])
    for flag in ("--namespace=kube-system", "--configmap=clusterdns-autoscaler",
                 "--target=deployment/clusterdns"):
        t.check(flag in flags, f"autoscaler: {flag} missing from {flags}")
    check_hardened(t, "Deployment clusterdns-autoscaler", c, [])
    account = pod_spec(autoscaler).get("serviceAccountName")
    get(t, objects, "ServiceAccount", account)
    role = get(t, objects, "Role", "clusterdns-autoscaler")
    t.check(any("deployments/scale" in r.get("resources", []) and "update" in r.get("verbs", [])
                and r.get("resourceNames") == ["clusterdns"] for r in role.get("rules", [])),
            "autoscaler Role: may not update deployments/scale of clusterdns")

    hpa_key = ("HorizontalPodAutoscaler", "kube-system", "clusterdns")
    hpa, hpa_file = objects.get(hpa_key, ({}, ""))
    t.check(hpa, "no HorizontalPodAutoscaler kube-system/clusterdns")
    t.eq(hpa.get("apiVersion"), "autoscaling/v2", "HPA: apiVersion")
    target = hpa.get("spec", {}).get("scaleTargetRef", {})
    t.eq((target.get("kind"), target.get("name")), ("Deployment", "clusterdns"), "HPA: target")
    # `kubectl apply -f examples/kube-system/` must not start two controllers fighting over
    # the replicas.
    t.check("/" in hpa_file, f"the HPA ({hpa_file}) must not sit beside autoscaler.yaml")
    t.check(re.search(r"one or the other", (DROP_IN / hpa_file).read_text(), re.I) if hpa_file
            else False, f"{hpa_file}: no comment saying to use it or the autoscaler, not both")


def check_node_local(t, objects):
    daemonset = get(t, objects, "DaemonSet", "clusterdns-node-local")
    pod = pod_spec(daemonset)
    for field, want in (("hostNetwork", True), ("dnsPolicy", "Default"),
                        ("priorityClassName", "system-node-critical")):
        t.eq(pod.get(field), want, f"DaemonSet clusterdns-node-local: {field}")
    configmap = get(t, objects, "ConfigMap", "clusterdns-node-local")
    _, config = config_of(t, configmap)
    t.eq(config.get("node_local"), True, "node-local config: node_local")
    t.eq(config.get("listen"), ["169.254.20.10:53"], "node-local config: listen")
    t.check("upstream" not in config, "node-local config: other names go to the node's "
                                      "resolv.conf, so no upstream key")
    t.eq(sorted(config.get("stub_domains", [])),
         sorted(f"{zone}=tcp://{KUBE_DNS_IP}:53" for zone in
                ("cluster.local", "in-addr.arpa", "ip6.arpa")),
         "node-local config: the cluster's zones to kube-dns over TCP")
    t.eq(config.get("health"), "169.254.20.10:8080", "node-local config: health")
    t.eq(port_of(config.get("metrics", ":9153")), 9253, "node-local config: metrics port")
    c = container(t, daemonset, "clusterdns")
    check_clusterdns_container(t, "DaemonSet clusterdns-node-local", c, config)
    t.eq(c.get("livenessProbe", {}).get("httpGet", {}).get("host"), "169.254.20.10",
         "DaemonSet clusterdns-node-local: liveness probe host")
    t.check((9253, "TCP", "metrics") in ports_of(c.get("ports", []), "containerPort"),
            "DaemonSet clusterdns-node-local: metrics port 9253 not declared")
    check_config_volume(t, daemonset, configmap)
    inits = pod.get("initContainers", [])
    t.eq(len(inits), 1, "DaemonSet clusterdns-node-local: init containers")
    for init in inits:
        check_hardened(t, "node-local init container", init, ["NET_ADMIN"])
        script = " ".join(init.get("command", []) + init.get("args", []))
        for word in ("nodelocaldns", "type dummy", "169.254.20.10/32"):
            t.check(word in script, f"node-local init container: {word!r} not in {script!r}")


# --------------------------------------------------------------------------------------------
# clusterdns --check-config


def check_config(t, path, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KUBERNETES_") and k != "KUBECONFIG"}
    env.update(env_extra or {})
    cmd = [str(t.binary), "--check-config", str(path)]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                       env=env)
    if "unknown argument" in p.stderr and "--check-config" in p.stderr:
        t.check(False, f"{t.binary} has no --check-config yet: {p.stderr.strip()}")
        return None
    return p


def check_configs(t, objects):
    configmaps = [(o, f) for (kind, _, _), (o, f) in sorted(objects.items())
                  if kind == "ConfigMap" and "config.yaml" in o.get("data", {})]
    t.eq(len(configmaps), 2, "ConfigMaps holding a config.yaml (main and node-local)")
    with tempfile.TemporaryDirectory() as tmp:
        for configmap, rel in configmaps:
            name = configmap["metadata"]["name"]
            text, config = config_of(t, configmap)
            good = Path(tmp, f"{name}.yaml")
            good.write_text(text)
            p = check_config(t, good)
            if p is None:
                return
            t.check(p.returncode == 0, f"{rel}: clusterdns --check-config exit {p.returncode}, "
                                       f"expected 0: {p.stderr.strip()}")
            if config.get("node_local"):
                # As in its pod: the API's address is set, but no token is mounted.
                p = check_config(t, good, {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                           "KUBERNETES_SERVICE_PORT": "1"})
                t.check(p.returncode == 0,
                        f"{rel}: with KUBERNETES_SERVICE_HOST set (as in the DaemonSet's pod) "
                        f"--check-config exits {p.returncode}: a node-local cache must not use "
                        f"the in-cluster API: {p.stderr.strip()}")
            broken = [("unknown key", text + "no_such_setting: 1\n", "no_such_setting")]
            if "ttl" in config:
                broken.append(("bad ttl", re.sub(r"(?m)^ttl:.*$", "ttl: soon", text), "ttl"))
            for what, bad_text, named in broken:
                bad = Path(tmp, f"{name}-broken.yaml")
                bad.write_text(bad_text)
                p = check_config(t, bad)
                t.check(p.returncode != 0, f"{rel} with {what}: --check-config exit 0, expected "
                                           f"a failure")
                t.check(named in p.stderr and str(bad) in p.stderr,
                        f"{rel} with {what}: the message should name {named!r} and the file, "
                        f"got {p.stderr.strip()!r}")


# --------------------------------------------------------------------------------------------
# Dockerfile


# Already in debian:bookworm-slim: apt needs them.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


def dockerfile_stages():
    """[(FROM line, [instructions])], continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def apt_installs(instructions):
    packages = set()
    for line in instructions:
        for command in re.split(r"&&|;", line):
            words = command.split()
            if words[:2] == ["RUN", "apt-get"] or words[:1] == ["apt-get"]:
                words = words[words.index("apt-get"):]
                if "install" in words:
                    packages |= {w for w in words[words.index("install") + 1:]
                                 if not w.startswith("-")}
    return packages


def dpkg_owner(path):
    """The package owning `path`, trying the merged-/usr twin ('/lib/x' vs '/usr/lib/x')."""
    path = str(path)
    candidates = [path, path[4:] if path.startswith("/usr/") else "/usr" + path]
    for candidate in candidates:
        p = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":", 1)[0].strip()
    return None


def linked_libraries(binary):
    """[(soname, resolved path)] for the binary's own NEEDED entries."""
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)",
                               subprocess.run(["ldd", str(binary)], capture_output=True,
                                              text=True).stdout, re.M))
    # A sanitizer build (tests/run-sanitize.sh) links the sanitizers' runtimes; the image's
    # Release build does not.
    sanitizers = ("libasan.", "libubsan.", "liblsan.", "libtsan.")
    return [(soname, resolved.get(soname)) for soname in needed
            if not soname.startswith(sanitizers)]


def link_time_name(path):
    """The unversioned lib*.so the linker found for `path` (libyaml.so for libyaml-0.so.2)."""
    real = os.path.realpath(path)
    for candidate in sorted(Path(path).parent.glob("lib*.so")):
        if os.path.realpath(candidate) == real:
            return candidate
    return None


def check_dockerfile(t):
    stages = dockerfile_stages()
    if not t.check(len(stages) >= 2, "Dockerfile: expected a build stage and a runtime stage"):
        return
    build = stages[0][1]
    runtime_from, runtime = stages[-1]
    t.check("bookworm-slim" in runtime_from, f"Dockerfile: runtime stage is {runtime_from}")
    build_text = " ".join(build)
    for command in ("cmake -S . -B build -DCMAKE_BUILD_TYPE=Release", "cmake --build build -j2"):
        t.check(command in build_text, f"Dockerfile: the build stage does not run `{command}`")
    t.check("USER 65532:65532" in runtime, "Dockerfile: runtime stage must run as 65532:65532")
    exposed = {w for line in runtime if line.startswith("EXPOSE") for w in line.split()[1:]}
    t.check({"53/udp", "53/tcp", "8080", "8181", "9153"} <= exposed,
            f"Dockerfile: EXPOSE {sorted(exposed)}")
    build_packages = apt_installs(build)
    runtime_packages = apt_installs(runtime)
    t.check({"cmake", "make", "g++", "pkg-config"} <= build_packages,
            f"Dockerfile: build tools missing from {sorted(build_packages)}")

    missing = [tool for tool in ("dpkg", "readelf", "ldd") if not shutil.which(tool)]
    if missing:
        print(f"note: Dockerfile library check skipped: no {', '.join(missing)} here", flush=True)
        return
    libraries = linked_libraries(t.binary)
    t.check(libraries, f"readelf found no NEEDED libraries in {t.binary}")
    for soname, path in libraries:
        if not t.check(path, f"ldd does not resolve {soname}"):
            continue
        package = dpkg_owner(path)
        if not t.check(package, f"dpkg -S: no package owns {path} ({soname})"):
            continue
        if package in BASE_IMAGE_PACKAGES:
            continue
        t.check(package in runtime_packages,
                f"Dockerfile: the binary links {soname} from {package}, which the runtime stage "
                f"does not install ({sorted(runtime_packages)})")
        dev = link_time_name(path)
        dev_package = dpkg_owner(dev) if dev else None
        if t.check(dev_package, f"no -dev package here holds the lib*.so for {soname}"):
            t.check(dev_package in build_packages,
                    f"Dockerfile: the build links {dev.name} from {dev_package}, which the build "
                    f"stage does not install")


# --------------------------------------------------------------------------------------------


def scenario(t):
    files = manifests()
    t.check(files, "examples/kube-system/ holds no manifests")
    for path in files:
        with t.server("--manifests", path) as srv:
            res = srv.dig("dns-version.cluster.local", "TXT")
            t.expect(res, answer=[("dns-version.cluster.local", "TXT", '"1.1.0"')])

    if yaml is None:
        print("note: structural and --check-config checks skipped: python3-yaml is not installed",
              flush=True)
    else:
        objects = load_objects(t)
        check_service_and_deployment(t, objects)
        check_rbac(t, objects)
        check_network_policy(t, objects)
        check_scaling(t, objects)
        check_node_local(t, objects)
        check_configs(t, objects)
    check_dockerfile(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
