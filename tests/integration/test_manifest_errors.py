"""Bad manifests are refused at startup: exit 1, nothing on stdout, a message naming the problem.

Each file in tests/data/bad/ is loaded alone with --listen 127.0.0.1:0. The server must exit with
code 1 before printing the port line (so stdout stays empty), and stderr must name the file, the
object's kind and name and the offending field (for the unparsable YAML file: the file), as an
[ERROR] log line. The bad EndpointSlice is the third document of its file, so that message must
also carry the document index (2 counting from 0, or 3 counting from 1). Also: a bad file next to
good ones (examples/ + one bad file) is still refused, and so is the whole tests/data/bad
directory. Every file in tests/data/bad/ must have an entry here. Most are objects the API server
refuses though their YAML is fine (duplicate port names or ports, a label value over 63
characters, a headless NodePort Service, a Service without ports or with an unnamed port among
two, clusterIP 0.0.0.0, an ExternalName Service with a clusterIP, loopback and link-local
endpoints): the message names the rule too.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, EXAMPLES  # noqa: E402

BAD = DATA / "bad"

# file -> substrings stderr must contain (besides the file name)
EXPECT = {
    "bad-cluster-ip.yaml": ["Service", "bad-ip", "clusterIP"],
    "port-out-of-range.yaml": ["Service", "huge-port", "port"],
    "broken-yaml.yaml": [],
    "require-dual-stack.yaml": ["Service", "no-ip", "ipFamilyPolicy", "RequireDualStack"],
    "bad-endpoint-address.yaml": ["EndpointSlice", "shaky-abc12", "address"],
    "external-name-missing.yaml": ["Service", "nowhere", "externalName"],
    "bad-port-name-in-list.yaml": ["Service", "badly-named-port", "ports"],
    "invalid-service-name.yaml": ["Service", "API_Service", "metadata.name"],
    # Valid YAML, objects the API server refuses (zone/validation.h), each naming its rule.
    "duplicate-port-name.yaml": ["Service", "dup-names", "spec.ports[1].name", "unique"],
    "duplicate-port.yaml": ["Service", "dup-ports", "spec.ports[1]", "(port, protocol)"],
    "label-value-too-long.yaml": ["Service", "long-label", "metadata.labels", "at most 63"],
    "headless-nodeport.yaml": ["Service", "headless-np", "spec.clusterIP", "never headless"],
    "service-without-ports.yaml": ["Service", "portless", "spec.ports", "required"],
    "unnamed-port-among-two.yaml": ["Service", "half-named", "spec.ports[1].name",
                                    "more than one port"],
    "unspecified-cluster-ip.yaml": ["Service", "zero", "spec.clusterIP", "unspecified"],
    "external-name-with-cluster-ip.yaml": ["Service", "aliased", "spec.clusterIP",
                                           "ExternalName Service has no clusterIP"],
    "loopback-endpoint.yaml": ["EndpointSlice", "local-abc12", "endpoints[0].addresses[0]",
                               "loopback"],
    "link-local-endpoint.yaml": ["Endpoints", "metadata", "subsets[0].addresses[0].ip",
                                 "link-local"],
}
DOC_INDEX = re.compile(r"doc\w*\W{0,3}(#|index)?\W{0,3}[23]\b", re.I)


def refused(t, args, what, needles):
    ran = harness.run_binary(t.binary, [*args, "--listen", "127.0.0.1:0"])
    if not t.check(not ran.timed_out,
                   f"{what}: clusterdns kept running (it should refuse to start); "
                   f"stdout {ran.stdout!r}"):
        return None
    t.eq(ran.returncode, 1, f"{what}: exit code (stderr: {ran.stderr.strip()[-400:]})")
    t.eq(ran.stdout, "", f"{what}: stdout must stay empty")
    missing = [n for n in needles if n not in ran.stderr]
    t.check(not missing, f"{what}: stderr lacks {missing}\n  stderr: {ran.stderr.strip()[-600:]}")
    t.check("[ERROR]" in ran.stderr, f"{what}: no [ERROR] line on stderr: {ran.stderr[-300:]!r}")
    return ran


def scenario(t):
    files = sorted(p.name for p in BAD.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    t.eq([f for f in files if f not in EXPECT], [], "tests/data/bad files without an expectation")
    for name, needles in EXPECT.items():
        ran = refused(t, ["--manifests", BAD / name], name, [name, *needles])
        if ran is not None and name == "bad-endpoint-address.yaml":
            t.check(DOC_INDEX.search(ran.stderr),
                    f"{name}: stderr should name the document index (2 or 3): {ran.stderr[-400:]!r}")
    refused(t, ["--manifests", EXAMPLES, "--manifests", BAD / "bad-cluster-ip.yaml"],
            "examples/ plus one bad file", ["bad-cluster-ip.yaml", "clusterIP"])
    ran = refused(t, ["--manifests", BAD], "the whole tests/data/bad directory", [])
    if ran is not None:
        t.check(any(f in ran.stderr for f in files),
                f"directory of bad files: stderr names none of them: {ran.stderr[-400:]!r}")


if __name__ == "__main__":
    harness.main(__doc__, scenario)
