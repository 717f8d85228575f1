#!/usr/bin/env python3
"""Tiny stdlib-only DNS client used by bench/run.sh for sanity and cross checks.

  dnscheck.py wait   --server 127.0.0.1:PORT --query "NAME TYPE" [--query ...] [--pid PID] [--timeout 600]
        poll (every 2 ms) until every query answers NOERROR+AA with a non-empty answer;
        prints the elapsed seconds.  Exit 1 on timeout, 2 if process PID exits first, 3 if --fail-log matches --fail-regex.
  dnscheck.py expect --server 127.0.0.1:PORT --expected OUT/expected.txt
        check the "name TYPE rdata..." lines written by gen_cluster.py.
  dnscheck.py record --server 127.0.0.1:PORT --queries OUT/queries.txt [--count 1000] [--edns SIZE] --out FILE
        send the first COUNT queries (RD=0; no EDNS unless --edns) and write one normalised line per query:
        "qname qtype | RCODE aa=X | sorted answer RRs | authority owner/type".
  dnscheck.py diff FILE_A FILE_B [--show 10]
        compare two record files; exit 1 if they differ.

Only ever point this at 127.0.0.1 / ::1.
"""

import argparse
import os
import random
import re
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28,
         "SRV": 33, "OPT": 41, "ANY": 255}
TYPE_NAMES = dict((v, k) for k, v in TYPES.items())
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def parse_server(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("dnscheck: refusing to query non-loopback server %r" % host)
    return host, int(port)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def build_query(qid, name, qtype, edns=0):
    """A query with RD=0; with edns > 0 an OPT record advertising that UDP payload size."""
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1 if edns else 0) + encode_name(name) + \
        struct.pack("!HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return q


def read_name(msg, off):
    labels = []
    jumped = False
    end = off
    for _ in range(128):
        ln = msg[off]
        if ln == 0:
            off += 1
            break
        if ln & 0xC0 == 0xC0:
            ptr = ((ln & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped = True
            off = ptr
            continue
        labels.append(msg[off + 1:off + 1 + ln].decode("ascii", "replace").lower())
        off += 1 + ln
    if not jumped:
        end = off
    return ".".join(labels) + ".", end


def rdata_text(msg, rtype, off, rdlen):
    r = msg[off:off + rdlen]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, r)
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, r)
    if rtype in (2, 5, 12):
        return read_name(msg, off)[0]
    if rtype == 33:
        pri, w, port = struct.unpack("!HHH", r[:6])
        return "%d %d %d %s" % (pri, w, port, read_name(msg, off + 6)[0])
    if rtype == 6:
        m, o = read_name(msg, off)
        rn, o = read_name(msg, o)
        return "%s %s %s" % (m, rn, " ".join(str(x) for x in struct.unpack("!IIIII", msg[o:o + 20])))
    if rtype == 16:
        parts, i = [], 0
        while i < len(r):
            parts.append('"%s"' % r[i + 1:i + 1 + r[i]].decode("ascii", "replace"))
            i += 1 + r[i]
        return " ".join(parts)
    return "\\# %d %s" % (rdlen, r.hex())


def parse_response(msg):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    sections = []
    for count in (an, ns, ar):
        rrs = []
        for _ in range(count):
            name, off = read_name(msg, off)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            rrs.append((name, TYPE_NAMES.get(rtype, str(rtype)), ttl, rdata_text(msg, rtype, off, rdlen)))
            off += rdlen
        sections.append(rrs)
    return {"id": qid, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "aa": (flags >> 10) & 1,
            "tc": (flags >> 9) & 1, "answer": sections[0], "authority": sections[1],
            "additional": sections[2]}


class Client:
    def __init__(self, server, timeout=1.0, edns=0):
        host, port = parse_server(server)
        self.edns = edns
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.addr = (host, port)
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.rng = random.Random(1)

    def query(self, name, qtype, tries=3):
        qt = TYPES[qtype] if isinstance(qtype, str) else qtype
        for _ in range(tries):
            qid = self.rng.randrange(65536)
            try:
                self.sock.sendto(build_query(qid, name, qt, self.edns), self.addr)
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                        return parse_response(data)
            except (socket.timeout, ConnectionRefusedError, OSError):
                time.sleep(0.01)
        return None


def cmd_wait(a):
    t0 = time.monotonic()
    c = Client(a.server, timeout=0.2)
    pending = [q.split() for q in a.query]
    for q in pending:
        if len(q) != 2 or q[1] not in TYPES:
            sys.exit("dnscheck: bad --query %r (want 'NAME TYPE')" % " ".join(q))
    fail_re = re.compile(a.fail_regex) if a.fail_log and a.fail_regex else None
    while time.monotonic() - t0 < a.timeout:
        if a.pid and not os.path.exists("/proc/%d" % a.pid):
            print("dnscheck: server process %d exited" % a.pid, file=sys.stderr)
            return 2
        if fail_re and os.path.exists(a.fail_log):
            with open(a.fail_log, errors="replace") as lf:
                for ln in lf:
                    if fail_re.search(ln):
                        print("dnscheck: server log reports: %s" % ln.rstrip(), file=sys.stderr)
                        return 3
        name, qtype = pending[0]
        r = c.query(name, qtype, tries=1)
        if r and r["rcode"] == "NOERROR" and r["aa"] and r["answer"]:
            pending.pop(0)
            if not pending:
                print("%.3f" % (time.monotonic() - t0))
                return 0
            continue
        time.sleep(0.002)
    print("dnscheck: %s did not answer %s within %ss"
          % (a.server, " ".join(pending[0]), a.timeout), file=sys.stderr)
    return 1


def server_gone(a):
    return bool(a.pid) and not os.path.exists("/proc/%d" % a.pid)


def cmd_expect(a):
    c = Client(a.server)
    bad = 0
    n = 0
    silent = 0
    for line in open(a.expected):
        if server_gone(a):
            print("FAIL server process %d exited" % a.pid)
            return 2
        parts = line.split()
        if len(parts) < 3:
            continue
        n += 1
        name, qtype = parts[0], parts[1]
        want = parts[2:]
        r = c.query(name, qtype)
        if r is None:
            print("FAIL %s %s: no response" % (name, qtype))
            bad += 1
            silent += 1
            if silent >= 2:
                print("FAIL giving up: 2 queries in a row unanswered")
                break
            continue
        silent = 0
        got = [rr for rr in r["answer"] if rr[1] == qtype]
        if qtype == "SRV":
            ok = " ".join(want) in [rr[3] for rr in got]
            shown = [rr[3] for rr in got]
        else:
            ok = sorted(want) == sorted(rr[3] for rr in got)
            shown = sorted(rr[3] for rr in got)
        if r["rcode"] != "NOERROR" or not r["aa"] or not ok:
            print("FAIL %s %s: rcode=%s aa=%d got %s want %s"
                  % (name, qtype, r["rcode"], r["aa"], shown, want))
            bad += 1
    print("dnscheck expect: %d/%d ok" % (n - bad, n))
    return 1 if bad else 0


def cmd_record(a):
    c = Client(a.server, edns=a.edns)
    out = []
    timeouts = 0
    with open(a.queries) as f:
        for i, line in enumerate(f):
            if i >= a.count:
                break
            if server_gone(a):
                print("dnscheck record: server process %d exited" % a.pid, file=sys.stderr)
                return 2
            if timeouts >= 10:
                print("dnscheck record: %d queries in a row unanswered, giving up" % timeouts,
                      file=sys.stderr)
                return 1
            parts = line.split()
            if len(parts) < 2:
                continue
            name, qtype = parts[0], parts[1]
            r = c.query(name, qtype)
            if r is None:
                timeouts += 1
                out.append("%s %s | TIMEOUT" % (name, qtype))
                continue
            timeouts = 0
            ans = sorted("%s %d %s %s" % (rr[0], rr[2], rr[1], rr[3]) for rr in r["answer"])
            auth = sorted("%s %s" % (rr[0], rr[1]) for rr in r["authority"])
            out.append("%s %s | %s aa=%d tc=%d | %s | %s"
                       % (name, qtype, r["rcode"], r["aa"], r["tc"], "; ".join(ans), "; ".join(auth)))
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


def cmd_diff(a):
    la = open(a.a).read().splitlines()
    lb = open(a.b).read().splitlines()
    diffs = [(x, y) for x, y in zip(la, lb) if x != y]
    if len(la) != len(lb):
        print("dnscheck diff: line counts differ (%d vs %d)" % (len(la), len(lb)))
    print("dnscheck diff: %d/%d responses identical (%s vs %s)"
          % (min(len(la), len(lb)) - len(diffs), min(len(la), len(lb)),
             os.path.basename(a.a), os.path.basename(a.b)))
    for x, y in diffs[:a.show]:
        print("  A: %s\n  B: %s" % (x, y))
    return 1 if diffs or len(la) != len(lb) else 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)
    w = sp.add_parser("wait")
    w.add_argument("--server", required=True)
    w.add_argument("--query", action="append", required=True,
                   help="'NAME TYPE' that must answer NOERROR+AA with data (repeatable)")
    w.add_argument("--pid", type=int, default=0, help="give up early if this process exits")
    w.add_argument("--fail-log", help="give up early if this log file ...")
    w.add_argument("--fail-regex", help="... has a line matching this regex")
    w.add_argument("--timeout", type=float, default=600)
    e = sp.add_parser("expect")
    e.add_argument("--server", required=True)
    e.add_argument("--expected", required=True)
    e.add_argument("--pid", type=int, default=0, help="stop if this process exits")
    r = sp.add_parser("record")
    r.add_argument("--server", required=True)
    r.add_argument("--queries", required=True)
    r.add_argument("--count", type=int, default=1000)
    r.add_argument("--out", required=True)
    r.add_argument("--pid", type=int, default=0, help="stop if this process exits")
    r.add_argument("--edns", type=int, default=0, metavar="SIZE",
                   help="send an OPT record with this UDP payload size (default: none, 512 bytes)")
    d = sp.add_parser("diff")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--show", type=int, default=10)
    a = p.parse_args(argv)
    return {"wait": cmd_wait, "expect": cmd_expect, "record": cmd_record, "diff": cmd_diff}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
