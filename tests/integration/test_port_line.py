"""The startup line: exactly one stdout line, "clusterdns: listening on 127.0.0.1:PORT".

- --listen 127.0.0.1:0: the line matches ^clusterdns: listening on 127\\.0\\.0\\.1:(\\d+)$ with a
  real port (1..65535), which then answers over UDP and TCP; stdout holds nothing else, during
  or after the run; SIGTERM -> exit 0;
- SIGINT also shuts down cleanly with exit 0;
- an explicit free port (--listen 127.0.0.1:P) is printed as P and served.
"""

import re
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, free_port, svc  # noqa: E402

API = svc("api-service")
LINE = re.compile(r"clusterdns: listening on 127\.0\.0\.1:(\d+)")


def scenario(t):
    # Port 0 as given (the harness would choose a port for it).
    with t.server("--manifests", EXAMPLES, "--listen", "127.0.0.1:0", listen=None) as srv:
        m = LINE.fullmatch(srv.line)
        t.check(m is not None, f"stdout line {srv.line!r} does not match {LINE.pattern}")
        t.check(m and 0 < int(m.group(1)) < 65536, f"port in {srv.line!r}")
        for tcp in (False, True):
            t.expect(srv.dig(API, "A", tcp=tcp), answer=[(API, "A", "10.96.10.100")])
        t.eq(srv.extra_stdout, b"", "stdout after the port line (while running)")

    srv = harness.Server(t.binary, "--manifests", EXAMPLES).start()
    try:
        srv.proc.send_signal(signal.SIGINT)
        rc = srv.proc.wait(timeout=10)
        t.eq(rc, 0, "exit code after SIGINT")
    finally:
        srv.stop()

    port = free_port()
    with t.server("--manifests", EXAMPLES, listen=(f"127.0.0.1:{port}",)) as srv:
        t.eq(srv.line, f"clusterdns: listening on 127.0.0.1:{port}", "explicit port line")
        for tcp in (False, True):
            t.expect(srv.dig(API, "A", tcp=tcp), answer=[(API, "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
