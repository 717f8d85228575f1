#!/usr/bin/env python3
"""From an API event to its answer: how long after a Service is created on the fake API server
clusterdns answers its name, while dnsperf keeps the server busy. Prints p50/p99/max; not a test.

    python3 bench/kube_event_latency.py build/clusterdns [SERVICES=10000] [EVENTS=200] [QPS=20000]

The fake API server (tests/fake_apiserver) holds SERVICES Services; clusterdns syncs them, then
dnsperf sends QPS queries per second for names that exist while this script creates one Service
at a time and polls clusterdns over UDP (every 0.2 ms) until the new name answers. The delay
includes the fake server's own work (it is Python), so it bounds clusterdns's from above.
"""

import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fake_apiserver"))
from fake_apiserver import FakeApiServer  # noqa: E402


def query(name, qid):
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + b"\x00\x01\x00\x01"


def answered(sock, port, name, qid):
    """Asks once; true if any reply to this event's queries (its qid) has an answer."""
    sock.sendto(query(name, qid), ("127.0.0.1", port))
    while True:
        try:
            reply, _ = sock.recvfrom(4096)
        except socket.timeout:
            return False
        if len(reply) > 12 and reply[:2] == struct.pack("!H", qid) and (reply[3] & 0xF) == 0 \
                and struct.unpack("!H", reply[6:8])[0] > 0:
            return True


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    events = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    qps = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
    with tempfile.TemporaryDirectory() as d:
        api = FakeApiServer(d)
        api.generate_services(count, namespaces=100)
        api.start()
        proc = dnsperf = None
        try:
            proc = subprocess.Popen([binary, "--upstream", "none", "--lameduck", "0", "--kubeconfig", str(api.kubeconfig), "--listen",
                                     "127.0.0.1:0", "--workers", "1", "--startup-timeout", "300"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
            names = [f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local A"
                     for s in api.list("Service")[:1000]]
            qfile = Path(d) / "queries.txt"
            qfile.write_text("\n".join(names) + "\n")
            dnsperf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
                                        str(qfile), "-l", "600", "-Q", str(qps), "-q", "100"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(0.0002)
            delays = []
            for i in range(events):
                name = f"late-{i}"
                api.create({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": name, "namespace": "default"},
                            "spec": {"clusterIP": f"10.99.{i >> 8}.{i & 255}",
                                     "ports": [{"name": "http", "port": 80}]}})
                created = time.monotonic()
                while not answered(sock, port, f"{name}.default.svc.cluster.local", i + 1):
                    if time.monotonic() - created > 5:
                        break
                delays.append((time.monotonic() - created) * 1000)
            delays.sort()
            print(f"{events} Services created beside {count}, {qps} qps of load: answered after "
                  f"p50 {statistics.median(delays):.2f} ms, "
                  f"p99 {delays[int(len(delays) * 0.99) - 1]:.2f} ms, max {delays[-1]:.2f} ms")
        finally:
            for p in (dnsperf, proc):
                if p is not None:
                    p.terminate()
                    p.wait()
            api.stop()


main()
