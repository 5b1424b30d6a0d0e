"""Names and labels of everything devenv creates on an engine.

Everything belongs to a ``Scope``: a project, one of its profiles, and an
instance of that profile. Containers, networks and volumes are named
``PROJECT-PROFILE[--INSTANCE]-THING`` and labelled with all three (plus the
project's root directory), the way Compose scopes by project name: two projects
with the same profile names, or two instances of one profile, never see, stop,
reuse or delete each other's things. Cleanup only ever touches what carries the
labels of its own scope.

The reference project is named ``devenv``, so its names are the ones devenv has
always used (``devenv-small-db-web``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PREFIX = "dev.devenv"
MANAGED = f"{PREFIX}.managed"
PROJECT = f"{PREFIX}.project"
PROJECT_ROOT = f"{PREFIX}.project-root"
PROFILE = f"{PREFIX}.profile"
INSTANCE = f"{PREFIX}.instance"
SERVICE = f"{PREFIX}.service"
VOLUME = f"{PREFIX}.volume"
CONFIG_HASH = f"{PREFIX}.config-hash"
IMAGE_HASH = f"{PREFIX}.image-hash"
KIND = f"{PREFIX}.kind"
OWNER = f"{PREFIX}.owner"

DEFAULT_INSTANCE = "default"
REFERENCE_PROJECT = "devenv"
INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Scope:
    """Whose things these are: a project's profile's instance."""

    project: str
    profile: str
    instance: str = DEFAULT_INSTANCE
    root: str = ""          # the project's root directory ("" when unknown: not checked)

    @property
    def key(self) -> str:
        """The prefix of every name in this scope."""
        base = f"{self.project}-{self.profile}"
        return base if self.instance == DEFAULT_INSTANCE else f"{base}--{self.instance}"

    @property
    def is_default(self) -> bool:
        return self.instance == DEFAULT_INSTANCE

    def labels(self) -> dict[str, str]:
        out = {MANAGED: "true", PROJECT: self.project, PROFILE: self.profile, INSTANCE: self.instance}
        if self.root:
            out[PROJECT_ROOT] = self.root
        return out

    def filters(self) -> list[str]:
        """Engine label filters that match this scope's objects, and no other's."""
        return [f"{MANAGED}=true", f"{PROJECT}={self.project}", f"{PROFILE}={self.profile}",
                f"{INSTANCE}={self.instance}"]

    def __str__(self) -> str:
        """How a user names this scope on the command line: `PROFILE [--name INSTANCE]`."""
        return self.profile if self.is_default else f"{self.profile} --name {self.instance}"


def as_scope(scope: "Scope | str") -> Scope:
    """A scope; a bare profile name means that profile of the reference project."""
    return scope if isinstance(scope, Scope) else Scope(REFERENCE_PROJECT, scope)


def project(scope: Scope | str) -> str:
    """The Compose project name of a scope's rendered stack."""
    return as_scope(scope).key


def container_name(scope: Scope | str, service: str) -> str:
    return f"{as_scope(scope).key}-{service}"


def network_name(scope: Scope | str) -> str:
    return as_scope(scope).key


def volume_name(scope: Scope | str, volume: str) -> str:
    return f"{as_scope(scope).key}-{volume}"


def extra_labels() -> dict[str, str]:
    """Labels from $DEVENV_LABELS ("k=v,k2=v2"), put on everything devenv creates.

    CI jobs and the integration tests use it to find and remove what they made.
    """
    out = {}
    for item in os.environ.get("DEVENV_LABELS", "").split(","):
        key, sep, value = item.strip().partition("=")
        if key and sep:
            out[key] = value
    return out


def service_labels(scope: Scope | str, service: str, config_hash: str, extra: bool = True) -> dict[str, str]:
    return (extra_labels() if extra else {}) | as_scope(scope).labels() | {SERVICE: service, CONFIG_HASH: config_hash}


def current_owner() -> str:
    """Who is running devenv: ``$DEVENV_OWNER``, else ``user@host``. The network and volumes of an
    instance carry it (``OWNER``, set when they are made): ``devenv ls`` shows it, and ``down`` of
    an instance someone else made needs ``--force`` (a shared instance on a team engine)."""
    import getpass
    import socket
    owner = os.environ.get("DEVENV_OWNER", "").strip()
    if owner:
        return owner
    try:
        user = getpass.getuser()
    except (KeyError, OSError):   # no name for this uid (a container's user)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def volume_labels(scope: Scope | str, volume: str, extra: bool = True) -> dict[str, str]:
    return (extra_labels() if extra else {}) | as_scope(scope).labels() | {VOLUME: volume, OWNER: current_owner()}


def network_labels(scope: Scope | str) -> dict[str, str]:
    return extra_labels() | as_scope(scope).labels() | {OWNER: current_owner()}


def helper_labels(scope: Scope | str, kind: str) -> dict[str, str]:
    return extra_labels() | as_scope(scope).labels() | {KIND: kind}


def service_image_labels(service: str) -> dict[str, str]:
    """The labels of a service image devenv builds. Its content hash is its tag's (a
    label inside the Dockerfile cannot hold the hash of that Dockerfile): the base
    image's hash label is cleared rather than inherited."""
    return {MANAGED: "true", KIND: "service", SERVICE: service, IMAGE_HASH: ""}
