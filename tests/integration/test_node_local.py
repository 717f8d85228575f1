"""Node-local mode (NodeLocal DNSCache with the same binary): `--node-local true` serves no zone of
its own, sends the cluster's zones to the cluster DNS over TCP (`tcp://` upstreams) and the rest
to the node's upstreams, through its cache.

A cluster clusterdns serves examples/ on 127.0.0.1; the node-local one listens on another port
(169.254.20.10:53 on a node) with `stub_domains` cluster.local and in-addr.arpa to tcp://the cluster
one, and unbound for everything else. Checked: cluster names, reverse names and outside names
answer as the cluster one and unbound do; the cluster one saw those queries over TCP only (its
metrics); a second ask is a cache hit (the cluster one is not asked again).
"""

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port, reverse_name, svc  # noqa: E402
from upstream import Unbound  # noqa: E402


def requests(metrics_url, proto):
    text = subprocess.run(["curl", "-s", "-m", "5", metrics_url], capture_output=True,
                          text=True).stdout
    return sum(float(v) for v in re.findall(
        rf'^coredns_dns_requests_total\{{[^}}]*proto="{proto}"[^}}]*\}} (\S+)$', text, re.M))


def scenario(t):
    metrics = f"127.0.0.1:{free_port()}"
    with Unbound() as up, t.server("--manifests", EXAMPLES, "--metrics", metrics) as cluster:
        target = f"tcp://{cluster.host}:{cluster.port}"
        with t.server("--node-local", "true", "--workers", "1", "--upstream", up.address,
                      "--stub-domain", f"cluster.local={target}",
                      "--stub-domain", f"in-addr.arpa={target}") as node:
            url = f"http://{metrics}/metrics"
            udp_before = requests(url, "udp")
            api = svc("api-service")
            t.expect(node.dig(api), aa=True, answer=[(api, "A", "10.96.10.100")])
            t.nxdomain(node.dig(svc("nope")))
            ptr = reverse_name("10.96.10.100")
            t.expect(node.dig(ptr, "PTR"), answer=[(ptr, "PTR", api)])
            t.expect(node.dig("www.example.test"),
                     answer=[("www.example.test", "A", "192.0.2.10")])
            tcp = requests(url, "tcp")
            t.eq(tcp, 3, "the cluster DNS was asked over TCP")
            t.eq(requests(url, "udp"), udp_before, "and never over UDP")
            t.expect(node.dig(api), aa=True, answer=[(api, "A", "10.96.10.100")])
            t.eq(requests(url, "tcp"), tcp, "a second ask is answered from the cache")
            t.check("no source given" not in node.stderr_text(),
                    f"no empty-zone warning in node-local mode: {node.describe()}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
