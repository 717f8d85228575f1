"""Truncation: TC=1 when the answer does not fit the UDP size, the full answer over TCP.

Loads tests/data/big-headless.yaml: headless service big.bulk with 60 ready endpoints.
- A over UDP without EDNS (+noedns +ignore): TC=1, the reply at most 512 bytes, NOERROR, AA=1;
- the same over TCP: all 60 A records, TC=0;
- A over UDP with EDNS 1232 (dig's default) and with +bufsize=4096: the ~1 KB answer fits, TC=0;
- SRV over UDP with EDNS 1232: 60 SRV records do not fit -> TC=1, reply at most 1232 bytes;
  without +ignore dig retries over TCP by itself and gets all 60 SRV (what a stub does);
- SRV over TCP: 60 SRV records with the 60 targets' A records in additional;
- +bufsize=512 with EDNS behaves like no EDNS for size (TC=1, at most 512 bytes).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, svc  # noqa: E402

BIG = svc("big", "bulk")
IPS = [f"10.244.100.{i}" for i in range(1, 61)]


def scenario(t):
    with t.server("--manifests", DATA / "big-headless.yaml") as srv:
        res = srv.dig(BIG, "A", extra=["+noedns", "+ignore"])
        t.expect(res, tc=True, edns=False)
        t.check(res.size is not None and res.size <= 512,
                f"{res.query()}: reply of {res.size} bytes, expected at most 512")
        res = srv.dig(BIG, "A", extra=["+bufsize=512", "+ignore"])
        t.expect(res, tc=True)
        t.check(res.size is not None and res.size <= 512,
                f"{res.query()}: reply of {res.size} bytes, expected at most 512")

        want_a = [(BIG, "A", ip) for ip in IPS]
        t.expect(srv.dig(BIG, "A", tcp=True), answer=want_a, tc=False, ttl=30)
        t.expect(srv.dig(BIG, "A", tcp=True, extra=["+noedns"]), answer=want_a, tc=False)
        t.expect(srv.dig(BIG, "A", extra=["+ignore"]), answer=want_a, tc=False)
        t.expect(srv.dig(BIG, "A", extra=["+bufsize=4096", "+ignore"]), answer=want_a, tc=False)

        srv_name = "_http._tcp." + BIG
        targets = ["-".join(ip.split(".")) + "." + BIG for ip in IPS]
        want_srv = [(srv_name, "SRV", f"0 1 8080 {tg}") for tg in targets]
        res = srv.dig(srv_name, "SRV", extra=["+ignore"])
        t.expect(res, tc=True)
        t.check(res.size is not None and res.size <= 1232,
                f"{res.query()}: reply of {res.size} bytes, expected at most 1232")
        res = srv.dig(srv_name, "SRV")   # dig falls back to TCP on TC=1
        t.expect(res, answer=want_srv, tc=False, srv_weight=False)
        res = srv.dig(srv_name, "SRV", tcp=True)
        t.expect(res, answer=want_srv, tc=False, srv_weight=False,
                 additional=[(tg, "A", ip) for tg, ip in zip(targets, IPS)])
        t.srv_weights(res, 60)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
