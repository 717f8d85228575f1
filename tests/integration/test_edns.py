"""EDNS(0): OPT echoed, BADVERS for version > 0, DO copied, FORMERR for two OPTs.

Loads examples/. Over UDP and TCP with dig:
- a query with EDNS (dig's default) gets an OPT with version 0 in every kind of answer
  (positive, NXDOMAIN, NODATA, REFUSED); a query without EDNS (+noedns) gets no OPT;
- +edns=1 +noednsnegotiation -> rcode BADVERS (extended RCODE 16, RFC 6891 6.1.3), an OPT with
  version 0, no answer;
- +dnssec sets DO, which the reply copies (RFC 3225 3); an unknown EDNS option is ignored, the
  query answered normally (RFC 6891 6.1.2).
With raw packets: a query carrying two OPT records -> FORMERR (RFC 6891 6.1.1); the advertised
UDP payload size of the reply's OPT is at least 512; an RFC 7873 cookie probe (no question, an
OPT with COOKIE) -> FORMERR with an OPT, over UDP and TCP; a query padded to 8,000 bytes is answered.
"""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message, svc  # noqa: E402

API = svc("api-service")


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            d = lambda name, qtype="A", extra=(): srv.dig(name, qtype, tcp=tcp, extra=extra)  # noqa: E731
            t.expect(d(API), answer=[(API, "A", "10.96.10.100")], edns=0)
            t.expect(d(API, extra=["+nocookie"]), answer=[(API, "A", "10.96.10.100")], edns=0)
            t.nxdomain(d(svc("no-such-service")), edns=0)
            t.nodata(d(API, "AAAA"), edns=0)
            t.refused(d("example.com"), edns=0)
            t.expect(d(API, extra=["+noedns"]), answer=[(API, "A", "10.96.10.100")], edns=False)
            t.nxdomain(d(svc("no-such-service"), extra=["+noedns"]), edns=False)

            res = d(API, extra=["+edns=1", "+noednsnegotiation"])
            t.expect(res, rcode="BADVERS", aa=None, answer=[], edns=0)

            res = d(API, extra=["+dnssec"])
            t.expect(res, answer=[(API, "A", "10.96.10.100")], edns=0)
            t.check(res.edns is not None and "do" in res.edns["flags"].split(),
                    f"{res.query()}: DO bit expected in the reply's OPT, got {res.edns}")

            t.expect(d(API, extra=["+ednsopt=65001:c0ffee"]),
                     answer=[(API, "A", "10.96.10.100")], edns=0)

        # Raw: reply OPT payload size; two OPT records.
        q = build_query(API, "A", qid=0x0E0E, edns=1232)
        msg = parse_message(srv.udp(q))
        t.check(msg.opt is not None and msg.opt["udp"] >= 512 and msg.opt["version"] == 0,
                f"raw EDNS query: reply OPT {msg.opt}")
        opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
        two = bytearray(q + opt)
        two[10:12] = struct.pack("!H", 2)
        raw = srv.udp(bytes(two))
        if t.check(raw is not None, "two OPT records: expected a FORMERR reply, got none"):
            m = parse_message(raw)
            t.eq((m.id, m.qr, harness.RCODES.get(m.rcode, m.rcode)), (0x0E0E, True, "FORMERR"),
                 "two OPT records (RFC 6891 6.1.1): (id, qr, rcode)")

        # An RFC 7873 5.4 cookie probe: no question, an OPT with a client cookie. We keep no
        # cookies, so FORMERR, but with our OPT: the client learns we speak EDNS.
        cookie = struct.pack("!HH", 10, 8) + bytes(range(1, 9))
        probe = struct.pack("!HHHHHH", 0x0C0C, 0, 0, 0, 0, 1) + b"\x00" + \
            struct.pack("!HHIH", 41, 1232, 0, len(cookie)) + cookie
        for reply in (srv.udp(probe), *srv.tcp([probe])):
            if t.check(reply is not None, "cookie probe: no reply"):
                m = parse_message(reply)
                t.eq((m.id, harness.RCODES.get(m.rcode, m.rcode), len(m.question)),
                     (0x0C0C, "FORMERR", 0), "cookie probe: (id, rcode, questions)")
                t.check(m.opt is not None and m.opt["version"] == 0,
                        f"cookie probe: the reply has no OPT ({m.opt})")

        # EDNS padding (RFC 7830) can make a UDP query large: 8,000 bytes is still parsed.
        pad = 8000 - len(q) - 4
        padded = bytearray(q[:-2] + struct.pack("!H", 4 + pad) + struct.pack("!HH", 12, pad) +
                           bytes(pad))
        raw = srv.udp(bytes(padded))
        if t.check(raw is not None, "padded 8,000-byte query: no reply"):
            m = parse_message(raw)
            t.eq((m.id, harness.RCODES.get(m.rcode, m.rcode), len(m.answer)), (0x0E0E, "NOERROR", 1),
                 "padded 8,000-byte query: (id, rcode, answers)")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
