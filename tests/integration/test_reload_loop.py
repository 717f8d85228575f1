"""Reloads that change forwarding: loops are caught, and the cache outlives a reload it need not.

- Two servers, A forwarding to B and B to unbound; B's config is edited to forward to A: B's
  reload probes its new upstreams as at start-up, the probe comes back through A, the reload is
  refused ("loop detected"), and B keeps forwarding to unbound (an outside name still answers).
- A loop through a resolver that passes the probe on only once or twice (dnsmasq forwarding back
  to the server): caught at start-up, exit 1, "loop detected".
- A reload that leaves the cache settings alone (here the TTL changes) keeps the cache: an
  answer fetched before is served after it without asking the upstream; a reload that changes
  them (serve_stale) starts an empty cache.
"""

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port, svc, wait_until  # noqa: E402
from upstream import Unbound  # noqa: E402

WWW = "www.example.test."


def config_server(t, config, *args, listen=("127.0.0.1:0",)):
    """A server whose upstreams come from its config file alone (the harness would otherwise
    add --upstream none, and a flag wins over the file). The config names loopback upstreams."""
    srv = harness.Server(t.binary, "--config", config, *args, listen=listen)
    at = srv.args.index("--upstream")
    del srv.args[at:at + 2]
    return harness._ServerContext(t, srv)


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp, Unbound() as unbound:
        tmp = Path(tmp)
        b_port = free_port()
        b_config = tmp / "b.yaml"
        b_config.write_text(f"manifests: [{EXAMPLES}]\nupstream: [{unbound.address}]\n")
        with config_server(t, b_config, listen=(f"127.0.0.1:{b_port}",)) as b, \
                t.server("--manifests", EXAMPLES, "--upstream", f"127.0.0.1:{b_port}") as a:
            t.expect(a.dig(WWW), aa=None, answer=[(WWW, "A", "192.0.2.10")])
            b_config.write_text(f"manifests: [{EXAMPLES}]\nupstream: [127.0.0.1:{a.port}]\n")
            t.check(wait_until(lambda: "loop detected" in b.stderr_text(), 10),
                    f"B's reload finds the loop through A: {b.describe()}")
            t.check("the upstreams stay" in b.stderr_text(), f"and says so: {b.describe()}")
            t.expect(b.dig("www.example.test.", "AAAA"), aa=None,
                     answer=[(WWW, "AAAA", "2001:db8::10")])
            t.check(b.alive() and a.alive(), "both keep serving")

        me = free_port()
        dnsmasq_port = free_port()
        dnsmasq = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
             f"--listen-address=127.0.0.1", "--bind-interfaces", f"--port={dnsmasq_port}",
             f"--server=127.0.0.1#{me}", "--cache-size=0", f"--pid-file={tmp}/dnsmasq.pid",
             "--log-facility=-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # dnsmasq is up once its port is taken (it answers nothing for itself here).
            t.check(wait_until(lambda: not port_free(dnsmasq_port), 10), "dnsmasq started")
            ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--listen",
                                                f"127.0.0.1:{me}", "--upstream",
                                                f"127.0.0.1:{dnsmasq_port}"], timeout=20)
            t.check(ran.returncode == 1 and "loop detected" in ran.stderr,
                    f"a loop through dnsmasq: exit {ran.returncode}, {ran.stderr[-300:]!r}")
        finally:
            dnsmasq.terminate()
            dnsmasq.wait()

        config = tmp / "c.yaml"
        config.write_text(f"manifests: [{EXAMPLES}]\nupstream: [{unbound.address}]\nttl: 30\n")
        with config_server(t, config, "--workers", "1") as srv:
            t.expect(srv.dig(WWW), aa=None, answer=[(WWW, "A", "192.0.2.10")])
            unbound.stop()  # from now on only the cache can answer
            config.write_text(f"manifests: [{EXAMPLES}]\nupstream: [{unbound.address}]\n"
                              f"ttl: 9\n")
            t.check(wait_until(lambda: (srv.dig(svc("api-service")).answer or [None])[0] is not
                               None and srv.dig(svc("api-service")).answer[0].ttl == 9, 10),
                    "the TTL reload applied")
            t.expect(srv.dig(WWW, extra=["+tries=1", "+time=8"]), aa=None,
                     answer=[(WWW, "A", "192.0.2.10")])
            config.write_text(f"manifests: [{EXAMPLES}]\nupstream: [{unbound.address}]\n"
                              f"ttl: 9\nserve_stale: 60\n")
            t.check(wait_until(lambda: srv.dig(WWW, extra=["+tries=1", "+time=8"]).rcode ==
                               "SERVFAIL", timeout=20),
                    "a new cache setting starts an empty cache")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
