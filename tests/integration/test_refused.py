"""REFUSED for names outside the served zones and for classes other than IN.

Loads examples/. Over UDP and TCP:
- names outside cluster.local / in-addr.arpa / ip6.arpa -> REFUSED with an empty answer: a
  public name, the root, "local.", and look-alikes that merely end in the same characters
  (notcluster.local, cluster.local.example.com);
- dig -c CH (and HS) for names inside the zone (dns-version, a service) and for
  version.bind -> REFUSED;
- the server keeps answering IN queries afterwards.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

OUTSIDE = [("example.com.", "A"), ("www.example.com.", "AAAA"), (".", "NS"), ("local.", "SOA"),
           ("notcluster.local.", "A"), ("xcluster.local.", "SOA"),
           ("cluster.local.example.com.", "A"), ("api-service.production.svc.cluster.", "A"),
           ("com.", "SOA")]


def scenario(t):
    with t.server("--manifests", EXAMPLES) as srv:
        for tcp in (False, True):
            for name, qtype in OUTSIDE:
                t.refused(srv.dig(name, qtype, tcp=tcp))
            for cls, name, qtype in (("CH", "dns-version.cluster.local", "TXT"),
                                     ("CH", svc("api-service"), "A"),
                                     ("CH", "version.bind", "TXT"),
                                     ("HS", svc("api-service"), "A")):
                res = srv.dig(name, qtype, tcp=tcp, cls=cls)
                t.refused(res)
                t.eq([q[1] for q in res.question], [cls], f"{res.query()}: question class echoed")
            t.expect(srv.dig(svc("api-service"), "A", tcp=tcp),
                     answer=[(svc("api-service"), "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
