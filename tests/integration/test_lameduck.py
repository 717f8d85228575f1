"""Graceful shutdown (CoreDNS's lameduck): after SIGTERM the server says it is not ready, keeps
answering for the lameduck period, then exits 0; nothing in flight is lost.

- `--lameduck 2`: right after SIGTERM /ready answers 503 while /health still answers 200; UDP and
  TCP queries sent throughout the period are all answered; the process exits 0 after about 2 s.
- A query forwarded to an upstream that never answers, sent just before SIGTERM, still gets its
  SERVFAIL (at the end of the lameduck, before its 5 s forward deadline) instead of being dropped.
- A second stop signal ends the lameduck at once.
"""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, free_port, svc  # noqa: E402
from upstream import Scripted  # noqa: E402


def curl_status(url):
    p = subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", url],
                       capture_output=True, text=True)
    return int(p.stdout or 0)


def drains(t):
    ready, health = free_port(), free_port()
    with Scripted(lambda query: None) as hole:  # never answers
        srv = harness.Server(t.binary, "--manifests", EXAMPLES, "--lameduck", "2",
                             "--ready", f"127.0.0.1:{ready}", "--health", f"127.0.0.1:{health}",
                             "--upstream", hole.address).start()
        try:
            api = svc("api-service")
            t.eq(curl_status(f"http://127.0.0.1:{ready}/ready"), 200, "ready before")
            # In flight: a forwarded query nobody upstream will answer.
            waiting = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            waiting.settimeout(4)
            waiting.sendto(build_query("lost.example.test", "A"), (srv.host, srv.port))
            t.check(harness.wait_until(lambda: ("lost.example.test.", 1) in hole.asked, 5),
                    f"the query is forwarded: the upstream got {hole.asked}")
            stopped = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            status = 200
            while status == 200 and time.monotonic() - stopped < 1:
                status = curl_status(f"http://127.0.0.1:{ready}/ready")
            t.eq(status, 503, "/ready during the lameduck")
            t.eq(curl_status(f"http://127.0.0.1:{health}/health"), 200,
                 "/health during the lameduck")
            answered = asked = 0
            while time.monotonic() - stopped < 1.5:
                for tcp in (False, True):
                    asked += 1
                    res = srv.dig(api, tcp=tcp)
                    answered += res.rcode == "NOERROR" and len(res.answer) == 1
            t.eq(answered, asked, f"queries answered during the lameduck (of {asked})")
            try:
                reply = waiting.recv(4096)
                t.eq(reply[3] & 0x0F, 2, "the query in flight got SERVFAIL")
            except socket.timeout:
                t.check(False, "the query in flight was dropped")
            rc = srv.proc.wait(timeout=10)
            took = time.monotonic() - stopped
            t.eq(rc, 0, "exit code")
            t.check(1.8 <= took <= 5, f"exited {took:.2f} s after SIGTERM (lameduck 2 s)")
            t.check("not ready; answering 2 s more" in srv.stderr_text(),
                    f"the lameduck is logged: {srv.describe()}")
        finally:
            srv.kill()


def second_signal(t):
    srv = harness.Server(t.binary, "--manifests", EXAMPLES, "--lameduck", "30").start()
    try:
        stopped = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        began = harness.wait_until(
            lambda: "not ready; answering 30 s more" in srv.stderr_text(), 5)
        t.check(began, f"the first signal begins the lameduck: {srv.describe()}")
        srv.proc.send_signal(signal.SIGINT)
        rc = srv.proc.wait(timeout=10)
        t.eq(rc, 0, "exit code")
        t.check(time.monotonic() - stopped < 5, "a second signal ends the lameduck")
    finally:
        srv.kill()


def scenario(t):
    drains(t)
    second_signal(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
