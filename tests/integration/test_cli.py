"""Command line: --help and --version exit 0; bad usage exits non-zero without serving.

- --help: exit 0, the usage mentions --manifests, --listen, --zone, --ttl, --workers, --config;
- --version: exit 0, prints a version number;
- an unknown flag, a missing manifest path, a malformed --listen (no port, port
  out of range, not an address), a non-numeric --ttl, and a --listen port already
  taken (UDP and TCP bound by this test on 127.0.0.1) each exit non-zero, print nothing on
  stdout (no "listening on" line) and say something on stderr.
"""

import re
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES  # noqa: E402


def fails(t, args, what):
    ran = harness.run_binary(t.binary, args)
    if not t.check(not ran.timed_out, f"{what}: `{ran.cmd}` kept running; stdout {ran.stdout!r}"):
        return
    t.check(ran.returncode not in (0, None) and ran.returncode > 0,
            f"{what}: `{ran.cmd}` expected a non-zero exit code, got {ran.returncode}")
    t.check("listening on" not in ran.stdout, f"{what}: printed the port line: {ran.stdout!r}")
    t.check(ran.stderr.strip() != "", f"{what}: nothing on stderr to say what is wrong")


def scenario(t):
    ran = harness.run_binary(t.binary, ["--help"])
    t.eq(ran.returncode, 0, f"--help exit code (stderr {ran.stderr[-300:]!r})")
    text = ran.stdout + ran.stderr
    for flag in ("--manifests", "--listen", "--zone", "--ttl", "--workers", "--config"):
        t.check(flag in text, f"--help does not mention {flag}: {text[:500]!r}")

    ran = harness.run_binary(t.binary, ["--version"])
    t.eq(ran.returncode, 0, f"--version exit code (stderr {ran.stderr[-300:]!r})")
    t.check(re.search(r"\d+\.\d+", ran.stdout + ran.stderr),
            f"--version prints no version number: {ran.stdout!r} {ran.stderr!r}")

    m = ["--manifests", EXAMPLES]
    fails(t, [*m, "--listen", "127.0.0.1:0", "--no-such-flag"], "unknown flag")
    fails(t, ["--manifests", EXAMPLES / "does-not-exist.yaml", "--listen", "127.0.0.1:0"],
          "missing manifest path")
    fails(t, [*m, "--listen", "127.0.0.1"], "--listen without a port")
    fails(t, [*m, "--listen", "127.0.0.1:99999"], "--listen port out of range")
    fails(t, [*m, "--listen", "not-an-address:53"], "--listen with a host name")
    fails(t, [*m, "--listen", "::1:0"], "--listen IPv6 without brackets")
    fails(t, [*m, "--listen", "127.0.0.1:0", "--ttl", "soon"], "--ttl not a number")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            pass
        fails(t, [*m, "--listen", f"127.0.0.1:{port}"], f"--listen on port {port} already in use")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
