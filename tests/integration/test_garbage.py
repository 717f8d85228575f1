"""Malformed input never crashes or wedges the server, and gets exactly what README promises:
FORMERR for a malformed query that has a header (QR=1, the query's ID), silence for less than a
header and for anything that is already a response (answering one would let two servers loop).

Silence is asserted without racing a timer: the server runs one worker, so a datagram and a valid
probe sent after it on the same socket are handled in order, and the first reply must be the
probe's. UDP cases: empty, 1 and 11 bytes (silence); a bare header claiming a question, a label
running past the end, a compression pointer loop, a pointer past the end, a missing QTYPE/QCLASS,
two questions, an over-long label and name, ANCOUNT with no answer, a cut OPT (FORMERR). Then 300
seeded random datagrams and 300 bit-flipped copies of a valid query, in windows of 50 each closed
by a probe: every one with a header and QR=0 gets exactly one reply, every reply parses and is a
response. Over TCP: a frame shorter than a header is dropped and the connection still answers the
next frame; a bare header and a compression loop get FORMERR; a zero-length frame closes the
connection; a length prefix promising more than is sent, then close, and a connection left
half-written while other clients are served. Afterwards the process answers dig over UDP and TCP.
"""

import random
import socket
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")
HDR = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)   # ID 0xBEEF, RD, QDCOUNT=1

RUNTS = [
    ("empty datagram", b""),
    ("1 byte", b"\x00"),
    ("11 bytes (short header)", HDR[:11]),
]
MALFORMED = [
    ("header only, QDCOUNT=1", HDR),
    ("label runs past the end", HDR + b"\x3fabc"),
    ("compression pointer loop", HDR + b"\xc0\x0c" + b"\x00\x01\x00\x01"),
    ("pointer past the end", HDR + b"\xc0\xff" + b"\x00\x01\x00\x01"),
    ("missing QTYPE/QCLASS", HDR + harness.encode_name(API)),
    ("QTYPE without QCLASS", HDR + harness.encode_name(API) + b"\x00\x01"),
    ("two questions", struct.pack("!HHHHHH", 0xBEEF, 0x0100, 2, 0, 0, 0)
     + (harness.encode_name(API) + b"\x00\x01\x00\x01") * 2),
    ("label of 64 bytes (reserved 01 length bits)",
     HDR + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"),
    ("name longer than 255", HDR + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01"),
    ("ANCOUNT=1 but no answer", struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 1, 0, 0)
     + harness.encode_name(API) + b"\x00\x01\x00\x01"),
    ("ARCOUNT=1, OPT cut short", struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 1)
     + harness.encode_name(API) + b"\x00\x01\x00\x01" + b"\x00\x00\x29"),
]


def check_formerr(t, what, raw, qid):
    if not t.check(raw is not None, f"{what}: no reply, README promises FORMERR"):
        return
    try:
        msg = parse_message(raw)
    except ValueError as e:
        t.check(False, f"{what}: reply does not parse ({e}): {raw[:64].hex()}")
        return
    rcode = harness.RCODES.get(msg.rcode, msg.rcode)
    t.check(msg.qr and rcode == "FORMERR" and msg.id == qid,
            f"{what}: expected FORMERR with id {qid}, got id={msg.id} qr={msg.qr} rcode={rcode}")


PROBE_ID = 0x7E57


def probe():
    return build_query(API, "A", qid=PROBE_ID)


def replies_until_probe(sock):
    """Every reply up to and including the probe's (the server answers in order)."""
    out = []
    while True:
        raw, _ = sock.recvfrom(65535)
        if raw[:2] == struct.pack("!H", PROBE_ID):
            return out
        out.append(raw)


def alive(t, srv, what):
    t.check(srv.alive(), f"server process died after {what}; {srv.describe()}")


def scenario(t):
    with t.server("--manifests", EXAMPLES, "--workers", "1") as srv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.connect((srv.host, srv.port))
            for what, packet in RUNTS + [("a response (QR=1)", build_query(API, qid=1, qr=True))]:
                s.send(packet)
                s.send(probe())
                t.eq(replies_until_probe(s), [], f"UDP {what}: replies before the probe's")
                alive(t, srv, what)
            for what, packet in MALFORMED:
                check_formerr(t, f"UDP {what}", srv.udp(packet), 0xBEEF)
                alive(t, srv, what)

            # Seeded random datagrams and bit-flipped queries, in windows closed by a probe.
            rng = random.Random(20240531)
            valid = build_query(API, "SRV", qid=0x1234, edns=1232)
            packets = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
                       for _ in range(300)]
            for _ in range(300):
                b = bytearray(valid)
                for _ in range(rng.randrange(1, 6)):
                    i = rng.randrange(len(b))
                    b[i] ^= 1 << rng.randrange(8)
                packets.append(bytes(b))
            bad = []
            wanted = answered = 0
            for first in range(0, len(packets), 50):
                window = packets[first:first + 50]
                for p in window:
                    s.send(p)
                s.send(probe())
                # A query: a header, QR clear, and not the probe's ID (a flip could make it).
                wanted += sum(1 for p in window if len(p) >= 12 and not p[2] & 0x80
                              and p[:2] != struct.pack("!H", PROBE_ID))
                for raw in replies_until_probe(s):
                    answered += 1
                    try:
                        if not parse_message(raw).qr:
                            bad.append(f"reply without QR: {raw[:32].hex()}")
                    except ValueError as e:
                        bad.append(f"unparsable reply ({e}): {raw[:32].hex()}")
            t.eq(bad[:5], [], "600 fuzzed datagrams: malformed replies")
            t.eq(answered, wanted, "600 fuzzed datagrams: replies, one per datagram with a header")
        alive(t, srv, "fuzzed datagrams")

        # TCP.
        ok = build_query(API, "A", qid=0x0A0A)
        # Replies come in order: had the runt been answered, its reply would come first.
        replies = harness.tcp_exchange([b"\x01\x02\x03", ok], srv.host, srv.port, expect=1)
        t.eq([r[:2] for r in replies], [b"\x0a\x0a"],
             "TCP frame shorter than a header: dropped, the next frame answered")
        for what, frame in (("header only, QDCOUNT=1", HDR),
                            ("compression loop", HDR + b"\xc0\x0c\x00\x01\x00\x01")):
            replies = srv.tcp([frame])
            check_formerr(t, f"TCP {what}", replies[0] if replies else None, 0xBEEF)
            alive(t, srv, f"TCP {what}")
        t.eq(srv.tcp([b"", ok]), [], "TCP zero-length frame: connection closed unanswered")
        alive(t, srv, "TCP zero-length frame")

        # A length prefix promising 300 bytes, 10 sent, then close.
        with socket.create_connection((srv.host, srv.port), timeout=2) as c:
            c.sendall(struct.pack("!H", 300) + b"0123456789")
        alive(t, srv, "TCP short frame then close")

        # A half-written connection must not block other clients.
        with socket.create_connection((srv.host, srv.port), timeout=2) as idle:
            idle.sendall(struct.pack("!H", 40) + b"\x12")
            for tcp in (False, True):
                t.expect(srv.dig(API, "A", tcp=tcp), answer=[(API, "A", "10.96.10.100")])

        alive(t, srv, "everything")
        for tcp in (False, True):
            t.expect(srv.dig(API, "A", tcp=tcp), answer=[(API, "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
