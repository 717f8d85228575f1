"""The TCP connection cap is checked against the file descriptor limit at start.

- With RLIMIT_NOFILE 256 (soft and hard), --max-tcp-connections 1024 cannot be honoured: the
  server exits with 1 before printing the listening line, with an error naming
  max_tcp_connections and the limit 256.
- With a soft limit of 256 under a hard limit of 4096, the server raises its soft limit and
  starts, with the same cap.
Before, it started and failed later, at run time, to accept connection 250 or so (EMFILE).
"""

import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

API = svc("api-service")


def limit(soft, hard):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def scenario(t):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        t.skip(f"the hard limit here is {hard}, under 4096")
    args = ["--manifests", EXAMPLES, "--listen", "127.0.0.1:0", "--max-tcp-connections", "1024"]

    try:
        p = subprocess.run([str(t.binary), *harness.local_only(list(map(str, args)))], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL, preexec_fn=limit(256, 256))
    except subprocess.TimeoutExpired:
        t.check(False, "with a hard limit of 256 the server started serving anyway")
        return
    t.eq(p.returncode, 1, "exit code with a hard limit of 256")
    t.check("max_tcp_connections" in p.stderr and "256" in p.stderr,
            f"the error names max_tcp_connections and the limit: {p.stderr.strip()!r}")
    t.eq(p.stdout, "", "no listening line")

    proc = subprocess.Popen([str(t.binary), *harness.local_only(list(map(str, args)))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=limit(256, 4096))
    try:
        line = proc.stdout.readline().decode()
        t.check("listening on" in line, f"starts with a soft limit of 256 under 4096: {line!r}")
        if "listening on" in line:
            host, port = harness.parse_addr(line.split()[-1])
            res = harness.dig(API, "A", server=host, port=port, extra=["+tcp"])
            t.expect(res, answer=[(API, "A", "10.96.10.100")])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


harness.main(__doc__, scenario)
