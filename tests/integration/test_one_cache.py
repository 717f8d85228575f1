"""One cache for every worker, and one fetch per question in flight (CoreDNS's singleflight).

Four workers (SO_REUSEPORT spreads the clients' source ports over them); a scripted upstream on
loopback that counts what it is asked:
- eight clients asking one name 1.1 s apart (each from a new port, so from several workers) see
  its TTL only count down, from one insertion, and the upstream is asked once; a NXDOMAIN alike;
- 1,000 clients asking a new name at once, while the upstream takes 0.2 s to answer: every one
  gets the answer, and the upstream is asked once;
- serve-stale: once the answer has expired and the upstream is gone silent, every client, from
  whichever worker, gets the stale answer (TTL 30).
"""

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, parse_message  # noqa: E402
from upstream import Scripted, question_of, reply  # noqa: E402

SILENT = {"on": False}


def answer(query):
    if SILENT["on"]:
        return None
    name, qtype = question_of(query)
    if name.startswith("nx"):
        soa = (harness.encode_name("test.") + harness.encode_name("admin.test.")
               + bytes(16) + (60).to_bytes(4, "big"))
        out = reply(query, rcode=3)
        # An SOA in the authority section: the negative answer's TTL (RFC 2308).
        out = out[:8] + (1).to_bytes(2, "big") + out[10:]
        return out + harness.encode_name("test.") + (6).to_bytes(2, "big") + \
            (1).to_bytes(2, "big") + (60).to_bytes(4, "big") + len(soa).to_bytes(2, "big") + soa
    ttl = 6 if name.startswith("stale") else 300
    return reply(query, [(name, "A", ttl, socket.inet_aton("192.0.2.77"))])


def delay(query):
    return 0.2 if question_of(query)[0].startswith("crowd") else 0.0


def asked(upstream, name):
    return sum(1 for q in list(upstream.asked) if q[0] == name)


def scenario(t):
    with Scripted(answer, delay=delay) as upstream, \
            t.server("--manifests", EXAMPLES, "--upstream", upstream.address, "--workers", "4",
                     "--serve-stale", "60") as srv:
        for name, rcode in (("one.test.", "NOERROR"), ("nx-one.test.", "NXDOMAIN")):
            ttls = []
            for _ in range(8):
                res = srv.dig(name)
                t.eq(res.rcode, rcode, f"{name}: {res.rcode}")
                records = res.answer if rcode == "NOERROR" else res.authority
                ttls.append(records[0].ttl if records else None)
                time.sleep(1.1)
            t.check(None not in ttls and all(a >= b for a, b in zip(ttls, ttls[1:])) and
                    ttls[0] - ttls[-1] >= 6,
                    f"{name}: the TTL counts down from one insertion: {ttls}")
            t.eq(asked(upstream, name), 1, f"{name}: fetched once for all workers")

        # 1,000 clients at once, each from its own port.
        name = "crowd.test."
        socks = []
        for i in range(1000):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.sendto(build_query(name, "A", qid=i), (srv.host, srv.port))
            socks.append(s)
        answered = 0
        deadline = time.monotonic() + 10
        for s in socks:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = parse_message(s.recv(4096))
                answered += msg.rcode == 0 and len(msg.answer) == 1
            except OSError:
                pass
            s.close()
        t.eq(answered, 1000, "every client of the crowd got the answer")
        t.eq(asked(upstream, name), 1, "the crowd's name was fetched once")

        # Serve-stale from any worker: a 6 s answer, expired, the upstream silent.
        stale = "stale.test."
        t.eq(srv.dig(stale).rcode, "NOERROR", "the answer to go stale")
        SILENT["on"] = True
        time.sleep(6.5)
        got = [srv.dig(stale, extra=["+tries=1", "+time=8"]) for _ in range(6)]
        t.check(all(r.rcode == "NOERROR" and r.answer and r.answer[0].ttl == 30 for r in got),
                f"stale answers from every worker: {[(r.rcode, r.answer) for r in got]}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
