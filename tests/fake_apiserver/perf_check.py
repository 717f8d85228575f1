#!/usr/bin/env python3
"""Prints how fast the fake apiserver is: bulk creation, a paged list of N Services, watch events
a second. A measurement, not a test: `python3 tests/fake_apiserver/perf_check.py [N]`."""

import http.client
import json
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_apiserver import FakeApiServer  # noqa: E402


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    with tempfile.TemporaryDirectory() as d, FakeApiServer(d) as api:
        t = time.monotonic()
        api.generate_services(count, namespaces=100)
        print(f"generate {count} Services: {time.monotonic() - t:.2f}s")
        ctx = ssl.create_default_context(cafile=str(api.ca_path))
        hdr = {"Authorization": "Bearer " + api.token}
        conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx)
        t = time.monotonic()
        cont, items, pages = "", 0, 0
        while True:
            conn.request("GET", "/api/v1/services?limit=500" + (f"&continue={cont}" if cont else ""),
                         headers=hdr)
            body = json.loads(conn.getresponse().read())
            items += len(body["items"])
            pages += 1
            cont = body["metadata"].get("continue")
            if not cont:
                break
        print(f"paged list: {items} items in {pages} pages: {time.monotonic() - t:.2f}s")

        events = 20000
        watch = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx)
        watch.request("GET", f"/api/v1/services?watch=1&resourceVersion={api.resource_version}",
                      headers=hdr)
        resp = watch.getresponse()

        def write():
            api.wait_for_watches("/api/v1/services")
            obj = api.get("Service", "gen-1", "svc-1")
            for i in range(events):
                obj["metadata"]["labels"]["i"] = str(i)
                obj["metadata"].pop("resourceVersion", None)
                api.update(obj)
        t = time.monotonic()
        threading.Thread(target=write, daemon=True).start()
        for _ in range(events):
            resp.readline()
        took = time.monotonic() - t
        print(f"watch: {events} events in {took:.2f}s: {events / took:.0f}/s")


if __name__ == "__main__":
    main()
