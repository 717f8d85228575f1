"""Slow HTTP clients cannot starve the probes (/health, /ready) of their answers.

With the default limits (64 connections per listener, 10 s idle, 5 s for a request from its
first byte):
- 80 connections to /health each trickle a request one byte every 0.5 s and never finish it;
  meanwhile a probe (curl, as the kubelet's) every 0.5 s gets 200 OK within 1 s, every time. Each
  trickling connection is closed within 8 s of its first byte although it kept sending: bytes do
  not extend the deadline. Before, libmicrohttpd turned every new client away at 64 connections,
  each trickled byte restarted its 10 s inactivity timeout, and /health went unanswered for as
  long as the trickle lasted, long enough for the example liveness probe to restart the pod.
- 80 connections to /ready that never send a byte: a probe is still answered at once (the
  connection idle longest makes room).
- /metrics answers afterwards.
"""

import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port  # noqa: E402

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\n"  # never ends


def probe(url):
    """(status, seconds) of one GET with curl, given at most 2 s."""
    started = time.monotonic()
    p = subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", url],
                       capture_output=True, text=True)
    return int(p.stdout or 0), time.monotonic() - started


class Trickler:
    """Sends REQUEST a byte at a time; notes when the server closes the connection."""

    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=5)
        self.sock.setblocking(False)
        self.sent = 0
        self.first_byte = None
        self.closed_after = None  # seconds from the first byte

    def step(self):
        if self.closed_after is not None:
            return
        try:
            if self.sock.recv(4096) == b"":
                self.closed()
                return
        except BlockingIOError:
            pass
        except OSError:
            self.closed()
            return
        if self.sent < len(REQUEST):
            try:
                self.sock.send(REQUEST[self.sent:self.sent + 1])
                self.sent += 1
                if self.first_byte is None:
                    self.first_byte = time.monotonic()
            except BlockingIOError:
                pass
            except OSError:
                self.closed()

    def closed(self):
        self.closed_after = time.monotonic() - (self.first_byte or time.monotonic())


def trickling(t):
    health = f"127.0.0.1:{free_port()}"
    metrics = f"127.0.0.1:{free_port()}"
    ready = f"127.0.0.1:{free_port()}"
    with t.server("--manifests", EXAMPLES, "--health", health, "--ready", ready,
                  "--metrics", metrics):
        host, port = health.split(":")
        many = [Trickler((host, int(port))) for _ in range(80)]
        probes = []
        started = time.monotonic()
        next_byte = next_probe = started
        while time.monotonic() - started < 9 and not all(x.closed_after is not None
                                                          for x in many):
            now = time.monotonic()
            if now >= next_byte:
                for x in many:
                    x.step()
                next_byte = now + 0.5
            if now >= next_probe and now - started < 7:
                probes.append(probe(f"http://{health}/health"))
                next_probe = time.monotonic() + 0.5
            time.sleep(0.02)
        for x in many:
            x.step()
        t.check(len(probes) >= 8, f"probes were made during the trickle ({len(probes)})")
        failed = [p for p in probes if p[0] != 200 or p[1] > 1.0]
        t.eq(failed, [], f"every probe of {len(probes)} answered 200 within 1 s while 80 "
                         f"connections trickle")
        open_ = [x for x in many if x.closed_after is None]
        t.eq(len(open_), 0, "every trickling connection was closed")
        late = [round(x.closed_after, 1) for x in many
                if x.closed_after is not None and x.closed_after > 8]
        t.eq(late, [], "each closed within 8 s of its first byte")
        by_deadline = [x for x in many if x.closed_after is not None and x.closed_after >= 4.5]
        t.check(all(x.sent >= 9 for x in by_deadline) and by_deadline,
                f"those the deadline closed ({len(by_deadline)}) kept sending until then")
        for x in many:
            x.sock.close()

        host, port = ready.split(":")
        idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(80)]
        try:
            status, took = probe(f"http://{ready}/ready")
            t.check(status == 200 and took < 1.0,
                    f"/ready answered beside 80 idle connections ({status} in {took:.2f} s)")
        finally:
            for s in idle:
                s.close()
        status, _ = probe(f"http://{metrics}/metrics")
        t.eq(status, 200, "/metrics afterwards")


def scenario(t):
    trickling(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
