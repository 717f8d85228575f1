"""Start-up hazards: nothing named on the command line may hang the server, no signal may kill it
silently or make it lie about being ready, and bad input is refused with its name.

- `--manifests` naming a FIFO, a device (/dev/zero) or a file larger than 256 MiB (sparse): exit 1
  at once, the message names the path; a FIFO inside a manifest directory is skipped.
- SIGTERM during a slow load (100,000 Services; the process is caught mid-read with SIGSTOP, so
  the test cannot race the load): the process exits 0 promptly, prints no listening line, and
  says why on stderr.
- SIGHUP, SIGUSR1 and SIGUSR2 during the load and while serving: SIGHUP reloads once serving
  (logged), the others are logged as ignored, the server keeps answering, and SIGTERM still stops
  it with exit 0.
- One line on stderr says what was loaded: objects by kind, the Services and endpoints the zone
  serves, time.
- No `--manifests`: a warning says the zone is empty; the server starts and answers NXDOMAIN.
- A zone of 243 characters (its hostmaster name would exceed 255 bytes), a zone with a space or
  a non-ASCII letter: exit 2, "zone name too long" or the reason; the same --listen twice: exit 2.
- A manifest with a key twice names both lines; `port: "80"` is refused as the API server does; a
  name with a NUL and an escape character is printed escaped, whole, on one line.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, svc  # noqa: E402

LISTEN = ["--listen", "127.0.0.1:0"]


def refused(t, args, what, code, needle):
    ran = harness.run_binary(t.binary, [*args, *LISTEN])
    if not t.check(not ran.timed_out, f"{what}: `{ran.cmd}` still running after 10 s"):
        return
    t.eq(ran.returncode, code, f"{what}: exit code (stderr {ran.stderr[-400:]!r})")
    t.check("listening on" not in ran.stdout, f"{what}: printed a listening line")
    t.check(needle in ran.stderr, f"{what}: stderr lacks {needle!r}: {ran.stderr[-400:]!r}")


def write_many_services(path, count):
    with open(path, "w") as f:
        for i in range(count):
            f.write(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: load}}\n"
                    f"spec: {{clusterIP: 10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}, "
                    f"ports: [{{name: http, port: 80}}]}}\n")


def bytes_read(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def stop_mid_load(proc, file_size):
    """SIGSTOP the process once it is reading the manifest; False if it finished loading first."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if bytes_read(proc.pid) > file_size // 4:
            proc.send_signal(signal.SIGSTOP)
            # Still loading if it has no socket yet: the DNS sockets are bound after the load
            # (threads tell nothing: the file watcher's starts before it).
            fds = Path(f"/proc/{proc.pid}/fd")
            return not any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir())
        time.sleep(0.002)
    return False


def signal_during_load(t, manifest, size, signals, expect_serving):
    proc = subprocess.Popen([str(t.binary), *harness.local_only(["--manifests", manifest, *LISTEN])],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        if not stop_mid_load(proc, size):
            proc.kill()
            proc.communicate()
            return False
        for s in signals:
            proc.send_signal(s)
        proc.send_signal(signal.SIGCONT)
        if expect_serving:
            line = proc.stdout.readline()
            t.check("listening on" in line, f"after {signals} during the load: no listening line "
                                            f"({line!r})")
            proc.send_signal(signal.SIGUSR2)
            proc.send_signal(signal.SIGTERM)
        # A SIGHUP held during the load reloads the same 100,000 Services once serving, before
        # SIGTERM is taken: twice the load time (long under the sanitizers), not a hang.
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        t.check(False, f"{signals} during the load: still running 90 s later; stderr {err[-300:]!r}")
        return True
    t.eq(proc.returncode, 0, f"{signals} during the load: exit code (stderr {err[-300:]!r})")
    if not expect_serving:
        t.check("listening on" not in out,
                f"SIGTERM during the load: printed a listening line {out!r}")
        t.check("signal during start-up" in err, f"SIGTERM during the load: stderr {err!r}")
    else:
        t.check("plugin/reload: SIGHUP: reloaded" in err,
                f"SIGHUP held during the load did not reload once serving: {err[-400:]!r}")
        for name in ("SIGUSR1", "SIGUSR2"):
            t.check(f"{name} ignored" in err, f"{name} is not logged as ignored: {err[-400:]!r}")
    return True


def scenario(t):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fifo = tmp / "pipe.yaml"
        os.mkfifo(fifo)
        refused(t, ["--manifests", fifo], "a FIFO", 1, f"{fifo}: not a regular file")
        refused(t, ["--manifests", "/dev/zero"], "a device", 1, "/dev/zero: not a regular file")
        big = tmp / "big.yaml"
        with open(big, "wb") as f:
            f.truncate((256 << 20) + 1)
        refused(t, ["--manifests", big], "a 256 MiB file", 1, f"{big}: 268435457 bytes")

        # A FIFO inside a directory is skipped: the rest of the directory is served.
        (tmp / "dir").mkdir()
        os.mkfifo(tmp / "dir" / "pipe.yaml")
        (tmp / "dir" / "svc.yaml").write_text(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
            "spec: {clusterIP: 10.96.0.50, ports: [{name: http, port: 80}]}\n")
        with t.server("--manifests", tmp / "dir") as srv:
            name = "web.shop.svc.cluster.local"
            t.expect(srv.dig(name), answer=[(name, "A", "10.96.0.50")])
            summary = re.search(r"loaded 0 Namespaces, 1 Services, 0 endpoint sets, 0 Pods: "
                                r"(\d+) Services and (\d+) endpoints in the zone, in [\d.]+ s",
                                srv.stderr_text())
            t.check(summary is not None and int(summary.group(1)) == 1
                    and int(summary.group(2)) == 0,
                    f"no start-up summary line: {srv.stderr_text()[-300:]!r}")

        manifest = tmp / "many.yaml"
        count = 100_000
        caught = False
        while not caught and count <= 800_000:
            write_many_services(manifest, count)
            size = manifest.stat().st_size
            caught = signal_during_load(t, manifest, size, [signal.SIGTERM], False)
            if caught:
                signal_during_load(t, manifest, size,
                                   [signal.SIGHUP, signal.SIGUSR1], True)
            count *= 2
        if not caught:
            t.skip("the load was always over before the test could stop it")

        # While serving, SIGHUP reloads the same files and the ignored signals change nothing.
        with t.server("--manifests", EXAMPLES) as srv:
            for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
                srv.proc.send_signal(s)
            api = svc("api-service")
            t.expect(srv.dig(api), answer=[(api, "A", "10.96.10.100")])
            t.check(srv.alive(), "the server died of SIGHUP/SIGUSR1/SIGUSR2")

        with t.server() as srv:
            t.nxdomain(srv.dig(svc("api-service")))
            t.check("serving an empty zone" in srv.stderr_text(),
                    f"no word on the empty zone: {srv.stderr_text()[-300:]!r}")

        label = "a" * 60
        zone_243 = ".".join([label] * 4)
        refused(t, ["--zone", zone_243], "a 243-character zone", 2, "zone name too long")
        refused(t, ["--zone", "clu ster.local"], "a zone with a space", 2, "only letters")
        refused(t, ["--zone", "clüster.local"], "a zone with a non-ASCII letter", 2,
                "only letters")
        refused(t, ["--listen", "127.0.0.1:5399", "--listen", "127.0.0.1:5399"],
                "the same --listen twice", 2, "is given twice")

        dup = tmp / "dup.yaml"
        dup.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
                       "spec:\n  clusterIP: 10.96.0.50\n  clusterIP: 10.96.0.51\n")
        refused(t, ["--manifests", dup], "a key twice", 1,
                f"{dup}:6:3: duplicate key \"clusterIP\" (first on line 5)")
        typed = tmp / "typed.yaml"
        typed.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
                         "spec: {clusterIP: 10.96.0.50, ports: [{name: http, port: \"80\"}]}\n")
        refused(t, ["--manifests", typed], "a quoted port", 1,
                "spec.ports[0].port: expected an integer, got \"80\"")
        nul = tmp / "nul.yaml"
        nul.write_text("apiVersion: v1\nkind: Service\n"
                       "metadata: {name: \"a\\0b\\ec\", namespace: shop}\n"
                       "spec: {clusterIP: 10.96.0.50}\n")
        ran = harness.run_binary(t.binary, ["--manifests", nul, *LISTEN])
        line = ran.stderr.strip()
        t.check("\n" not in line and "\x00" not in line and "\x1b" not in line,
                f"a NUL or ESC reached the message raw: {line!r}")
        t.check("\"a\\x00b\\x1bc\" is not a Service name" in line,
                f"the name is not escaped: {line!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
