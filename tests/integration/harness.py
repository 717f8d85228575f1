"""Shared helpers for the clusterdns integration tests (python3 standard library only).

A scenario file does:

    import harness
    def scenario(t):
        with t.server('--manifests', harness.EXAMPLES) as srv:
            res = srv.dig('api-service.production.svc.cluster.local', 'A')
            t.expect(res, answer=[('api-service.production.svc.cluster.local.', 'A', '10.96.10.100')])
    harness.main(__doc__, scenario)

and runs as `python3 tests/integration/test_x.py [path/to/clusterdns]` (else $CLUSTERDNS, else build/clusterdns).

- Server starts the real binary with `--listen 127.0.0.1:P` (P free, below the kernel's ephemeral
  range: free_port says why), reads the addresses from the one stdout line
  ("clusterdns: listening on 127.0.0.1:20123 [::1]:20777"), and on stop sends SIGTERM and checks exit 0.
- dig() runs the real `dig` and parses its default text output (header, flags, EDNS, sections).
- nslookup() runs the real `busybox nslookup NAME 127.0.0.1:PORT`.
- build_query()/parse_message()/udp_exchange()/tcp_exchange() talk raw wire format for what dig cannot
  send (unknown opcodes, garbage, pipelined TCP).
- Checker collects failures, each naming the query, what was expected and what came back; main() prints
  them and exits 1 if any, 77 (ctest SKIP_RETURN_CODE) when a scenario calls t.skip().

Traffic only ever goes to 127.0.0.1 or ::1.
"""

import ipaddress
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DATA = REPO / "tests" / "data"

LISTEN_RE = re.compile(r"listening on (.*)$")
SKIP_EXIT = 77

RR = namedtuple("RR", "name ttl cls type rdata")

TYPES = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
    "SRV": 33, "OPT": 41, "AXFR": 252, "ANY": 255, "CAA": 257,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    16: "BADVERS",
}


class Failure(Exception):
    """A precondition the scenario cannot continue without (server did not start, ...)."""


class Skip(Exception):
    """The scenario cannot run here (a tool or ::1 is missing)."""


# --------------------------------------------------------------------------------------------
# Locating things


def binary_path():
    """argv[1], else $CLUSTERDNS, else <repo>/build/clusterdns."""
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    elif os.environ.get("CLUSTERDNS"):
        path = Path(os.environ["CLUSTERDNS"])
    else:
        path = REPO / "build" / "clusterdns"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise Failure(f"clusterdns binary not found or not executable: {path}")
    return path.resolve()


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def reverse_name(ip):
    """'10.96.10.100' -> '100.10.96.10.in-addr.arpa.'; IPv6 -> nibble form under ip6.arpa."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def fqdn(name):
    return name if name.endswith(".") else name + "."


# --------------------------------------------------------------------------------------------
# Running the server


def parse_addr(text):
    """'127.0.0.1:40123' -> ('127.0.0.1', 40123); '[::1]:40777' -> ('::1', 40777)."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", text) or re.fullmatch(r"([0-9.]+):(\d+)", text)
    if not m:
        raise Failure(f"cannot parse listen address {text!r}")
    return m.group(1), int(m.group(2))


Ran = namedtuple("Ran", "cmd returncode stdout stderr timed_out")


def ephemeral_low():
    """The first port of the kernel's ephemeral range: client sockets bound to port 0 get one
    from there on."""
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on `host` right now, below the kernel's ephemeral range.
    Not an ephemeral one: dig (BIND's) sets SO_REUSEPORT on its sockets as clusterdns and unbound
    do on theirs, so the kernel may hand dig the server's own port as its source, and dig's socket,
    connected to that address, then receives its own query (seen as an answer without QR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low - 2000)  # closed_udp_port's above
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as u, \
                    socket.socket(family, socket.SOCK_STREAM) as s:
                u.bind((host, port))
                s.bind((host, port))
                return port
        except OSError:
            continue
    raise Failure("no free port below the ephemeral range")


def closed_udp_port(host="127.0.0.1"):
    """A UDP port nothing listens on, below the kernel's ephemeral range, so that no client
    socket (a dig, c-ares) takes it meanwhile: datagrams to it are refused."""
    low = ephemeral_low()
    for port in range(low - 1, max(1024, low - 2000), -1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((host, port))
                return port
            except OSError:
                continue
    raise Failure("no closed port below the ephemeral range")


# Off unless a test asks: many servers run at once here, and a test's stop should not wait.
QUIET_OPERATIONS = {"--health": "none", "--ready": "none", "--metrics": "none", "--lameduck": "0"}


def local_only(args, keep=("--config", "--help", "--version")):
    """`args` with "--upstream none" in front unless they choose where names outside the zones
    go (or are among `keep`, whose messages a test checks as they are): tests never send
    traffic off this machine, and the host's resolv.conf may name another. Likewise the HTTP
    endpoints are off and the lameduck is 0 unless the arguments (or a config file) set them."""
    def given(flag):
        return any(str(a) == flag or str(a).startswith(flag + "=") for a in args)
    if any(a in keep for a in args):
        return args
    quiet = [x for flag, value in QUIET_OPERATIONS.items() if not given(flag) for x in (flag, value)]
    if given("--upstream") or given("--resolv-conf"):
        return [*quiet, *args]
    return ["--upstream", "none", *quiet, *args]


def run_binary(binary, args, timeout=10):
    """Run clusterdns to completion (--help, --version, bad manifests). A run still going after
    `timeout` seconds (e.g. it started serving despite a bad manifest) is killed: timed_out=True."""
    cmd = [str(binary), *local_only(list(map(str, args)))]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        return Ran(" ".join(cmd), p.returncode, p.stdout, p.stderr, False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else e.stdout
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else e.stderr
        return Ran(" ".join(cmd), None, out or "", err or "", True)


def wait_until(condition, timeout, interval=0.05):
    """Calls condition() until it returns something truthy or `timeout` seconds have passed;
    returns its last value for the test to check. A test waits for a state, never a fixed time:
    a fixed sleep is too short on a busy machine and too long on an idle one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Server:
    """The real clusterdns, started with `args` plus one `--listen` per entry of `listen`.
    `stdin_data` (bytes or str) is written to its standard input through a pipe, then closed
    (for `--manifests -`); without it standard input is /dev/null."""

    def __init__(self, binary, *args, listen=("127.0.0.1:0",), startup_timeout=20.0, cwd=None,
                 stdin_data=None):
        self.binary = binary
        self.cwd = cwd
        self.stdin_data = stdin_data.encode() if isinstance(stdin_data, str) else stdin_data
        self.args = [str(a) for a in args]
        self.args = local_only(self.args, keep=())  # the flag wins over a config file's key
        self.listen = list(listen or ())
        self.cmd = [str(self.binary), *self.args]  # with its --listen flags once started
        self.startup_timeout = startup_timeout
        self.proc = None
        self.line = None           # the stdout line, without the newline
        self.addrs = []            # [(host, port)] in --listen order
        self.extra_stdout = b""
        self._stderr = None

    # -- lifecycle --

    def start(self):
        """Starts the server. Port 0 in `listen` becomes a free port below the ephemeral range
        (free_port: why), chosen again when another process took it meanwhile."""
        for attempt in range(5):
            try:
                return self._start([a if not a.endswith(":0")
                                    else f"{a[:-2]}:{free_port(a[:-2].strip('[]'))}"
                                    for a in self.listen])
            except Failure:
                if attempt == 4 or not any(a.endswith(":0") for a in self.listen) \
                        or "Address already in use" not in self.stderr_text():
                    raise

    def _start(self, listen):
        self._stderr = tempfile.TemporaryFile()
        piped = self.stdin_data is not None
        self.cmd = [str(self.binary), *self.args, *(x for a in listen for x in ("--listen", a))]
        self.proc = subprocess.Popen(self.cmd,
                                     stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr, cwd=self.cwd)
        if piped:
            try:
                self.proc.stdin.write(self.stdin_data)
            except BrokenPipeError:
                pass  # it stopped reading (a bad flag): its exit is reported below
            finally:
                try:
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass
        buf = b""
        deadline = time.monotonic() + self.startup_timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Failure(f"no 'listening on' line within {self.startup_timeout}s "
                              f"(stdout so far {buf!r}); {self.describe()}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                rc = self.proc.wait()
                raise Failure(f"clusterdns exited with {rc} before printing the port line "
                              f"(stdout {buf!r}); {self.describe()}")
            buf += chunk
        line, _, rest = buf.partition(b"\n")
        self.extra_stdout = rest
        self.line = line.decode("utf-8", "replace")
        m = LISTEN_RE.search(self.line)
        if not m:
            self.kill()
            raise Failure(f"stdout line {self.line!r} does not match {LISTEN_RE.pattern}")
        self.addrs = [parse_addr(a) for a in m.group(1).split()]
        if not self.addrs:
            self.kill()
            raise Failure(f"stdout line {self.line!r} names no address")
        return self

    def stop(self, timeout=10.0):
        """SIGTERM, wait, return the exit code (None if it had to be killed). Collects stdout rest."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        try:
            self.extra_stdout += self.proc.stdout.read() or b""
        except (OSError, ValueError):
            pass
        self.proc.stdout.close()
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        if self._stderr is None:
            return ""
        # pread, not seek+read: the server writes through the same open file, so moving its
        # offset would let a line land over the start of the log.
        fd, chunks, offset = self._stderr.fileno(), [], 0
        while chunk := os.pread(fd, 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def describe(self):
        err = self.stderr_text().strip()
        tail = "\n".join(err.splitlines()[-15:])
        return f"command: {' '.join(self.cmd)}\nstderr:\n{tail or '(empty)'}"

    # -- addresses --

    @property
    def host(self):
        return self.addrs[0][0]

    @property
    def port(self):
        return self.addrs[0][1]

    # -- queries --

    def dig(self, name, qtype="A", tcp=False, extra=(), cls=None, addr=None):
        host, port = addr or self.addrs[0]
        return dig(name, qtype, tcp=tcp, extra=extra, cls=cls, server=host, port=port)

    def nslookup(self, name, qtype=None, addr=None):
        host, port = addr or self.addrs[0]
        return nslookup(name, qtype=qtype, server=host, port=port)

    def udp(self, packet, timeout=2.0, addr=None):
        host, port = addr or self.addrs[0]
        return udp_exchange(packet, host, port, timeout)

    def tcp(self, packets, timeout=5.0, addr=None):
        host, port = addr or self.addrs[0]
        return tcp_exchange(packets, host, port, timeout)


# --------------------------------------------------------------------------------------------
# dig


class DigResult:
    """dig's answer, parsed from its default text output."""

    def __init__(self, cmd, exit_code, text):
        self.cmd = cmd
        self.exit_code = exit_code
        self.text = text
        self.got_answer = False
        self.opcode = None
        self.rcode = None
        self.id = None
        self.flags = set()
        self.counts = {}
        self.edns = None            # {'version': int, 'flags': str, 'udp': int} when OPT present
        self.question = []          # [(name, cls, type)]
        self.answer = []            # [RR]
        self.authority = []
        self.additional = []        # without the OPT pseudo-record
        self.warnings = []
        self.size = None            # ";; MSG SIZE  rcvd: N"
        self._parse()

    def query(self):
        return " ".join(self.cmd)

    def __repr__(self):
        return (f"<{self.rcode} flags={sorted(self.flags)} an={self.answer} ns={self.authority} "
                f"ar={self.additional} edns={self.edns}>")

    def _parse(self):
        section = None
        for line in self.text.splitlines():
            s = line.strip()
            if s.startswith(";; Got answer:"):
                self.got_answer = True
                continue
            m = re.match(r";; ->>HEADER<<- opcode: (\S+), status: (\S+), id: (\d+)", s)
            if m:
                self.opcode, self.rcode, self.id = m.group(1), m.group(2), int(m.group(3))
                continue
            m = re.match(r";; flags:([^;]*);(.*)$", s)
            if m:
                self.flags = set(m.group(1).split())
                for key, val in re.findall(r"(\w+): (\d+)", m.group(2)):
                    self.counts[key] = int(val)
                continue
            m = re.match(r";; MSG SIZE\s+rcvd: (\d+)", s)
            if m:
                self.size = int(m.group(1))
                continue
            if s.lower().startswith((";; warning", ";; error")):
                self.warnings.append(s)
                continue
            m = re.match(r"; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)", s)
            if m:
                self.edns = {"version": int(m.group(1)), "flags": m.group(2).strip(),
                             "udp": int(m.group(3))}
                continue
            m = re.match(r";; (\w+) SECTION:$", s)
            if m:
                section = m.group(1)
                continue
            if s.startswith(";; OPT PSEUDOSECTION"):
                section = "OPT"
                continue
            if not s:
                section = None
                continue
            if section == "QUESTION" and s.startswith(";"):
                parts = s[1:].split()
                if len(parts) >= 3:
                    self.question.append((parts[0], parts[1], parts[2]))
                continue
            if section in ("ANSWER", "AUTHORITY", "ADDITIONAL") and not s.startswith(";"):
                parts = s.split(None, 4)
                if len(parts) < 4:
                    self.warnings.append(f"unparsed RR line: {s}")
                    continue
                rdata = " ".join(parts[4].split()) if len(parts) == 5 else ""
                rr = RR(parts[0], int(parts[1]), parts[2], parts[3], rdata)
                getattr(self, section.lower()).append(rr)


def dig(name, qtype="A", tcp=False, extra=(), cls=None, server="127.0.0.1", port=53):
    if server not in ("127.0.0.1", "::1"):
        raise Failure(f"refusing to query non-loopback server {server}")
    cmd = ["dig", f"@{server}", "-p", str(port)]
    if cls:
        cmd += ["-c", cls]
    if name is not None:  # name=None: the query comes from `extra` (e.g. ["-x", "10.96.0.10"])
        # -t/-q, not bare words: after -c, dig 9.18 reads a bare type word as a second name.
        cmd += ["-t", qtype, "-q", name]
    cmd += ["+time=3", "+tries=3"]  # margin for a sanitizer build on a busy machine
    if tcp:
        cmd.append("+tcp")
    cmd += list(extra)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        return DigResult(cmd, proc.returncode, proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        return DigResult(cmd, -1, "(dig timed out)")


# --------------------------------------------------------------------------------------------
# busybox nslookup


class NslookupResult:
    def __init__(self, cmd, exit_code, output):
        self.cmd = cmd
        self.exit_code = exit_code
        self.output = output
        # "Name:\tx\nAddress: 1.2.3.4" pairs
        self.addresses = re.findall(r"^Name:\s*(\S+)\s*\nAddress:\s*(\S+)", output, re.M)
        # "x\tcanonical name = y", "x\tservice = 0 100 80 y", "x\ttext = ..."
        self.records = re.findall(r"^(\S+)\s+(canonical name|service|text|name|mail exchanger|"
                                  r"nameserver|origin)\s*=\s*(.*)$", output, re.M)
        self.errors = re.findall(r"^\*\* server can't find (\S+): (\S+)", output, re.M)

    def query(self):
        return " ".join(self.cmd)

    def __repr__(self):
        return f"<nslookup exit={self.exit_code} output={self.output!r}>"


def nslookup(name, qtype=None, server="127.0.0.1", port=53):
    if server not in ("127.0.0.1", "::1"):
        raise Failure(f"refusing to query non-loopback server {server}")
    if shutil.which("busybox") is None:
        raise Skip("busybox not installed")
    srv = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    cmd = ["busybox", "nslookup"] + ([f"-type={qtype}"] if qtype else []) + [name, srv]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=40,
                              stdin=subprocess.DEVNULL)
        return NslookupResult(cmd, proc.returncode, proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        return NslookupResult(cmd, -1, "(nslookup timed out)")


# --------------------------------------------------------------------------------------------
# Raw wire format


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split(".") if name.rstrip(".") else []:
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def build_query(name, qtype="A", qclass=1, qid=None, opcode=0, rd=True, edns=None,
                edns_version=0, qr=False):
    """A query message. edns=None: no OPT; edns=N: OPT with UDP size N."""
    qid = random.randrange(65536) if qid is None else qid
    flags = (0x8000 if qr else 0) | ((opcode & 0xF) << 11) | (0x0100 if rd else 0)
    qt = TYPES[qtype] if isinstance(qtype, str) else qtype
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    msg += encode_name(name) + struct.pack("!HH", qt, qclass)
    if edns:
        msg += b"\x00" + struct.pack("!HHIH", 41, edns, (edns_version & 0xFF) << 16, 0)
    return msg


Message = namedtuple("Message", "id qr opcode aa tc rd ra rcode question answer authority "
                                "additional opt")
WireRR = namedtuple("WireRR", "name type cls ttl rdata")


def _read_name(buf, off):
    labels, jumped, end, hops = [], False, None, 0
    while True:
        if off >= len(buf):
            raise ValueError("name runs past the end")
        n = buf[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(buf):
                raise ValueError("truncated pointer")
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | buf[off + 1]
            jumped = True
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        if n == 0:
            return (".".join(labels) + "."), (end if jumped else off + 1)
        labels.append(buf[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def parse_message(buf):
    """Parse a whole response. Raises ValueError on malformed input."""
    if len(buf) < 12:
        raise ValueError(f"message of {len(buf)} bytes is shorter than a header")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", buf[:12])
    off = 12
    question = []
    for _ in range(qd):
        name, off = _read_name(buf, off)
        qt, qc = struct.unpack("!HH", buf[off:off + 4])
        off += 4
        question.append((name, qt, qc))
    sections = []
    opt = None
    for count in (an, ns, ar):
        rrs = []
        for _ in range(count):
            name, off = _read_name(buf, off)
            if off + 10 > len(buf):
                raise ValueError("truncated RR header")
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", buf[off:off + 10])
            off += 10
            rdata = buf[off:off + rdlen]
            if len(rdata) != rdlen:
                raise ValueError("truncated RDATA")
            off += rdlen
            if rtype == 41:
                opt = {"udp": rclass, "ext_rcode": ttl >> 24, "version": (ttl >> 16) & 0xFF,
                       "do": bool(ttl & 0x8000), "options": rdata}
                continue
            rrs.append(WireRR(name, rtype, rclass, ttl, rdata))
        sections.append(rrs)
    rcode = flags & 0xF
    if opt:
        rcode |= opt["ext_rcode"] << 4
    return Message(qid, bool(flags & 0x8000), (flags >> 11) & 0xF, bool(flags & 0x0400),
                   bool(flags & 0x0200), bool(flags & 0x0100), bool(flags & 0x0080), rcode,
                   question, sections[0], sections[1], sections[2], opt)


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_exchange(packet, host, port, timeout=2.0):
    """Send one datagram, return the first reply's bytes or None on timeout."""
    if host not in ("127.0.0.1", "::1"):
        raise Failure(f"refusing to send to non-loopback {host}")
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None


def tcp_connect(host, port, timeout=5.0):
    """A TCP connection to the server with Nagle off, so each write goes out at once."""
    if host not in ("127.0.0.1", "::1"):
        raise Failure(f"refusing to connect to non-loopback {host}")
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(sock, within=5.0):
    """True if the server closes (or resets) `sock` within `within` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_exchange(packets, host, port, timeout=5.0, expect=None):
    """Write every packet (2-byte length framed) in ONE send, then read up to `expect` (default
    len(packets)) framed replies. Returns the list of replies read before EOF/timeout."""
    if host not in ("127.0.0.1", "::1"):
        raise Failure(f"refusing to connect to non-loopback {host}")
    if isinstance(packets, (bytes, bytearray)):
        packets = [packets]
    expect = len(packets) if expect is None else expect
    replies = []
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"".join(struct.pack("!H", len(p)) + p for p in packets))
        try:
            while len(replies) < expect:
                head = _recv_exact(s, 2)
                if head is None:
                    break
                body = _recv_exact(s, struct.unpack("!H", head)[0])
                if body is None:
                    break
                replies.append(body)
        except (socket.timeout, ConnectionResetError):
            pass
    return replies


def rdata_a(rdata):
    return socket.inet_ntop(socket.AF_INET, rdata)


# --------------------------------------------------------------------------------------------
# Checking


def norm_rr(name, rtype, rdata, exact_case=False, srv_weight=True):
    """Normalised (name, type, rdata) for comparison: names lower-cased unless exact_case;
    srv_weight=False replaces SRV weights by '*'."""
    rdata = " ".join(str(rdata).split())
    if not srv_weight and rtype.upper() == "SRV":
        f = rdata.split()
        if len(f) == 4:
            rdata = " ".join([f[0], "*", f[2], f[3]])
    if not exact_case:
        name = name.lower()
        rdata = rdata.lower()
    return (name, rtype.upper(), rdata)


def rrset(rrs, exact_case=False, srv_weight=True):
    return sorted(norm_rr(r.name, r.type, r.rdata, exact_case, srv_weight) for r in rrs)


def svc(name, ns="production", zone="cluster.local"):
    """'api-service' -> 'api-service.production.svc.cluster.local.'"""
    return f"{name}.{ns}.svc.{zone}."


class Checker:
    """Collects failures so one run reports every broken expectation, not just the first."""

    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failures = []
        self.binary = None
        self._servers = []

    # -- primitives --

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL: {what}", flush=True)
        return bool(cond)

    def eq(self, got, expected, what):
        return self.check(got == expected, f"{what}\n  expected: {expected!r}\n  got:      {got!r}")

    def skip(self, why):
        raise Skip(why)

    # -- servers --

    def server(self, *args, listen=("127.0.0.1:0",), cwd=None, stdin_data=None):
        """A started Server, stopped (and its exit code checked) by `with`."""
        return _ServerContext(self, Server(self.binary, *args, listen=listen, cwd=cwd,
                                           stdin_data=stdin_data))

    # -- dig answers --

    def expect(self, res, rcode="NOERROR", aa=True, tc=False, answer=None, authority=None,
               additional=None, answer_types=None, ttl=None, exact_case=False, soa=None,
               edns=None, srv_weight=True):
        """Check a DigResult.
        answer/authority/additional: [(name, type, rdata)] compared as multisets (None: not checked).
        answer_types: {type: count} for the answer section (for large answers).
        soa: zone apex expected as the single SOA in authority (NXDOMAIN/NODATA).
        ttl: every answer RR must have this TTL. edns: True/False for OPT presence, or a version.
        srv_weight=False: SRV weights are not compared (see check_srv_weights).
        aa/tc: True/False to require set/clear, None to ignore."""
        q = res.query()
        if not self.check(res.got_answer and res.rcode is not None,
                          f"{q}\n  expected: a {rcode} answer\n  got:      no answer "
                          f"(dig exit {res.exit_code}): {res.text.strip()[-300:]}"):
            return False
        ok = self.eq(res.rcode, rcode, f"{q}: rcode")
        ok &= self.check("qr" in res.flags, f"{q}: QR flag not set (flags {sorted(res.flags)}):\n"
                                            f"{res.text.strip()[-600:]}")
        bad = [w for w in res.warnings if "malformed" in w.lower() or "mismatch" in w.lower()
               or "unparsed" in w.lower()]
        ok &= self.check(not bad, f"{q}: dig warnings {bad}")
        for flag, want in (("aa", aa), ("tc", tc)):
            if want is None:
                continue
            ok &= self.check((flag in res.flags) == want,
                             f"{q}: {flag.upper()} flag expected {'set' if want else 'clear'}, "
                             f"flags are {sorted(res.flags)}")
        for sect, want in (("answer", answer), ("authority", authority),
                           ("additional", additional)):
            if want is None:
                continue
            got = rrset(getattr(res, sect), exact_case, srv_weight)
            exp = sorted(norm_rr(fqdn(n), t, d, exact_case, srv_weight) for n, t, d in want)
            ok &= self.eq(got, exp, f"{q}: {sect} section")
        if answer_types is not None:
            counts = {}
            for rr in res.answer:
                counts[rr.type] = counts.get(rr.type, 0) + 1
            ok &= self.eq(counts, answer_types, f"{q}: answer record types/counts")
        if ttl is not None:
            ttls = sorted({rr.ttl for rr in res.answer})
            ok &= self.check(all(rr.ttl == ttl for rr in res.answer),
                             f"{q}: answer TTLs expected all {ttl}, got {ttls}")
        if soa is not None:
            soas = [(rr.name.lower(), rr.type) for rr in res.authority if rr.type == "SOA"]
            ok &= self.eq(soas, [(fqdn(soa).lower(), "SOA")], f"{q}: SOA in authority section")
        if edns is not None:
            if edns is True or edns is False:
                ok &= self.check((res.edns is not None) == edns,
                                 f"{q}: OPT record expected {'present' if edns else 'absent'}, "
                                 f"got {res.edns}")
            else:
                ok &= self.check(res.edns is not None and res.edns["version"] == edns,
                                 f"{q}: OPT with EDNS version {edns} expected, got {res.edns}")
        return ok

    def srv_weights(self, res, *ns):
        """Priority 0 and one weight for all SRV records, floor(100 / N) (at least 1) as CoreDNS
        computes it from N backend entries; several N allowed where entries are deduplicated."""
        want = sorted({("0", str(max(1, 100 // n))) for n in ns})
        got = sorted({tuple(rr.rdata.split()[:2]) for rr in res.answer if rr.type == "SRV"})
        return self.check(len(got) == 1 and got[0] in want,
                          f"{res.query()}: SRV priority/weight\n  expected: one of {want} "
                          f"(CoreDNS: priority 0, weight floor(100/N))\n  got:      {got}")

    def nodata(self, res, zone="cluster.local", **kw):
        return self.expect(res, answer=[], soa=zone, **kw)

    def nxdomain(self, res, zone="cluster.local", **kw):
        return self.expect(res, rcode="NXDOMAIN", answer=[], soa=zone, **kw)

    def refused(self, res, **kw):
        kw.setdefault("aa", None)
        return self.expect(res, rcode="REFUSED", answer=[], **kw)


class _ServerContext:
    def __init__(self, checker, server):
        self.checker = checker
        self.server = server

    def __enter__(self):
        return self.server.start()

    def __exit__(self, exc_type, exc, tb):
        srv = self.server
        if srv.proc is not None and srv.proc.poll() is not None and exc_type is None:
            self.checker.check(False, f"server died during the scenario with exit code "
                                      f"{srv.proc.returncode}; {srv.describe()}")
            srv.stop()
            return False
        rc = srv.stop()
        if exc_type is None:
            self.checker.check(rc == 0, f"SIGTERM: expected exit code 0, got {rc}; "
                                        f"{srv.describe()}")
            self.checker.check(srv.extra_stdout.strip() == b"",
                               f"stdout must hold only the port line, also got "
                               f"{srv.extra_stdout[:300]!r}")
        elif exc_type is not Skip:
            print(srv.describe(), flush=True)
        return False


def main(doc, scenario):
    """Run scenario(t) and exit: 0 all passed, 1 any failure, 77 skipped."""
    title = Path(sys.argv[0]).stem
    first = (doc or "").strip().splitlines()[0] if doc else ""
    print(f"== {title}: {first}", flush=True)
    t = Checker(title)
    try:
        t.binary = binary_path()
        scenario(t)
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        sys.exit(SKIP_EXIT)
    except Failure as e:
        t.failures.append(str(e))
        print(f"FAIL: {e}", flush=True)
    except Exception:  # a bug in the test or an unexpected server reply: report, fail
        tb = traceback.format_exc()
        t.failures.append(tb)
        print(f"FAIL: exception\n{tb}", flush=True)
    print(f"{title}: {t.passed} passed, {len(t.failures)} failed", flush=True)
    sys.exit(1 if t.failures else 0)
