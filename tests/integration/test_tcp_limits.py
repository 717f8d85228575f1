"""TCP connection limits: the idle timeout closes quiet connections, and a connection that keeps
asking stays open. (At the cap a new client takes the oldest idle slot: test_tcp_eviction.py.)

Starts the server with --workers 1 --tcp-idle-timeout 2 --max-tcp-connections 2 on examples/:
- a connection that sends nothing is closed by the server after the timeout (recv sees EOF);
- a connection that keeps asking, every 0.2 s for 3 s, stays open past the 2 s timeout (each answer
  restarts it); the margins are ten times the interval, so a busy machine cannot race them.
- the server still answers over UDP and TCP afterwards.
"""

import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")


def connect(srv):
    return harness.tcp_connect(srv.host, srv.port)


def ask(sock, qid, timeout=3.0):
    """Sends one query; returns the parsed reply, or None on timeout or EOF."""
    packet = build_query(API, "A", qid=qid)
    sock.sendall(struct.pack("!H", len(packet)) + packet)
    sock.settimeout(timeout)
    try:
        head = harness._recv_exact(sock, 2)
        if head is None:
            return None
        return parse_message(harness._recv_exact(sock, struct.unpack("!H", head)[0]))
    except socket.timeout:
        return None


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--workers", "1", "--tcp-idle-timeout", "2",
                  "--max-tcp-connections", "2") as srv:
        quiet = connect(srv)
        t.check(harness.closed_by_server(quiet, 10.0), "an idle connection is closed after the timeout")
        quiet.close()

        busy = connect(srv)
        alive = True
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < 3.0:  # longer than the idle timeout
            reply = ask(busy, 100 + i)
            alive = alive and reply is not None and reply.id == 100 + i
            i += 1
            time.sleep(0.2)
        t.check(alive, "a connection that keeps asking stays open past the idle timeout")

        busy.close()

        t.expect(srv.dig(API, "A"), answer=[(API, "A", "10.96.10.100")])
        t.expect(srv.dig(API, "A", tcp=True), answer=[(API, "A", "10.96.10.100")])


harness.main(__doc__, scenario)
