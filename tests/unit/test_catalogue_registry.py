"""The OCI distribution client against an in-process fake registry on 127.0.0.1: blobs,
uploads, manifests, tag pages, Bearer-token and Basic authentication with Docker
credentials, error mapping. ``FakeRegistry`` is reused by the other catalogue unit tests.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import socket
import threading
import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from devenv.catalogue.client import OCI_MANIFEST, RegistryClient, parse_challenge, sha256_digest
from devenv.catalogue.credentials import Credentials
from devenv.catalogue.errors import (CatalogueNotFoundError, DigestMismatchError, RegistryAuthError, RegistryError,
                                     RegistryUnreachableError)
from devenv.catalogue.reference import RegistryRef

_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags)/?(?P<rest>[^?]*)$")


class FakeRegistry:
    """Just enough of the distribution API; ``auth`` = None, "bearer" or "basic"."""

    def __init__(self, auth: str | None = None, users: dict[str, str] | None = None, page: int | None = None):
        self.auth = auth
        self.users = users if users is not None else {"alice": "s3cret"}
        self.page = page
        self.blobs: dict[str, bytes] = {}
        self.served: dict[str, bytes] = {}          # digest -> bytes to serve instead (tampering)
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.tags: dict[str, set[str]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.token_requests: list[dict] = []
        self.valid_tokens: set[str] = set()
        self.ignore_range = False
        # digest -> [byte, times]: a GET of that blob announces its whole length but stops at
        # that byte of the blob and closes the connection (times: how many GETs; None: every one)
        self.cut: dict[str, list] = {}
        self.down = False                           # close every connection without an answer
        self._uploads: dict[str, str] = {}
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and body:
                    self.wfile.write(body)

            def error(self, status, code, message=""):
                self.reply(status, json.dumps({"errors": [{"code": code, "message": message}]}).encode(),
                           {"Content-Type": "application/json"})

            def hang_up(self):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def send_cut(self, data: bytes, start: int, stop: int, status: int, headers: dict):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:max(start, stop)])
                self.wfile.flush()
                self.hang_up()

            def handle_any(self):
                if reg.down:
                    return self.hang_up()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reg.requests.append((self.command, self.path, dict(self.headers)))
                url = urlparse(self.path)
                if url.path == "/token":
                    return self.token(parse_qs(url.query), parse_qs(body.decode()) if body else {})
                if url.path == "/v2/":
                    return self.reply(200, b"{}") if self.authorized(None, False) else self.challenge(None, False)
                m = _PATH.match(url.path)
                if not m:
                    return self.error(404, "NOT_FOUND")
                repo, kind, rest = m.group("repo"), m.group("kind"), m.group("rest")
                write = self.command in ("POST", "PUT", "PATCH", "DELETE")
                if not self.authorized(repo, write):
                    return self.challenge(repo, write)
                query = parse_qs(url.query)
                if kind == "blobs":
                    data = reg.served.get(rest, reg.blobs.get(rest))
                    if data is None:
                        return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                    rng = self.headers.get("Range")
                    start = int(rng.split("=")[1].rstrip("-")) if rng and not reg.ignore_range else 0
                    cut = reg.cut.get(rest)
                    if cut and self.command == "GET" and cut[1] != 0:
                        if cut[1] is not None:
                            cut[1] -= 1
                        extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {}
                        return self.send_cut(data, start, cut[0], 206 if start else 200, extra)
                    if rng and not reg.ignore_range and self.command == "GET":
                        return self.reply(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                    return self.reply(200, data, {"Docker-Content-Digest": rest, "Content-Length": str(len(data))})
                if kind == "blobs/uploads":
                    if self.command == "POST":
                        uid = uuid.uuid4().hex
                        reg._uploads[uid] = repo
                        return self.reply(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}?_state=x"})
                    digest = query.get("digest", [""])[0]
                    if rest not in reg._uploads or query.get("_state") != ["x"]:
                        return self.error(404, "BLOB_UPLOAD_UNKNOWN")
                    if sha256_digest(body) != digest:
                        return self.error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
                    reg.blobs[digest] = body
                    return self.reply(201, headers={"Docker-Content-Digest": digest, "Location": f"/v2/{repo}/blobs/{digest}"})
                if kind == "manifests":
                    if self.command == "PUT":
                        digest = sha256_digest(body)
                        doc = json.loads(body)
                        for d in [doc["config"]] + doc.get("layers", []):
                            if d["digest"] not in reg.blobs:
                                return self.error(400, "MANIFEST_BLOB_UNKNOWN", d["digest"])
                        reg.manifests[(repo, digest)] = (body, self.headers["Content-Type"])
                        if not rest.startswith("sha256:"):
                            reg.manifests[(repo, rest)] = (body, self.headers["Content-Type"])
                            reg.tags.setdefault(repo, set()).add(rest)
                        return self.reply(201, headers={"Docker-Content-Digest": digest})
                    found = reg.manifests.get((repo, rest))
                    if found is None:
                        return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                    return self.reply(200, found[0], {"Content-Type": found[1],
                                                      "Docker-Content-Digest": sha256_digest(found[0])})
                if kind == "tags":
                    if repo not in reg.tags:
                        return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
                    tags = sorted(reg.tags[repo])
                    last = query.get("last", [None])[0]
                    if last:
                        tags = [t for t in tags if t > last]
                    n = min(int(query.get("n", ["1000"])[0]), reg.page or 1000)
                    headers = {"Content-Type": "application/json"}
                    if len(tags) > n:
                        headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={tags[n - 1]}>; rel="next"'
                    return self.reply(200, json.dumps({"name": repo, "tags": tags[:n]}).encode(), headers)

            def authorized(self, repo, write) -> bool:
                header = self.headers.get("Authorization", "")
                if reg.auth is None:
                    return True
                if reg.auth == "basic":
                    if not header.startswith("Basic "):
                        return False
                    user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                    return reg.users.get(user) == pw
                token = header[7:] if header.startswith("Bearer ") else ""
                if token not in reg.valid_tokens:
                    return False
                if repo is None:
                    return True
                scope = token.split("|", 1)[1]
                _, name, actions = scope.split(":")
                return name == repo and (not write or "push" in actions.split(","))

            def challenge(self, repo, write):
                if reg.auth == "basic":
                    return self.reply(401, b"", {"WWW-Authenticate": 'Basic realm="fake"'})
                scope = f',scope="repository:{repo}:{"pull,push" if write else "pull"}"' if repo else ""
                host = self.headers["Host"]
                self.reply(401, json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
                           .encode(), {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="fake"{scope}',
                                       "Content-Type": "application/json"})

            def token(self, query, form):
                reg.token_requests.append({"query": query, "form": form, "auth": self.headers.get("Authorization")})
                header = self.headers.get("Authorization", "")
                if form.get("grant_type") == ["refresh_token"]:
                    ok = form.get("refresh_token") == ["refresh-me"]
                elif header.startswith("Basic "):
                    user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                    ok = reg.users.get(user) == pw
                else:
                    ok = "anonymous" in reg.users
                if not ok:
                    return self.reply(401, b"")
                scope = (query.get("scope") or form.get("scope") or [""])[0]
                token = f"{uuid.uuid4().hex}|{scope}"
                reg.valid_tokens.add(token)
                key = "access_token" if form else "token"
                self.reply(200, json.dumps({key: token}).encode(), {"Content-Type": "application/json"})

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def blob_gets(self, repo_part: str = "") -> list[tuple[str, str | None]]:
        return [(urlparse(p).path.rsplit("/", 1)[1], h.get("Range")) for m, p, h in self.requests
                if m == "GET" and "/blobs/sha256:" in p and repo_part in p]


@pytest.fixture
def fake():
    reg = FakeRegistry()
    yield reg
    reg.close()


def client_for(reg: FakeRegistry, ns: str = "team", push: bool = True, credentials=None) -> RegistryClient:
    return RegistryClient(RegistryRef.parse(f"{reg.host}/{ns}"), push=push, credentials=credentials)


def manifest_for(client: RegistryClient, repo: str, data: bytes) -> bytes:
    digest, size = client.push_blob(repo, data)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/x-test", "digest": digest, "size": size},
                       "layers": []}).encode()


# -- plain API -------------------------------------------------------------------------

def test_blobs_manifests_and_tags(fake):
    c = client_for(fake)
    c.ping()
    repo = "team/things"
    digest, size = c.push_blob(repo, b"hello")
    assert (digest, size) == (sha256_digest(b"hello"), 5)
    assert c.blob_exists(repo, digest, 5) and not c.blob_exists(repo, digest, 6)
    uploads = len([r for r in fake.requests if r[0] == "PUT"])
    c.push_blob(repo, b"hello")                     # there already: HEAD only, no upload
    assert len([r for r in fake.requests if r[0] == "PUT"]) == uploads
    assert c.fetch_blob(repo, digest) == b"hello"
    with c.get_blob(repo, digest, 2) as r:
        assert r.status_code == 206 and r.content == b"llo"

    body = manifest_for(c, repo, b"config")
    mdigest = c.put_manifest(repo, "v1", body)
    doc, got, raw = c.get_manifest(repo, "v1")
    assert got == mdigest == sha256_digest(body) and raw == body and doc["config"]["size"] == 6
    assert c.get_manifest(repo, mdigest)[1] == mdigest

    with pytest.raises(CatalogueNotFoundError, match="no manifest team/things:v2"):
        c.get_manifest(repo, "v2")
    assert c.tags("team/nothing") == []


def test_tags_follow_pagination():
    reg = FakeRegistry(page=2)
    try:
        c = client_for(reg)
        body = manifest_for(c, "team/r", b"x")
        for t in ("a", "b", "c", "d", "e"):
            c.put_manifest("team/r", t, body)
        assert c.tags("team/r") == ["a", "b", "c", "d", "e"]
        assert sum(1 for m, p, _ in reg.requests if "/tags/list" in p) == 3
    finally:
        reg.close()


def test_tampered_blob_and_manifest_are_refused(fake):
    c = client_for(fake)
    digest, _ = c.push_blob("team/r", b"genuine")
    fake.served[digest] = b"forgery"
    with pytest.raises(DigestMismatchError) as exc:
        c.fetch_blob("team/r", digest)
    assert exc.value.exit_code == 1 and digest in str(exc.value) and "nothing was installed" in str(exc.value)

    body = manifest_for(c, "team/r", b"cfg")
    mdigest = c.put_manifest("team/r", "t", body)
    fake.manifests[("team/r", mdigest)] = (body.replace(b"cfg", b"CFG") + b" ", OCI_MANIFEST)
    with pytest.raises(DigestMismatchError, match="manifest"):
        c.get_manifest("team/r", mdigest)


def test_unreachable_registry_names_it_and_the_reason():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = RegistryClient(RegistryRef.parse(f"127.0.0.1:{port}/ns"), credentials=None)
    with pytest.raises(RegistryUnreachableError) as exc:
        c.ping()
    assert exc.value.exit_code == 2
    assert f"cannot reach the registry 127.0.0.1:{port}/ns: connection refused" in str(exc.value)


def test_a_web_server_is_not_a_registry(tmp_path):
    import functools
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        c = RegistryClient(RegistryRef.parse(f"127.0.0.1:{srv.server_address[1]}"), credentials=None)
        with pytest.raises(RegistryError, match="is not an OCI registry"):
            c.ping()
    finally:
        srv.shutdown()
        srv.server_close()


def test_upload_rejected_by_registry_is_an_error(fake):
    c = client_for(fake)
    with pytest.raises(RegistryError, match="DIGEST_INVALID|did not match"):
        c.upload_blob("team/r", sha256_digest(b"other"), 4, b"data")


# -- authentication --------------------------------------------------------------------

def test_challenge_parsing():
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                                     'scope="repository:team/app:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:team/app:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_bearer_token_flow_with_credentials():
    reg = FakeRegistry(auth="bearer")
    try:
        c = client_for(reg, credentials=Credentials("alice", "s3cret", source="test"))
        c.ping()
        digest, _ = c.push_blob("team/r", b"data")
        assert c.fetch_blob("team/r", digest) == b"data"
        assert reg.token_requests, "no token was fetched"
        first = reg.token_requests[0]
        assert first["auth"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
        assert first["query"]["scope"] == ["repository:team/r:pull,push"] and first["query"]["service"] == ["fake"]
        assert len(reg.token_requests) == 1          # the token is reused for the repository
        # the token expires: the next 401 fetches a new one, once
        reg.valid_tokens.clear()
        assert c.fetch_blob("team/r", digest) == b"data"
        assert len(reg.token_requests) == 2
        # a clone (parallel transfers) shares the tokens
        clone = c.clone()
        assert clone.fetch_blob("team/r", digest) == b"data" and len(reg.token_requests) == 2
    finally:
        reg.close()


def test_identity_token_is_a_refresh_token():
    reg = FakeRegistry(auth="bearer")
    try:
        c = client_for(reg, push=False, credentials=Credentials(identity_token="refresh-me", source="test"))
        assert c.tags("team/none") == []
        form = reg.token_requests[0]["form"]
        assert form["grant_type"] == ["refresh_token"] and form["scope"] == ["repository:team/none:pull"]
    finally:
        reg.close()


def test_bearer_without_credentials_says_docker_login():
    reg = FakeRegistry(auth="bearer")
    try:
        c = client_for(reg, credentials=None)
        c.ping()    # /v2/ answering 401 is a registry that answers
        with pytest.raises(RegistryAuthError) as exc:
            c.push_blob("team/r", b"data")
        text = str(exc.value)
        assert exc.value.exit_code == 2 and "anonymous access" in text and f"docker login {reg.host}" in text
    finally:
        reg.close()


def test_wrong_password_is_refused_clearly():
    reg = FakeRegistry(auth="bearer")
    try:
        c = client_for(reg, credentials=Credentials("alice", "wrong", source="~/.docker/config.json"))
        with pytest.raises(RegistryAuthError, match=r"refused the credentials from ~/.docker/config.json"):
            c.tags("team/r")
    finally:
        reg.close()


def test_basic_auth():
    reg = FakeRegistry(auth="basic")
    try:
        c = client_for(reg, credentials=Credentials("alice", "s3cret", source="test"))
        digest, _ = c.push_blob("team/r", b"data")
        assert c.fetch_blob("team/r", digest) == b"data"
        with pytest.raises(RegistryAuthError, match="wants a user and password"):
            client_for(reg, credentials=None).tags("team/r")
        with pytest.raises(RegistryAuthError, match="docker login"):
            client_for(reg, credentials=Credentials("alice", "nope", source="test")).tags("team/r")
    finally:
        reg.close()
