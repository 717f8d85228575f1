"""A real upstream DNS server for the forwarding tests: unbound on a loopback port, serving the
test zone example.test (and the reverse names of 192.0.2.0/24) from local data, refusing every
other name, so nothing ever leaves this machine. Also a black hole: a UDP port that reads queries
and never answers."""

import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from harness import free_port  # noqa: F401 (the tests and bench/forward.py take it from here)

# Enough TXT strings that the answer (about 1,300 bytes) needs TCP or EDNS.
BIG_TXT = ["x" * 50 + f"{i:02d}" for i in range(24)]


class Unbound:
    """unbound -d on HOST:PORT; `with` starts it and stops it."""

    def __init__(self, host="127.0.0.1", port=None, ttl=300, extra_data=(), extra_zones=(),
                 allow="127.0.0.0/8", command_prefix=()):
        self.host = host
        self.allow = allow  # the clients' network
        self.command_prefix = list(command_prefix)  # e.g. ip netns exec NAME
        self.fixed_port = port is not None
        self.port = port or free_port(host)
        self.ttl = ttl
        self.extra_data = list(extra_data)  # more local-data lines ("name TTL IN A addr")
        self.extra_zones = list(extra_zones)  # more zones it answers (NXDOMAIN for the rest)
        self.proc = None
        self.dir = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def config(self):
        data = ['"example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 '
                '86400 60"',
                f'"www.example.test. {self.ttl} IN A 192.0.2.10"',
                f'"www.example.test. {self.ttl} IN AAAA 2001:db8::10"',
                f'"alias.example.test. {self.ttl} IN CNAME www.example.test."']
        data += [f'"big.example.test. {self.ttl} IN TXT \\"{s}\\""' for s in BIG_TXT]
        data += [f'"{line}"' for line in self.extra_data]
        lines = ["server:",
                 f"  interface: {self.host}@{self.port}",
                 f"  port: {self.port}",
                 "  do-daemonize: no", "  use-syslog: no", '  chroot: ""', '  username: ""',
                 f'  directory: "{self.dir}"', f'  pidfile: "{self.dir}/unbound.pid"',
                 '  logfile: ""', "  do-ip6: no", f"  access-control: {self.allow} allow",
                 "  module-config: iterator",
                 # Everything but the test zones is refused: no query ever goes further.
                 '  local-zone: "." refuse',
                 '  local-zone: "example.test." static',
                 '  local-zone: "2.0.192.in-addr.arpa." static']
        lines += [f'  local-zone: "{zone}." static' for zone in self.extra_zones]
        lines += [f"  local-data: {d}" for d in data]
        lines += ['  local-data-ptr: "192.0.2.10 www.example.test."',
                  "remote-control:", "  control-enable: no"]
        return "\n".join(lines) + "\n"

    def start(self, attempts=5):
        # A port free a moment ago may be taken before unbound binds it: then take another.
        for attempt in range(attempts):
            try:
                return self._start()
            except RuntimeError:
                if attempt + 1 == attempts or self.fixed_port:
                    raise
                self.port = free_port(self.host)
        return self

    def _start(self):
        self.dir = tempfile.mkdtemp(prefix="clusterdns-unbound-")
        conf = Path(self.dir) / "unbound.conf"
        conf.write_text(self.config())
        self.proc = subprocess.Popen([*self.command_prefix, "unbound", "-d", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unbound exited: {self.proc.stderr.read().decode()[-500:]}")
            if self._answers():
                return self
            time.sleep(0.05)
        raise RuntimeError("unbound did not answer within 10 s")

    def _answers(self):
        query = bytes.fromhex("abcd01000001000000000000") + b"\x03www\x07example\x04test\x00" \
            + b"\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(query, (self.host, self.port))
                return s.recv(512)[:2] == b"\xab\xcd"
            except OSError:
                return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BlackHole:
    """A UDP port that takes queries and never answers; counts them."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.received = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop:
            try:
                self.sock.recv(65535)
                self.received += 1
            except OSError:
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.sock.close()


def reply(query, answers=(), rcode=0, opcode=None, aa=False):
    """A response to `query` (bytes): its header and question, QR and RA set, `rcode`, and
    `answers` as (name, type, ttl, rdata bytes). The question is copied as it came, so c-ares
    takes it for the answer to what it asked; `opcode` overrides the query's."""
    import struct
    from harness import TYPES, encode_name
    qid, flags = struct.unpack("!HH", query[:4])
    question_end = 12
    while query[question_end] != 0:
        question_end += 1 + query[question_end]
    question_end += 5
    if opcode is not None:
        flags = (flags & ~0x7800) | ((opcode & 0xF) << 11)
    flags = (flags & 0x7900) | 0x8080 | (0x0400 if aa else 0) | (rcode & 0xF)
    out = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0) + query[12:question_end]
    for name, rtype, ttl, rdata in answers:
        rtype = TYPES[rtype] if isinstance(rtype, str) else rtype
        out += encode_name(name) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return out


def question_of(query):
    """(name lowercased with a final dot, type number) of a query's first question."""
    import struct
    labels, off = [], 12
    while query[off] != 0:
        labels.append(query[off + 1:off + 1 + query[off]].decode("ascii", "replace").lower())
        off += 1 + query[off]
    return ".".join(labels) + ".", struct.unpack("!H", query[off + 1:off + 3])[0]


class Scripted:
    """An upstream that misbehaves on demand, for what a real one cannot be made to do: a UDP
    port on loopback where `answer(query bytes)` returns the response bytes (None: silence) and
    `delay` seconds pass before each is sent (concurrently: a late answer does not hold up the
    next). Records every query's question in `asked`."""

    def __init__(self, answer, delay=0.0, host="127.0.0.1"):
        self.answer = answer
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.asked = []
        self.queries = []  # as they came, bytes
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _send_later(self, response, peer, delay):
        time.sleep(delay)
        try:
            self.sock.sendto(response, peer)
        except OSError:
            pass

    def _run(self):
        while not self._stop:
            try:
                query, peer = self.sock.recvfrom(65535)
            except OSError:
                continue
            self.queries.append(query)
            self.asked.append(question_of(query))
            response = self.answer(query)
            if response is None:
                continue
            delay = self.delay(query) if callable(self.delay) else self.delay
            if delay:
                threading.Thread(target=self._send_later, args=(response, peer, delay),
                                 daemon=True).start()
            else:
                self._send_later(response, peer, 0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.sock.close()
