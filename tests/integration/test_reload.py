"""Reload, as an operator editing a ConfigMap or a developer editing a manifest meets it.

- The config file changes on disk (a ConfigMap's symlink swap: ..data points to a new directory):
  within a few seconds the new TTL answers, without a restart (same process, queries answered
  throughout).
- A manifest file changes: the new Service answers, the one removed is NXDOMAIN; a file added to
  a watched directory joins.
- A broken manifest: refused with its name, the zone stays as it was (all or nothing); fixed, it
  applies.
- A broken config (bad value, unknown key, or a change that needs a restart such as `workers`):
  refused with the reason, the running config stays and keeps answering.
- SIGHUP re-reads both.
- `--check-config FILE`: exit 0 and "valid" for a good config with its manifests; non-zero and the
  reason for a bad key, a bad value, or a broken manifest it names.
"""

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import svc  # noqa: E402


def service(name, ip, ns="production"):
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec: {{clusterIP: {ip}, ports: [{{name: http, port: 80}}]}}\n")


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def swap_configmap(root, text, generation):
    """Writes `text` the way the kubelet updates a mounted ConfigMap: a new directory, then the
    ..data symlink renamed over the old one; config.yaml links through ..data."""
    new = root / f"..{generation}"
    new.mkdir()
    (new / "config.yaml").write_text(text)
    tmp = root / "..data_tmp"
    os.symlink(new.name, tmp)
    os.replace(tmp, root / "..data")
    if not (root / "config.yaml").is_symlink():
        os.symlink("..data/config.yaml", root / "config.yaml")


def ttl_of(srv, name):
    res = srv.dig(name)
    return res.answer[0].ttl if res.answer else None


def scenario(t):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        manifests = d / "manifests"
        manifests.mkdir()
        (manifests / "api.yaml").write_text(service("api", "10.96.0.11"))
        configmap = d / "configmap"
        configmap.mkdir()
        swap_configmap(configmap, f"ttl: 30\nmanifests: [{manifests}]\n", 1)
        config = configmap / "config.yaml"
        api, web, extra = svc("api"), svc("web"), svc("extra")
        with t.server("--config", config) as srv:
            t.eq(ttl_of(srv, api), 30, "TTL at start")

            swap_configmap(configmap, f"ttl: 7\nmanifests: [{manifests}]\n", 2)
            t.check(wait_until(lambda: ttl_of(srv, api) == 7),
                    f"the new TTL within 10 s of the ConfigMap swap: {srv.describe()}")

            (manifests / "api.yaml").write_text(service("web", "10.96.0.12"))
            t.check(wait_until(lambda: srv.dig(web).rcode == "NOERROR"),
                    f"a changed manifest applies: {srv.describe()}")
            t.nxdomain(srv.dig(api))
            (manifests / "extra.yaml").write_text(service("extra", "10.96.0.13"))
            t.check(wait_until(lambda: srv.dig(extra).rcode == "NOERROR"),
                    "a manifest added to the directory applies")

            (manifests / "extra.yaml").write_text(service("extra", "10.96.0.14") +
                                                  "  bogus: [\n")
            t.check(wait_until(lambda: "extra.yaml" in srv.stderr_text().split(
                "plugin/reload")[-1]), f"the broken manifest is named: {srv.describe()}")
            t.expect(srv.dig(extra), answer=[(extra, "A", "10.96.0.13")])
            t.expect(srv.dig(web), answer=[(web, "A", "10.96.0.12")])
            (manifests / "extra.yaml").write_text(service("extra", "10.96.0.14"))
            t.check(wait_until(lambda: any(r.rdata == "10.96.0.14"
                                           for r in srv.dig(extra).answer)),
                    "the fixed manifest applies")

            for broken, reason in ((f"ttl: 99999\nmanifests: [{manifests}]\n", "ttl"),
                                   (f"tll: 7\nmanifests: [{manifests}]\n", "unknown key"),
                                   (f"ttl: 7\nworkers: 3\nmanifests: [{manifests}]\n",
                                    "workers changed")):
                errors = srv.stderr_text().count("[ERROR] plugin/reload")
                swap_configmap(configmap, broken, f"b{errors}")
                t.check(wait_until(lambda: srv.stderr_text().count("[ERROR] plugin/reload")
                                   > errors),
                        f"a broken config ({reason}) is refused: {srv.describe()}")
                t.check(reason in srv.stderr_text().split("[ERROR] plugin/reload")[-1],
                        f"the refusal says {reason!r}: {srv.describe()}")
                t.eq(ttl_of(srv, web), 7, f"the running config stays ({reason})")

            swap_configmap(configmap, f"ttl: 9\nmanifests: [{manifests}]\n", 3)
            t.check(wait_until(lambda: ttl_of(srv, web) == 9), "a good config applies again")
            reloads = srv.stderr_text().count("SIGHUP: reloaded")
            srv.proc.send_signal(signal.SIGHUP)
            t.check(wait_until(lambda: srv.stderr_text().count("SIGHUP: reloaded") > reloads),
                    "SIGHUP reloads")
            t.check(srv.alive(), "still serving")

        good = d / "good.yaml"
        good.write_text(f"ttl: 10\nmanifests: [{manifests}]\n")
        ran = harness.run_binary(t.binary, ["--check-config", good])
        t.eq(ran.returncode, 0, f"--check-config of a good config: {ran.stderr}")
        t.check("valid" in ran.stdout, f"it says so: {ran.stdout!r}")
        for text, reason in (("ttl: 10\ncolour: blue\n", "unknown key"),
                             ("ttl: ten\n", "ttl"),
                             (f"manifests: [{manifests / 'nothing.yaml'}]\n", "nothing.yaml")):
            bad = d / "bad.yaml"
            bad.write_text(text)
            ran = harness.run_binary(t.binary, ["--check-config", bad])
            t.check(ran.returncode not in (0, None), f"--check-config refuses {reason}")
            t.check(reason in ran.stderr, f"and says why ({reason}): {ran.stderr!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
