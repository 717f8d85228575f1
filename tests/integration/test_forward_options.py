"""Forward's options beyond the upstreams, as CoreDNS's forward has them, with real dig and
upstreams on loopback that note how each question came (UDP or TCP):
- by default a query that came over TCP is asked upstream over TCP and one over UDP over UDP,
  as CoreDNS asks; `prefer_udp: true` asks even a TCP client's query over UDP;
- `force_tcp: true` asks every upstream over TCP: an upstream that listens on TCP only (its UDP
  port closed) answers a UDP client, where without it the client gets SERVFAIL; a stub domain's
  upstream is asked over TCP too, and /metrics names the upstream by its address (`to`); force_tcp
  with prefer_udp is refused (exit 2);
- `forward_except: [internal.test]`: names at or below it are not forwarded (SERVFAIL, as
  CoreDNS's forward with no next plugin), never reach the upstream, and other names still go;
  a stub domain below an excepted name still goes to its own upstream;
- `max_fails: 0`: a silent first upstream (policy sequential) is never left aside: every query
  tries it first and it is never health-checked; `health_check_ms: 100` checks a silent upstream
  left aside every 100 ms (six checks well before the default 500 ms would make them);
- the options reload: `forward_except` added to the config file takes effect without a restart.
"""

import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, wait_until  # noqa: E402
from upstream import Scripted, question_of, reply  # noqa: E402

WWW = "www.example.test."


def answer_www(query):
    """www.* answers 192.0.2.10 (TTL 300); every other name NXDOMAIN (the loop probe too)."""
    name, qtype = question_of(query)
    if name.startswith("www.") and qtype == 1:
        return reply(query, [(name, "A", 300, socket.inet_aton("192.0.2.10"))])
    return reply(query, rcode=3)


class Noting:
    """An upstream on UDP and TCP of one loopback port (UDP left closed with udp=False),
    answering with `answer`; `asked` holds (name, type, "udp"|"tcp") per query."""

    def __init__(self, answer=answer_www, udp=True):
        self.answer = answer
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        port = self.tcp.getsockname()[1]
        self.udp = None
        if udp:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", port))
            self.udp.settimeout(0.2)
        self.address = f"127.0.0.1:{port}"
        self.asked = []
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        if udp:
            self._threads.append(threading.Thread(target=self._serve_udp, daemon=True))

    def names(self, transport=None):
        return [(n, q) for n, q, how in self.asked if transport in (None, how)]

    def _serve_udp(self):
        while not self._stop:
            try:
                query, peer = self.udp.recvfrom(65535)
            except OSError:
                continue
            self.asked.append((*question_of(query), "udp"))
            response = self.answer(query)
            if response is not None:
                self.udp.sendto(response, peer)

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve_tcp, args=(conn,), daemon=True).start()

    def _serve_tcp(self, conn):
        conn.settimeout(5)
        with conn:
            while not self._stop:
                try:
                    head = conn.recv(2, socket.MSG_WAITALL)
                    if len(head) < 2:
                        return
                    query = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                except OSError:
                    return
                self.asked.append((*question_of(query), "tcp"))
                response = self.answer(query)
                if response is not None:
                    conn.sendall(struct.pack("!H", len(response)) + response)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        for thread in self._threads:
            thread.join()
        self.tcp.close()
        if self.udp:
            self.udp.close()


def www(i):
    return f"www.n{i}.example.test."


def scenario(t):
    # By default the upstream is asked as the client asked; prefer_udp asks over UDP.
    with Noting() as up, t.server("--manifests", EXAMPLES, "--upstream", up.address) as srv:
        t.expect(srv.dig(www(1), tcp=True), aa=None, answer=[(www(1), "A", "192.0.2.10")])
        t.expect(srv.dig(www(2)), aa=None, answer=[(www(2), "A", "192.0.2.10")])
        t.eq(up.names("tcp"), [(www(1), 1)], "a TCP client's query goes upstream over TCP")
        t.check((www(2), 1) in up.names("udp") and (www(2), 1) not in up.names("tcp"),
                f"a UDP client's query goes over UDP: {up.asked}")
    with Noting() as up, t.server("--manifests", EXAMPLES, "--upstream", up.address,
                                  "--prefer-udp", "true") as srv:
        t.expect(srv.dig(www(1), tcp=True), aa=None, answer=[(www(1), "A", "192.0.2.10")])
        t.eq(up.names("tcp"), [], "prefer_udp: nothing over TCP")
        t.check((www(1), 1) in up.names("udp"), f"prefer_udp: over UDP: {up.asked}")

    # force_tcp: an upstream that listens on TCP only answers; without it, SERVFAIL.
    with Noting(udp=False) as up, Noting() as stub:
        with t.server("--manifests", EXAMPLES, "--upstream", up.address) as srv:
            t.expect(srv.dig(www(3), extra=["+tries=1", "+time=6"]), rcode="SERVFAIL", aa=None,
                     answer=[])
        at = f"127.0.0.1:{harness.free_port()}"
        with t.server("--manifests", EXAMPLES, "--upstream", up.address, "--force-tcp", "true",
                      "--stub-domain", f"stub.test={stub.address}", "--metrics", at) as srv:
            t.expect(srv.dig(www(4)), aa=None, answer=[(www(4), "A", "192.0.2.10")])
            t.check((www(4), 1) in up.names("tcp"), f"force_tcp: over TCP: {up.asked}")
            with urllib.request.urlopen(f"http://{at}/metrics", timeout=5) as response:
                page = response.read().decode()
            t.check(f'coredns_forward_requests_total{{to="{up.address}"}}' in page,
                    "the metrics' `to` is the address, as CoreDNS's with force_tcp: "
                    f"{[l for l in page.splitlines() if 'forward_requests_total{' in l]}")
            t.expect(srv.dig("www.stub.test."), aa=None,
                     answer=[("www.stub.test.", "A", "192.0.2.10")])
            t.eq(stub.names(), [("www.stub.test.", 1)], "the stub domain's upstream is asked")
            t.eq(stub.names("udp"), [], "force_tcp: a stub domain's upstream over TCP too")
    ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--upstream", "127.0.0.1:1",
                                        "--force-tcp", "true", "--prefer-udp", "true",
                                        "--listen", "127.0.0.1:0"])
    t.eq(ran.returncode, 2, f"force_tcp with prefer_udp: a bad command line: {ran.stderr}")
    t.check("force_tcp and prefer_udp" in ran.stderr, f"and says so: {ran.stderr!r}")

    # except: excepted names are SERVFAIL and never asked; a stub domain below still goes.
    with Noting() as up, Noting() as stub, \
            t.server("--manifests", EXAMPLES, "--upstream", up.address,
                     "--forward-except", "internal.test", "--forward-except", "Other.Test.",
                     "--stub-domain", f"stub.internal.test={stub.address}") as srv:
        t.expect(srv.dig("www.internal.test."), rcode="SERVFAIL", aa=None, answer=[])
        t.expect(srv.dig("internal.test.", tcp=True), rcode="SERVFAIL", aa=None, answer=[])
        t.expect(srv.dig("www.other.test."), rcode="SERVFAIL", aa=None, answer=[])
        t.expect(srv.dig("www.internal2.test."), aa=None,
                 answer=[("www.internal2.test.", "A", "192.0.2.10")])
        t.expect(srv.dig("www.stub.internal.test."), aa=None,
                 answer=[("www.stub.internal.test.", "A", "192.0.2.10")])
        t.check(not [n for n, _ in up.names() if n.endswith(("internal.test.", "other.test."))
                     and n != "www.internal2.test."],
                f"the excepted names never reached the upstream: {up.asked}")
        t.eq(stub.names(), [("www.stub.internal.test.", 1)], "the stub domain below is asked")
        t.expect(srv.dig("kubernetes.default.svc.cluster.local."),
                 answer=[("kubernetes.default.svc.cluster.local.", "A", "10.96.0.1")])
    ran = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--upstream", "127.0.0.1:1",
                                        "--forward-except", "bad..name",
                                        "--listen", "127.0.0.1:0"])
    t.eq(ran.returncode, 2, f"a bad except name: a bad command line: {ran.stderr}")

    # max_fails 0: the silent first upstream is asked first every time, never health-checked.
    with Scripted(lambda query: None) as hole, Noting() as up:
        with t.server("--manifests", EXAMPLES, "--upstream", hole.address, "--upstream",
                      up.address, "--policy", "sequential", "--max-fails", "0",
                      "--workers", "1") as srv:
            for i in range(4):
                t.expect(srv.dig(www(10 + i)), aa=None,
                         answer=[(www(10 + i), "A", "192.0.2.10")])
            t.eq([n for n, _ in hole.asked if n.startswith("www.")],
                 [www(10 + i) for i in range(4)], "max_fails 0: the first upstream is tried "
                                                  "every time")
            t.eq(hole.asked.count((".", 2)), 0, "max_fails 0: no health check")
    # health_check_ms: a silent upstream left aside is checked every 100 ms.
    with Scripted(lambda query: None) as hole, Noting() as up:
        with t.server("--manifests", EXAMPLES, "--upstream", hole.address, "--upstream",
                      up.address, "--policy", "sequential", "--health-check-ms", "100",
                      "--workers", "1") as srv:
            for i in range(2):
                srv.dig(www(20 + i))
            t.check(wait_until(lambda: hole.asked.count((".", 2)) >= 1, 5),
                    f"the silent upstream is health-checked: {hole.asked}")
            first = time.monotonic()
            seen = hole.asked.count((".", 2))
            wait_until(lambda: hole.asked.count((".", 2)) >= seen + 6, 10)
            took = time.monotonic() - first
            t.check(hole.asked.count((".", 2)) >= seen + 6 and took < 2.0,
                    f"six more checks in {took:.2f} s (every 100 ms: 0.6 s; the default "
                    f"every 500 ms: 3 s)")

    # A reload takes forward_except up.
    with Noting() as up, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text("max_fails: 2\n")
        with t.server("--manifests", EXAMPLES, "--upstream", up.address, "--config",
                      config) as srv:
            t.expect(srv.dig("www.internal.test."), aa=None,
                     answer=[("www.internal.test.", "A", "192.0.2.10")])
            config.write_text("max_fails: 2\nforward_except: [internal.test]\n")
            wait_until(lambda: "reloaded" in srv.stderr_text(), 10)
            t.check("reloaded" in srv.stderr_text(), f"reloaded: {srv.describe()}")
            t.expect(srv.dig("www2.internal.test."), rcode="SERVFAIL", aa=None, answer=[])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
