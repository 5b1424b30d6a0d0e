"""The Kubernetes target on the wire: the REAL clients (the ``kubernetes`` package's
``CoreV1Api`` and websocket exec channel, testinfra's kubectl backend with the real
``kubectl`` binary) against an HTTP server on 127.0.0.1 that records each request and
answers as the API server does (discovery, a pod, a chunked log, an exec channel in
``v4.channel.k8s.io`` frames).

This is no cluster: it shows that devenv's calls become the API requests a cluster
expects (paths, container, command, context) and that the answers come back as
devenv reads them (bytes, exit codes). Whether a real API server and kubelet then
do the right thing was not tested here (no cluster can run on this machine).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import shutil
import struct
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import testinfra

from devenv.kube import deploy, session
from devenv.kube.session import Pod
from devenv.parity.usertests import run_user_tests

NS = "devenv-small-db"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NONZERO_3 = {"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: exit code 3",
             "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
API_RESOURCES = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]},
    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}]}


def frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """A server-to-client websocket frame (unmasked)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
    return head + payload


class FakeApiServer:
    """Records ``(method, path, query)`` of every request; ``exec_frames`` and ``log_chunks``
    say what an exec and a log answer; an exec refused with ``exec_refusal`` (kubectl)."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.exec_frames: list[tuple[int, bytes]] = []
        self.log_chunks: list[bytes] = []
        self.exec_refusal = "exec refused by the test server"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, code, doc):
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self):
                url = urlsplit(self.path)
                server.requests.append((self.command, url.path, parse_qs(url.query)))
                if url.path == "/version":   # the kubectl dispatcher asks which kubectl to run
                    return self._json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4"})
                if url.path == "/api":
                    return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.headers["Host"]}]})
                if url.path == "/apis":
                    return self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
                if url.path == "/api/v1":
                    return self._json(200, API_RESOURCES)
                parts = url.path.strip("/").split("/")   # api v1 namespaces NS pods POD [exec|log]
                if len(parts) == 6 and parts[4] == "pods":
                    return self._json(200, {"kind": "Pod", "apiVersion": "v1",
                                            "metadata": {"name": parts[5], "namespace": parts[3]},
                                            "spec": {"containers": [{"name": "db", "image": "devenv/db:1"}]},
                                            "status": {"phase": "Running"}})
                if parts[-1] == "log":
                    return self._log()
                if parts[-1] == "exec" and self.headers.get("Upgrade", "").lower() == "websocket" \
                        and "v4.channel.k8s.io" in self.headers.get("Sec-WebSocket-Protocol", "") \
                        and server.exec_frames:
                    return self._exec()
                self._json(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "message": server.exec_refusal, "reason": "Forbidden", "code": 403})

            do_GET = do_POST = handle_any

            def _log(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in server.log_chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _exec(self):
                accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest())
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept.decode())
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
                self.end_headers()
                for channel, data in server.exec_frames:
                    self.wfile.write(frame(bytes([channel]) + data))
                self.wfile.write(frame(struct.pack("!H", 1000), opcode=0x8))
                self.wfile.flush()
                self.connection.settimeout(2)
                try:
                    self.connection.recv(64)   # the client's closing frame
                except OSError:
                    pass
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def last(self, suffix: str) -> tuple[str, str, dict]:
        return [r for r in self.requests if r[1].endswith(suffix)][-1]


def kubeconfig(tmp_path: Path, server_url: str) -> Path:
    """Two contexts: the current one points nowhere, ``fake`` at the test's server."""
    path = tmp_path / "kubeconfig"
    path.write_text(f"""\
apiVersion: v1
kind: Config
clusters:
- {{name: nowhere, cluster: {{server: "http://127.0.0.1:1"}}}}
- {{name: fake, cluster: {{server: "{server_url}"}}}}
users:
- {{name: u, user: {{token: abc}}}}
contexts:
- {{name: other, context: {{cluster: nowhere, user: u}}}}
- {{name: fake, context: {{cluster: fake, user: u}}}}
current-context: other
""")
    return path


@pytest.fixture
def api(tmp_path, monkeypatch):
    with FakeApiServer() as server:
        config = kubeconfig(tmp_path, server.url)
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.setenv("HOME", str(tmp_path))   # kubectl's discovery cache, not the user's
        server.clients = deploy.connect(context="fake", config_file=str(config))
        yield server


def test_exec_through_the_real_websocket_channel_passes_bytes_and_the_exit_code(api):
    api.exec_frames = [(1, b"hello\n"), (2, b"warning\n"), (1, b"\x00\xffbinary"),
                       (3, json.dumps(NONZERO_3).encode())]
    out, err = io.BytesIO(), io.BytesIO()
    code = session.exec_in(api.clients, Pod("db-0", NS, "db", "fake"), ["sh", "-c", "echo hello; exit 3"], out, err,
                           poll=0.2)
    assert (code, out.getvalue(), err.getvalue()) == (3, b"hello\n\x00\xffbinary", b"warning\n")
    method, path, query = api.last("/exec")
    assert (method, path) == ("GET", f"/api/v1/namespaces/{NS}/pods/db-0/exec")
    assert query == {"command": ["sh", "-c", "echo hello; exit 3"], "container": ["db"], "stderr": ["true"],
                     "stdin": ["false"], "stdout": ["true"], "tty": ["false"]}


def test_exec_through_the_real_channel_of_a_command_that_succeeds_is_0(api):
    api.exec_frames = [(1, b"ok\n"), (3, b'{"metadata":{},"status":"Success"}')]
    out = io.BytesIO()
    assert session.exec_in(api.clients, Pod("db-0", NS, "db", "fake"), ["true"], out, io.BytesIO(), poll=0.2) == 0
    assert out.getvalue() == b"ok\n"


def test_an_exec_the_cluster_refuses_through_the_real_channel_is_a_typed_error(api):
    api.exec_frames = []    # the server answers 403 to the websocket upgrade
    with pytest.raises(deploy.KubeApiError) as exc:
        session.exec_in(api.clients, Pod("db-0", NS, "db", "fake"), ["true"], io.BytesIO(), io.BytesIO())
    assert exc.value.exit_code == 2
    assert exc.value.message == ("exec in pod devenv-small-db/db-0 (db): the cluster refused (403 Forbidden): "
                                 "exec refused by the test server")


def test_an_exec_on_a_server_that_does_not_answer_says_so(api, tmp_path):
    clients = deploy.connect(context="other", config_file=str(tmp_path / "kubeconfig"))   # 127.0.0.1:1
    with pytest.raises(deploy.KubeApiError) as exc:
        session.exec_in(clients, Pod("db-0", NS, "db", "other"), ["true"], io.BytesIO(), io.BytesIO())
    assert exc.value.exit_code == 2 and "the cluster does not answer (" in exc.value.message
    assert "Connection refused" in exc.value.message and "kubectl cluster-info" in exc.value.hint


def test_a_followed_log_streams_the_chunks_through_the_real_client(api):
    api.log_chunks = [b"first line\n", b"second \xff line\n"]
    out = io.BytesIO()
    session.stream_logs(api.clients, Pod("db-0", NS, "db", "fake"), out, follow=True, tail=2)
    assert out.getvalue() == b"first line\nsecond \xff line\n"
    _, path, query = api.last("/log")
    assert path == f"/api/v1/namespaces/{NS}/pods/db-0/log"
    assert query == {"container": ["db"], "follow": ["true"], "tailLines": ["2"]}


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary")


@needs_kubectl
def test_testinfras_kubectl_backend_sends_the_exec_to_the_specs_context_namespace_pod_and_container(api):
    """The real kubectl, run by testinfra from devenv's host spec: it asks the ``fake``
    context's server (the current context points nowhere) for the pod, then for the exec
    of ``/bin/sh -c CMD`` in container ``db``, which the server refuses. No pass is
    faked: the command fails with the server's refusal."""
    host = testinfra.get_host(Pod("db-0", NS, "db", "fake").host_spec())
    result = host.run("cat /etc/os-release")
    assert result.rc != 0 and api.exec_refusal in result.stderr
    assert ("GET", f"/api/v1/namespaces/{NS}/pods/db-0", {}) in api.requests
    _, path, query = api.last("/exec")
    assert path == f"/api/v1/namespaces/{NS}/pods/db-0/exec"
    assert query["container"] == ["db"] and query["command"] == ["/bin/sh", "-c", "cat /etc/os-release"]


@needs_kubectl
def test_user_tests_on_kubectl_hosts_are_reported_once_per_service(api, tmp_path):
    """One testinfra file bound to two services' pods: pytest names the host parameter
    ``kubectl://POD`` (no query), and each result lands on its own service."""
    checks = tmp_path / "checks.py"
    checks.write_text("def test_os_release(host):\n    assert host.file('/etc/os-release').exists\n")
    hosts = {"db": Pod("db-0", NS, "db", "fake").host_spec(), "web": Pod("web-5f-x", NS, "web", "fake").host_spec()}
    out = run_user_tests({"db": [checks], "web": [checks]}, hosts, tmp_path)
    assert {svc: [(r.check, r.ok) for r in results] for svc, results in out.items()} == {
        "db": [("test checks.py::test_os_release", False)], "web": [("test checks.py::test_os_release", False)]}
    pods_asked = {p for _, p, _ in api.requests if p.endswith("/exec")}
    assert pods_asked == {f"/api/v1/namespaces/{NS}/pods/db-0/exec", f"/api/v1/namespaces/{NS}/pods/web-5f-x/exec"}


def test_the_plugin_binds_a_file_to_a_spec_with_a_query():
    """devenv's pytest plugin splits FILE=SPEC before the spec's scheme, not at a query's `=`."""
    from devenv.parity.pytest_plugin import bindings
    spec = Pod("db-0", NS, "db", "fake").host_spec()
    assert bindings([f"a=b.py={spec}", "c.py=docker://x"]) == {str(Path("a=b.py").resolve()): [spec],
                                                                str(Path("c.py").resolve()): ["docker://x"]}
