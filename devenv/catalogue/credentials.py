"""Registry credentials from the Docker config, found the way the docker CLI finds them.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``):

* ``credHelpers[HOST]`` names a helper for that registry, else ``credsStore`` one for
  all: ``docker-credential-NAME get`` reads the server on stdin and prints
  ``{"Username", "Secret"}`` (Username ``<token>`` means Secret is an identity token);
* ``auths[HOST]``: ``auth`` = base64("user:password") (what ``docker login`` writes
  without a helper), or ``username``/``password``, or ``identitytoken``.

Keys in ``auths`` may carry a scheme and a path (``https://index.docker.io/v1/``);
they are compared by host. A helper that is not installed or has no entry falls
back to ``auths``; no entry at all means anonymous access.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import DevenvError


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None   # OAuth2 refresh token (docker login with a token helper)
    source: str = ""                    # where they came from, for messages

    def engine_auth(self) -> dict | None:
        """The X-Registry-Auth payload for the Engine's push/pull."""
        if self.identity_token:
            return {"identitytoken": self.identity_token}
        if self.username is not None:
            return {"username": self.username, "password": self.password or ""}
        return None


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def _host_of(key: str) -> str:
    k = key.strip().lower()
    if "://" in k:
        k = k.split("://", 1)[1]
    return k.split("/", 1)[0]


def _load_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DevenvError(f"the Docker config {path} is unreadable: {exc}",
                          "Fix or remove it (docker login rewrites it).") from None
    return data if isinstance(data, dict) else {}


def _same_registry(key: str, auth_key: str) -> bool:
    a, b = _host_of(key), _host_of(auth_key)
    hub = {"index.docker.io", "docker.io", "registry-1.docker.io"}
    return a == b or (a in hub and b in hub)


def _from_helper(helper: str, server: str) -> Credentials | None:
    exe = shutil.which(f"docker-credential-{helper}")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "get"], input=server, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevenvError(f"credential helper docker-credential-{helper} failed: {exc}") from None
    if r.returncode != 0:
        if "not found" in (r.stdout + r.stderr).lower():
            return None
        raise DevenvError(f"credential helper docker-credential-{helper} failed for {server}: "
                          f"{(r.stderr or r.stdout).strip()[:300]}")
    try:
        data = json.loads(r.stdout)
    except ValueError:
        raise DevenvError(f"credential helper docker-credential-{helper} printed no JSON for {server}") from None
    user, secret = data.get("Username"), data.get("Secret")
    if not secret:
        return None
    source = f"docker-credential-{helper}"
    if user == "<token>":
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=user, password=secret, source=source)


def _from_auths(auths: dict, auth_key: str, path: Path) -> Credentials | None:
    for key, entry in auths.items():
        if not isinstance(entry, dict) or not _same_registry(key, auth_key):
            continue
        source = f"{path} (auths.{key})"
        if entry.get("identitytoken"):
            return Credentials(identity_token=entry["identitytoken"], source=source)
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise DevenvError(f"{path}: auths.{key}.auth is not base64 of user:password") from None
            return Credentials(username=user, password=password, source=source)
        if entry.get("username"):
            return Credentials(username=entry["username"], password=entry.get("password", ""), source=source)
    return None


def lookup(auth_key: str, path: Path | None = None) -> Credentials | None:
    """The credentials for the registry known as ``auth_key`` (host[:port], or Docker Hub's key)."""
    path = path or config_path()
    cfg = _load_config(path)
    helpers = cfg.get("credHelpers") or {}
    helper = next((h for k, h in helpers.items() if _same_registry(k, auth_key)), None) or cfg.get("credsStore")
    if helper:
        creds = _from_helper(helper, auth_key)
        if creds is not None:
            return creds
    return _from_auths(cfg.get("auths") or {}, auth_key, path)
