"""A second server on the fixed port of a running one fails to start, instead of quietly taking
half of its queries (SO_REUSEPORT on both would let the kernel split them).

Finds a free port P, starts clusterdns with --listen 127.0.0.1:P --workers 2 (the two workers still
share the port), then a second clusterdns on the same P:
- the second exits non-zero (1, like any socket failure) with "in use" in its error;
- the first answers 20 queries of 20 over UDP, and over TCP.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import EXAMPLES, build_query, free_port, parse_message, svc  # noqa: E402

API = svc("api-service")


def scenario(t):
    port = free_port()
    address = f"127.0.0.1:{port}"
    with t.server("--manifests", EXAMPLES, "--workers", "2", listen=(address,)) as srv:
        second = harness.run_binary(t.binary, ["--manifests", EXAMPLES, "--workers", "2",
                                               "--listen", address], timeout=10)
        t.check(not second.timed_out, "the second server does not start serving")
        t.eq(second.returncode, 1, "the second server exits with 1")
        t.check("in use" in second.stderr,
                f"its error says the address is in use: {second.stderr.strip()!r}")
        answers = 0
        for i in range(20):
            reply = srv.udp(build_query(API, "A", qid=i))
            if reply is not None and parse_message(reply).id == i:
                answers += 1
        t.eq(answers, 20, "the first server answers every UDP query")
        t.expect(srv.dig(API, "A", tcp=True), answer=[(API, "A", "10.96.10.100")])


harness.main(__doc__, scenario)
