"""Every project of tests/corpus/ is served end to end, as a cluster would serve it after
`kubectl apply -f ENTRY`: each Service answers real dig, twice with the same addresses.

Each entry (a directory of tests/corpus/, or a file there with a sibling NAME.expected.txt) holds
manifests shaped like what people deploy and an expected.txt written by hand from them (format in
tests/corpus/README.md). For each entry:
- the core Services of the manifests, read here by a small reader of our own (not the server's),
  are exactly the Services expected.txt lists, and exactly those `clusterdns records -o json`
  lists under svc (so nothing is served that the expectations do not cover, nor missed);
- `clusterdns check` finds no error in it (it is valid Kubernetes, warnings aside);
- the server, started on the entry, answers each name of expected.txt as it says: a ClusterIP
  Service one address per family it has (in the service range unless the manifest gives it), a
  headless one an address per ready endpoint (NXDOMAIN with none, as the DNS specification has
  it), an ExternalName its CNAME, a skipped kind (another group's `Service`) NXDOMAIN; SRV counts
  and other names too;
- a second server, given the entry's files one by one in the reverse order, answers exactly the
  same (the allocator's addresses depend on no order), and so does `records -o json`.
And the wordpress chart, as `helm template` prints it, fed through standard input
(`helm template ... | clusterdns --manifests -`) answers exactly as the file does.
"""

import ipaddress
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

CORPUS = harness.REPO / "tests" / "corpus"
ZONE = "cluster.local"
DEFAULT_SERVICE_CIDRS = ["10.96.0.0/12"]
SERVICE_KINDS = ("clusterip", "headless", "externalname")   # core Services, by what they answer
KINDS = SERVICE_KINDS + ("skipped", "name")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
HELM_ENTRY = "wordpress-helm"


# --------------------------------------------------------------------------------------------
# The entries and their expectations


class Expected:
    """One line of expected.txt: KEY KIND CHECK... (KEY is the name before .svc.<zone>)."""

    def __init__(self, where, key, kind, checks):
        self.where = where
        self.key = key
        self.kind = kind
        self.checks = checks   # {"A": "2" or "10.96.0.10", "AAAA": ..., "CNAME": ..., "SRV": ...}
        self.nxdomain = "NXDOMAIN" in checks or kind == "skipped"

    @property
    def name(self):
        return f"{self.key}.svc.{ZONE}."

    def types(self):
        """The record types to ask for."""
        if self.kind == "externalname":
            return ["CNAME"]
        if self.nxdomain:
            return ["A"]
        return [t for t in ("A", "AAAA", "CNAME", "SRV") if t in self.checks]


def read_expected(path):
    """(args, [Expected]) from an expected.txt."""
    args, lines = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path.relative_to(harness.REPO)}:{number}"
        text = line.strip()
        if text.startswith("# args:"):
            args = shlex.split(text[len("# args:"):])
            continue
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) < 2 or fields[1] not in KINDS:
            raise harness.Failure(f"{where}: expected KEY KIND [CHECK...], KIND one of {KINDS}")
        checks = {}
        for token in fields[2:]:
            key, _, value = token.partition("=")
            checks[key] = value
        unknown = set(checks) - {"A", "AAAA", "CNAME", "SRV", "NXDOMAIN"}
        if unknown:
            raise harness.Failure(f"{where}: unknown checks {sorted(unknown)}")
        lines.append(Expected(where, fields[0], fields[1], checks))
    return args, lines


def entries():
    """[(entry path, expected.txt path)] of tests/corpus/, in name order."""
    found = []
    for entry in sorted(CORPUS.iterdir()):
        if entry.is_dir():
            found.append((entry, entry / "expected.txt"))
        elif entry.suffix in MANIFEST_SUFFIXES:
            found.append((entry, entry.with_name(entry.stem + ".expected.txt")))
    return found


def manifest_files(entry):
    """The files `--manifests ENTRY` reads, in its order (path order, at any depth)."""
    if entry.is_file():
        return [entry]
    return sorted(p for p in entry.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


# --------------------------------------------------------------------------------------------
# A small reader of the manifests' core Services, independent of the server's parser: enough
# YAML for block mappings, flow mappings on one line, `kind: List` and JSON files.


def scalar(text):
    """A plain or quoted scalar, its comment dropped."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        return text[1:text.index(text[0], 1)]
    return re.sub(r"\s+#.*$", "", text).strip()


def flow_value(text, key):
    """`key`'s value in a one-line flow mapping such as {name: x, namespace: y}."""
    m = re.search(r"[{,]\s*" + re.escape(key) + r"\s*:\s*([^,}]+)", text)
    return scalar(m.group(1)) if m else None


def children(lines, start):
    """The keys and values of the block mapping that begins after lines[start] (a `key:` line):
    the lines indented as its first child, up to the first line indented less."""
    out, indent = {}, None
    for line in lines[start + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
            if depth == 0:
                return out
        if depth < indent:
            break
        m = re.match(r"\s*([\w./-]+):(.*)$", line)
        if depth == indent and m:
            out[m.group(1)] = m.group(2)
    return out


def section(lines, key):
    """The keys of `key:` in a document (a flow mapping or a block one)."""
    for i, line in enumerate(lines):
        m = re.match(re.escape(key) + r":(.*)$", line)
        if m:
            value = m.group(1).strip()
            if value.startswith("{"):
                return {k: v for k in ("name", "namespace", "clusterIP", "type")
                        if (v := flow_value(value, k)) is not None}
            return {k: scalar(v) for k, v in children(lines, i).items()}
    return {}


def list_items(lines):
    """The documents of a YAML `kind: List`'s items, each shifted to column 0."""
    start = next(i for i, line in enumerate(lines) if re.match(r"items:\s*$", line))
    items, current, column = [], None, None
    for line in lines[start + 1:]:
        if line and not line[0].isspace() and not line.startswith("- "):
            break  # the next top-level key
        m = re.match(r"(\s*)- (.*)$", line)
        if m and (column is None or len(m.group(1)) == column):
            column = len(m.group(1))
            current = [m.group(2)]
            items.append(current)
        elif current is not None:
            current.append(line[column + 2:])
    return items


def services_of_document(lines):
    """[(namespace, name, 'clusterip' | 'headless' | 'externalname')] of one YAML document."""
    top = {m.group(1): scalar(m.group(2)) for line in lines
           if (m := re.match(r"([A-Za-z]\w*):(.*)$", line))}
    if top.get("kind") == "List":
        return [s for item in list_items(lines) for s in services_of_document(item)]
    if top.get("kind") != "Service" or top.get("apiVersion") != "v1":
        return []
    meta = section(lines, "metadata")
    spec = section(lines, "spec")
    return [(meta.get("namespace") or "default", meta["name"], service_kind(spec))]


def service_kind(spec):
    if spec.get("type") == "ExternalName":
        return "externalname"
    return "headless" if spec.get("clusterIP") == "None" else "clusterip"


def services_of_json(obj):
    if obj.get("kind") == "List":
        return [s for item in obj.get("items", []) for s in services_of_json(item)]
    if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1":
        return []
    meta, spec = obj.get("metadata", {}), obj.get("spec", {})
    return [(meta.get("namespace") or "default", meta["name"], service_kind(spec))]


def manifest_services(entry):
    """{key: kind} of every core Service the entry's manifests hold."""
    found = []
    for path in manifest_files(entry):
        text = path.read_text()
        if path.suffix == ".json":
            found += services_of_json(json.loads(text))
            continue
        document = []
        for line in text.splitlines() + ["---"]:
            if line == "---" or line.startswith("--- ") or line == "...":
                found += services_of_document(document)
                document = []
            else:
                document.append(line)
    return {f"{name}.{ns}": kind for ns, name, kind in found}


# --------------------------------------------------------------------------------------------
# Asking


def records(t, manifests, args):
    """`records -o json`: {(name, type): sorted data}."""
    p = subprocess.run([str(t.binary), "records", "-o", "json",
                        *[x for m in manifests for x in ("--manifests", str(m))], *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise harness.Failure(f"records -o json --manifests {manifests}: exit {p.returncode}: "
                              f"{p.stderr.strip()}")
    listed = {}
    for r in json.loads(p.stdout):
        if r["type"] != "SOA":  # its serial is each process's own
            listed.setdefault((r["name"].lower(), r["type"]), []).append(r["data"].lower())
    return {key: sorted(data) for key, data in listed.items()}


def same(t, got, expected, what):
    """Two {key: value} the same; a failure shows only the keys that differ."""
    differ = {k: (expected.get(k), got.get(k)) for k in sorted(set(got) | set(expected))
              if got.get(k) != expected.get(k)}
    return t.check(not differ, f"{what}; (expected, got) where they differ: {differ}")


def ask(srv, expected):
    """{(name, type): (rcode, sorted data of the answer's records of that name and type)}."""
    answers = {}
    for e in expected:
        for rtype in e.types():
            res = srv.dig(e.name, rtype)
            if not res.got_answer:
                answers[(e.name, rtype)] = ("no answer", [res.text.strip()[-200:]])
                continue
            data = sorted(rr.rdata.lower() for rr in res.answer
                          if rr.type == rtype and rr.name.lower() == e.name.lower())
            answers[(e.name, rtype)] = (res.rcode, data)
    return answers


def in_ranges(address, ranges):
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(r) for r in ranges)


def check_answers(t, label, expected, answers, service_cidrs):
    """Each expected name answered as expected.txt says."""
    for e in expected:
        what = f"{label}: {e.where}: {e.name}"
        if e.nxdomain:
            t.eq(answers[(e.name, "A")], ("NXDOMAIN", []), f"{what} ({e.kind}) is NXDOMAIN")
            continue
        for rtype in e.types():
            rcode, data = answers[(e.name, rtype)]
            want = e.checks.get(rtype) if e.kind != "externalname" else e.checks.get("CNAME")
            t.eq(rcode, "NOERROR", f"{what} {rtype}: rcode")
            if rtype == "SRV" or (want or "").isdigit():
                t.eq(len(data), int(want), f"{what} {rtype}: records ({data})")
            elif rtype == "CNAME":
                t.eq(data, [want.lower()], f"{what} CNAME")
            else:
                t.eq(data, sorted(want.lower().split(",")), f"{what} {rtype}")
            if e.kind == "clusterip" and rtype in ("A", "AAAA") and (want or "").isdigit():
                t.check(all(in_ranges(a, service_cidrs) for a in data),
                        f"{what} {rtype}: {data} allocated from the service range {service_cidrs}")


def service_cidrs_of(args):
    cidrs = [c for i, a in enumerate(args[:-1]) if a == "--service-cidr"
             for c in args[i + 1].split(",")]
    return cidrs or DEFAULT_SERVICE_CIDRS


def listed_services(listed):
    """The keys of the Services `records` lists: <name>.<ns> of <name>.<ns>.svc.<zone>."""
    suffix = f".svc.{ZONE}."
    keys = set()
    for name, rtype in listed:
        if rtype in ("A", "AAAA", "CNAME") and name.endswith(suffix):
            key = name[:-len(suffix)]
            if key.count(".") == 1 and not key.startswith("_"):
                keys.add(key)
    return keys


def serve_entry(t, entry, expected_file):
    label = entry.name
    args, expected = read_expected(expected_file)
    service_cidrs = service_cidrs_of(args)
    files = manifest_files(entry)

    # The manifests' Services, the expectations' and the server's listing are the same set.
    in_manifests = manifest_services(entry)
    in_expected = {e.key: e.kind for e in expected if e.kind in SERVICE_KINDS}
    t.eq(sorted(in_expected.items()), sorted(in_manifests.items()),
         f"{label}: the Services expected.txt lists (and how they answer) are the manifests'")
    listed = records(t, [entry], args)
    served = {k for k, kind in in_expected.items()
              if not (kind == "headless" and next(e for e in expected if e.key == k).nxdomain)}
    t.eq(sorted(listed_services(listed)), sorted(served),
         f"{label}: the Services `records` lists are those expected.txt says answer")

    # check takes the same ranges as the server: it allocates as the server does.
    ranges = [x for i, a in enumerate(args[:-1]) if a in ("--pod-cidr", "--service-cidr")
              for x in (a, args[i + 1])]
    p = subprocess.run([str(t.binary), "check", "--manifests", str(entry), *ranges],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    t.eq(p.returncode, 0, f"{label}: `clusterdns check` finds no error\n{p.stdout}{p.stderr}")

    with t.server("--manifests", entry, *args) as srv:
        first = ask(srv, expected)
    check_answers(t, label, expected, first, service_cidrs)
    for (name, rtype), (rcode, data) in sorted(first.items()):
        if rcode == "NOERROR" and rtype != "SRV":
            t.eq(data, listed.get((name.lower(), rtype), []),
                 f"{label}: {name} {rtype} answers what `records` lists")

    # The same manifests once more, the files one by one in the reverse order.
    reverse = [x for f in reversed(files) for x in ("--manifests", f)]
    with t.server(*reverse, *args) as srv:
        second = ask(srv, expected)
    same(t, second, first, f"{label}: a second server (files in the reverse order) answers the same")
    same(t, records(t, list(reversed(files)), args), listed,
         f"{label}: `records` lists the same records with the files in the reverse order")
    print(f"{label}: {len(in_expected)} Services, {len(first)} questions, same answers twice",
          flush=True)
    return args, expected, first


def piped_helm_output(t, entry, expected_file, from_file):
    """`helm template blog bitnami/wordpress | clusterdns --manifests -`: the same answers."""
    args, expected = read_expected(expected_file)
    rendered = "".join(f.read_text() for f in manifest_files(entry))
    t.check(rendered.count("# Source: ") >= 20 and "\n---\n" in rendered,
            f"{entry.name} is `helm template` output (multi-document, # Source: comments)")
    with t.server("--manifests", "-", *args, stdin_data=rendered) as srv:
        piped = ask(srv, expected)
    same(t, piped, from_file, f"{entry.name} through standard input answers as the file does")


def scenario(t):
    if not shutil.which("dig"):
        t.skip("dig is not installed")
    found = entries()
    t.check(len(found) >= 10, f"tests/corpus/ holds the projects: {[e.name for e, _ in found]}")
    answered = {}
    for entry, expected_file in found:
        if not t.check(expected_file.is_file(),
                       f"{entry.name}: {expected_file.name} says what it answers"):
            continue
        answered[entry.name] = serve_entry(t, entry, expected_file)
    helm = CORPUS / HELM_ENTRY
    piped_helm_output(t, helm, helm / "expected.txt", answered[HELM_ENTRY][2])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
