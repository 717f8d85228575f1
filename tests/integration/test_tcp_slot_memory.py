"""TCP connection slots cost memory only once clients use them: a server allowed 16,000
connections is resident within 4 MiB of one allowed 16 (each slot is about 1.2 KiB, so slots made
up front, as before, cost about 19 MiB more), and slots made on demand serve clients as before.

Starts two servers on examples/ with --workers 1: --max-tcp-connections 16 and 16000 (skipped
when the hard RLIMIT_NOFILE cannot hold 16000). Compares their VmRSS once both listen, then has
40 TCP clients of the large one connected at once each ask and get an answer.
"""

import resource
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")
MANY = 16000


def rss_kib(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scenario(t):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < MANY + 1000:
        t.skip(f"the hard RLIMIT_NOFILE ({hard}) cannot hold {MANY} connections")
    common = ["--manifests", EXAMPLES, "--workers", "1"]
    with t.server(*common, "--max-tcp-connections", "16") as few, \
            t.server(*common, "--max-tcp-connections", str(MANY)) as many:
        few_kib, many_kib = rss_kib(few), rss_kib(many)
        t.check(many_kib - few_kib < 4096,
                f"{MANY} slots cost {many_kib - few_kib} KiB more than 16 "
                f"(VmRSS {many_kib} against {few_kib} KiB); made up front they cost about 19 MiB")

        clients = [harness.tcp_connect(many.host, many.port) for _ in range(40)]
        try:
            for qid, sock in enumerate(clients, start=1):
                packet = build_query(API, "A", qid=qid)
                sock.sendall(struct.pack("!H", len(packet)) + packet)
            answered = 0
            for qid, sock in enumerate(clients, start=1):
                sock.settimeout(5.0)
                head = harness._recv_exact(sock, 2)
                body = harness._recv_exact(sock, struct.unpack("!H", head)[0]) if head else None
                reply = parse_message(body) if body else None
                answered += reply is not None and reply.id == qid and reply.rcode == 0
            t.eq(answered, len(clients), "TCP clients connected at once that got their answer")
        finally:
            for sock in clients:
                sock.close()


harness.main(__doc__, scenario)
