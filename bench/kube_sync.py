#!/usr/bin/env python3
"""How long the kubernetes source takes to sync N Services from the fake API server, and the
server's peak resident memory (VmHWM) once serving. Prints one line; not a test.

    python3 bench/kube_sync.py build/clusterdns [COUNT=10000] [NAMESPACES=100]

The fake API server (tests/fake_apiserver) runs in this process; clusterdns lists the Services in
pages of 500 over HTTPS. "sync" is clusterdns's own "synced in" line; "start to line" includes
process start and the zone build.
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fake_apiserver"))
from fake_apiserver import FakeApiServer  # noqa: E402


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    namespaces = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    with tempfile.TemporaryDirectory() as d:
        api = FakeApiServer(d)
        api.generate_services(count, namespaces=namespaces)
        api.start()
        try:
            started = time.monotonic()
            proc = subprocess.Popen([binary, "--kubeconfig", str(api.kubeconfig), "--listen",
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
