"""Deployed as shipped: listening on 0.0.0.0:53, the upstreams of resolv.conf are used.

The kube-system Deployment and the Dockerfile listen on 0.0.0.0:53, and the pod's resolv.conf
names a resolver elsewhere on port 53 (a VPC resolver, the node's). That resolver is not this
server: only this host's own addresses on a port we serve are. Two private network namespaces
joined by a veth pair stand in for the pod and the resolver (traffic never leaves them):
- `--listen 0.0.0.0:53` with a resolv.conf naming the resolver (unbound at 10.77.x.2:53): an
  outside name is answered by it, a cluster name by the zone, and nothing says "left out";
- the same with `--upstream 10.77.x.2` given explicitly: it starts and forwards;
- `--upstream 127.0.0.1:53` or this namespace's own veth address (10.77.x.1:53) with the
  wildcard listener is this server itself: exit 1 naming it; on another port it is not.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402
from upstream import Unbound  # noqa: E402

WWW = "www.example.test."


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True)


class Namespaces:
    """Two network namespaces, pod (10.77.N.1) and resolver (10.77.N.2), joined by veth."""

    def __init__(self):
        n = os.getpid() % 250 + 1
        self.pod, self.resolver = f"cdself{os.getpid()}p", f"cdself{os.getpid()}r"
        self.pod_ip, self.resolver_ip = f"10.77.{n}.1", f"10.77.{n}.2"

    def __enter__(self):
        steps = [["netns", "add", self.pod], ["netns", "add", self.resolver],
                 ["link", "add", "v0", "netns", self.pod, "type", "veth", "peer", "name", "v1",
                  "netns", self.resolver],
                 ["-n", self.pod, "addr", "add", f"{self.pod_ip}/24", "dev", "v0"],
                 ["-n", self.resolver, "addr", "add", f"{self.resolver_ip}/24", "dev", "v1"]]
        steps += [["-n", ns, "link", "set", dev, "up"]
                  for ns, dev in ((self.pod, "v0"), (self.resolver, "v1"), (self.pod, "lo"),
                                  (self.resolver, "lo"))]
        for step in steps:
            ran = ip(*step)
            if ran.returncode != 0:
                self.__exit__()
                raise harness.Skip(f"cannot make network namespaces: ip {' '.join(step)}: "
                                   f"{ran.stderr.strip()}")
        return self

    def __exit__(self, *exc):
        ip("netns", "del", self.pod)
        ip("netns", "del", self.resolver)


def inner(t, resolver_ip, pod_ip, resolver_ns):
    """Runs inside the pod namespace."""
    with Unbound(host=resolver_ip, port=53, allow="10.77.0.0/16",
                 command_prefix=["ip", "netns", "exec", resolver_ns]):
        with tempfile.TemporaryDirectory() as tmp:
            resolv = Path(tmp) / "resolv.conf"
            resolv.write_text(f"search default.svc.cluster.local svc.cluster.local\n"
                              f"nameserver {resolver_ip}\noptions ndots:5\n")
            for how in (["--resolv-conf", str(resolv)], ["--upstream", resolver_ip]):
                with t.server("--manifests", EXAMPLES, *how, listen=("0.0.0.0:53",)) as srv:
                    here = ("127.0.0.1", 53)
                    t.expect(srv.dig(WWW, "A", addr=here),
                             answer=[(WWW, "A", "192.0.2.10")])
                    t.expect(srv.dig(svc("api-service"), "A", addr=here),
                             answer=[(svc("api-service"), "A", "10.96.10.100")])
                    t.check("this server itself" not in srv.stderr_text(),
                            f"{how}: {resolver_ip}:53 is not us: {srv.stderr_text()[-300:]!r}")
        for own in ("127.0.0.1:53", f"{pod_ip}:53", "127.0.0.7:53"):
            ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--upstream", own,
                                                "--listen", "0.0.0.0:53"])
            t.check(ran.returncode == 1 and "is this server itself" in ran.stderr,
                    f"--upstream {own} with 0.0.0.0:53 is this server: exit {ran.returncode}, "
                    f"{ran.stderr[-300:]!r}")
        with t.server("--manifests", EXAMPLES, "--upstream", f"{resolver_ip}:53",
                      listen=(f"{pod_ip}:5300",)) as srv:
            t.check(srv.alive(), "another port of ours is no loop")


def scenario(t):
    if os.environ.get("CLUSTERDNS_SELF_NETNS"):
        resolver_ip, pod_ip, resolver_ns = os.environ["CLUSTERDNS_SELF_NETNS"].split(",")
        inner(t, resolver_ip, pod_ip, resolver_ns)
        return
    if os.geteuid() != 0:
        t.skip("network namespaces need root")
    with Namespaces() as ns:
        env = dict(os.environ, CLUSTERDNS_SELF_NETNS=f"{ns.resolver_ip},{ns.pod_ip},{ns.resolver}")
        ran = subprocess.run(["ip", "netns", "exec", ns.pod, sys.executable, __file__,
                              str(t.binary)], env=env, capture_output=True, text=True,
                             timeout=240)
        print(ran.stdout + ran.stderr, flush=True)
        t.check(ran.returncode == 0, f"inside the pod namespace: exit {ran.returncode}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
