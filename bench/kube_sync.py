#!/usr/bin/env python3
"""How long the kubernetes source takes to sync N Services from the fake API server, and the
server's peak resident memory (VmHWM) once serving. Prints one line; not a test.

    python3 bench/kube_sync.py build/clusterdns [COUNT=10000] [NAMESPACES=100]
    python3 bench/kube_sync.py build/clusterdns --manifests DIR   # e.g. a bench/gen_cluster.py
                                                                  # --shape real cluster

The fake API server (tests/fake_apiserver) runs in this process; clusterdns lists the objects in
pages of 500 over HTTPS. With --manifests the API serves those objects (Namespaces, Services,
EndpointSlices; read with PyYAML), else COUNT bare ClusterIP Services. "sync" is clusterdns's own "synced in" line; "start to line" includes
process start and the zone build.
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fake_apiserver"))
from fake_apiserver import FakeApiServer, find_resource  # noqa: E402


def load_manifests(api, directory):
    """Puts every object of the YAML files below `directory` into the fake API's store."""
    import yaml  # only this mode needs PyYAML (python3-yaml)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    counts = {}
    for path in sorted(Path(directory).rglob("*.yaml")):
        with open(path) as f:
            for obj in yaml.load_all(f, Loader=loader):
                if not obj:
                    continue
                kind = obj["kind"]
                api.store.put(find_resource(kind), obj, "upsert", owned=True)
                counts[kind] = counts.get(kind, 0) + 1
    return counts


def main():
    binary = sys.argv[1]
    manifests = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--manifests" else None
    count = int(sys.argv[2]) if len(sys.argv) > 2 and not manifests else 10000
    namespaces = int(sys.argv[3]) if len(sys.argv) > 3 and not manifests else 100
    with tempfile.TemporaryDirectory() as d:
        api = FakeApiServer(d)
        if manifests:
            counts = load_manifests(api, manifests)
            count = counts.get("Service", 0)
            namespaces = counts.get("Namespace", 0)
        else:
            api.generate_services(count, namespaces=namespaces)
        api.start()
        try:
            started = time.monotonic()
            proc = subprocess.Popen([binary, "--upstream", "none", "--lameduck", "0", "--kubeconfig", str(api.kubeconfig), "--listen",
                                     "127.0.0.1:0", "--workers", "1", "--startup-timeout", "300"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            to_line = time.monotonic() - started
            with open(f"/proc/{proc.pid}/status") as f:
                status = f.read()
            hwm = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
            proc.terminate()
            _, err = proc.communicate(timeout=30)
            synced = re.search(r"synced in ([0-9.]+) s", err)
            print(f"{count} Services in {namespaces} namespaces: sync {synced.group(1) if synced else '?'}"
                  f" s, start to line {to_line:.2f} s, peak RSS {hwm / 1024:.1f} MiB, RSS serving "
                  f"{rss / 1024:.1f} MiB ({'listening' if 'listening' in line else line!r})")
        finally:
            api.stop()


main()
