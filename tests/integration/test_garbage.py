"""Malformed input never crashes or wedges the server: FORMERR or silence, then normal service.

Raw bytes sent with sockets. For each malformed UDP datagram the server either stays silent or
answers FORMERR (QR=1, the query's ID when it had one); it must NOT answer a datagram that is
already a response (QR=1), which would let two servers loop. Cases: empty, 1-11 bytes, a bare
header claiming a question, a label running past the end, a compression pointer loop, a pointer
past the end, a missing QTYPE/QCLASS, two questions, an over-long label, trailing junk; then
300 seeded random datagrams and 300 bit-flipped copies of a valid query (every reply must parse
and be a response). Over TCP: framed garbage, a zero-length frame, a length prefix promising more
than is sent before close, and a connection left half-written while other clients are served.
Afterwards the process is alive and answers dig over UDP and TCP.
"""

import random
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")
HDR = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)   # ID 0xBEEF, RD, QDCOUNT=1

MALFORMED = [
    ("empty datagram", b""),
    ("1 byte", b"\x00"),
    ("11 bytes (short header)", HDR[:11]),
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


def check_formerr_or_silence(t, what, raw, qid):
    if raw is None:
        t.check(True, what)
        return
    try:
        msg = parse_message(raw)
    except ValueError as e:
        t.check(False, f"{what}: reply does not parse ({e}): {raw[:64].hex()}")
        return
    rcode = harness.RCODES.get(msg.rcode, msg.rcode)
    t.check(msg.qr and rcode == "FORMERR" and (qid is None or msg.id == qid),
            f"{what}: expected silence or FORMERR with id {qid}, got id={msg.id} qr={msg.qr} "
            f"rcode={rcode}")


def alive(t, srv, what):
    t.check(srv.alive(), f"server process died after {what}; {srv.describe()}")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for what, packet in MALFORMED:
            qid = 0xBEEF if len(packet) >= 2 else None
            check_formerr_or_silence(t, f"UDP {what}", srv.udp(packet, timeout=0.5), qid)
            alive(t, srv, what)

        # A response must never be answered.
        resp = build_query(API, "A", qid=0x5151, qr=True)
        t.eq(srv.udp(resp, timeout=0.7), None, "UDP datagram with QR=1: expected no reply")

        # Seeded random datagrams and bit-flipped queries, sent in bulk.
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
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            bad = []
            replies = 0
            for i, p in enumerate(packets):
                s.sendto(p, (srv.host, srv.port))
                if i % 50 == 49:
                    time.sleep(0.02)  # bounded rate: do not just overflow the socket buffer
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    raw, _ = s.recvfrom(65535)
                except socket.timeout:
                    break
                replies += 1
                try:
                    msg = parse_message(raw)
                    if not msg.qr:
                        bad.append(f"reply without QR: {raw[:32].hex()}")
                except ValueError as e:
                    bad.append(f"unparsable reply ({e}): {raw[:32].hex()}")
            t.eq(bad[:5], [], f"600 fuzzed datagrams ({replies} replies): malformed replies")
        alive(t, srv, "fuzzed datagrams")

        # TCP.
        for what, frames in (("framed garbage", [b"\x01\x02\x03"]),
                             ("zero-length frame", [b""]),
                             ("header only, QDCOUNT=1", [HDR]),
                             ("compression loop", [HDR + b"\xc0\x0c\x00\x01\x00\x01"])):
            try:
                replies = srv.tcp(frames, timeout=2.0)
            except OSError as e:
                replies = []
                t.check(True, f"TCP {what}: connection error {e} (acceptable)")
            for raw in replies:
                check_formerr_or_silence(t, f"TCP {what}", raw,
                                         0xBEEF if what.startswith(("header", "compression")) else None)
            alive(t, srv, f"TCP {what}")

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
