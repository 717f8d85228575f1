"""Unknown opcodes get NOTIMP (raw packets over UDP and TCP).

dig can only send QUERY, so queries with opcode 5 (UPDATE), 2 (STATUS), 1 (IQUERY, obsolete,
RFC 3425) and 15 (unassigned) are built by hand and sent with a socket. Each reply must be a
response (QR=1) with the query's ID and opcode and RCODE 4 (NOTIMP). A normal query on the same
transport still works afterwards.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

OPCODES = (5, 2, 1, 15)


def check_notimp(t, raw, qid, opcode, how):
    if not t.check(raw is not None, f"{how} opcode {opcode}: expected a NOTIMP reply, got none"):
        return
    try:
        msg = parse_message(raw)
    except ValueError as e:
        t.check(False, f"{how} opcode {opcode}: unparsable reply {raw[:64].hex()}: {e}")
        return
    t.eq((msg.id, msg.qr, msg.opcode, harness.RCODES.get(msg.rcode, msg.rcode)),
         (qid, True, opcode, "NOTIMP"), f"{how} opcode {opcode}: (id, qr, opcode, rcode)")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for opcode in OPCODES:
            qid = 0x4000 + opcode
            q = build_query(svc("api-service"), "A", qid=qid, opcode=opcode)
            check_notimp(t, srv.udp(q), qid, opcode, "UDP")
            replies = srv.tcp([q])
            check_notimp(t, replies[0] if replies else None, qid, opcode, "TCP")
            # With EDNS too.
            q = build_query(svc("api-service"), "SOA", qid=qid + 1, opcode=opcode, edns=1232)
            check_notimp(t, srv.udp(q), qid + 1, opcode, "UDP+EDNS")

        for tcp in (False, True):
            t.expect(srv.dig(svc("api-service"), "A", tcp=tcp),
                     answer=[(svc("api-service"), "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
