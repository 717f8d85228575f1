"""A TCP client that does not read its answers loses the connection after the I/O timeout; one
that reads slowly but steadily gets every answer.

Starts the server with --workers 1 --tcp-io-timeout 1 --tcp-idle-timeout 30 on
tests/data/big-headless.yaml, where an SRV answer is about 5 KB; each client (with a 16 KiB
receive buffer) pipelines 1,500 such queries: 8 MB of answers, more than the socket buffers on
both sides hold (the kernel's send buffer grows to 4 MiB, net.ipv4.tcp_wmem), so the server
is left with an answer it cannot write:
- a client that reads nothing sees the server close the connection (FIN or RST) once the pending
  answer has made no progress for the I/O timeout; before, it was held until the idle timeout;
- a client reading what it has every 10 ms gets all 1,500 answers, in order, complete, although
  the exchange lasts several I/O timeouts: a pending answer that the client keeps taking is kept;
- the server still answers afterwards.
"""

import select
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, build_query, parse_message  # noqa: E402

SRV_NAME = "_http._tcp.big.bulk.svc.cluster.local."
BIG = "big.bulk.svc.cluster.local."
QUERIES = 1500


def pipelined_client(srv):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # before connect: a small window
    s.settimeout(5)
    s.connect((srv.host, srv.port))
    data = b""
    for i in range(QUERIES):
        packet = build_query(SRV_NAME, "SRV", qid=i)
        data += struct.pack("!H", len(packet)) + packet
    s.sendall(data)
    return s


def wait_closed(sock, within):
    """True once the server closed or reset the connection, whatever data is still unread."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(within * 1000))


def scenario(t):
    with t.server("--manifests", DATA / "big-headless.yaml", "--workers", "1",
                  "--tcp-io-timeout", "1", "--tcp-idle-timeout", "30") as srv:
        reply = srv.tcp(build_query(SRV_NAME, "SRV", qid=1))
        size = len(reply[0]) if reply else 0
        t.check(size > 4000, f"an SRV answer is large (got {size} bytes)")

        idle = pipelined_client(srv)
        started = time.monotonic()
        t.check(wait_closed(idle, 10), "a client that reads none of its answers is disconnected")
        elapsed = time.monotonic() - started
        t.check(elapsed >= 0.9, f"not before the I/O timeout of 1 s (after {elapsed:.1f} s)")
        idle.close()

        steady = pipelined_client(srv)
        answers = []
        buf = b""
        started = time.monotonic()
        while len(answers) < QUERIES and time.monotonic() - started < 60:
            try:
                chunk = steady.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                answers.append(parse_message(buf[2:2 + n]))
                buf = buf[2 + n:]
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        steady.close()
        t.eq(len(answers), QUERIES, "a slow but steady reader gets every answer")
        t.check([m.id for m in answers] == list(range(len(answers))), "answers come in order")
        t.check(all(m.rcode == 0 and not m.tc and len(m.answer) == 60 for m in answers),
                "every answer is complete: 60 SRV records, no TC")
        t.check(elapsed > 2, f"the exchange lasted several I/O timeouts ({elapsed:.1f} s)")

        t.expect(srv.dig(BIG, "A", tcp=True), answer_types={"A": 60})


harness.main(__doc__, scenario)
