#!/usr/bin/env python3
"""Checks every project #include against docs/layout.md: a folder includes its own headers and
those of the folders its row allows, and nothing else of the project.

Usage: check_layout.py [ROOT]   (ROOT: the project; default: two levels above this file)
"""
import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|[^|]*\|([^|]*)\|\s*$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def rules():
    """{folder or file: [what it may include]}, from the table of docs/layout.md."""
    out = {}
    for line in (ROOT / "docs" / "layout.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            allowed = re.findall(r"`([^`]+)`", m.group(2))
            out[m.group(1)] = ["*"] if m.group(2).strip() == "everything" else allowed
    return out


def where(path, table):
    """The table's entry a path falls under: the longest folder or file that holds it."""
    text = path.as_posix()
    best = None
    for entry in table:
        if text == entry or text.startswith(entry if entry.endswith("/") else entry + "/"):
            if best is None or len(entry) > len(best):
                best = entry
    return best


def included(name):
    """A quoted include's path as it lies in the tree (the public header is in include/)."""
    return "include/" + name if name.startswith("clusterdns/") else name


def main():
    table = rules()
    if len(table) < 10:
        print(f"docs/layout.md: the table has {len(table)} rows; is it still there?")
        return 1
    problems = []
    checked = 0
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if path.suffix not in (".cc", ".h") or rel.parts[0].startswith(("build", ".")):
            continue
        entry = where(rel, table)
        if entry is None:
            problems.append(f"{rel}: in no folder of docs/layout.md")
            continue
        allowed = table[entry]
        test = rel.name.endswith("_test.cc")
        for quote, name in INCLUDE.findall(path.read_text(errors="replace")):
            checked += 1
            if quote == "<":
                if name.startswith("clusterdns/") and name != "clusterdns/clusterdns.h":
                    problems.append(f"{rel}: <{name}> is not the public header")
                continue
            target = included(name)
            if not (ROOT / target).exists() and not (path.parent / name).exists():
                problems.append(f"{rel}: \"{name}\" does not exist")
                continue
            if (path.parent / name).exists() and "/" not in name:
                continue  # beside it
            if test or "*" in allowed or where(Path(target), table) == entry:
                continue
            if not any(target == a or target.startswith(a) for a in allowed):
                problems.append(f"{rel}: includes \"{name}\", but {entry} may include only "
                                f"{', '.join(allowed) or 'its own'} (docs/layout.md)")
    for p in problems:
        print(p)
    print(f"check_layout: {checked} includes checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
