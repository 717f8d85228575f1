"""The hosts plugin (CoreDNS's hosts): /etc/hosts-style lines answered ahead of the cluster's zone.

- minikube's inline entry `192.168.49.1 host.minikube.internal` with fallthrough, an upstream
  (unbound on loopback) and examples/: the name answers A (AA, TTL 3600, any case), AAAA is NODATA
  (NOERROR, no records, no SOA), PTR of 192.168.49.1 names it; cluster names are the zone's and
  outside names the upstream's still; /metrics lists hosts in coredns_plugin_enabled and counts
  its answers under plugin="hosts".
- k3s's NodeHosts file (`172.18.0.2 k3d-server-0`) with `hosts_ttl 60`, `hosts_reload 1`, no
  fallthrough: the line answers with TTL 60; a name without a line is SERVFAIL (CoreDNS has no SOA
  to say NXDOMAIN with), a cluster name too, for every name is the plugin's; a line added to the
  file answers within the reload period, a broken line is logged with file:line and skipped, and
  the file removed leaves the last lines answering.
- `hosts_zones: [example.test]` without fallthrough: a name of that zone without a line is
  SERVFAIL, a cluster name is the zone's; `hosts_no_reverse`: no PTR (the reverse name is the
  cluster zone's NXDOMAIN).
- a config file reload applies a changed `hosts` list; a hosts file that cannot be read stops the
  start (exit 1, naming it), and an inline line that is not one is a bad setting (exit 2).
"""

import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port, svc, wait_until  # noqa: E402
from upstream import Unbound  # noqa: E402

MINIKUBE = "host.minikube.internal."
MINIKUBE_PTR = "1.49.168.192.in-addr.arpa."


def metrics(at):
    with urllib.request.urlopen(f"http://{at}/metrics", timeout=5) as response:
        return response.read().decode()


def hosts_responses(text):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("coredns_dns_responses_total{") and 'plugin="hosts"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def minikube(t, up):
    at = f"127.0.0.1:{free_port()}"
    with t.server("--manifests", EXAMPLES, "--upstream", up.address, "--metrics", at,
                  "--hosts", "192.168.49.1 host.minikube.internal",
                  "--hosts-fallthrough", ".") as srv:
        for tcp in (False, True):
            t.expect(srv.dig(MINIKUBE, tcp=tcp), answer=[(MINIKUBE, "A", "192.168.49.1")],
                     ttl=3600)
        t.expect(srv.dig("HOST.Minikube.INTERNAL."),
                 answer=[("host.minikube.internal.", "A", "192.168.49.1")])
        t.expect(srv.dig(MINIKUBE, "AAAA"), answer=[], authority=[])
        t.expect(srv.dig(MINIKUBE, "TXT"), answer=[], authority=[])
        t.expect(srv.dig(MINIKUBE_PTR, "PTR"), answer=[(MINIKUBE_PTR, "PTR", MINIKUBE)],
                 ttl=3600)
        # Fallthrough: the zone and the upstream answer what the lines do not have.
        api = svc("api-service")
        t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
        t.expect(srv.dig("www.example.test."), aa=None,
                 answer=[("www.example.test.", "A", "192.0.2.10")])
        t.expect(srv.dig("100.10.96.10.in-addr.arpa.", "PTR"),
                 answer=[("100.10.96.10.in-addr.arpa.", "PTR", api)])
        text = metrics(at)
        t.check('coredns_plugin_enabled{' in text and 'name="hosts"' in text,
                "coredns_plugin_enabled lists hosts")
        t.check(hosts_responses(text) >= 6,
                f"coredns_dns_responses_total counts the hosts answers under plugin=\"hosts\": "
                f"{[l for l in text.splitlines() if 'responses_total' in l]}")
    with t.server("--manifests", EXAMPLES, "--upstream", up.address, "--metrics", at) as srv:
        t.check('name="hosts"' not in metrics(at), "hosts is not listed when off")


def node_hosts(t, tmp):
    node_hosts = Path(tmp) / "NodeHosts"
    node_hosts.write_text("172.18.0.2 k3d-server-0\n")
    with t.server("--manifests", EXAMPLES, "--hosts-file", node_hosts, "--hosts-ttl", "60",
                  "--hosts-reload", "1") as srv:
        t.expect(srv.dig("k3d-server-0."), answer=[("k3d-server-0.", "A", "172.18.0.2")],
                 ttl=60)
        t.expect(srv.dig("2.0.18.172.in-addr.arpa.", "PTR"),
                 answer=[("2.0.18.172.in-addr.arpa.", "PTR", "k3d-server-0.")], ttl=60)
        # No fallthrough and every name the plugin's: SERVFAIL for anything without a line.
        t.expect(srv.dig("k3d-agent-0."), rcode="SERVFAIL", aa=False, answer=[])
        t.expect(srv.dig(svc("api-service")), rcode="SERVFAIL", aa=False, answer=[])

        # A new file in place, as a ConfigMap update swaps it; its second line is broken.
        staged = Path(tmp) / "NodeHosts.new"
        staged.write_text("172.18.0.2 k3d-server-0\nnot-an-address broken\n"
                          "172.18.0.3 k3d-agent-0\n")
        staged.rename(node_hosts)
        res = wait_until(lambda: srv.dig("k3d-agent-0.").rcode == "NOERROR", timeout=10)
        t.check(res, "a line added to the file answers within the reload period")
        t.expect(srv.dig("k3d-agent-0."), answer=[("k3d-agent-0.", "A", "172.18.0.3")])
        t.check(f"[WARNING] plugin/hosts: {node_hosts}:2: \"not-an-address\" is not an IP "
                "address; line skipped" in srv.stderr_text(),
                f"the broken line is logged with file:line: {srv.stderr_text()[-600:]!r}")
        node_hosts.unlink()
        t.check(wait_until(lambda: "the last entries stay" in srv.stderr_text(), timeout=10),
                f"the file gone is said once: {srv.stderr_text()[-400:]!r}")
        t.expect(srv.dig("k3d-agent-0."), answer=[("k3d-agent-0.", "A", "172.18.0.3")])


def zones_and_no_reverse(t):
    with t.server("--manifests", EXAMPLES, "--hosts", "192.0.2.7 db.example.test",
                  "--hosts-zone", "example.test", "--hosts-no-reverse", "true") as srv:
        t.expect(srv.dig("db.example.test."), answer=[("db.example.test.", "A", "192.0.2.7")])
        t.expect(srv.dig("cache.example.test."), rcode="SERVFAIL", aa=False, answer=[])
        api = svc("api-service")
        t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
        # No PTR from the lines: the reverse name is the cluster zone's to answer (NXDOMAIN).
        t.expect(srv.dig("7.2.0.192.in-addr.arpa.", "PTR"), rcode="NXDOMAIN", answer=[])


def reload_and_errors(t, tmp):
    config = Path(tmp) / "config.yaml"
    config.write_text(f"upstream: [none]\nmanifests: [{EXAMPLES}]\nhosts: ['10.1.1.1 first.test']\n"
                      "hosts_fallthrough: ['.']\n")
    with t.server("--config", config) as srv:
        t.expect(srv.dig("first.test."), answer=[("first.test.", "A", "10.1.1.1")])
        config.write_text(f"upstream: [none]\nmanifests: [{EXAMPLES}]\nhosts: ['10.1.1.2 second.test']\n"
                          "hosts_fallthrough: ['.']\n")
        t.check(wait_until(lambda: srv.dig("second.test.").rcode == "NOERROR", timeout=10),
                "a reload applies the new hosts lines")
        t.expect(srv.dig("second.test."), answer=[("second.test.", "A", "10.1.1.2")])
        t.refused(srv.dig("first.test."))  # gone; fallthrough to no upstream
    ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--listen", "127.0.0.1:0",
                                        "--hosts-file", f"{tmp}/missing"])
    t.eq(ran.returncode, 1, f"an unreadable hosts file stops the start: {ran.stderr[-300:]!r}")
    t.check(f"{tmp}/missing: cannot read" in ran.stderr, f"named: {ran.stderr[-300:]!r}")
    ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--listen", "127.0.0.1:0",
                                        "--hosts", "10.0.0.1"])
    t.eq(ran.returncode, 2, f"a line without a name is a bad setting: {ran.stderr[-300:]!r}")
    t.check("--hosts" in ran.stderr and "has no name" in ran.stderr,
            f"named: {ran.stderr[-300:]!r}")


def scenario(t):
    with Unbound() as up:
        minikube(t, up)
    with tempfile.TemporaryDirectory() as tmp:
        node_hosts(t, tmp)
        zones_and_no_reverse(t)
        reload_and_errors(t, tmp)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
