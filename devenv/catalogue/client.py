"""A small client of the OCI distribution API (``/v2/``), on ``requests``.

What devenv needs and nothing more: ping, blob HEAD / GET (streamed, with Range
for resuming) / upload (POST then monolithic PUT), manifest PUT / GET, tag lists
(paginated). Authentication as registries ask for it: a ``401`` with
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` is answered by fetching
a token from the realm (with basic credentials, or an identity token as OAuth2
refresh token), ``Basic`` by sending the credentials; tokens are kept per
repository and fetched again when they expire (the next 401).

One ``requests.Session`` is not meant for several threads: parallel transfers
take one ``clone()`` each (they share credentials and tokens).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import urljoin

import requests

from ..digest import sha256_bytes
from .. import __version__
from .credentials import Credentials, lookup
from .errors import (CatalogueNotFoundError, DigestMismatchError, RegistryAuthError, RegistryError,
                     RegistryUnreachableError)
from .reference import RegistryRef

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST)
MAX_MANIFEST = 4 << 20      # the distribution spec's limit for manifests
_UNSET = object()


def sha256_digest(data: bytes) -> str:
    """An OCI digest string (``sha256:HEX``) of ``data``."""
    return "sha256:" + sha256_bytes(data)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed (" + (re.findall(r"\[SSL[^\]]*\] ([^(')\"]+)", text) or [text[-200:]])[0].strip() + ")"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer (timed out)"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip().rstrip(".").lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text or "ProtocolError" in text:
        return "the connection was closed by the registry"
    return text[-300:]


@dataclass
class _AuthState:
    """Shared between clones: tokens per repository, whether basic auth is in use."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, str] = field(default_factory=dict)
    basic: bool = False


class RegistryClient:
    def __init__(self, ref: RegistryRef, *, push: bool = False, credentials=_UNSET,
                 timeout: tuple[float, float] = (10, 120)):
        self.ref = ref
        self.actions = "pull,push" if push else "pull"
        self.credentials: Credentials | None = lookup(ref.auth_key) if credentials is _UNSET else credentials
        self.timeout = timeout
        self._auth = _AuthState()
        self.session = self._new_session()

    def _new_session(self) -> requests.Session:
        s = requests.Session()
        s.headers["User-Agent"] = f"devenv/{__version__}"
        s.trust_env = False if self.ref.loopback else True   # no proxies for this machine's registry
        return s

    def clone(self) -> "RegistryClient":
        other = object.__new__(RegistryClient)
        other.__dict__.update(self.__dict__)
        other.session = self._new_session()
        return other

    def close(self) -> None:
        self.session.close()

    # -- plumbing -------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.ref.base_url}/v2/{path.lstrip('/')}"

    def _auth_header(self, repo: str | None) -> str | None:
        with self._auth.lock:
            if self._auth.basic and self.credentials and self.credentials.username is not None:
                raw = f"{self.credentials.username}:{self.credentials.password or ''}".encode()
                return "Basic " + base64.b64encode(raw).decode()
            token = self._auth.tokens.get(repo or "")
        return f"Bearer {token}" if token else None

    def request(self, method: str, path: str, *, repo: str | None = None, ok: Iterable[int] = (200,),
                data=None, headers: dict | None = None, params: dict | None = None, stream: bool = False,
                what: str | None = None) -> requests.Response:
        """One API call; answers one authentication challenge; maps failures to typed errors.

        ``data`` may be a callable returning a fresh body (needed for the retry after a 401).
        """
        url = self.url(path)
        resp = None
        for attempt in range(2):
            hdrs = dict(headers or {})
            auth = self._auth_header(repo)
            if auth:
                hdrs["Authorization"] = auth
            body = data() if callable(data) else data
            try:
                resp = self.session.request(method, url, data=body, headers=hdrs, params=params, stream=stream,
                                            timeout=self.timeout, allow_redirects=True)
            except requests.RequestException as exc:
                raise RegistryUnreachableError(str(self.ref), _reason(exc), self._unreachable_hint(exc)) from None
            if resp.status_code == 401 and attempt == 0 and resp.headers.get("WWW-Authenticate"):
                challenge = resp.headers["WWW-Authenticate"]
                resp.close()
                self._authenticate(challenge, repo, what or path)
                continue
            break
        assert resp is not None
        if resp.status_code not in tuple(ok):
            try:
                raise self._error(resp, method, what or path)
            finally:
                resp.close()
        return resp

    def _unreachable_hint(self, exc: Exception) -> str | None:
        if isinstance(exc, requests.exceptions.SSLError) and not self.ref.insecure:
            return ("If it is a plain-HTTP registry, pass --insecure (plain HTTP is used without it "
                    "only for loopback registries).")
        return None

    def _error(self, resp: requests.Response, method: str, what: str) -> RegistryError:
        status = resp.status_code
        codes, messages = [], []
        try:
            for e in resp.json().get("errors", []):
                codes.append(e.get("code", ""))
                messages.append(e.get("message", "") or e.get("code", ""))
        except (ValueError, AttributeError):
            pass
        detail = "; ".join(m for m in messages if m) or (resp.reason or f"HTTP {status}")
        if status in (401, 403):
            who = f" as {self.credentials.username or 'token'} ({self.credentials.source})" if self.credentials else \
                " anonymously (no credentials for it in the Docker config)"
            verb = "push to" if method in ("POST", "PUT", "PATCH") else "read"
            return RegistryAuthError(
                f"registry {self.ref} refused to let devenv {verb} {what}{who}: {detail}",
                f"Log in with `{self.ref.login_command}` (devenv reads the Docker credentials), "
                "or ask for access to the namespace.")
        if status in (502, 503, 504):
            return RegistryUnreachableError(str(self.ref), f"it answered {status} {resp.reason} to {method} {what}")
        if status == 404:
            return CatalogueNotFoundError(f"registry {self.ref} has no {what} ({', '.join(codes) or 'not found'})")
        return RegistryError(f"registry {self.ref} answered {status} to {method} {what}: {detail}")

    def _authenticate(self, challenge: str, repo: str | None, what: str) -> None:
        scheme, params = parse_challenge(challenge)
        creds = self.credentials
        if scheme == "basic":
            if not creds or creds.username is None:
                raise RegistryAuthError(
                    f"registry {self.ref} wants a user and password for {what}, and the Docker config has none for it",
                    f"Log in with `{self.ref.login_command}`.")
            with self._auth.lock:
                self._auth.basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"registry {self.ref} asks for an authentication devenv does not speak: {challenge}")
        scope = f"repository:{repo}:{self.actions}" if repo else params.get("scope")
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        try:
            if creds and creds.identity_token:
                r = self.session.post(params["realm"], data=query | {
                    "grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": "devenv"},
                    timeout=self.timeout)
            else:
                auth = (creds.username, creds.password or "") if creds and creds.username is not None else None
                r = self.session.get(params["realm"], params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryUnreachableError(f"{self.ref} (token service {params['realm']})", _reason(exc)) from None
        if r.status_code != 200:
            raise RegistryAuthError(
                f"the token service of registry {self.ref} ({params['realm']}) refused "
                f"{'the credentials from ' + creds.source if creds else 'anonymous access'}: HTTP {r.status_code}",
                f"Log in with `{self.ref.login_command}`.")
        try:
            body = r.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryError(f"the token service of registry {self.ref} returned no token")
        with self._auth.lock:
            self._auth.tokens[repo or ""] = token

    # -- API ------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that an OCI registry answers at all (authentication is dealt with per repository)."""
        try:
            r = self.session.get(self.url(""), timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryUnreachableError(str(self.ref), _reason(exc), self._unreachable_hint(exc)) from None
        r.close()
        if r.status_code in (200, 401):
            return
        if r.status_code in (502, 503, 504):
            raise RegistryUnreachableError(str(self.ref), f"it answered {r.status_code} {r.reason}")
        raise RegistryError(f"{self.ref.base_url} is not an OCI registry: GET /v2/ answered {r.status_code}",
                            "Check --registry: HOST[:PORT] of a Docker/OCI distribution registry.")

    def blob_exists(self, repo: str, digest: str, size: int | None = None) -> bool:
        r = self.request("HEAD", f"{repo}/blobs/{digest}", repo=repo, ok=(200, 404), what=f"blob {digest}")
        r.close()
        if r.status_code != 200:
            return False
        length = r.headers.get("Content-Length")
        return size is None or length is None or int(length) == size

    def upload_blob(self, repo: str, digest: str, size: int, body: Callable[[], object] | bytes) -> None:
        """POST an upload session, then PUT the whole blob with its digest (the registry checks it)."""
        r = self.request("POST", f"{repo}/blobs/uploads/", repo=repo, ok=(202,), what=f"an upload to {repo}")
        r.close()
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"registry {self.ref} started an upload to {repo} without a Location")
        location = urljoin(self.url(f"{repo}/blobs/uploads/"), location)
        r = self.request("PUT", location, repo=repo, ok=(201,), params={"digest": digest},
                         data=body if callable(body) else (lambda: body),
                         headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                         what=f"blob {digest}")
        r.close()
        got = r.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry {self.ref} stored blob {digest} under digest {got}")

    def push_blob(self, repo: str, data: bytes) -> tuple[str, int]:
        """A small blob (config, entry): uploaded unless the registry has it. -> (digest, size)."""
        digest = sha256_digest(data)
        if not self.blob_exists(repo, digest, len(data)):
            self.upload_blob(repo, digest, len(data), data)
        return digest, len(data)

    def get_blob(self, repo: str, digest: str, offset: int = 0) -> requests.Response:
        """A streamed GET of a blob, from ``offset`` (206) when > 0; the caller closes it."""
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.request("GET", f"{repo}/blobs/{digest}", repo=repo, ok=(200, 206), headers=headers,
                            stream=True, what=f"blob {digest} in {repo}")

    def fetch_blob(self, repo: str, digest: str, max_size: int = MAX_MANIFEST) -> bytes:
        """A small blob, read whole and verified against its digest."""
        with self.get_blob(repo, digest) as r:
            data = r.raw.read(max_size + 1, decode_content=True)
        if len(data) > max_size:
            raise RegistryError(f"blob {digest} in {repo} is larger than {max_size} bytes; refused")
        got = sha256_digest(data)
        if got != digest:
            raise DigestMismatchError("blob", digest, got, f"{self.ref.host}/{repo}")
        return data

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        r = self.request("PUT", f"{repo}/manifests/{reference}", repo=repo, ok=(201,), data=body,
                         headers={"Content-Type": media_type}, what=f"manifest {repo}:{reference}")
        r.close()
        digest = sha256_digest(body)
        got = r.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry {self.ref} stored manifest {repo}:{reference} as {got}, not {digest}")
        return digest

    def get_manifest(self, repo: str, reference: str, accept: Iterable[str] = MANIFEST_TYPES,
                     what: str | None = None) -> tuple[dict, str, bytes]:
        """(parsed manifest, digest, raw bytes). A digest reference is verified against the bytes."""
        r = self.request("GET", f"{repo}/manifests/{reference}", repo=repo, ok=(200,),
                         headers={"Accept": ", ".join(accept)}, what=what or f"manifest {repo}:{reference}")
        with r:
            raw = r.content
        if len(raw) > MAX_MANIFEST:
            raise RegistryError(f"manifest {repo}:{reference} is larger than {MAX_MANIFEST} bytes; refused")
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatchError("manifest", reference, digest, f"{self.ref.host}/{repo}")
        try:
            doc = json.loads(raw)
        except ValueError:
            raise RegistryError(f"manifest {repo}:{reference} is not JSON") from None
        return doc, digest, raw

    def tags(self, repo: str) -> list[str]:
        """All tags of ``repo``; [] when the repository does not exist."""
        out: list[str] = []
        url: str | None = f"{repo}/tags/list?n=1000"
        while url:
            r = self.request("GET", url, repo=repo, ok=(200, 404), what=f"the tags of {repo}")
            with r:
                if r.status_code == 404:
                    return out
                try:
                    out += r.json().get("tags") or []
                except ValueError:
                    raise RegistryError(f"registry {self.ref}: the tag list of {repo} is not JSON") from None
                nxt = r.links.get("next", {}).get("url")
            url = urljoin(self.url(f"{repo}/tags/list"), nxt) if nxt else None
        return sorted(set(out))
