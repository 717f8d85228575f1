"""--workers N: several workers share the listening sockets and every query is answered.

For --workers 2 (and 1 for comparison): 4 threads each send 150 UDP queries (raw sockets, one
outstanding query per thread, bounded) and 2 threads each run 20 TCP connections with 5
pipelined queries; every reply must carry the right ID and A 10.96.10.100. dig over UDP and TCP
works too, and SIGTERM still exits 0 with the workers running.
"""

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, rdata_a, svc  # noqa: E402

API = svc("api-service")


def udp_worker(srv, base, n, errors):
    for i in range(n):
        qid = (base + i) & 0xFFFF
        raw = srv.udp(build_query(API, "A", qid=qid), timeout=2.0)
        if raw is None:
            raw = srv.udp(build_query(API, "A", qid=qid), timeout=2.0)  # one retry: UDP
        try:
            m = parse_message(raw) if raw else None
        except ValueError as e:
            errors.append(f"UDP id {qid}: unparsable reply: {e}")
            continue
        if m is None or m.id != qid or [rdata_a(r.rdata) for r in m.answer] != ["10.96.10.100"]:
            errors.append(f"UDP id {qid}: bad reply {m}")


def tcp_worker(srv, base, n, errors):
    for c in range(n):
        ids = [(base + c * 5 + k) & 0xFFFF for k in range(5)]
        try:
            replies = [parse_message(r) for r in srv.tcp([build_query(API, "A", qid=i)
                                                          for i in ids])]
        except (OSError, ValueError) as e:
            errors.append(f"TCP connection {c}: {e}")
            continue
        if sorted(m.id for m in replies) != sorted(ids):
            errors.append(f"TCP connection {c}: reply ids {[m.id for m in replies]} for {ids}")


def scenario(t):
    for workers in ("2", "1"):
        with t.server("--manifests", EXAMPLES, "--workers", workers) as srv:
            errors = []
            threads = [threading.Thread(target=udp_worker, args=(srv, 1000 * k, 150, errors))
                       for k in range(4)]
            threads += [threading.Thread(target=tcp_worker, args=(srv, 20000 + 1000 * k, 20,
                                                                  errors)) for k in range(2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=120)
            t.eq(errors[:10], [], f"--workers {workers}: failed queries ({len(errors)} in all)")
            for tcp in (False, True):
                t.expect(srv.dig(API, "A", tcp=tcp), answer=[(API, "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
