"""DNS over TCP: pipelined queries on one connection, partial writes, many connections.

Raw sockets with 2-byte length framing (RFC 1035 4.2.2, RFC 7766 6.2.1). Loads examples/.
- 5 different queries (A, AAAA, SRV, NXDOMAIN, PTR) written in ONE send on one connection: 5
  replies, matched by ID (order may differ, RFC 7766 7), each with the right rcode and answer;
- 100 pipelined queries in one send: 100 replies with the 100 IDs;
- one query written a byte at a time: answered;
- 30 queries one after another on the same connection (it stays open between them);
- a connection holding half a query does not stop a second connection from being answered,
  and is answered itself once the rest arrives.
"""

import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, rdata_a, reverse_name, svc  # noqa: E402

API = svc("api-service")


def frame(p):
    return struct.pack("!H", len(p)) + p


def read_reply(sock):
    head = harness._recv_exact(sock, 2)
    if head is None:
        return None
    return harness._recv_exact(sock, struct.unpack("!H", head)[0])


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        queries = {
            101: (API, "A", 0, 1),
            102: (svc("web-service"), "AAAA", 0, 1),
            103: ("_postgres._tcp." + svc("postgres"), "SRV", 0, 2),
            104: (svc("no-such-service"), "A", 3, 0),
            105: (reverse_name("10.96.10.100"), "PTR", 0, 1),
        }
        packets = [build_query(n, q, qid=i, edns=1232) for i, (n, q, _, _) in queries.items()]
        replies = [parse_message(r) for r in srv.tcp(packets)]
        got = sorted((m.id, m.rcode, len(m.answer), m.qr, m.aa) for m in replies)
        want = sorted((i, rc, an, True, True) for i, (_, _, rc, an) in queries.items())
        t.eq(got, want, "5 pipelined queries in one write: (id, rcode, answers, qr, aa)")

        packets = [build_query(API, "A", qid=1000 + i) for i in range(100)]
        replies = [parse_message(r) for r in srv.tcp(packets, timeout=10)]
        t.eq(sorted(m.id for m in replies), list(range(1000, 1100)),
             "100 pipelined queries: reply IDs")
        t.check(all(m.rcode == 0 and [rdata_a(rr.rdata) for rr in m.answer] == ["10.96.10.100"]
                    for m in replies), "100 pipelined queries: every reply has A 10.96.10.100")

        # One byte at a time.
        data = frame(build_query(API, "A", qid=0x0B0B))
        with socket.create_connection((srv.host, srv.port), timeout=5) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in data:
                c.sendall(bytes([b]))
                time.sleep(0.005)
            raw = read_reply(c)
            t.check(raw is not None and parse_message(raw).id == 0x0B0B,
                    f"query written a byte at a time: reply {raw!r:.80}")

        # Sequential queries on one connection.
        with socket.create_connection((srv.host, srv.port), timeout=5) as c:
            ok = 0
            for i in range(30):
                c.sendall(frame(build_query(API, "A", qid=2000 + i)))
                raw = read_reply(c)
                if raw is not None and parse_message(raw).id == 2000 + i:
                    ok += 1
            t.eq(ok, 30, "30 sequential queries on one connection answered")

        # A half-written connection and a second client.
        data = frame(build_query(API, "A", qid=0x0C0C))
        with socket.create_connection((srv.host, srv.port), timeout=5) as slow:
            slow.sendall(data[:7])
            replies = srv.tcp([build_query(API, "A", qid=0x0D0D)])
            t.eq([parse_message(r).id for r in replies], [0x0D0D],
                 "second connection answered while the first holds half a query")
            slow.sendall(data[7:])
            raw = read_reply(slow)
            t.check(raw is not None and parse_message(raw).id == 0x0C0C,
                    "the half-written query is answered once complete")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
