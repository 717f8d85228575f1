"""Reload waits for writes to finish, and only for the files it reads.

- A manifest changed right after the listening line applies: the watcher starts before the
  manifests load (it used to start after the line, and a change in between was never seen).
- A new manifest written in two parts 3 s apart, the file kept open between (a slow generator, a
  copy over a slow link): neither part answers until the file is closed, and then both do. Part
  one alone is valid YAML (it ends at a document boundary), so loading it early would serve half
  the file. A manifest rewritten in place the same way: its old version answers until the close.
  A change of another manifest meanwhile does not load the half-written one either.
- A log file written every 100 ms beside the config file, and another inside the manifests
  directory (neither is a manifest nor the config): a changed config (new TTL) and a changed
  manifest still apply within seconds. Before, the watcher waited for 300 ms without any change
  in those directories, which a busy log never gives: reloads were held back for as long as it
  wrote.
"""

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import build_query, parse_message, svc  # noqa: E402


def service(name, ip, ns="production"):
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec: {{clusterIP: {ip}, ports: [{{name: http, port: 80}}]}}\n")


def answer(srv, name):
    """(rcode, first A address or None, TTL or None) over UDP."""
    reply = srv.udp(build_query(name, "A"))
    if reply is None:
        return None, None, None
    m = parse_message(reply)
    if not m.answer:
        return m.rcode, None, None
    return m.rcode, ".".join(str(b) for b in m.answer[0].rdata), m.answer[0].ttl


def address(srv, name):
    return answer(srv, name)[1]


def wait_until(check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def watch_for(seconds, look):
    """Calls look() every 50 ms for `seconds`; returns what it saw, in order."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(look())
        time.sleep(0.05)
    return seen


def two_parts(t):
    with tempfile.TemporaryDirectory() as d:
        manifests = Path(d) / "manifests"
        manifests.mkdir()
        (manifests / "api.yaml").write_text(service("api", "10.96.0.11"))
        (manifests / "old.yaml").write_text(service("old-a", "10.96.1.1") + "---\n" +
                                            service("old-b", "10.96.1.2"))
        a, b, api = svc("half-a"), svc("half-b"), svc("api")
        with t.server("--manifests", manifests) as srv:
            # Right after the listening line.
            (manifests / "api.yaml").write_text(service("api", "10.96.0.10"))
            t.check(wait_until(lambda: address(srv, api) == "10.96.0.10", 5),
                    f"a manifest change applies: {srv.describe()}")
            # A new file: part one, then 3 s with the file open, then part two and the close.
            with open(manifests / "new.yaml", "w") as f:
                f.write(service("half-a", "10.96.2.1") + "---\n")
                f.flush()
                seen = watch_for(1.5, lambda: (address(srv, a), address(srv, b)))
                # Another manifest changes meanwhile: it waits for the open file too.
                (manifests / "api.yaml").write_text(service("api", "10.96.0.12"))
                seen += watch_for(1.5, lambda: (address(srv, a), address(srv, b)))
                t.eq(set(seen), {(None, None)},
                     f"nothing of the open file answers: {srv.describe()}")
                t.eq(address(srv, api), "10.96.0.10",
                     "a change beside the open file waits for its close")
                f.write(service("half-b", "10.96.2.2"))
            t.check(wait_until(lambda: address(srv, b) == "10.96.2.2", 5),
                    f"the whole file applies once closed: {srv.describe()}")
            t.eq(address(srv, a), "10.96.2.1", "its first part too")
            t.eq(address(srv, api), "10.96.0.12", "and the change beside it")

            # The same file rewritten in place: the old version until the close.
            with open(manifests / "old.yaml", "w") as f:
                f.write(service("old-a", "10.96.3.1") + "---\n")
                f.flush()
                seen = watch_for(3, lambda: (address(srv, svc("old-a")),
                                             address(srv, svc("old-b"))))
                t.eq(set(seen), {("10.96.1.1", "10.96.1.2")},
                     f"the old version answers while the file is rewritten: {srv.describe()}")
                f.write(service("old-b", "10.96.3.2"))
            t.check(wait_until(lambda: address(srv, svc("old-b")) == "10.96.3.2", 5),
                    f"the rewritten file applies once closed: {srv.describe()}")
            t.eq(address(srv, svc("old-a")), "10.96.3.1", "both parts of it")


class Logger:
    """Appends a line to each file every 100 ms (open, write, close: as `echo >> log`)."""

    def __init__(self, *paths):
        self.paths = paths
        self.stop = threading.Event()
        self.lines = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(0.1):
            for path in self.paths:
                with open(path, "a") as f:
                    f.write(f"line {self.lines}\n")
            self.lines += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def busy_log(t):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        manifests = d / "manifests"
        manifests.mkdir()
        (manifests / "api.yaml").write_text(service("api", "10.96.0.11"))
        config = d / "config.yaml"
        config.write_text(f"ttl: 30\nmanifests: [{manifests}]\n")
        api = svc("api")
        with t.server("--config", config) as srv, \
                Logger(d / "clusterdns.log", manifests / "notes.log") as log:
            t.eq(answer(srv, api)[2], 30, "TTL at start")
            t.check(wait_until(lambda: log.lines >= 5, 5), "the log is being written")
            config.write_text(f"ttl: 7\nmanifests: [{manifests}]\n")
            t.check(wait_until(lambda: answer(srv, api)[2] == 7, 5),
                    f"the new TTL within 5 s while a log beside it is written every 100 ms: "
                    f"{srv.describe()}")
            (manifests / "api.yaml").write_text(service("api", "10.96.0.12"))
            t.check(wait_until(lambda: address(srv, api) == "10.96.0.12", 5),
                    f"a changed manifest within 5 s beside a busy log: {srv.describe()}")
            (manifests / "web.yaml").write_text(service("web", "10.96.0.13"))
            t.check(wait_until(lambda: address(srv, svc("web")) == "10.96.0.13", 5),
                    "a new manifest within 5 s beside a busy log")
            reloads = srv.stderr_text().count("reloaded")
            t.check(reloads <= 3, f"the log itself reloads nothing ({reloads} reloads)")


def scenario(t):
    two_parts(t)
    busy_log(t)


if __name__ == "__main__":
    harness.main(__doc__, scenario)
