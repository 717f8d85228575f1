"""At the connection cap, a new TCP client takes the slot of the oldest idle connection (or, with
none idle, of the connection whose current message began earliest) instead of waiting.

Starts the server with --workers 1 --max-tcp-connections 2 and long timeouts (30 s, so nothing
here times out) on examples/:
- A then B ask and get answers, then sit idle: a third client C is answered at once, A (idle the
  longest) is closed, and B still answers;
- B and C each send half a query, C first: a fourth client D is answered, C (whose message began
  first) is closed, and B, finishing its query, gets its answer.
Before, C and D waited in the listen queue until a slot freed.
"""

import socket
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")


def framed(qid):
    packet = build_query(API, "A", qid=qid)
    return struct.pack("!H", len(packet)) + packet


def connect(srv):
    return harness.tcp_connect(srv.host, srv.port)


def read_answer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        head = harness._recv_exact(sock, 2)
        body = harness._recv_exact(sock, struct.unpack("!H", head)[0]) if head else None
        return parse_message(body) if body else None
    except (socket.timeout, ConnectionResetError):
        return None


def ask(sock, qid):
    sock.sendall(framed(qid))
    return read_answer(sock)


def answered(reply, qid):
    return reply is not None and reply.id == qid and reply.rcode == 0


def barrier(srv):
    """A UDP round trip through the one worker: what was sent before it has been processed."""
    return srv.udp(build_query(API, "A")) is not None


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--workers", "1", "--max-tcp-connections", "2",
                  "--tcp-idle-timeout", "30", "--tcp-io-timeout", "30") as srv:
        a, b = connect(srv), connect(srv)
        t.check(answered(ask(a, 1), 1), "A answered")
        t.check(answered(ask(b, 2), 2), "B answered")
        c = connect(srv)
        t.check(answered(ask(c, 3), 3), "C, beyond the cap of 2, is answered at once")
        t.check(harness.closed_by_server(a), "A, idle the longest, was closed to make room")
        t.check(answered(ask(b, 4), 4), "B still answers")
        a.close()

        half_c, half_b = framed(5), framed(6)
        c.sendall(half_c[:10])
        t.check(barrier(srv), "UDP answered")
        b.sendall(half_b[:10])
        t.check(barrier(srv), "UDP answered")
        d = connect(srv)
        t.check(answered(ask(d, 7), 7), "D is answered with both slots in the middle of a message")
        t.check(harness.closed_by_server(c), "C, whose message began first, was closed")
        b.sendall(half_b[10:])
        t.check(answered(read_answer(b), 6), "B finishes its query and gets its answer")
        for s in (b, c, d):
            s.close()


harness.main(__doc__, scenario)
