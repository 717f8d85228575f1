"""The kubernetes source authenticates as client-go does, and refuses what it cannot do.

- kubeconfig, current context (a bearer token): synced, the fake logs user "token".
- `--context fake-cert` (client certificate files): user "client-cert:fake-admin".
- A kubeconfig with certificate-authority-data, client-certificate-data and client-key-data.
- $KUBECONFIG with no source flag.
- In-cluster: no source flag, KUBERNETES_SERVICE_HOST/PORT and a service account directory
  (CLUSTERDNS_SERVICE_ACCOUNT_DIR) with token and ca.crt. A wrong token first: 401 is logged, the
  token file is rewritten, and the source reads it again and syncs.
- Unsupported authentication (exec, auth-provider, username/password), a missing context, or a
  plain-http server: exit 2 at start with a message naming it, no listening line.
"""

import base64
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import kube  # noqa: E402
from kube import name, query, wait_answer  # noqa: E402


@contextlib.contextmanager
def environment(**values):
    """os.environ with `values` set (None: removed), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def users_after(api, seq):
    return {r["user"] for r in kube.requests_after(api, seq, "/api/v1/services")}


def served(t, api, what, args, user):
    seq = kube.last_seq(api)
    with t.server(*args) as srv:
        t.eq(query(srv, name("kubernetes")), ("NOERROR", ["10.96.0.1"]), f"{what}: synced")
    t.eq(users_after(api, seq), {user}, f"{what}: authenticated as")


def b64(path):
    return base64.b64encode(Path(path).read_bytes()).decode()


def write_kubeconfig(path, server, user):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: c", "  cluster:",
             f"    server: {server}"]
    lines += [f"    {k}: {v}" for k, v in user.pop("cluster", {}).items()]
    lines += ["users:", "- name: u", "  user:"]
    for key, value in user.items():
        if isinstance(value, dict):
            lines.append(f"    {key}:")
            lines += [f"      {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"    {key}: {value}")
    lines += ["contexts:", "- name: x", "  context: {cluster: c, user: u}", "current-context: x"]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def refused(t, args, needle, env=None):
    with environment(**(env or {})):
        ran = harness.run_binary(t.binary, [*args, "--listen", "127.0.0.1:0"])
    what = " ".join(map(str, args))
    t.eq(ran.returncode, 2, f"{what}: exit code (stderr {ran.stderr[-300:]!r})")
    t.check("listening on" not in ran.stdout, f"{what}: no listening line")
    t.check(needle in ran.stderr, f"{what}: stderr names it ({needle!r}): {ran.stderr[-300:]!r}")


def scenario(t):
    with kube.fake_api() as api, tempfile.TemporaryDirectory() as d:
        d = Path(d)
        served(t, api, "token", kube.server_args(api), "token")
        served(t, api, "client certificate", kube.server_args(api, "--context", "fake-cert"),
               "client-cert:fake-admin")
        inline = write_kubeconfig(d / "inline", api.url, {
            "cluster": {"certificate-authority-data": b64(api.ca_path)},
            "client-certificate-data": b64(api.client_cert),
            "client-key-data": b64(api.client_key)})
        served(t, api, "-data fields", ["--kubeconfig", inline], "client-cert:fake-admin")
        with environment(KUBECONFIG=str(api.kubeconfig)):
            served(t, api, "$KUBECONFIG", [], "token")

        # In cluster, with a wrong token first.
        account = d / "serviceaccount"
        account.mkdir()
        shutil.copy(api.ca_path, account / "ca.crt")
        (account / "token").write_text("not-the-token\n")
        seq = kube.last_seq(api)
        with environment(KUBERNETES_SERVICE_HOST="127.0.0.1",
                         KUBERNETES_SERVICE_PORT=str(api.port),
                         CLUSTERDNS_SERVICE_ACCOUNT_DIR=str(account), KUBECONFIG=None):
            with t.server("--startup-timeout", "1") as srv:
                kube.wait_for("a 401", lambda: any(
                    r["status"] == 401 for r in kube.requests_after(api, seq, "/api/v1/")))
                (account / "token").write_text(api.token + "\n")
                wait_answer(srv, name("kubernetes"), ["10.96.0.1"], timeout=30)
                t.check("HTTP 401" in srv.stderr_text(), "the 401 is logged")
                t.check("in-cluster config" in srv.stderr_text(), "the in-cluster config is named")

        for user, needle in (
                ({"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}},
                 "exec credential plugins are not supported"),
                ({"auth-provider": {"name": "gcp"}}, "auth-provider plugins are not supported"),
                ({"username": "admin", "password": "secret"}, "username/password")):
            refused(t, ["--kubeconfig", write_kubeconfig(d / "bad", api.url, user)], needle)
        refused(t, kube.server_args(api, "--context", "nope"), 'context "nope" not found')
        refused(t, ["--kubeconfig", write_kubeconfig(d / "http", "http://127.0.0.1:8080",
                                                     {"token": "x"})],
                "is not an https:// URL")
        refused(t, ["--kubeconfig", d / "absent"], "cannot read")


harness.main(__doc__, scenario)
