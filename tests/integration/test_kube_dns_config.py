"""kube-dns's ConfigMap (`--kube-dns-config DIR`), mounted as a kubelet mounts a ConfigMap volume
(each key a link through ..data to a timestamped directory), with real dig and two upstreams on
loopback, each answering www.* with an address of its own:
- `stubDomains` {"acme.test": [A]} sends www.acme.test to A, `upstreamNameservers` [B] sends
  other outside names to B; cluster names answer from the zone;
- the ConfigMap updated (a new timestamped directory, ..data swapped as kubelet swaps it) is
  reloaded with no signal: the stub domain now goes to B and the rest to A;
- an update with bad JSON is refused, naming the file, and the previous routes stay;
- at start-up: bad JSON, a bad address and a `federations` key are exit 2 naming the file; a
  directory with neither file forwards to resolv.conf's nameservers; `--upstream` overrides
  upstreamNameservers, and a `stub_domains` entry for the same domain overrides the ConfigMap's;
- `kube_dns_config:` in the config file does the same as the flag.
"""

import os
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, wait_until  # noqa: E402
from upstream import Scripted, question_of, reply  # noqa: E402


def answering(address):
    def answer(query):
        name, qtype = question_of(query)
        if name.startswith("www") and qtype == 1:
            return reply(query, [(name, "A", 300, socket.inet_aton(address))])
        return reply(query, rcode=3)
    return answer


class ConfigMapVolume:
    """A directory laid out as kubelet mounts a ConfigMap: KEY -> ..data/KEY, ..data -> ..TS/."""

    def __init__(self, root):
        self.root = Path(root)
        self.version = 0

    def publish(self, data):
        """A new version holding `data` (key -> text), swapped in atomically."""
        self.version += 1
        stamp = f"..2026_12_07_00_00_{self.version:02d}.{1000 + self.version}"
        (self.root / stamp).mkdir()
        for key, text in data.items():
            (self.root / stamp / key).write_text(text)
        tmp = self.root / "..data_tmp"
        os.symlink(stamp, tmp)
        os.rename(tmp, self.root / "..data")
        for key in data:
            link = self.root / key
            if not link.is_symlink():
                os.symlink(f"..data/{key}", link)
        for stale in self.root.glob("..2026_*"):
            if stale.name != stamp:
                for f in stale.iterdir():
                    f.unlink()
                stale.rmdir()


def addresses(res):
    return [rr.rdata for rr in res.answer if rr.type == "A"]


def scenario(t):
    with Scripted(answering("192.0.2.1")) as a, Scripted(answering("192.0.2.2")) as b, \
            tempfile.TemporaryDirectory() as tmp:
        volume = ConfigMapVolume(Path(tmp) / "kube-dns-config")
        volume.root.mkdir()
        resolv = Path(tmp) / "resolv.conf"
        resolv.write_text(f"nameserver {a.address}\n")
        volume.publish({"stubDomains": f'{{"acme.test": ["{a.address}"]}}\n',
                        "upstreamNameservers": f'["{b.address}"]\n'})
        with t.server("--manifests", EXAMPLES, "--resolv-conf", resolv,
                      "--kube-dns-config", volume.root) as srv:
            t.eq(addresses(srv.dig("www.acme.test.")), ["192.0.2.1"], "the stub domain goes to A")
            t.eq(addresses(srv.dig("www.example.test.")), ["192.0.2.2"],
                 "upstreamNameservers: the rest goes to B, not resolv.conf's A")
            t.eq(addresses(srv.dig("kubernetes.default.svc.cluster.local.")), ["10.96.0.1"],
                 "cluster names answer from the zone")

            volume.publish({"stubDomains": f'{{"acme.test": ["{b.address}"]}}\n',
                            "upstreamNameservers": f'["{a.address}"]\n'})
            wait_until(lambda: srv.stderr_text().count("reloaded") >= 1, 10)
            t.check("reloaded" in srv.stderr_text(), f"the swap reloads: {srv.describe()}")
            t.eq(addresses(srv.dig("www2.acme.test.")), ["192.0.2.2"],
                 "after the swap the stub domain goes to B")
            t.eq(addresses(srv.dig("www2.example.test.")), ["192.0.2.1"],
                 "after the swap the rest goes to A")

            volume.publish({"stubDomains": '{"acme.test": ["192.0.2.99"]\n',
                            "upstreamNameservers": f'["{a.address}"]\n'})
            wait_until(lambda: "still serving the previous config" in srv.stderr_text(), 10)
            t.check(f"{volume.root}/stubDomains: invalid JSON" in srv.stderr_text(),
                    f"a bad update is refused naming the file: {srv.describe()}")
            t.eq(addresses(srv.dig("www3.acme.test.")), ["192.0.2.2"], "the routes stay")

        # Start-up refusals, each naming the file.
        for data, what in (({"upstreamNameservers": "[1.2.3.4]"}, "upstreamNameservers: invalid"),
                           ({"stubDomains": '{"acme.test": ["1.2.3"]}'},
                            'stubDomains: "acme.test": upstream "1.2.3"'),
                           ({"federations": "myfed=example.com"}, "federations: kube-dns's")):
            volume.publish(data)
            for key in ("stubDomains", "upstreamNameservers", "federations"):
                if key not in data and (volume.root / key).is_symlink():
                    (volume.root / key).unlink()
            ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--resolv-conf", resolv,
                                                "--kube-dns-config", volume.root,
                                                "--listen", "127.0.0.1:0"])
            t.check(ran.returncode == 2 and f"{volume.root}/{what}" in ran.stderr,
                    f"exit 2 naming {what}: {ran.returncode} {ran.stderr!r}")

        # Neither file: resolv.conf's nameservers (A). --upstream and stub_domains override.
        volume.publish({})
        for key in ("stubDomains", "upstreamNameservers", "federations"):
            if (volume.root / key).is_symlink():
                (volume.root / key).unlink()
        with t.server("--manifests", EXAMPLES, "--resolv-conf", resolv,
                      "--kube-dns-config", volume.root) as srv:
            t.eq(addresses(srv.dig("www.example.test.")), ["192.0.2.1"],
                 "no upstreamNameservers: resolv.conf's")
        volume.publish({"stubDomains": f'{{"acme.test": ["{a.address}"]}}\n',
                        "upstreamNameservers": f'["{a.address}"]\n'})
        with t.server("--manifests", EXAMPLES, "--upstream", b.address,
                      "--stub-domain", f"acme.test={b.address}",
                      "--kube-dns-config", volume.root) as srv:
            t.eq(addresses(srv.dig("www.example.test.")), ["192.0.2.2"], "--upstream wins")
            t.eq(addresses(srv.dig("www.acme.test.")), ["192.0.2.2"],
                 "a stub domain given wins over the ConfigMap's")
        config = Path(tmp) / "config.yaml"
        config.write_text(f"kube_dns_config: {volume.root}\nresolv_conf: {resolv}\n")
        with t.server("--manifests", EXAMPLES, "--config", config) as srv:
            t.eq(addresses(srv.dig("www.acme.test.")), ["192.0.2.1"], "kube_dns_config: key")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
