"""Harness self-test: the dig/nslookup parsers and the raw wire helpers against a real knotd.

Starts Knot DNS (knotd) on 127.0.0.1 and ::1 with a small cluster.local zone in a temporary directory
and checks that harness.dig(), harness.nslookup(), build_query()/parse_message(), udp_exchange()
and tcp_exchange() read real answers correctly, so a failing clusterdns test points at the server,
not at the harness. Needs no clusterdns binary; skips (exit 77) when knotd is not installed.
Run: python3 tests/integration/harness_selftest.py
"""

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import build_query, parse_message  # noqa: E402

ZONE = """$ORIGIN cluster.local.
$TTL 30
@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30
@ NS ns.dns
ns.dns A 10.96.0.10
api-service.production.svc A 10.96.10.100
web-service.production.svc A 10.96.10.101
web-service.production.svc AAAA fd00:10:96::a65
_http._tcp.api-service.production.svc SRV 0 100 80 api-service.production.svc
db-service.production.svc CNAME rds-endpoint.ap-southeast-1.rds.amazonaws.com.
dns-version TXT "1.1.0"
"""


def free_port():
    # A port free on both families at this moment (knot binds it right after).
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
                s6.bind(("::1", port))
            return port
        except OSError:
            continue
    raise harness.Failure("no free port")


def start_knot(tmp, port, v6):
    zone = ZONE + "".join(f"big A 10.244.9.{i}\n" for i in range(1, 61))
    (tmp / "cluster.local.zone").write_text(zone)
    listen = f"127.0.0.1@{port}" + (f", ::1@{port}" if v6 else "")
    (tmp / "knot.conf").write_text(f"""server:
    rundir: "{tmp}"
    listen: [{listen}]
database:
    storage: "{tmp}"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "{tmp}/cluster.local.zone"
    semantic-checks: off
""")
    proc = subprocess.Popen(["knotd", "-c", str(tmp / "knot.conf")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "knotd.log", "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = harness.udp_exchange(build_query("cluster.local", "SOA"), "127.0.0.1", port, 0.3)
        if reply and parse_message(reply).rcode == 0:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise harness.Failure(f"knotd did not come up: {(tmp / 'knotd.log').read_text()}")


def scenario(t, port, v6):
    api = "api-service.production.svc.cluster.local."
    for tcp in (False, True):
        res = harness.dig(api, "A", tcp=tcp, port=port)
        t.expect(res, answer=[(api, "A", "10.96.10.100")], ttl=30, edns=0)
        t.eq(res.flags, {"qr", "aa", "rd"}, "flags parsed")
        t.eq(res.question, [(api, "IN", "A")], "question parsed")
        t.eq(res.counts, {"QUERY": 1, "ANSWER": 1, "AUTHORITY": 0, "ADDITIONAL": 1}, "counts")

        res = harness.dig("_http._tcp.api-service.production.svc.cluster.local", "SRV", tcp=tcp,
                          port=port)
        t.expect(res, answer=[("_http._tcp." + api, "SRV", "0 100 80 " + api)],
                 additional=[(api, "A", "10.96.10.100")])

        res = harness.dig("nope.production.svc.cluster.local", "A", tcp=tcp, port=port)
        t.nxdomain(res)
        t.eq(res.authority[0].rdata,
             "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30", "SOA rdata")

        t.nodata(harness.dig(api, "TXT", tcp=tcp, port=port))
        t.nodata(harness.dig("production.svc.cluster.local", "A", tcp=tcp, port=port))  # ENT
        t.expect(harness.dig("dns-version.cluster.local", "TXT", tcp=tcp, port=port),
                 answer=[("dns-version.cluster.local", "TXT", '"1.1.0"')])
        t.expect(harness.dig("db-service.production.svc.cluster.local", "A", tcp=tcp, port=port),
                 answer=[("db-service.production.svc.cluster.local", "CNAME",
                          "rds-endpoint.ap-southeast-1.rds.amazonaws.com.")])
        t.expect(harness.dig("web-service.production.svc.cluster.local", "AAAA", tcp=tcp,
                             port=port),
                 answer=[("web-service.production.svc.cluster.local", "AAAA", "fd00:10:96::a65")])
        t.expect(harness.dig("API-Service.Production.svc.cluster.local", "A", tcp=tcp, port=port),
                 answer=[("API-Service.Production.svc.cluster.local", "A", "10.96.10.100")],
                 exact_case=True)
        t.refused(harness.dig("example.com", "A", tcp=tcp, port=port))
        res = harness.dig("dns-version.cluster.local", "TXT", cls="CH", tcp=tcp, port=port)
        t.refused(res)
        t.eq(res.question, [("dns-version.cluster.local.", "CH", "TXT")], "CH question parsed")
        res = harness.dig("dns-version.cluster.local", "TXT", tcp=tcp, port=port,
                          extra=["+edns=1", "+noednsnegotiation"])
        t.expect(res, rcode="BADVERS", aa=None, answer=[], edns=0)
        t.expect(harness.dig(api, "A", tcp=tcp, port=port, extra=["+noedns"]), edns=False)

    # TC without EDNS, full answer over TCP.
    res = harness.dig("big.cluster.local", "A", port=port, extra=["+noedns", "+ignore"])
    t.expect(res, tc=True)
    res = harness.dig("big.cluster.local", "A", port=port, tcp=True)
    t.expect(res, answer_types={"A": 60})

    # busybox nslookup
    if shutil.which("busybox"):
        r = harness.nslookup("web-service.production.svc.cluster.local", port=port)
        t.eq(r.exit_code, 0, "nslookup exit code")
        t.eq(sorted(r.addresses), [("web-service.production.svc.cluster.local", "10.96.10.101"),
                                   ("web-service.production.svc.cluster.local", "fd00:10:96::a65")],
             "nslookup addresses")
        r = harness.nslookup("nope.production.svc.cluster.local", port=port)
        t.check(r.exit_code != 0, f"nslookup of a missing name should fail: {r}")
        t.check(("nope.production.svc.cluster.local", "NXDOMAIN") in r.errors, f"errors: {r}")
        r = harness.nslookup("_http._tcp.api-service.production.svc.cluster.local", "SRV",
                             port=port)
        t.eq(r.records, [("_http._tcp.api-service.production.svc.cluster.local", "service",
                          "0 100 80 api-service.production.svc.cluster.local")], "nslookup SRV")
        if v6:
            r = harness.nslookup("dns-version.cluster.local", "TXT", server="::1", port=port)
            t.eq(r.records, [("dns-version.cluster.local", "text", '"1.1.0"')], "nslookup TXT ::1")

    # Raw wire: parse, unknown opcode, pipelined TCP.
    reply = harness.udp_exchange(build_query(api, "A", qid=4242, edns=1232), "127.0.0.1", port)
    msg = parse_message(reply)
    t.eq((msg.id, msg.qr, msg.aa, msg.rcode, msg.opt is not None), (4242, True, True, 0, True),
         "raw UDP header")
    t.eq([harness.rdata_a(rr.rdata) for rr in msg.answer], ["10.96.10.100"], "raw UDP answer")
    msg = parse_message(harness.udp_exchange(build_query(api, "A", opcode=2), "127.0.0.1", port))
    t.eq((msg.opcode, msg.rcode), (2, 4), "opcode 2 (STATUS) -> NOTIMP")
    queries = [build_query(n, "A", qid=i) for i, n in
               enumerate([api, "web-service.production.svc.cluster.local", "nope.cluster.local"])]
    replies = [parse_message(r) for r in harness.tcp_exchange(queries, "127.0.0.1", port)]
    t.eq(sorted((m.id, m.rcode) for m in replies), [(0, 0), (1, 0), (2, 3)], "pipelined TCP")
    if v6:
        t.expect(harness.dig(api, "A", server="::1", port=port, tcp=True),
                 answer=[(api, "A", "10.96.10.100")])


def main():
    print("== harness_selftest: dig/nslookup/wire parsing against knotd", flush=True)
    if shutil.which("knotd") is None or shutil.which("dig") is None:
        print("SKIP: knotd or dig not installed")
        sys.exit(harness.SKIP_EXIT)
    t = harness.Checker("harness_selftest")
    v6 = harness.have_ipv6_loopback()
    with tempfile.TemporaryDirectory(prefix="knot-selftest-") as d:
        tmp = Path(d)
        port = free_port()
        proc = start_knot(tmp, port, v6)
        try:
            scenario(t, port, v6)
        except Exception:
            import traceback
            t.check(False, traceback.format_exc())
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"harness_selftest: {t.passed} passed, {len(t.failures)} failed", flush=True)
    sys.exit(1 if t.failures else 0)


if __name__ == "__main__":
    main()
