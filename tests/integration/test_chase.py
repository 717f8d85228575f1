"""An ExternalName's chase takes from the upstream only what is on its chain, and the zone's word
for names of its own; in-zone chains as long as other resolvers follow.

Manifests: examples/ (api-service.production at 10.96.10.100) and ExternalNames in namespace shop:
`back` -> cname-ext.test, `lies` -> lies.test, `hop0` -> hop1 -> ... -> hop9 -> api-service
(in-zone CNAMEs), `long0` -> ... -> long14 (longer than followed). A scripted upstream (a real one
cannot be made to lie) answers:
- cname-ext.test: CNAME api-service.production.svc.cluster.local with A 6.6.6.6 for it: the
  answer is back's CNAME, the upstream's CNAME, then the zone's 10.96.10.100 (never 6.6.6.6),
  not authoritative (one record is the upstream's);
- lies.test: its A plus an A for api-service.production.svc.cluster.local and for an unrelated
  name: only lies.test's own record is kept;
- hop0 answers its ten CNAMEs and the Service's address, NOERROR, authoritative, no upstream asked;
  long0 answers the CNAMEs as far as they are followed, NOERROR, never SERVFAIL.
"""

import socket
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, encode_name, svc  # noqa: E402
from upstream import Scripted, question_of, reply  # noqa: E402

API = svc("api-service")


def manifests():
    docs = []
    def external(name, target):
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop}}\n"
                    f"spec: {{type: ExternalName, externalName: {target}}}\n")
    docs.append("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    external("back", "cname-ext.test")
    external("lies", "lies.test")
    for i in range(10):
        external(f"hop{i}", f"hop{i + 1}.shop.svc.cluster.local" if i < 9
                 else "api-service.production.svc.cluster.local")
    for i in range(15):
        external(f"long{i}", f"long{i + 1}.shop.svc.cluster.local")
    return "---\n".join(docs)


def a(ip):
    return socket.inet_aton(ip)


def answer(query):
    name, qtype = question_of(query)
    if name == "cname-ext.test." and qtype == 1:
        return reply(query, [("cname-ext.test.", "CNAME", 300, encode_name(API)),
                             (API, "A", 300, a("6.6.6.6"))])
    if name == "lies.test." and qtype == 1:
        return reply(query, [("lies.test.", "A", 300, a("192.0.2.44")),
                             (API, "A", 300, a("6.6.6.6")),
                             ("bank.example.", "A", 300, a("6.6.6.8"))])
    return reply(query, rcode=3)


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.yaml"
        path.write_text(manifests())
        with Scripted(answer) as upstream, t.server("--manifests", EXAMPLES, "--manifests", path,
                                                   "--upstream", upstream.address) as srv:
            back = "back.shop.svc.cluster.local."
            lies = "lies.shop.svc.cluster.local."
            for tcp in (False, True, False):  # the third from the cache
                t.expect(srv.dig(back, tcp=tcp), aa=False,
                         answer=[(back, "CNAME", "cname-ext.test."),
                                 ("cname-ext.test.", "CNAME", API), (API, "A", "10.96.10.100")])
                t.expect(srv.dig(lies, tcp=tcp), aa=False,
                         answer=[(lies, "CNAME", "lies.test."),
                                 ("lies.test.", "A", "192.0.2.44")])
            asked = len(upstream.asked)
            hops = [f"hop{i}.shop.svc.cluster.local." for i in range(10)]
            want = [(hops[i], "CNAME", hops[i + 1] if i < 9 else API) for i in range(10)]
            t.expect(srv.dig(hops[0]), answer=want + [(API, "A", "10.96.10.100")])
            res = srv.dig("long0.shop.svc.cluster.local.")
            t.expect(res, answer_types=None)
            t.check(len(res.answer) >= 10 and all(rr.type == "CNAME" for rr in res.answer),
                    f"a long chain answers as far as it is followed: {res.answer}")
            t.eq(len(upstream.asked), asked, "in-zone chains ask no upstream")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
