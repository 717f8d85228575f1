"""--config FILE: a YAML file with the flags' keys (manifests, listen, zone, ttl, workers); flags
given on the command line override the file.

- A config with manifests: [examples/], listen: ["127.0.0.1:0"], zone: example.test, ttl: 11,
  workers: 2 and NO --listen flag: one address printed, api-service.production.svc.example.test A
  with TTL 11, cluster.local REFUSED;
- the same file plus --zone cluster.local --ttl 7: cluster.local served with TTL 7, example.test
  REFUSED;
- listen: [127.0.0.1:0, "[::1]:0"] in the file plus --listen 127.0.0.1:0: only the flag's
  address is printed and served (when ::1 exists);
- manifests: [tests/data/tree] in the file plus --manifests examples/: only examples/ is loaded;
- an unknown key (named on stderr), a non-numeric ttl and a missing config file: non-zero exit,
  no port line.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, EXAMPLES, svc  # noqa: E402


def write(dirpath, name, text):
    path = Path(dirpath) / name
    path.write_text(text)
    return path


def config(manifests, listen, extra=""):
    lines = ["# clusterdns test config", "manifests:"]
    lines += [f'  - "{m}"' for m in manifests]
    lines += ["listen:"] + [f'  - "{a}"' for a in listen]
    return "\n".join(lines) + "\n" + extra


def scenario(t):
    with tempfile.TemporaryDirectory(prefix="clusterdns-config-") as tmp:
        base = write(tmp, "base.yaml", config([EXAMPLES], ["127.0.0.1:0"],
                                              "zone: example.test\nttl: 11\nworkers: 2\n"))
        api_t = svc("api-service", zone="example.test")
        with t.server("--config", base, listen=None) as srv:
            t.eq(len(srv.addrs), 1, f"addresses in {srv.line!r}")
            for tcp in (False, True):
                t.expect(srv.dig(api_t, "A", tcp=tcp), answer=[(api_t, "A", "10.96.10.100")],
                         ttl=11)
                t.refused(srv.dig(svc("api-service"), "A", tcp=tcp))

        with t.server("--config", base, "--zone", "cluster.local", "--ttl", "7",
                      listen=None) as srv:
            for tcp in (False, True):
                t.expect(srv.dig(svc("api-service"), "A", tcp=tcp),
                         answer=[(svc("api-service"), "A", "10.96.10.100")], ttl=7)
                t.refused(srv.dig(api_t, "A", tcp=tcp))

        if harness.have_ipv6_loopback():
            two = write(tmp, "two.yaml", config([EXAMPLES], ["127.0.0.1:0", "[::1]:0"]))
            with t.server("--config", two, listen=("127.0.0.1:0",)) as srv:
                t.eq([h for h, _ in srv.addrs], ["127.0.0.1"],
                     f"--listen overrides the file's listen: {srv.line!r}")
                t.expect(srv.dig(svc("api-service"), "A"),
                         answer=[(svc("api-service"), "A", "10.96.10.100")])

        tree = write(tmp, "tree.yaml", config([DATA / "tree"], ["127.0.0.1:0"]))
        with t.server("--config", tree, "--manifests", EXAMPLES, listen=None) as srv:
            t.expect(srv.dig(svc("api-service"), "A"),
                     answer=[(svc("api-service"), "A", "10.96.10.100")])
            t.nxdomain(srv.dig(svc("json-service", "tree"), "A"))

        for name, text, needle in (
                ("unknown-key.yaml", config([EXAMPLES], ["127.0.0.1:0"], "bogus_key: 1\n"),
                 "bogus_key"),
                ("bad-ttl.yaml", config([EXAMPLES], ["127.0.0.1:0"], "ttl: soon\n"), "ttl")):
            path = write(tmp, name, text)
            ran = harness.run_binary(t.binary, ["--config", path])
            if t.check(not ran.timed_out, f"--config {name}: kept running; stdout {ran.stdout!r}"):
                t.check(ran.returncode not in (0, None),
                        f"--config {name}: expected a non-zero exit, got {ran.returncode}")
                t.eq(ran.stdout, "", f"--config {name}: stdout")
                t.check(needle in ran.stderr, f"--config {name}: stderr does not name {needle!r}: "
                                              f"{ran.stderr[-300:]!r}")
        ran = harness.run_binary(t.binary, ["--config", Path(tmp) / "missing.yaml"])
        t.check(not ran.timed_out and ran.returncode not in (0, None),
                f"--config missing.yaml: expected a non-zero exit, got {ran.returncode}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
