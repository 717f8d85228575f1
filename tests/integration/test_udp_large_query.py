"""A UDP query of the largest size a datagram can have is parsed, not cut short.

Queries padded with EDNS padding (RFC 7830, option 12) to 4,097 bytes and to 65,507 bytes (the
largest UDP payload over IPv4) must get their NOERROR answer with the record, like the same
query unpadded. Before, queries were read into 4,096-byte slots: anything longer arrived
truncated and got FORMERR.
"""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, rdata_a, svc  # noqa: E402

API = svc("api-service")
PADDING = 12


def padded_query(qid, total):
    """A query with an OPT record whose padding option makes the message `total` bytes."""
    head = build_query(API, "A", qid=qid)
    head = head[:10] + struct.pack("!H", 1) + head[12:]  # ARCOUNT 1
    fixed = len(head) + 11 + 4  # OPT owner, type, class, ttl, rdlength; option code and length
    pad = total - fixed
    option = struct.pack("!HH", PADDING, pad) + b"\x00" * pad
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    return head + opt


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--workers", "1") as srv:
        for total in (4097, 65507):
            packet = padded_query(total % 65536, total)
            t.eq(len(packet), total, "the query's size")
            reply = srv.udp(packet, timeout=3)
            if not t.check(reply is not None, f"a {total}-byte query is answered"):
                continue
            msg = parse_message(reply)
            t.eq(msg.rcode, 0, f"a {total}-byte query: rcode NOERROR")
            t.eq([(rr.name, rr.type, rdata_a(rr.rdata)) for rr in msg.answer],
                 [(API, 1, "10.96.10.100")], f"a {total}-byte query: the answer")


harness.main(__doc__, scenario)
