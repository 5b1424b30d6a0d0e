"""A real OCI registry for the tests: Debian's ``docker-registry`` (distribution 2.8) on
127.0.0.1, with its own config and storage directory, started and stopped by the
tests. Port 5000 when free, else any free port.

Also ``Proxy``: an HTTP proxy in front of it that records every request and can cut
or stall blob downloads, to interrupt a pull at a known point.

    from tests.integration.registry import registry   # the fixture (module scope)

    def test_x(registry):
        registry.host            # "127.0.0.1:5000"
        registry.blob_file(d)    # the file holding blob d in the registry's storage

Used by bench/bench_pull.py too (``Registry(root).start()``).
"""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

BINARY = os.environ.get("DEVENV_TEST_REGISTRY", "docker-registry")
DEFAULT_PORT = 5000


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


from tests.ports import free_port  # noqa: E402  (the one free_port of the tests)


class Registry:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root)
        self.storage = self.root / "storage"
        self.config = self.root / "config.yml"
        self.log = self.root / "registry.log"
        self.wanted_port = port
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def blob_file(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def _write_config(self, port: int) -> None:
        self.config.write_text(f"""\
version: 0.1
log:
  level: warn
  accesslog: {{disabled: true}}
storage:
  filesystem: {{rootdirectory: {self.storage}}}
  delete: {{enabled: true}}
  maintenance: {{uploadpurging: {{enabled: false}}}}
http:
  addr: 127.0.0.1:{port}
  secret: devenv-tests-only
""")

    def start(self, timeout: float = 20) -> "Registry":
        exe = shutil.which(BINARY)
        if exe is None:
            raise RuntimeError(f"`{BINARY}` is not installed: the catalogue tests need Debian's docker-registry "
                               "(apt-get install docker-registry)")
        self.storage.mkdir(parents=True, exist_ok=True)
        candidates = [self.wanted_port] if self.wanted_port else ([DEFAULT_PORT] if _port_free(DEFAULT_PORT) else [])
        candidates += [free_port() for _ in range(3)]
        for port in candidates:
            self._write_config(port)
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen([exe, "serve", str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            self.port = port
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break            # e.g. the port was taken meanwhile: try the next one
                try:
                    with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise RuntimeError(f"docker-registry did not start; log {self.log}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A docker-registry serving on 127.0.0.1 for this test module; stopped at the end."""
    try:
        reg = Registry(tmp_path_factory.mktemp("registry")).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield reg
    reg.stop()


# -- a proxy that records requests and interrupts downloads ---------------------------

class Proxy:
    """HTTP proxy on 127.0.0.1 in front of ``target`` (host:port).

    ``requests`` records (method, path, Range header) of every request. With
    ``break_after=K``, the (K+1)th GET of a blob under a path containing ``match``
    sends its headers and ``cut`` bytes of the body, then either closes the
    connection (``mode="close"``), stalls (``mode="stall"``) until ``release()``, or
    closes it and hangs up on every later request without an answer, as a registry
    that went away (``mode="down"``); ``interrupted`` is set when that happened.

    ``shorten=(DIGEST, N)``: every GET of that blob announces the blob's full length
    (Content-Length kept) but sends it only up to byte N of the blob, then closes:
    a registry (or a proxy in front of it) that serves a short blob.
    """

    def __init__(self, target: str, *, match: str = "/blobs/sha256:", break_after: int | None = None,
                 cut: int = 0, mode: str = "close", shorten: tuple[str, int] | None = None):
        self.target = target
        self.match, self.break_after, self.cut, self.mode = match, break_after, cut, mode
        self.shorten = shorten
        self.down = threading.Event()
        self.requests: list[tuple[str, str, str | None]] = []
        self.interrupted = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._blob_gets = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _hang_up(self):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _forward(self):
                if proxy.down.is_set():
                    return self._hang_up()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, self.headers.get("Range")))
                    cut_here = False
                    if self.command == "GET" and proxy.match in self.path:
                        proxy._blob_gets += 1
                        cut_here = proxy.break_after is not None and proxy._blob_gets == proxy.break_after + 1
                conn = http.client.HTTPConnection(proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                data = resp.read()
                if resp.getheader("Content-Length") is None:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut_here:
                    self.wfile.write(data[:proxy.cut])
                    self.wfile.flush()
                    proxy.interrupted.set()
                    if proxy.mode == "stall":
                        proxy._released.wait(120)
                    if proxy.mode == "down":
                        proxy.down.set()
                    return self._hang_up()
                if proxy.shorten and self.command == "GET" and self.path.endswith("/blobs/" + proxy.shorten[0]):
                    rng = self.headers.get("Range")
                    start = int(rng.split("=")[1].split("-")[0]) if rng and resp.status == 206 else 0
                    self.wfile.write(data[:max(0, proxy.shorten[1] - start)])
                    self.wfile.flush()
                    return self._hang_up()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass    # clients that went away (the interrupted pull) are expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def blob_gets(self) -> list[tuple[str, str | None]]:
        """(digest, Range header) of every blob GET, in order."""
        return [(path.rsplit("/", 1)[1], rng) for method, path, rng in self.requests
                if method == "GET" and self.match in path]

    def release(self) -> None:
        self._released.set()

    def heal(self) -> None:
        """Answer again after ``mode="down"``."""
        self.down.clear()

    def __enter__(self) -> "Proxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
