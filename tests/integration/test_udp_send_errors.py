"""A reply that cannot be sent to its one destination is skipped; the rest of its sendmmsg batch
is still sent.

A raw socket (needs root or CAP_NET_RAW; skipped otherwise) sends queries with UDP source port 0:
the server's reply to port 0 fails with EINVAL. The server (--workers 1) is stopped with SIGSTOP
while a burst alternating such queries with normal queries from a normal socket is queued, then
continued, so one recvmmsg reads them all and one sendmmsg batch holds replies of both kinds:
every normal query must get its answer. Before, the first failing reply dropped every reply
behind it in the batch.
"""

import os
import signal
import socket
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")
ROUNDS = 12


def scenario(t):
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    except PermissionError:
        t.skip("raw sockets need root or CAP_NET_RAW")
    with raw, t.server("--manifests", EXAMPLES, "--workers", "1") as srv, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as normal:
        normal.settimeout(3)
        normal.connect((srv.host, srv.port))
        t.check(srv.udp(build_query(API, "A")) is not None, "answers before the burst")

        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            for i in range(ROUNDS):
                payload = build_query(API, "A", qid=1000 + i)
                # UDP header: source port 0, checksum 0 (none, allowed over IPv4).
                header = struct.pack("!HHHH", 0, srv.port, 8 + len(payload), 0)
                raw.sendto(header + payload, (srv.host, 0))
                normal.send(build_query(API, "A", qid=i))
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)

        ids = set()
        try:
            while len(ids) < ROUNDS:
                ids.add(parse_message(normal.recv(65535)).id)
        except socket.timeout:
            pass
        t.eq(sorted(ids), list(range(ROUNDS)),
             "every normal query of the burst is answered, whatever failed beside it")
        t.expect(srv.dig(API, "A"), answer=[(API, "A", "10.96.10.100")])


harness.main(__doc__, scenario)
