"""A watch stream that floods or carries a huge event costs bounded log and linear CPU.

- 100,000 malformed event lines in one go: each is skipped, the watch goes on (a Service created
  after them answers), and the log holds at most 20 lines a second of them, then one line
  saying how many were left out (it once wrote 201 MB of stderr in 30 s).
- One 15 MB event (a Service whose managedFields take 15 MB; annotations could not, the API
  server allows them 256 KiB and so does the converter) sent in 2 KiB pieces: the Service
  answers, and the server spends under half a second of CPU on it (0.06 s here; when each piece
  was searched for the newline from the start of the line, 2 s).
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer, wait_for  # noqa: E402

SVC = "/api/v1/services"
SKIPPED = "malformed event skipped"


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood(t, api, srv):
    api.wait_for_watches(SVC)
    started = time.monotonic()
    api.malformed_event(match=SVC, repeat=100000)
    api.create(kube.service("after-flood", "prod"))
    wait_answer(srv, name("after-flood", "prod"), [kube.cluster_ip(api, "after-flood", "prod")],
                timeout=60)
    took = time.monotonic() - started
    lines = srv.stderr_text().count(SKIPPED)
    # 20 a second, and a span of `took` seconds touches at most int(took) + 2 clock seconds.
    t.check(lines <= 20 * (int(took) + 2),
            f"{lines} lines for 100,000 malformed events in {took:.1f} s")

    def said():
        api.malformed_event(match=SVC)  # a later line says how many were left out
        return "lines left out" in srv.stderr_text()
    wait_for("the count of lines left out", said, timeout=10, interval=0.3)
    t.check(srv.stderr_text().count("\n") < 2000, "the log stayed small")


def huge_event(t, api, srv):
    api.wait_for_watches(SVC)
    service = kube.service("big", "prod", cluster_ip="10.96.77.77")
    service["metadata"].update(resourceVersion=api.resource_version, managedFields=[
        {"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:padding": "x" * 15_000_000}}])
    line = json.dumps({"type": "ADDED", "object": service}, separators=(",", ":"))
    before = cpu_seconds(srv.proc.pid)
    api.malformed_event(text=line, match=SVC, piece_bytes=2048)
    wait_answer(srv, name("big", "prod"), ["10.96.77.77"], timeout=60)
    spent = cpu_seconds(srv.proc.pid) - before
    t.check(spent < 0.5, f"a 15 MB event cost {spent:.2f} s of CPU")
    t.eq(query(srv, name("after-flood", "prod"))[0], "NOERROR", "the watch went on")


def scenario(t):
    with kube.fake_api() as api:
        with t.server(*kube.server_args(api)) as srv:
            flood(t, api, srv)
            huge_event(t, api, srv)


harness.main(__doc__, scenario)
