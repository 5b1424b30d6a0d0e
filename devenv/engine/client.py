"""The Docker client, held by composition and passed in.

``Engine`` wraps a ``docker.DockerClient``; everything else in ``devenv.engine``
receives an ``Engine`` (tests hand in a fake client at the SDK boundary).

Which engine: ``--engine URL``, else ``$DOCKER_HOST``, else the current Docker
context (``$DOCKER_CONTEXT`` or ``currentContext`` of ~/.docker/config.json, its
endpoint and TLS material under ~/.docker/contexts/), else the local socket: the
order the Docker CLI uses. ``unix://`` is this machine; ``tcp://`` (TLS from
$DOCKER_CERT_PATH / $DOCKER_TLS_VERIFY or the context) and ``ssh://user@host``
(paramiko through docker-py; host keys from ~/.ssh/known_hosts, unknown or changed
keys refused) are engines whose filesystem is not this machine's: ``is_local``
tells the data paths to go through the API (``seeding``, ``clones``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import docker
import docker.errors
from urllib3.connectionpool import HTTPConnectionPool

from ..errors import EngineConfigError, EngineHostKeyError, EngineTLSError, EngineUnreachableError
from ..interrupts import shield_pool
from .runtime import DockerRuntime

shield_pool(HTTPConnectionPool)   # a Ctrl-C never lands inside the pool's lock (see interrupts)

DEFAULT_URL = "unix:///var/run/docker.sock"
SCHEMES = ("unix", "tcp", "ssh")
# seconds to wait for the first answer: an address that swallows packets fails fast
CONNECT_TIMEOUT = 15


@dataclass
class Engine(DockerRuntime):
    """A connected Docker Engine: the ``Runtime`` (devenv.engine.runtime) the rest of devenv uses."""

    client: docker.DockerClient
    url: str = DEFAULT_URL
    source: str = "the default socket"   # what chose it: --engine, $DOCKER_HOST, a Docker context

    @property
    def api(self) -> docker.APIClient:
        """The SDK's low-level client: for devenv.engine's own modules only (see runtime.py)."""
        return self.client.api

    @property
    def is_local(self) -> bool:
        """The engine shares this machine's filesystem (a local socket): bind mounts of local
        paths and local volume paths work. Everything else goes through the API."""
        return is_local_url(self.url)

    @property
    def host(self) -> str | None:
        """The engine's host name as the URL gives it; None for this machine's socket."""
        return None if self.is_local else (urlsplit(self.url).hostname or None)

    def __str__(self) -> str:
        return self.url


def is_local_url(url: str) -> bool:
    return url.startswith("unix://")


@dataclass(frozen=True)
class Target:
    """The engine chosen, before connecting."""

    url: str
    source: str
    tls: object | None = None        # docker.tls.TLSConfig for tcp://
    cert_path: str | None = None     # where the TLS files came from (for errors)


def docker_config_dir(env=os.environ) -> Path:
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")


def check_url(url: str, source: str) -> str:
    """``url`` when it is an engine URL devenv can use; else an EngineConfigError naming it."""
    parts = urlsplit(url)
    ok = parts.scheme in SCHEMES and (parts.path if parts.scheme == "unix" else parts.hostname)
    if parts.scheme == "tcp" and ok:
        try:
            ok = parts.port is not None
        except ValueError:
            ok = False
    if not ok:
        raise EngineConfigError(
            f"{source}: `{url}` is not a Docker Engine URL",
            "Use unix:///path/to/docker.sock, tcp://HOST:PORT (TLS from $DOCKER_CERT_PATH/$DOCKER_TLS_VERIFY) "
            "or ssh://USER@HOST[:PORT].")
    return url


def resolve(url: str | None = None, env=os.environ) -> Target:
    """Which engine to use and how (see the module docstring for the order)."""
    if url:
        return _with_env_tls(check_url(url, "--engine"), "--engine", env)
    if env.get("DOCKER_HOST"):
        return _with_env_tls(check_url(env["DOCKER_HOST"], "$DOCKER_HOST"), "$DOCKER_HOST", env)
    context = env.get("DOCKER_CONTEXT") or _current_context(env)
    if context and context != "default":
        return _context_target(context, env)
    return Target(DEFAULT_URL, "the default socket")


def _current_context(env) -> str | None:
    config = docker_config_dir(env) / "config.json"
    try:
        return json.loads(config.read_text()).get("currentContext") or None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EngineConfigError(f"{config}: cannot read the Docker CLI's configuration: {exc}") from None


def _context_target(name: str, env) -> Target:
    """The docker endpoint of Docker context ``name`` (meta.json, TLS files beside it)."""
    key = hashlib.sha256(name.encode()).hexdigest()
    base = docker_config_dir(env) / "contexts"
    meta_file = base / "meta" / key / "meta.json"
    source = f"Docker context {name}"
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        raise EngineConfigError(
            f"the current Docker context `{name}` does not exist (no {meta_file})",
            "`docker context ls` lists the contexts; `docker context use default` goes back to the local engine, "
            "or choose one with --engine URL.") from None
    except (OSError, ValueError) as exc:
        raise EngineConfigError(f"{meta_file}: cannot read Docker context `{name}`: {exc}") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host")
    if not host:
        raise EngineConfigError(f"{meta_file}: Docker context `{name}` has no docker endpoint (Endpoints.docker.Host)")
    check_url(host, source)
    tls_dir = base / "tls" / key / "docker"
    if not host.startswith("tcp://") or not tls_dir.is_dir():
        return Target(host, source)
    files = {f: tls_dir / f for f in ("ca.pem", "cert.pem", "key.pem")}
    verify = not endpoint.get("SkipTLSVerify", False)
    tls = _tls_config(host, source, str(tls_dir),
                      client_cert=(str(files["cert.pem"]), str(files["key.pem"]))
                      if files["cert.pem"].exists() and files["key.pem"].exists() else None,
                      ca_cert=str(files["ca.pem"]) if verify and files["ca.pem"].exists() else None,
                      verify=verify)
    return Target(host, source, tls, str(tls_dir))


def _with_env_tls(url: str, source: str, env) -> Target:
    """TLS for a tcp:// URL as the Docker CLI takes it from the environment."""
    cert_path = env.get("DOCKER_CERT_PATH") or None
    verify = env.get("DOCKER_TLS_VERIFY", None)
    verify = verify is not None and verify != ""
    if not url.startswith("tcp://") or not (cert_path or verify):
        return Target(url, source)
    cert_dir = cert_path or str(Path.home() / ".docker")
    files = {f: os.path.join(cert_dir, f) for f in ("ca.pem", "cert.pem", "key.pem")}
    tls = _tls_config(url, source, cert_dir, client_cert=(files["cert.pem"], files["key.pem"]),
                      ca_cert=files["ca.pem"], verify=verify)
    return Target(url, source, tls, cert_dir)


def _tls_config(url: str, source: str, cert_dir: str, **kwargs):
    import docker.tls
    for path in [p for p in (*(kwargs.get("client_cert") or ()), kwargs.get("ca_cert")) if p]:
        if not os.path.isfile(path):
            raise EngineTLSError(url, f"the TLS file {path} does not exist", source, cert_dir)
    try:
        return docker.tls.TLSConfig(**kwargs)
    except docker.errors.TLSParameterError as exc:
        raise EngineTLSError(url, str(exc), source, cert_dir) from None


def connect(timeout: int = 300, url: str | None = None) -> Engine:
    """Connect to the engine ``url`` (else as the environment names it) and check it answers."""
    target = resolve(url)
    try:
        client = _client(target, timeout)
    except EngineUnreachableError:
        raise
    except Exception as exc:   # the SDK's, requests', paramiko's and the socket's errors: classified below
        raise _unreachable(target, exc) from None
    return Engine(client, target.url, target.source)


def _client(target: Target, timeout: int) -> docker.DockerClient:
    from docker.constants import DEFAULT_DOCKER_API_VERSION
    # the first request (the API version) with a short timeout; then the caller's for builds etc.
    client = docker.DockerClient(base_url=target.url, tls=target.tls or False, timeout=min(timeout, CONNECT_TIMEOUT),
                                 use_ssh_client=False, version=DEFAULT_DOCKER_API_VERSION)
    if target.tls is not None:
        # requests lets $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE replace the engine's CA (its
        # trust_env); the Docker CLI trusts the CA of the Docker config only, and so does devenv
        client.api.trust_env = False
    _one_pool(client.api, local_socket=target.url.startswith(("unix:", "ssh:")))
    client.api._version = client.api._retrieve_server_version()   # what version=None does, after the above
    client.ping()
    client.api.timeout = timeout
    return client


def _one_pool(api: docker.APIClient, local_socket: bool) -> None:
    """One connection pool per engine. docker-py keys the pools of its unix and ssh adapters
    by the whole request URL (path and query), so almost every call opened a new pool and a
    new connection, and closed one of the 25 it keeps (27 connections for one `up`). Over a
    socket or ssh, no proxy applies either: requests' per-call walk of the environment for
    proxy settings (trust_env) is skipped there."""
    adapter = getattr(api, "_custom_adapter", None)
    if adapter is not None and hasattr(adapter, "pools"):
        by_url = adapter.get_connection
        adapter.get_connection = lambda url, proxies=None: by_url("http+docker://localhost", proxies)
    if local_socket:
        api.trust_env = False


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _unreachable(target: Target, exc: BaseException) -> EngineUnreachableError:
    """The one-paragraph error for a failed first contact, by what failed."""
    chain = list(_chain(exc))
    kinds = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    if "BadHostKeyException" in kinds:
        return EngineHostKeyError(target.url, "the host key differs from the one in known_hosts "
                                              "(it changed, or another machine answers)", target.source)
    if "not found in known_hosts" in text:
        return EngineHostKeyError(target.url, "the host is not in known_hosts", target.source)
    if "AuthenticationException" in kinds or "Authentication failed" in text:
        return EngineUnreachableError(target.url, "ssh authentication failed", source=target.source, hint=(
            "devenv logs in with your ssh agent or ~/.ssh/id_* keys (and IdentityFile of ~/.ssh/config); "
            "check that `ssh USER@HOST docker version` works without a password prompt."))
    if "SSLError" in kinds or "SSL" in text and target.url.startswith("tcp://"):
        reason = "the TLS handshake failed"
        for marker in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "unknown ca", "bad certificate",
                       "certificate required"):
            if marker.lower() in text.lower():
                reason += f" ({marker})"
                break
        return EngineTLSError(target.url, reason, target.source, target.cert_path)
    if "No such file" in text or "FileNotFoundError" in kinds:
        detail = "no engine is listening there"
    elif "Permission denied" in text:
        detail = "permission denied (add your user to the `docker` group, or run as root)"
    elif "Connection refused" in text or "ConnectionRefusedError" in kinds or "NoValidConnectionsError" in kinds:
        detail = "connection refused"
    elif "timed out" in text.lower() or "Timeout" in " ".join(kinds):
        detail = f"no answer within {CONNECT_TIMEOUT} s"
    elif "Name or service not known" in text or "gaierror" in kinds:
        detail = "the host name does not resolve"
    elif target.url.startswith("ssh://") and ("docker" in text and "not found" in text or "dial-stdio" in text):
        detail = "ssh works, but the host has no `docker` CLI to reach its engine"
    else:
        detail = str(chain[-1] if chain else exc).strip().splitlines()[0][:300] if str(exc) else type(exc).__name__
    return EngineUnreachableError(target.url, detail, source=target.source)
