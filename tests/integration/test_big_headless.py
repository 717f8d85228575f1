"""A headless Service of 50,000 ready endpoints: the server starts and answers within bounds.

Generates namespace bulk with headless big (50,000 endpoints without hostnames, in EndpointSlices
of 1000, so each is named by its dashed address) and ClusterIP web. Then:
- the server starts (no timing assertion beyond the harness's generous start-up timeout);
- SRV on _http._tcp.big and on big, A and ANY on big, over UDP without EDNS and with EDNS 1232:
  TC=1, NOERROR, AA, the reply within the size, a bounded number of records, each a real one;
- the same over TCP: a reply within 65,535 bytes whose records are all real endpoints (and, for
  SRV, any additional address belongs to a target in the answer);
- web's A, an endpoint's own name and an endpoint's PTR still answer.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import reverse_name, svc  # noqa: E402

ENDPOINTS = 50000
BIG = svc("big", "bulk")
WEB = svc("web", "bulk")
SRV_NAME = "_http._tcp." + BIG


def address(i):
    return f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256}"


def dashed(ip):
    return ip.replace(".", "-") + "." + BIG


def write_manifests(path):
    docs = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: bulk}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: bulk}\n"
            "spec:\n  clusterIP: None\n  ports: [{name: http, protocol: TCP, port: 8080}]\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: bulk}\n"
            "spec:\n  clusterIP: 10.96.0.20\n  ports: [{name: http, protocol: TCP, port: 80}]\n"]
    for start in range(0, ENDPOINTS, 1000):
        endpoints = "".join(f"  - addresses: [\"{address(i)}\"]\n    conditions: {{ready: true}}\n"
                            for i in range(start, min(ENDPOINTS, start + 1000)))
        docs.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                    f"metadata:\n  name: big-{start // 1000}\n  namespace: bulk\n"
                    "  labels: {kubernetes.io/service-name: big}\n"
                    "addressType: IPv4\nports: [{name: http, protocol: TCP, port: 8080}]\n"
                    "endpoints:\n" + endpoints)
    path.write_text("---\n".join(docs))


def check_records(t, res, owner, qtype, ips, limit):
    """Every answer record is one of the Service's real records, and there are fewer than all."""
    q = res.query()
    t.check(res.size is not None and res.size <= limit,
            f"{q}: reply of {res.size} bytes, expected at most {limit}")
    t.check(0 < len(res.answer) < ENDPOINTS, f"{q}: {len(res.answer)} answer records, expected "
                                             f"some but fewer than {ENDPOINTS}")
    t.check(len(res.answer) <= limit // 16, f"{q}: {len(res.answer)} records in {limit} bytes")
    names = {dashed(ip) for ip in ips}
    targets = set()
    for rr in res.answer:
        if not t.eq(rr.name.lower(), owner, f"{q}: owner of {rr}"):
            break
        if qtype == "SRV" or (qtype == "ANY" and rr.type == "SRV"):
            prio, weight, port, target = rr.rdata.split()
            ok = (prio, weight, port) == ("0", "1", "8080") and target.lower() in names
            targets.add(target.lower())
        else:
            ok = rr.type == "A" and rr.rdata in ips
        if not t.check(ok, f"{q}: unexpected record {rr}"):
            break
    for rr in res.additional:
        if not t.check(rr.type == "A" and rr.name.lower() in targets and rr.name.lower() ==
                       dashed(rr.rdata), f"{q}: unexpected additional record {rr}"):
            break


def scenario(t):
    ips = {address(i) for i in range(ENDPOINTS)}
    with tempfile.TemporaryDirectory(prefix="clusterdns-big-headless.") as tmp:
        manifests = Path(tmp) / "bulk.yaml"
        write_manifests(manifests)
        ctx = t.server("--manifests", manifests)
        ctx.server.startup_timeout = 240  # a correctness test: slow machines and old code pass
        with ctx as srv:
            for owner, qtype in ((SRV_NAME, "SRV"), (BIG, "SRV"), (BIG, "A"), (BIG, "ANY")):
                for extra, limit in ((["+noedns"], 512), ([], 1232)):
                    res = srv.dig(owner, qtype, extra=extra + ["+notcp", "+ignore"])
                    if t.expect(res, tc=True):
                        check_records(t, res, owner, qtype, ips, limit)
                res = srv.dig(owner, qtype, tcp=True)
                if t.expect(res, tc=None):
                    check_records(t, res, owner, qtype, ips, 65535)

            t.expect(srv.dig(WEB), answer=[(WEB, "A", "10.96.0.20")])
            one = address(12345)
            t.expect(srv.dig(dashed(one)), answer=[(dashed(one), "A", one)])
            t.expect(srv.dig(reverse_name(one), "PTR"),
                     answer=[(reverse_name(one), "PTR", dashed(one))])
            t.expect(srv.dig(WEB, tcp=True), answer=[(WEB, "A", "10.96.0.20")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
