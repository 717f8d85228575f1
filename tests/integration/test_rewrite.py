"""rewrite: CoreDNS's `rewrite name` rules, with real dig against a server with manifests.

Services api and orders in namespace default (a temporary manifest), unbound on loopback as the
upstream (tests/integration/upstream.py, serving example.test). Over UDP and TCP:
- a suffix rule with `answer auto` maps api.corp.example to api.default.svc.cluster.local: the
  answer comes back as api.corp.example with the Service's address, the question as asked (dig
  warns of no mismatch), SRV targets written back too;
- exact (always written back), prefix, substring and regex ({1}) rules, each to a Service;
- a rule without `answer auto`: the question is written back, the records keep their names;
- a name a rule sends out of the zone (www.outside.corp to www.example.test) is forwarded and its
  answer written back, a CNAME chain's owners and targets included; again from the cache;
- a rule that makes no domain name: SERVFAIL; names no rule matches answer as before;
- `stop` and `continue`;
- coredns_plugin_enabled lists rewrite;
- the config file's `rewrite:` list, changed by a reload; a bad rule in it is refused by the
  reload (the rules in force kept) and by --check-config;
- a bad rule (a type rule, a bad regex) is refused at start-up with its reason.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import free_port, wait_until  # noqa: E402
from upstream import Unbound  # noqa: E402

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {clusterIP: 10.96.50.10, ports: [{name: http, port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: default}
spec: {clusterIP: 10.96.50.11, ports: [{name: http, port: 8080, protocol: TCP}]}
"""

RULES = [
    # Rules apply in order, the first that matches wins: the chain comes before the suffix rule.
    "continue name prefix chain api-chain answer auto",
    "name exact api-chain.corp.example orders.default.svc.cluster.local",
    "name suffix .corp.example .default.svc.cluster.local answer auto",
    "name exact legacy-orders.example orders.default.svc.cluster.local",
    "name prefix oldapi api answer auto",
    "name substring prod-cluster.internal default.svc.cluster.local answer auto",
    r"name regex ^(.*)\.db\.example\.$ {1}.default.svc.cluster.local answer auto",
    "name substring noauto.example default.svc.cluster.local",
    "name suffix .outside.corp .example.test answer auto",
    r"name regex ^(.*)\.huge\.example\.$ {1}{1}{1}{1}{1}.default.svc.cluster.local",
]

SVC = ".default.svc.cluster.local."


def curl(url):
    p = subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True, text=True)
    return p.stdout


def asked_as(t, res, name, qtype="A"):
    """The response's question is the name the client asked, and dig saw no mismatch."""
    t.eq([(q[0].lower(), q[2]) for q in res.question], [(name.lower(), qtype)],
         f"{res.query()}: the question as asked")
    t.eq([w for w in res.warnings if "mismatch" in w.lower()], [], f"{res.query()}: warnings")


def rules(t, srv, unbound):
    for tcp in (False, True):
        res = srv.dig("api.corp.example.", tcp=tcp)
        t.expect(res, answer=[("api.corp.example.", "A", "10.96.50.10")])
        asked_as(t, res, "api.corp.example.")
        # An error answer to a rewritten query repeats the question as asked too.
        res = srv.dig("api.corp.example.", tcp=tcp, extra=["+edns=1", "+noednsneg"])
        t.expect(res, rcode="BADVERS", aa=None, answer=[])
        asked_as(t, res, "api.corp.example.")
        res = srv.dig("api.corp.example.", tcp=tcp, extra=["+opcode=status"])
        t.expect(res, rcode="NOTIMP", aa=None, answer=[])
        asked_as(t, res, "api.corp.example.")
        res = srv.dig("_http._tcp.api.corp.example.", "SRV", tcp=tcp)
        t.expect(res, answer=[("_http._tcp.api.corp.example.", "SRV",
                               "0 100 80 api.corp.example.")])
        res = srv.dig("Legacy-Orders.Example.", tcp=tcp)
        t.expect(res, answer=[("legacy-orders.example.", "A", "10.96.50.11")])
        asked_as(t, res, "Legacy-Orders.Example.")
        t.expect(srv.dig("oldapi" + SVC, tcp=tcp), answer=[("oldapi" + SVC, "A", "10.96.50.10")])
        t.expect(srv.dig("orders.prod-cluster.internal.", tcp=tcp),
                 answer=[("orders.prod-cluster.internal.", "A", "10.96.50.11")])
        t.expect(srv.dig("orders.db.example.", tcp=tcp),
                 answer=[("orders.db.example.", "A", "10.96.50.11")])
        # No answer auto: only the question goes back to the name asked.
        res = srv.dig("api.noauto.example.", tcp=tcp)
        t.expect(res, answer=[("api" + SVC, "A", "10.96.50.10")])
        asked_as(t, res, "api.noauto.example.")
        # A name below a Service that does not exist: NXDOMAIN from the zone, question as asked.
        res = srv.dig("nothing.corp.example.", tcp=tcp)
        t.expect(res, rcode="NXDOMAIN", answer=[])
        asked_as(t, res, "nothing.corp.example.")
        # Out of the zone: forwarded to unbound, written back (from the cache the second time).
        for _ in range(2):
            res = srv.dig("www.outside.corp.", tcp=tcp)
            t.expect(res, aa=None, answer=[("www.outside.corp.", "A", "192.0.2.10")])
            asked_as(t, res, "www.outside.corp.")
            # unbound's answer for the CNAME, its names written back.
            direct = srv.dig("alias.example.test.", tcp=tcp)
            want = [(rr.name.replace(".example.test.", ".outside.corp."), rr.type,
                     rr.rdata.replace(".example.test.", ".outside.corp."))
                    for rr in direct.answer]
            t.check(("alias.outside.corp.", "CNAME", "www.outside.corp.") in want,
                    f"unbound answers the CNAME: {direct}")
            t.expect(srv.dig("alias.outside.corp.", tcp=tcp), aa=None, answer=want)
        t.expect(srv.dig("nope.outside.corp.", tcp=tcp), rcode="NXDOMAIN", aa=None, answer=[])
        # A result with a 300-octet label is no name: SERVFAIL, as CoreDNS.
        res = srv.dig("a" * 60 + ".huge.example.", tcp=tcp)
        t.expect(res, rcode="SERVFAIL", aa=None, answer=[])
        asked_as(t, res, "a" * 60 + ".huge.example.")
        # continue: chain.corp.example -> api-chain.corp.example -> orders (stop).
        t.expect(srv.dig("chain.corp.example.", tcp=tcp),
                 answer=[("chain.corp.example.", "A", "10.96.50.11")])
        # Names no rule matches answer as they did.
        t.expect(srv.dig("api" + SVC, tcp=tcp), answer=[("api" + SVC, "A", "10.96.50.10")])
        t.expect(srv.dig("www.example.test.", tcp=tcp), aa=None,
                 answer=[("www.example.test.", "A", "192.0.2.10")])


def config_file(t, unbound):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "svc.yaml").write_text(MANIFEST)
        config = tmp / "config.yaml"

        def write(rules):
            lines = "".join(f"  - '{r}'\n" for r in rules)
            config.write_text(f"manifests: [{tmp / 'svc.yaml'}]\nupstream: [{unbound.address}]\n"
                              f"rewrite:\n{lines}")

        write(["name exact first.example api.default.svc.cluster.local"])
        ran = harness.run_binary(t.binary, ["--check-config", config])
        t.eq(ran.returncode, 0, f"--check-config of good rules: {ran.stderr}")
        with t.server("--config", config) as srv:
            t.expect(srv.dig("first.example."), answer=[("first.example.", "A", "10.96.50.10")])
            write(["name exact second.example orders.default.svc.cluster.local"])

            def second():
                res = srv.dig("second.example.")
                return res.rcode == "NOERROR" and [rr.rdata for rr in res.answer] == [
                    "10.96.50.11"]
            t.check(wait_until(second, 10), f"a reload takes up new rules: {srv.describe()}")
            res = srv.dig("first.example.")  # no rule now: forwarded, and unbound refuses it
            t.check(res.rcode != "NOERROR" and not res.answer, f"first.example. unmapped: {res}")
            write(["name exact third.example api.default.svc.cluster.local", "ttl exact a 5"])
            t.check(wait_until(lambda: "ttl rules are not supported" in srv.stderr_text(), 10),
                    f"a reload refuses a bad rule, naming it: {srv.describe()}")
            t.expect(srv.dig("second.example."),
                     answer=[("second.example.", "A", "10.96.50.11")])
        ran = harness.run_binary(t.binary, ["--check-config", config])
        t.check(ran.returncode != 0 and "ttl exact a 5" in ran.stderr,
                f"--check-config refuses the bad rule, naming it: {ran}")


def refused(t):
    for rule, why in (("type A AAAA", "type rules are not supported"),
                      ("edns0 local set 0xffee abcd", "edns0 rules are not supported"),
                      (r"name regex ([a]\.com new-{1}.com", "invalid regex"),
                      (r"name regex (a)\.com {2}.com", "group {2}"),
                      ("name suffix a b answer auto answer name (.*) {1}", "cannot be combined")):
        ran = harness.run_binary(t.binary, ["--manifests", harness.EXAMPLES, "--rewrite", rule])
        t.check(ran.returncode not in (0, None) and not ran.timed_out and why in ran.stderr
                and "rewrite" in ran.stderr,
                f"--rewrite {rule!r} refused at start with {why!r}: {ran}")


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "svc.yaml"
        manifest.write_text(MANIFEST)
        metrics = f"127.0.0.1:{free_port()}"
        args = [x for r in RULES for x in ("--rewrite", r)]
        with Unbound() as unbound, t.server("--manifests", harness.EXAMPLES, "--manifests",
                                            manifest, "--upstream", unbound.address,
                                            "--metrics", metrics, *args) as srv:
            rules(t, srv, unbound)
            text = curl(f"http://{metrics}/metrics")
            enabled = set(re.findall(r'coredns_plugin_enabled\{[^}]*name="([^"]+)"[^}]*\} 1',
                                     text))
            t.check("rewrite" in enabled, f"coredns_plugin_enabled names rewrite: {enabled}")
        with Unbound() as unbound:
            config_file(t, unbound)
    refused(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
