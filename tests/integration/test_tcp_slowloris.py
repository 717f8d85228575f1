"""Slow TCP clients (slowloris) cannot hold the server's connection slots.

Starts the server with --workers 1 --tcp-io-timeout 1 --tcp-idle-timeout 30 --max-tcp-connections 4
on examples/:
- a connection that trickles a message one byte at a time (a byte every 0.2 s, far more often than
  any timeout) is closed once the message has taken longer than the I/O timeout: bytes arriving do
  not extend the deadline, which runs from the message's first byte;
- with three times as many trickling connections as slots, a new client still gets its answer, and
  every trickling connection is closed while it keeps trickling;
- the server still answers over UDP and TCP afterwards.
Without a per-message deadline each byte restarted the 30 s idle timeout: the tricklers were never
closed and the new client waited in the listen queue.
"""

import select
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")


def framed(qid):
    packet = build_query(API, "A", qid=qid)
    return struct.pack("!H", len(packet)) + packet


class Trickler:
    """Sends one query a byte at a time; notes when the server closes the connection."""

    def __init__(self, srv, qid):
        self.sock = socket.create_connection((srv.host, srv.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.data = framed(qid)
        self.sent = 0
        self.closed = False

    def step(self):
        if self.closed:
            return
        try:
            if self.sock.recv(1) == b"":  # never an answer: the message never completes
                self.closed = True
                return
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            return
        if self.sent < len(self.data) - 1:  # never the last byte
            try:
                self.sock.send(self.data[self.sent:self.sent + 1])
                self.sent += 1
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                self.closed = True


def trickle(tricklers, until, within, extra=None):
    """Trickles a byte per connection every 0.2 s until `until()` holds or `within` s pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for t in tricklers:
            t.step()
        if extra:
            extra()
        if until():
            return True
        time.sleep(0.2)
    return until()


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--workers", "1", "--tcp-io-timeout", "1",
                  "--tcp-idle-timeout", "30", "--max-tcp-connections", "4") as srv:
        # Under the cap: only the I/O deadline can close them.
        few = [Trickler(srv, 10 + i) for i in range(2)]
        started = time.monotonic()
        t.check(trickle(few, lambda: all(x.closed for x in few), 10),
                "a connection trickling one byte every 0.2 s is closed by the I/O timeout")
        elapsed = time.monotonic() - started
        t.check(elapsed >= 0.9, f"not before the I/O timeout of 1 s (closed after {elapsed:.1f} s)")
        t.check(all(x.sent >= 4 for x in few), "the tricklers were sending while being closed")
        for x in few:
            x.sock.close()

        # Three times the cap.
        many = [Trickler(srv, 100 + i) for i in range(12)]
        for x in many:
            x.step()
        client = socket.create_connection((srv.host, srv.port), timeout=5)
        client.sendall(framed(999))
        got = []

        def read_client():
            if got:
                return
            if select.select([client], [], [], 0)[0]:
                head = harness._recv_exact(client, 2)
                body = harness._recv_exact(client, struct.unpack("!H", head)[0]) if head else None
                got.append(parse_message(body) if body else None)

        t.check(trickle(many, lambda: bool(got), 10, read_client),
                "a new client is answered while twelve connections trickle at a cap of four")
        t.check(got and got[0] is not None and got[0].id == 999 and got[0].rcode == 0,
                f"the new client's answer is its own NOERROR answer, got {got}")
        client.close()
        t.check(trickle(many, lambda: all(x.closed for x in many), 15),
                f"every trickling connection is closed ({sum(x.closed for x in many)} of 12)")
        for x in many:
            x.sock.close()

        t.expect(srv.dig(API, "A"), answer=[(API, "A", "10.96.10.100")])
        t.expect(srv.dig(API, "A", tcp=True), answer=[(API, "A", "10.96.10.100")])


harness.main(__doc__, scenario)
