"""The README's examples work as written (only the port changes: 5353 -> the one printed).

From README.md:
- the start command `build/clusterdns --manifests examples --listen 127.0.0.1:5353` (run from the
  repository root, with port 0 instead);
- every `dig @127.0.0.1 -p 5353 ...` line: NOERROR with an answer; when its comment names a type
  and a value ("# A 10.96.10.100", "# CNAME rds-endpoint...", "# PTR api-service..."), an answer
  record of that type starts with that value;
- the `busybox nslookup ... 127.0.0.1:5353` line: exit 0 with an address;
- the config file example (```yaml block under "Config file"), with its ports set to 0 and
  [::1] dropped when this machine has no ::1: the server starts from it alone and answers on
  every listed address.
A README without these examples fails the test, so it notices when they move.
"""

import re
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import REPO, svc  # noqa: E402

README = REPO / "README.md"
DIG = re.compile(r"^\s+dig @127\.0\.0\.1 -p 5353 (.*?)\s*(?:#\s*(.*))?$", re.M)
NSLOOKUP = re.compile(r"^\s+busybox nslookup (\S+) 127\.0\.0\.1:5353\s*$", re.M)
START = re.compile(r"(build/clusterdns (--\S+ \S+ ?)+)")
EXPECT = re.compile(r"\b(A|AAAA|CNAME|PTR|SRV|TXT)\s+([^\s.][^\s]*?)(?:\.\.\.)?$")


def check_digs(t, srv, text):
    lines = DIG.findall(text)
    t.check(lines, "README has no `dig @127.0.0.1 -p 5353` examples")
    for args, comment in lines:
        res = srv.dig(None, extra=shlex.split(args))
        t.expect(res)
        t.check(res.answer, f"README `dig {args}`: expected an answer, got {res}")
        m = EXPECT.search(comment.strip()) if comment else None
        if m:
            rtype, value = m.groups()
            t.check(any(rr.type == rtype and rr.rdata.lower().startswith(value.lower())
                        for rr in res.answer),
                    f"README `dig {args}  # {comment}`: no {rtype} starting {value!r} in "
                    f"{res.answer}")


def scenario(t):
    text = README.read_text()
    m = START.search(text)
    if not t.check(m, "README has no `build/clusterdns --manifests ...` start command"):
        return
    words = shlex.split(m.group(1))[1:]
    # Drop every "--listen ADDR" pair: the harness adds --listen 127.0.0.1:0.
    args = [w for i, w in enumerate(words)
            if w != "--listen" and (i == 0 or words[i - 1] != "--listen")]
    with t.server(*args, cwd=REPO) as srv:
        check_digs(t, srv, text)
        for name in NSLOOKUP.findall(text):
            r = srv.nslookup(name)
            t.check(r.exit_code == 0 and r.addresses,
                    f"README `busybox nslookup {name}`: exit {r.exit_code}\n{r.output}")

    block = re.search(r"### Config file.*?```yaml\n(.*?)```", text, re.S)
    if not t.check(block, "README has no ```yaml config example under 'Config file'"):
        return
    cfg = block.group(1).replace(":5353", ":0")
    if not harness.have_ipv6_loopback():
        cfg = re.sub(r',?\s*"\[::1\]:0"', "", cfg)
    with tempfile.TemporaryDirectory(prefix="clusterdns-readme-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(cfg)
        with t.server("--config", path, listen=None, cwd=REPO) as srv:
            t.check(srv.addrs, f"README config: no address in {srv.line!r}")
            for addr in srv.addrs:
                for tcp in (False, True):
                    t.expect(srv.dig(svc("api-service"), "A", tcp=tcp, addr=addr),
                             answer=[(svc("api-service"), "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
