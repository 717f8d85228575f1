"""Two --listen addresses, one IPv4 and one IPv6 ([::1]:0), each serving UDP and TCP.

- --listen 127.0.0.1:0 --listen [::1]:0 prints
  "clusterdns: listening on 127.0.0.1:P1 [::1]:P2" (in the order given, IPv6 in brackets, real
  ports), and both addresses answer A over UDP and TCP;
- the reverse order prints the reverse order.
Skipped (exit 77) when this machine has no ::1.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

API = svc("api-service")


def scenario(t):
    if not harness.have_ipv6_loopback():
        t.skip("no IPv6 loopback (::1) on this machine")
    for listen, pattern in (
            (("127.0.0.1:0", "[::1]:0"),
             r"clusterdns: listening on 127\.0\.0\.1:(\d+) \[::1\]:(\d+)"),
            (("[::1]:0", "127.0.0.1:0"),
             r"clusterdns: listening on \[::1\]:(\d+) 127\.0\.0\.1:(\d+)")):
        # As given: the harness would choose a port for each ":0" itself.
        flags = [x for a in listen for x in ("--listen", a)]
        with t.server("--manifests", EXAMPLES, *flags, listen=None) as srv:
            m = re.fullmatch(pattern, srv.line)
            t.check(m is not None, f"{listen}: stdout line {srv.line!r} does not match {pattern}")
            t.eq(len(srv.addrs), 2, f"{listen}: addresses in the port line")
            for addr in srv.addrs:
                t.check(addr[1] != 0, f"{listen}: port 0 printed for {addr}")
                for tcp in (False, True):
                    res = srv.dig(API, "A", tcp=tcp, addr=addr)
                    t.expect(res, answer=[(API, "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
