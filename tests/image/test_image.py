#!/usr/bin/env python3
"""The shipped image, built from the Dockerfile and run as the kube-system Deployment runs it.

- Build: tests/image/build.sh into a scratch podman store: base images from debootstrap, then the
  Dockerfile with no registry at all.
- Network: two private network namespaces joined by a veth pair, the node (10.53.0.1) and the
  pod (10.53.0.2); nothing else is reachable. On the node, unbound answers outside.example A
  192.0.2.80: the node's resolver, the pod's only nameserver (dnsPolicy: Default). It cannot sit in
  the pod's namespace: resolv.conf names no port, so it would be on port 53 of one of the pod's
  own addresses, which is the server itself when it listens on 0.0.0.0:53.
- The Deployment (examples/kube-system/deployment.yaml) as the kubelet would run it: its image,
  its args unchanged (--config /etc/clusterdns/config.yaml), its ConfigMap's config.yaml mounted
  read-only in the kubelet's layout (..data symlink), its user, read-only root file system,
  capabilities, no privilege escalation and memory limit; the service account's token, ca.crt and
  namespace, and KUBERNETES_SERVICE_HOST/PORT naming the API server: the fake API server
  (tests/fake_apiserver) on the pod's 127.0.0.1, holding examples/production-services.yaml. The
  ConfigMap names no source, so in a pod the server watches the API; giving it one would change
  the arguments under test.
- Checked from the node, as the kubelet and other pods reach the pod: /ready 200 on 8181, /health
  200 on 8080, Services from the API over UDP and TCP, an outside name through the node's
  resolver, and SIGTERM ending the container with exit code 0.
- The image's default command (--manifests of the bundled examples, --listen 0.0.0.0:53) in the
  same pod: /ready, a Service of the examples and the outside name.

Needs root, podman, runc, debootstrap, iproute2, unbound, dig, curl and python3-yaml (.ci/packages):
without them it fails, never skips. Traffic stays inside the two namespaces, apart from the
build's apt-get and debootstrap reaching the Debian mirror apt is configured with.

Usage: python3 tests/image/test_image.py [--context DIR]   (DIR: the tree to build; default this
repository). CLUSTERDNS_PODMAN_ROOT=DIR uses and keeps that podman store (base images are then
made once), instead of a scratch one removed at the end.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import Checker, DigResult, Failure, svc  # noqa: E402

NODE_IP = "10.53.0.1"
POD_IP = "10.53.0.2"
OUTSIDE = ("outside.example", "192.0.2.80")
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
READY_SECONDS = 60
TOOLS = ("podman", "runc", "debootstrap", "ip", "unbound", "dig", "curl", "openssl")

# Everything started, so that main() can remove what a SIGTERM in the middle of a step left.
STARTED = {"containers": [], "processes": [], "netns": []}

try:
    import yaml
except ImportError:  # python3-yaml, which python3-kubernetes in .ci/packages pulls in
    yaml = None


def run(cmd, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def in_ns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


# --------------------------------------------------------------------------------------------
# What the kubelet would give the pod


def kubelet_volume(path, files, mode=0o644):
    """A directory as the kubelet writes a ConfigMap or projected volume: the files in a
    timestamped directory, `..data` pointing at it and one symlink per file through `..data`,
    all readable by the container's non-root user."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.000000001", time.gmtime())
    (path / stamp).mkdir(parents=True)
    for name, text in files.items():
        (path / stamp / name).write_text(text)
        (path / stamp / name).chmod(mode)
        (path / name).symlink_to(Path("..data") / name)
    (path / "..data").symlink_to(stamp)
    for d in (path, path / stamp):
        d.chmod(0o755)
    return path


def podman_memory(quantity):
    """A Kubernetes memory quantity ("170Mi") as podman's --memory ("170m", binary units)."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(quantity))
    if not m:
        raise Failure(f"memory limit {quantity!r}: not a quantity this test converts")
    return m.group(1) + {"Ki": "k", "Mi": "m", "Gi": "g", None: "b"}[m.group(2)]


def deployment_pod(work, deployment, configmaps):
    """(image, podman run options, args) of the Deployment's clusterdns container."""
    spec = deployment["spec"]["template"]["spec"]
    containers = [c for c in spec["containers"] if c["name"] == "clusterdns"]
    if len(containers) != 1:
        raise Failure("deployment.yaml: no single container named clusterdns")
    c = containers[0]
    if c.get("command"):
        raise Failure("deployment.yaml: command overrides the image's entrypoint; not run here")
    sc = c.get("securityContext", {})
    opts = []
    if "runAsUser" in sc:
        opts += ["--user", f"{sc['runAsUser']}:{sc.get('runAsGroup', sc['runAsUser'])}"]
    if sc.get("readOnlyRootFilesystem"):
        # podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run; the kubelet does not.
        opts += ["--read-only", "--read-only-tmpfs=false"]
    if sc.get("allowPrivilegeEscalation") is False:
        opts += ["--security-opt", "no-new-privileges"]
    for cap in sc.get("capabilities", {}).get("drop", []):
        opts += ["--cap-drop", cap]
    for cap in sc.get("capabilities", {}).get("add", []):
        opts += ["--cap-add", cap]
    if c.get("resources", {}).get("limits", {}).get("memory"):
        opts += ["--memory", podman_memory(c["resources"]["limits"]["memory"])]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in c.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            raise Failure(f"deployment.yaml: volume {mount['name']}: only configMap volumes "
                          f"are mounted by this test")
        data = configmaps[volume["configMap"]["name"]]["data"]
        items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        d = kubelet_volume(work / f"volume-{mount['name']}",
                           {i["path"]: data[i["key"]] for i in items})
        opts += ["-v", f"{d}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") else "")]
    if spec.get("dnsPolicy") != "Default":
        raise Failure(f"deployment.yaml: dnsPolicy {spec.get('dnsPolicy')!r}: this test gives "
                      f"the pod the node's resolv.conf, which is dnsPolicy: Default")
    return c["image"], opts, [str(a) for a in c.get("args", [])]


# --------------------------------------------------------------------------------------------
# The network: a node and a pod namespace


class Network:
    def __init__(self):
        self.node = f"clusterdns-image-node-{os.getpid()}"
        self.pod = f"clusterdns-image-pod-{os.getpid()}"
        self.made = []

    def __enter__(self):
        for ns in (self.node, self.pod):
            run(["ip", "netns", "add", ns])
            self.made.append(ns)
            STARTED["netns"].append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Made inside the node namespace: no interface ever appears in the host's.
        run(["ip", "-n", self.node, "link", "add", "eth0", "type", "veth",
             "peer", "name", "eth0", "netns", self.pod])
        for ns, ip in ((self.node, NODE_IP), (self.pod, POD_IP)):
            run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.made):
            run(["ip", "netns", "delete", ns], check=False)


class Process:
    """A child process (unbound, the fake API server) stopped by `with`."""

    def __init__(self, cmd, log):
        self.log = open(log, "w+")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        STARTED["processes"].append(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def stderr(self):
        self.log.seek(0)
        return self.log.read()[-2000:]


def start_unbound(net, work):
    """The node's resolver on NODE_IP:53: outside.example from local data, every other name
    NXDOMAIN, so nothing is ever asked further."""
    d = work / "unbound"
    d.mkdir()
    conf = d / "unbound.conf"
    conf.write_text("\n".join([
        "server:",
        f"  interface: {NODE_IP}", "  port: 53", "  do-ip6: no",
        "  do-daemonize: no", "  use-syslog: no", '  logfile: ""', '  chroot: ""',
        '  username: ""', f'  directory: "{d}"', f'  pidfile: "{d}/unbound.pid"',
        f"  access-control: {NODE_IP}/24 allow", "  module-config: iterator",
        '  local-zone: "." static',
        '  local-data: ". 86400 IN SOA ns.node.test. admin.node.test. 1 3600 600 86400 60"',
        f'  local-data: "{OUTSIDE[0]}. 300 IN A {OUTSIDE[1]}"',
        "remote-control:", "  control-enable: no", ""]))
    proc = Process(in_ns(net.node, "unbound", "-d", "-c", conf), d / "log")
    try:
        wait_for("unbound on the node", lambda: dig(net.node, OUTSIDE[0], server=NODE_IP).rcode
                 == "NOERROR", 10, proc)
    except Failure:
        proc.__exit__()
        raise
    return proc


def start_fake_api(net, work):
    """The fake API server on the pod's 127.0.0.1 (the only address it serves); returns
    (process, port, state directory)."""
    state = work / "api"
    proc = Process(in_ns(net.pod, sys.executable, REPO / "tests/fake_apiserver/fake_apiserver.py",
                         "--state-dir", state,
                         "--objects", REPO / "examples/production-services.yaml"),
                   work / "api.log")
    line = proc.proc.stdout.readline()
    m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.__exit__()
        raise Failure(f"fake API server did not start: {line!r} {proc.stderr()}")
    return proc, int(m.group(1)), state


# --------------------------------------------------------------------------------------------
# Asking the pod, from the node


def dig(ns, name, qtype="A", server=POD_IP, tcp=False):
    cmd = in_ns(ns, "dig", f"@{server}", "-t", qtype, "-q", name, "+time=2", "+tries=2")
    if tcp:
        cmd.append("+tcp")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        return DigResult(cmd, p.returncode, p.stdout + p.stderr)
    except subprocess.TimeoutExpired:
        return DigResult(cmd, -1, "(dig timed out)")


def http_status(ns, url):
    p = run(in_ns(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                  url), check=False)
    return p.stdout.strip() or f"(curl exit {p.returncode})"


def wait_for(what, cond, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.proc.poll() is not None:
            raise Failure(f"{what}: exited {proc.proc.returncode}: {proc.stderr()}")
        time.sleep(0.2)
    raise Failure(f"{what}: not within {seconds} s")


class Podman:
    def __init__(self, store):
        self.base = ["podman", "--root", store / "root", "--runroot", store / "run"]

    def __call__(self, *args, check=True):
        return run([*self.base, *args], check=check)

    def state(self, name):
        p = self("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name, check=False)
        status, _, code = p.stdout.strip().partition(" ")
        return status, int(code) if code.isdigit() else None

    def logs(self, name):
        p = self("logs", name, check=False)
        return (p.stdout + p.stderr)[-3000:]


def serve_and_check(t, podman, net, name, run_opts, image, args, checks):
    """Start the container, wait for /ready 200, run `checks`, stop it with SIGTERM."""
    STARTED["containers"].append(name)
    podman("run", "-d", "--name", name, "--network", f"ns:/run/netns/{net.pod}",
           *run_opts, image, *args)
    started = time.monotonic()
    try:
        ready = ""
        while time.monotonic() - started < READY_SECONDS:
            ready = http_status(net.node, f"http://{POD_IP}:8181/ready")
            if ready == "200" or podman.state(name)[0] != "running":
                break
            time.sleep(0.2)
        if not t.check(ready == "200", f"{name}: /ready on {POD_IP}:8181 answered {ready} "
                                       f"({podman.state(name)}) after {READY_SECONDS} s; "
                                       f"logs:\n{podman.logs(name)}"):
            return
        print(f"{name}: ready in {time.monotonic() - started:.1f} s", flush=True)
        t.eq(http_status(net.node, f"http://{POD_IP}:8080/health"), "200", f"{name}: /health")
        failed = len(t.failures)
        checks()
        if len(t.failures) > failed:
            print(f"{name} logs:\n{podman.logs(name)}", flush=True)
    finally:
        podman("stop", "-t", "30", name, check=False)
        status, code = podman.state(name)
        t.eq((status, code), ("exited", 0), f"{name}: after SIGTERM (status, exit code)")
        podman("rm", "-f", name, check=False)


def outside_name(t, net):
    # AA is the upstream's (unbound sets it for its local data); the server relays it.
    t.expect(dig(net.node, OUTSIDE[0]), aa=None, answer=[(OUTSIDE[0], "A", OUTSIDE[1])])


# --------------------------------------------------------------------------------------------


def scenario(t, context, work, store):
    context = Path(context).resolve()
    drop_in = context / "examples" / "kube-system"
    deployment = yaml.safe_load((drop_in / "deployment.yaml").read_text())
    configmaps = {d["metadata"]["name"]: d
                  for d in yaml.safe_load_all((drop_in / "configmap.yaml").read_text())
                  if d and d.get("kind") == "ConfigMap"}
    image, deploy_opts, deploy_args = deployment_pod(work, deployment, configmaps)

    began = time.monotonic()
    (work / "tmp").mkdir()
    # TMPDIR: what an interrupted build leaves (buildah's working directories) goes with `work`.
    env = dict(os.environ, CLUSTERDNS_PODMAN_ROOT=str(store), TMPDIR=str(work / "tmp"),
               CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(HERE / "containers.conf")))
    build_log = work / "build.log"
    with open(build_log, "w") as log:
        # A session of its own: interrupted, the whole build (podman's children too) stops.
        build = subprocess.Popen(["bash", HERE / "build.sh", image, context], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            build.wait()
        except BaseException:
            os.killpg(build.pid, signal.SIGTERM)
            build.wait()
            raise
    if build.returncode != 0:
        raise Failure(f"tests/image/build.sh exit {build.returncode}:\n"
                      + "\n".join(build_log.read_text().splitlines()[-60:]))
    print(f"image {image} built in {time.monotonic() - began:.0f} s", flush=True)
    os.environ["CONTAINERS_CONF"] = env["CONTAINERS_CONF"]
    podman = Podman(store)

    resolv = work / "resolv.conf"
    resolv.write_text(f"# the node's resolver (dnsPolicy: Default)\nnameserver {NODE_IP}\n")
    resolv.chmod(0o644)
    node_resolv = ["-v", f"{resolv}:/etc/resolv.conf:ro"]

    with Network() as net, start_unbound(net, work):
        api, api_port, api_state = start_fake_api(net, work)
        with api:
            account = kubelet_volume(work / "serviceaccount", {
                "token": (api_state / "token").read_text().strip() + "\n",
                "ca.crt": (api_state / "ca.crt").read_text(),
                "namespace": deployment["metadata"]["namespace"]})
            in_cluster = ["-v", f"{account}:{SERVICE_ACCOUNT_DIR}:ro",
                          "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1",
                          "-e", f"KUBERNETES_SERVICE_PORT={api_port}"]

            def from_the_api():
                for tcp in (False, True):
                    t.expect(dig(net.node, svc("api-service"), tcp=tcp),
                             answer=[(svc("api-service"), "A", "10.96.10.100")])
                t.expect(dig(net.node, "kubernetes.default.svc.cluster.local"),
                         answer=[("kubernetes.default.svc.cluster.local", "A", "10.96.0.1")])
                outside_name(t, net)

            serve_and_check(t, podman, net, f"clusterdns-deployment-{os.getpid()}",
                            [*deploy_opts, *node_resolv, *in_cluster], image, deploy_args,
                            from_the_api)

        def from_the_examples():
            t.expect(dig(net.node, svc("api-service")),
                     answer=[(svc("api-service"), "A", "10.96.10.100")])
            outside_name(t, net)

        serve_and_check(t, podman, net, f"clusterdns-default-command-{os.getpid()}",
                        node_resolv, image, [], from_the_examples)
    print(f"image test: {time.monotonic() - began:.0f} s in all", flush=True)


def sweep(store):
    """Removes whatever is left of STARTED (nothing, unless a step was interrupted)."""
    for name in STARTED["containers"]:
        run(["podman", "--root", store / "root", "--runroot", store / "run", "rm", "-f",
             "-t", "0", "--ignore", name], check=False)
    for proc in STARTED["processes"]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for ns in STARTED["netns"]:
        if Path("/run/netns", ns).exists():
            run(["ip", "netns", "delete", ns], check=False)


def unmount_under(directory):
    """containers/storage bind-mounts its overlay directory onto itself (and an interrupted build
    may leave a root file system mounted): unmounted here, so the directory can be removed. (Not
    `podman system reset`: it deletes the host's networks too.)"""
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f]
    for path in reversed(mounts):
        if path == str(directory) or path.startswith(f"{directory}/"):
            run(["umount", path], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", default=str(REPO), help="the tree to build (default: this one)")
    opts = ap.parse_args()
    # A CI run that stops early terminates us: clean up (containers, namespaces, the store) first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"== test_image: {__doc__.splitlines()[0]}", flush=True)
    t = Checker("test_image")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        t.check(False, "needs root (network namespaces, podman's rootful store)")
    elif missing or yaml is None:
        t.check(False, f"missing {' '.join(missing + (['python3-yaml'] if yaml is None else []))}"
                          f" (.ci/packages has them): the image is not tested")
    else:
        work = Path(tempfile.mkdtemp(prefix="clusterdns-image.", dir="/var/tmp"))
        kept = os.environ.get("CLUSTERDNS_PODMAN_ROOT")
        store = Path(kept).resolve() if kept else work / "store"
        try:
            scenario(t, opts.context, work, store)
        except Failure as e:
            t.check(False, str(e))
        except Exception:
            t.check(False, traceback.format_exc())
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up runs to its end
            sweep(store)
            unmount_under(work)  # the scratch store too, not a kept one
            shutil.rmtree(work, ignore_errors=True)
    print(f"test_image: {t.passed} passed, {len(t.failures)} failed", flush=True)
    sys.exit(1 if t.failures else 0)


if __name__ == "__main__":
    main()
