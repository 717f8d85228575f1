"""The kubernetes source follows the API: what `kubectl apply` changes, dig sees.

Against the fake API server (tests/fake_apiserver), with the kubeconfig it writes:
- the listening line comes after the first sync: Services, a headless Service's endpoints and
  the default `kubernetes` Service answer at once;
- a Service added answers, modified (a new named port) gets its SRV, deleted is NXDOMAIN;
- a headless Service scaled from 2 to 3 endpoints answers with 3; an endpoint turned unready
  leaves the answer; a slice that loses its service label takes its endpoints with it;
- `endpoint_pod_names`: an endpoint without hostname is named by its Pod;
- `--label-selector` is passed to the API as labelSelector and only matching Services answer;
  `--namespaces` exposes only those namespaces;
- `--manifests` with the API: the API's version of an object both define wins, manifest-only
  objects still answer;
- the requests are a paged list (limit=500) and a watch with allowWatchBookmarks from the list's
  resourceVersion; pods are watched only with `pods: verified`.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer  # noqa: E402


def follow_changes(t, api):
    seq = kube.last_seq(api)
    with t.server(*kube.server_args(api)) as srv:
        web_ip = kube.cluster_ip(api, "web", "prod")
        t.eq(query(srv, name("web", "prod")), ("NOERROR", [web_ip]), "web at start-up")
        t.eq(query(srv, name("db", "prod")), ("NOERROR", ["10.244.1.5", "10.244.1.6"]),
             "headless db at start-up")
        t.eq(query(srv, name("kubernetes")), ("NOERROR", ["10.96.0.1"]), "default/kubernetes")
        t.expect(srv.dig(name("db-0.db", "prod")),
                 answer=[(name("db-0.db", "prod"), "A", "10.244.1.5")])

        api.create(kube.service("api", "prod"))
        api_ip = kube.cluster_ip(api, "api", "prod")
        wait_answer(srv, name("api", "prod"), [api_ip])
        t.expect(srv.dig(name("api", "prod")), answer=[(name("api", "prod"), "A", api_ip)])

        api.update(kube.service("api", "prod", ports=(("http", 80), ("grpc", 9090)),
                                cluster_ip=api_ip))
        srv_name = f"_grpc._tcp.{name('api', 'prod')}"
        kube.wait_for("the new grpc port", lambda: query(srv, srv_name, "SRV")[0] == "NOERROR"
                      and query(srv, srv_name, "SRV")[1])
        t.expect(srv.dig(srv_name, "SRV"), srv_weight=False,
                 answer=[(srv_name, "SRV", f"0 * 9090 {name('api', 'prod')}.")])

        api.delete("Service", "prod", "api")
        wait_answer(srv, name("api", "prod"), None)
        t.nxdomain(srv.dig(name("api", "prod")))

        # Scale the headless Service: a third endpoint.
        api.update(kube.endpoint_slice("db", "prod", [
            ("10.244.1.5", True, "db-0", "db-0"), ("10.244.1.6", True, None, "db-1"),
            ("10.244.1.7", True, None, "db-2")]))
        wait_answer(srv, name("db", "prod"), ["10.244.1.5", "10.244.1.6", "10.244.1.7"])
        # One endpoint turns unready: it leaves the answer.
        api.update(kube.endpoint_slice("db", "prod", [
            ("10.244.1.5", True, "db-0", "db-0"), ("10.244.1.6", False, None, "db-1"),
            ("10.244.1.7", True, None, "db-2")]))
        wait_answer(srv, name("db", "prod"), ["10.244.1.5", "10.244.1.7"])
        t.expect(srv.dig(name("db", "prod")), answer=[
            (name("db", "prod"), "A", "10.244.1.5"), (name("db", "prod"), "A", "10.244.1.7")])
        # The slice loses its service label: nothing of it stays.
        unlinked = kube.endpoint_slice("db", "prod", [("10.244.1.5", True, "db-0", "db-0")])
        unlinked["metadata"]["labels"] = {"app": "db"}
        api.update(unlinked)
        wait_answer(srv, name("db", "prod"), None)

        lists = [r for r in api.requests(path="/api/v1/services") if not r["watch"]]
        watches = [r for r in api.requests(path="/api/v1/services") if r["watch"]]
        t.check(lists and lists[0]["query"].get("limit") == ["500"],
                f"the Services list is paged with limit=500: {lists[:1]}")
        t.check(watches and watches[0]["query"].get("allowWatchBookmarks") == ["true"]
                and watches[0]["query"].get("resourceVersion", [""])[0] != "",
                f"the watch asks for bookmarks from the list's resourceVersion: {watches[:1]}")
        t.check(not kube.requests_after(api, seq, "/api/v1/pods"),
                "pods are not watched by default")
        err = srv.stderr_text()
        t.check("[INFO] plugin/kubernetes: synced" in err, f"no synced line: {err[-500:]!r}")


def pod_names(t, api):
    with t.server(*kube.server_args(api, "--endpoint-pod-names", "true",
                                    "--pods", "verified")) as srv:
        # db-1 has no hostname: with endpoint_pod_names its Pod names it.
        t.expect(srv.dig(name("db-1.db", "prod")),
                 answer=[(name("db-1.db", "prod"), "A", "10.244.1.6")])
        t.expect(srv.dig(name("db-0.db", "prod")),
                 answer=[(name("db-0.db", "prod"), "A", "10.244.1.5")])
        t.check(api.requests(path="/api/v1/pods"), "pods verified: pods are listed and watched")


def selectors(t, api):
    api.create(kube.service("shown", "prod", labels={"dns": "yes"}))
    api.create(kube.service("hidden", "prod", labels={"dns": "no"}))
    api.create(kube.service("other", "dev", labels={"dns": "yes"}))
    seq = kube.last_seq(api)
    with t.server(*kube.server_args(api, "--label-selector", "dns=yes",
                                    "--namespaces", "prod")) as srv:
        t.eq(query(srv, name("shown", "prod"))[0], "NOERROR", "label matches: answers")
        t.eq(query(srv, name("hidden", "prod"))[0], "NXDOMAIN", "label differs: NXDOMAIN")
        t.eq(query(srv, name("other", "dev"))[0], "NXDOMAIN", "namespace not exposed: NXDOMAIN")
        api.create(kube.service("late", "prod", labels={"dns": "yes"}))
        api.create(kube.service("late", "dev", labels={"dns": "yes"}))
        wait_answer(srv, name("late", "prod"), [kube.cluster_ip(api, "late", "prod")])
        t.eq(query(srv, name("late", "dev"))[0], "NXDOMAIN", "a new Service of dev stays out")
        sent = kube.requests_after(api, seq, "/api/v1/services")
        t.check(sent and all(r["query"].get("labelSelector") == ["dns=yes"] for r in sent),
                f"every Services request carries labelSelector=dns=yes: "
                f"{[r['raw_query'] for r in sent]}")


def with_manifests(t, api):
    with tempfile.TemporaryDirectory() as d:
        manifest = Path(d) / "extra.yaml"
        manifest.write_text(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\n"
            "spec: {clusterIP: 10.96.99.99, ports: [{name: http, port: 80}]}\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata: {name: static, namespace: prod}\n"
            "spec: {clusterIP: 10.96.99.98, ports: [{name: http, port: 80}]}\n")
        with t.server("--manifests", manifest, *kube.server_args(api)) as srv:
            web_ip = kube.cluster_ip(api, "web", "prod")
            t.eq(query(srv, name("web", "prod")), ("NOERROR", [web_ip]),
                 "an object both define: the API's wins")
            t.eq(query(srv, name("static", "prod")), ("NOERROR", ["10.96.99.98"]),
                 "a manifest-only object answers")
            api.delete("Service", "prod", "web")
            # The API no longer defines it: the manifest's version shows through.
            wait_answer(srv, name("web", "prod"), ["10.96.99.99"])


def scenario(t):
    with kube.fake_api() as api:
        api.create(kube.service("web", "prod"))
        api.create(kube.service("db", "prod", headless=True))
        api.create(kube.endpoint_slice("db", "prod", [
            ("10.244.1.5", True, "db-0", "db-0"), ("10.244.1.6", True, None, "db-1")]))
        pod_names(t, api)
        follow_changes(t, api)
        selectors(t, api)
        with_manifests(t, api)


harness.main(__doc__, scenario)
