"""A /metrics scrape is not held up by a zone being loaded and published.

40,000 Services in one manifest; the file is rewritten (one Service changed), and the reload reads,
converts and publishes the whole zone, which takes a while on this machine. A scraper asks
/metrics every 20 ms meanwhile: no scrape waits for the reload (each answers in a small part of
the time the reload takes; before, a scrape waited behind the whole of it).
"""

import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import free_port  # noqa: E402

COUNT = 40000


def manifest(changed):
    docs = []
    for i in range(COUNT):
        ip = f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"
        if i == 0 and changed:
            ip = "10.99.99.99"
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default}}"
                    f"\nspec: {{clusterIP: {ip}, ports: [{{name: http, port: 80}}]}}\n")
    return "---\n".join(docs)


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "many.yaml"
        path.write_text(manifest(False))
        metrics = free_port()
        with t.server("--manifests", path, "--metrics", f"127.0.0.1:{metrics}") as srv:
            url = f"http://127.0.0.1:{metrics}/metrics"
            urllib.request.urlopen(url, timeout=10).read()
            scrapes = []
            stop = threading.Event()

            def scraper():
                while not stop.is_set():
                    started = time.monotonic()
                    urllib.request.urlopen(url, timeout=30).read()
                    scrapes.append((started, time.monotonic() - started))
                    time.sleep(0.02)

            thread = threading.Thread(target=scraper)
            thread.start()
            time.sleep(0.3)
            began = time.monotonic()
            tmp_path = path.with_suffix(".new")
            tmp_path.write_text(manifest(True))
            tmp_path.replace(path)
            name = "s0.default.svc.cluster.local."
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                res = srv.dig(name)
                if res.answer and res.answer[0].rdata == "10.99.99.99":
                    break
                time.sleep(0.05)
            took = time.monotonic() - began
            time.sleep(0.3)
            stop.set()
            thread.join()
            during = [d for s, d in scrapes if began - 0.1 <= s <= began + took]
            worst = max(during, default=0.0)
            t.check(took > 0.5, f"the reload took a while ({took:.2f} s): else this shows nothing")
            t.check(len(during) >= 5, f"scrapes during the reload: {len(during)}")
            t.check(worst < took / 3,
                    f"no scrape waited for the reload: worst {worst:.3f} s of {took:.2f} s")
            print(f"reload {took:.2f} s; {len(during)} scrapes meanwhile, worst {worst * 1000:.0f} ms",
                  flush=True)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
