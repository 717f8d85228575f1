"""Shutdown with work in flight: SIGTERM stops the server promptly and with exit code 0 while TCP
clients hold connections whose replies the server could not finish writing.

Loads tests/data/big-headless.yaml (60 endpoints: large answers). Two clients pipeline 500
queries each for the big headless name and never read, so the server's writes back up and stay
pending (the test waits until the kernel shows both send queues holding bytes, rather than
sleeping); a third connection sits idle. Then SIGTERM: the server must exit 0 within 5 seconds, and
its stderr must report the queries it received.
"""

import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, build_query, svc  # noqa: E402


def pending_server_writes(port):
    """Connections from the server's port whose send queue holds bytes (/proc/net/tcp tx_queue)."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            tx_queue = int(fields[4].split(":")[0], 16)
            established = fields[3] == "01"
            count += local_port == port and established and tx_queue > 0
    return count


def scenario(t):
    srv = harness.Server(harness.binary_path(), "--manifests", str(DATA / "big-headless.yaml"),
                         "--workers", "2")
    srv.start()
    try:
        stuck = []
        for client in range(2):
            s = socket.create_connection((srv.host, srv.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            frames = b"".join(
                struct.pack("!H", len(p)) + p
                for p in (build_query(svc("big", ns="bulk"), "A", qid=i, edns=4096)
                          for i in range(500)))
            s.sendall(frames)
            stuck.append(s)
        idle = socket.create_connection((srv.host, srv.port), timeout=5)
        deadline = time.monotonic() + 20
        while pending_server_writes(srv.port) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        t.eq(pending_server_writes(srv.port), 2, "connections with server writes stuck in the kernel")
        t.check(srv.alive(), "server alive with writes pending")
        started = time.monotonic()
        code = srv.stop(timeout=5)
        elapsed = time.monotonic() - started
        t.eq(code, 0, "exit code after SIGTERM with pending TCP writes")
        t.check(elapsed < 5, f"stopped within 5 s (took {elapsed:.2f} s)")
        t.check("TCP queries" in srv.stderr_text(), "stderr reports the queries received")
        for s in stuck + [idle]:
            s.close()
    finally:
        srv.kill()


harness.main(__doc__, scenario)
