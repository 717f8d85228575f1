"""A list answer that never ends is cut at 256 MiB, and its memory goes back to the system.

The Services watch is expired (410), so the Services are listed again; that list is answered
with a body that never ends, as fast as the server reads, and the lists after it with 500. The
server cuts the endless one at 256 MiB (logged), and while the next ones fail its resident size
falls back under 100 MB (it stayed at about 280 MB while no list completed: an OOM kill under
the example Deployment's 170 Mi limit). Once the API answers again, a Service created meanwhile
answers, and those from before never stopped.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer, wait_for  # noqa: E402

SVC = "/api/v1/services"
CUT = "answer larger than 256 MiB"


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sanitized(binary):
    """A sanitizer build: its allocator keeps freed memory in quarantine, so RSS says nothing."""
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True)
    return "libasan." in dynamic.stdout


def scenario(t):
    with kube.fake_api() as api:
        api.create(kube.service("web", "prod"))
        with t.server(*kube.server_args(api)) as srv:
            web = ("NOERROR", [kube.cluster_ip(api, "web", "prod")])
            api.wait_for_watches(SVC)
            before = rss_mb(srv.proc.pid)
            api.endless(rate=0, match=SVC, watch=False)
            api.fail_next(500, count=1000, match=SVC, watch=False)
            api.expire_watches(match=SVC)
            wait_for("the endless list cut", lambda: CUT in srv.stderr_text(), timeout=120)
            t.eq(query(srv, name("web", "prod")), web, "web while the list was endless")
            if not sanitized(t.binary):
                rss = wait_for("the memory given back",
                               lambda: (lambda mb: mb if mb < 100 else None)(rss_mb(srv.proc.pid)),
                               timeout=15)
                t.check(rss < 100, f"resident {rss:.0f} MB after the cut ({before:.0f} MB before)")
            api.fault({"fault": "clear"})
            api.create(kube.service("late", "prod"))
            wait_answer(srv, name("late", "prod"), [kube.cluster_ip(api, "late", "prod")],
                        timeout=30)
            t.eq(query(srv, name("web", "prod")), web, "web after the new list")


harness.main(__doc__, scenario)
