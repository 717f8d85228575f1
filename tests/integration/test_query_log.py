"""The query log (`--log true`, CoreDNS's `log` format) and the error log, on stderr.

- Off by default: no line per query.
- On: one line per query, UDP and TCP, in CoreDNS's common format: client address and port, id,
  "type class name proto size do bufsize", rcode, response flags, size, duration.
- A failed forward (an upstream that never answers) writes an `[ERROR] plugin/errors` line naming
  the name and type, with the query log off.
- A flood (2,000 queries in well under a second) writes at most 200 lines that second, and the
  next second says how many were left out.
"""

import re
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, svc  # noqa: E402
from upstream import BlackHole  # noqa: E402

LEFT_OUT = re.compile(r"\[WARNING\] plugin/log: (\d+) query log lines left out")
LINE = re.compile(r'^\[INFO\] (127\.0\.0\.1):(\d+) - (\d+) "(\S+) IN (\S+) (udp|tcp) (\d+) '
                  r'(true|false) (\d+)" ([A-Z]+) ([a-z,]+) (\d+) (\d+\.\d+)s$', re.M)


def scenario(t):
    api = svc("api-service")
    with t.server("--manifests", EXAMPLES) as srv:
        srv.dig(api)
        t.eq(LINE.findall(srv.stderr_text()), [], "no query log by default")

    with t.server("--manifests", EXAMPLES, "--log", "true") as srv:
        srv.dig(api)
        srv.dig(svc("nope"), "AAAA", tcp=True)
        # A line may be written just after its answer is sent: wait for both.
        harness.wait_until(lambda: len(LINE.findall(srv.stderr_text())) >= 2, 5)
        lines = LINE.findall(srv.stderr_text())
        t.eq(len(lines), 2, f"two lines: {srv.describe()}")
        if len(lines) == 2:
            udp, tcp = lines
            t.eq((udp[3], udp[4], udp[5], udp[9]), ("A", api.rstrip(".") + ".", "udp", "NOERROR"),
                 "the UDP line")
            t.check("qr" in udp[10] and "aa" in udp[10], f"flags of the UDP line: {udp[10]}")
            t.eq((tcp[3], tcp[5], tcp[8], tcp[9]), ("AAAA", "tcp", "65535", "NXDOMAIN"),
                 "the TCP line")

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2)
        started = time.monotonic()
        for i in range(2000):
            sock.sendto(build_query(api, "A", qid=i % 65536), (srv.host, srv.port))
            if i % 50 == 49:  # never more than 50 outstanding
                for _ in range(50):
                    try:
                        sock.recv(4096)
                    except socket.timeout:
                        break
        flood_took = time.monotonic() - started
        # The first line of a later second says how many were left out in the seconds before:
        # ask until every second of the flood has been accounted for (a flood slowed down by a
        # busy machine spans several).
        after = []

        def said():
            after.append(srv.udp(build_query(api, "A")))
            err = srv.stderr_text()
            return sum(map(int, LEFT_OUT.findall(err))) + len(LINE.findall(err)) >= 2000
        harness.wait_until(said, 5, 0.1)
        err = srv.stderr_text()
        logged = len(LINE.findall(err))
        t.check(logged <= 2 + 200 * (int(flood_took) + 2) + len(after),
                f"{logged} lines for 2,000 queries in {flood_took:.2f} s and {len(after)} after")
        left_out = LEFT_OUT.findall(err)
        t.check(left_out and sum(map(int, left_out)) + logged >= 2000,
                f"the lines left out are counted: {left_out}, {logged} written")

    with BlackHole() as hole, t.server("--manifests", EXAMPLES, "--upstream", hole.address) as srv:
        # SERVFAIL at the 5 s forward deadline: one try that waits for it.
        t.eq(srv.dig("www.example.test", extra=["+tries=1", "+time=8"]).rcode, "SERVFAIL",
             "no upstream answer")
        failed = re.compile(r"\[ERROR\] plugin/errors: 2 www\.example\.test\. A: ")
        t.check(harness.wait_until(lambda: failed.search(srv.stderr_text()), 5),
                f"the failed forward is logged: {srv.describe()}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
