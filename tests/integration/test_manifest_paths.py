"""--manifests PATH: files and directories (recursive; *.yaml, *.yml, *.json only), repeated flags.

tests/data/tree holds a Namespace (namespace.yaml), a Service in JSON (service.json), a Service in
nested/deeper/service.yml, a cert-manager Certificate (an unknown kind, skipped), and two files
that must be ignored: nested/README.txt (not YAML at
all) and nested/ignored.yaml.bak (a valid Service with the wrong extension).
- --manifests tests/data/tree: json-service and yml-service answer; backup-service: NXDOMAIN;
- --manifests FILE --manifests FILE (namespace.yaml + service.json): only those are loaded;
- --manifests examples --manifests tests/data/tree: both sets answer.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import DATA, EXAMPLES, svc  # noqa: E402

TREE = DATA / "tree"
JSON = svc("json-service", "tree")
YML = svc("yml-service", "tree")


def scenario(t):
    with t.server("--manifests", TREE) as srv:
        for tcp in (False, True):
            t.expect(srv.dig(JSON, "A", tcp=tcp), answer=[(JSON, "A", "10.96.30.1")])
            t.expect(srv.dig(YML, "A", tcp=tcp), answer=[(YML, "A", "10.96.30.2")])
            t.nxdomain(srv.dig(svc("backup-service", "tree"), "A", tcp=tcp))
            t.expect(srv.dig("_http._tcp." + JSON, "SRV", tcp=tcp),
                     answer=[("_http._tcp." + JSON, "SRV", "0 100 80 " + JSON)])

    with t.server("--manifests", TREE / "namespace.yaml", "--manifests", TREE / "service.json") \
            as srv:
        t.expect(srv.dig(JSON, "A"), answer=[(JSON, "A", "10.96.30.1")])
        t.nxdomain(srv.dig(YML, "A"))

    with t.server("--manifests", EXAMPLES, "--manifests", TREE) as srv:
        t.expect(srv.dig(JSON, "A"), answer=[(JSON, "A", "10.96.30.1")])
        t.expect(srv.dig(svc("api-service"), "A"),
                 answer=[(svc("api-service"), "A", "10.96.10.100")])


if __name__ == "__main__":
    harness.main(__doc__, scenario)
