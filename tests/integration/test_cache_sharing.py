"""The cache never hands one client's exchange to another (issue 19).

One worker (one cache), forwarding to a small resolver scripted here (upstream.Scripted), which
answers as a resolver with a cached delegation does: an RD=0 query gets a referral (NOERROR, no
answer, the zone's NS), an RD=1 query the address; a query with an EDNS client subnet option
(RFC 7871) gets the option back, with scope 0 for most names and scope /24 for cdn.example.test,
whose address depends on the subnet. (unbound cannot play it: it answers RD=0 for a stub zone in
full, and echoes no client subnet for local data.)
- an RD=0 query is relayed the referral, which is not kept: the RD=1 query after it gets the
  address, and an RD=0 query after that is answered from the cache, RD clear;
- a client's subnet option is relayed to that client only: another client asking the same name
  gets the cached answer without any option, and the upstream is asked once;
- an answer scoped to a subnet is not kept: a client of another subnet gets its own answer from
  the upstream;
- a reply with another opcode than the query's (NOTIFY to a QUERY) is answered SERVFAIL and not
  kept.
"""

import struct

import harness
from harness import EXAMPLES, build_query, encode_name, parse_message
from upstream import Scripted, question_of

WWW = "www.example.test."
CDN = "cdn.example.test."


def subnet_option(prefix, scope=0):
    """An EDNS client subnet option for the IPv4 /24 `prefix` (three octets)."""
    return struct.pack("!HHHBB", 8, 7, 1, 24, scope) + bytes(prefix)


def query(name, rd=True, options=b""):
    """A query with EDNS (UDP 1232) and `options` in its OPT record."""
    msg = build_query(name, rd=rd, edns=1232)
    return msg[:-2] + struct.pack("!H", len(options)) + options


class Resolver:
    """The answers described above, for upstream.Scripted; counts the queries for each name and
    RD bit. With `opcode` set, replies carry that opcode instead of the query's (and another
    address)."""

    def __init__(self):
        self.asked = {}
        self.opcode = None

    def __call__(self, packet):
        qid, flags = struct.unpack("!HH", packet[:4])
        rd = bool(flags & 0x0100)
        qname, _ = question_of(packet)
        end = 12 + len(encode_name(qname)) + 4
        self.asked[(qname, rd)] = self.asked.get((qname, rd), 0) + 1
        subnet = None
        at = packet.find(b"\x00\x08\x00\x07\x00\x01", end)  # our option, as query() wrote it
        if at >= 0:
            subnet = packet[at + 8:at + 11]
        answers, authority, options = [], [], b""
        if not rd:
            ns = encode_name("ns.example.test.")
            authority.append(encode_name("example.test.")
                             + struct.pack("!HHIH", 2, 1, 3600, len(ns)) + ns)
        elif qname == CDN:
            last = 51 if subnet == bytes([198, 51, 100]) else 52
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4)
                           + bytes([192, 0, 2, last]))
            if subnet is not None:
                options = subnet_option(subnet, scope=24)
        else:
            last = 10 if self.opcode is None else 66
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4)
                           + bytes([192, 0, 2, last]))
            if subnet is not None:
                options = subnet_option(subnet, scope=0)
        flags = 0x8080 | (flags & 0x7900)
        if self.opcode is not None:
            flags = (flags & ~0x7800) | (self.opcode << 11)
        header = struct.pack("!HHHHHH", qid, flags, 1, len(answers), len(authority), 1)
        opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(options)) + options
        return header + packet[12:end] + b"".join(answers) + b"".join(authority) + opt


def addresses(msg):
    return [".".join(map(str, rr.rdata)) for rr in msg.answer if rr.type == 1]


def scenario(t):
    resolver = Resolver()
    with Scripted(resolver) as upstream, t.server("--manifests", EXAMPLES, "--upstream",
                                                  upstream.address, "--workers", "1") as srv:
        # RD=0: the referral is relayed, not kept.
        referral = parse_message(srv.udp(query(WWW, rd=False)))
        t.check(referral.rcode == 0 and not referral.answer and referral.authority
                and not referral.rd, f"RD=0 {WWW}: the upstream's referral, got {referral}")
        recursive = parse_message(srv.udp(query(WWW)))
        t.eq(addresses(recursive), ["192.0.2.10"], f"RD=1 {WWW} after an RD=0 one: the address")
        t.check(recursive.rd, f"RD=1 {WWW}: RD set in the answer")
        again = parse_message(srv.udp(query(WWW, rd=False)))
        t.eq(addresses(again), ["192.0.2.10"], f"RD=0 {WWW} again: answered from the cache")
        t.check(not again.rd, f"RD=0 {WWW} from the cache: RD clear, got {again}")
        t.eq(resolver.asked.get((WWW, True)), 1, f"{WWW} asked upstream with RD=1 once")

        # A client's subnet option goes back to that client only.
        mail = "mail.example.test."
        mine = parse_message(srv.udp(query(mail, options=subnet_option([198, 51, 100]))))
        t.check(mine.opt and subnet_option([198, 51, 100]) in mine.opt["options"],
                f"{mail} with a client subnet: the option relayed back, got {mine.opt}")
        theirs = parse_message(srv.udp(query(mail)))
        t.eq(addresses(theirs), ["192.0.2.10"], f"{mail} from another client: the address")
        t.check(theirs.opt is not None and theirs.opt["options"] == b"",
                f"{mail} from another client: no option of the first one's, got {theirs.opt}")
        t.eq(resolver.asked.get((mail, True)), 1, f"{mail} asked upstream once (then cached)")

        # An answer scoped to one subnet is not served to another.
        first = parse_message(srv.udp(query(CDN, options=subnet_option([198, 51, 100]))))
        t.eq(addresses(first), ["192.0.2.51"], f"{CDN} from 198.51.100.0/24")
        other = parse_message(srv.udp(query(CDN, options=subnet_option([203, 0, 113]))))
        t.eq(addresses(other), ["192.0.2.52"], f"{CDN} from 203.0.113.0/24: its own answer")
        t.check(other.opt and subnet_option([203, 0, 113], scope=24) in other.opt["options"],
                f"{CDN} from 203.0.113.0/24: its own option back, got {other.opt}")
        t.eq(resolver.asked.get((CDN, True)), 2, f"{CDN} asked upstream for each subnet")

        # A reply with another opcode answers some other request: SERVFAIL, and not kept.
        odd = "odd.example.test."
        resolver.opcode = 4  # NOTIFY
        first = parse_message(srv.udp(query(odd)))
        t.eq((first.rcode, first.opcode, addresses(first)), (2, 0, []),
             f"{odd} answered with opcode NOTIFY: (rcode, opcode, addresses)")
        resolver.opcode = None
        second = parse_message(srv.udp(query(odd)))
        t.eq(addresses(second), ["192.0.2.10"], f"{odd} again, answered right: not from the cache")


harness.main(__doc__, scenario)
