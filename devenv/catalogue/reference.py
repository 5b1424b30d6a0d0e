"""Where the catalogue lives: ``HOST[:PORT][/NAMESPACE]`` and the repositories in it.

Every repository devenv uses sits under the namespace (``NAMESPACE/NAME``, or
``NAME`` at the registry's root), one path level below it, so the layout works on
registries that allow only two levels (Docker Hub: ``user/devenv-web``):

    NAMESPACE/devenv-catalogue   one tag per entry: PROFILE or PROFILE-TAG
    NAMESPACE/devenv-snapshots   database snapshots (OCI artifacts), tagged like the entry
    NAMESPACE/devenv-imagesets   product image sets (OCI artifacts), tagged by image set id
    NAMESPACE/devenv-SERVICE     service images, tagged by their content hash (12 hex)

HTTPS by default; plain HTTP only for loopback registries (127.0.0.0/8, ::1,
localhost) or when the user says ``--insecure``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..errors import DevenvError

CATALOGUE_REPO = "devenv-catalogue"
SNAPSHOT_REPO = "devenv-snapshots"
IMAGESET_REPO = "devenv-imagesets"
IMAGE_REPO_PREFIX = "devenv-"

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"

_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def is_loopback(host: str) -> bool:
    """``host`` (without port) is this machine: localhost, 127.0.0.0/8 or ::1."""
    h = host.strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return hostport, None


@dataclass(frozen=True)
class RegistryRef:
    host: str             # as given (lowercased): 127.0.0.1:5000, ghcr.io, docker.io
    namespace: str = ""   # "" or "team" or "org/devenv"
    insecure: bool = False

    @classmethod
    def parse(cls, text: str | None, insecure: bool = False) -> "RegistryRef":
        if not text or not text.strip():
            raise DevenvError("no registry given",
                              "Pass --registry HOST[:PORT][/NAMESPACE] or set $DEVENV_REGISTRY.")
        raw = text.strip().rstrip("/")
        if "://" in raw:
            raise DevenvError(f"registry `{text}`: give HOST[:PORT][/NAMESPACE] without a scheme",
                              "devenv uses HTTPS; plain HTTP only for loopback registries or with --insecure.")
        host, _, namespace = raw.partition("/")
        if not _HOST_RE.match(host):
            raise DevenvError(f"registry `{text}`: `{host}` is not a HOST[:PORT]")
        _, port = split_host_port(host)
        if port is not None and not 0 < port < 65536:
            raise DevenvError(f"registry `{text}`: port {port} is out of range")
        for part in namespace.split("/") if namespace else []:
            if not _COMPONENT_RE.match(part):
                raise DevenvError(
                    f"registry `{text}`: namespace component `{part}` is not valid in an OCI repository name",
                    "Use lowercase letters, digits and single separators (. _ -), e.g. 127.0.0.1:5000/team.")
        host = host.lower()
        if host in ("index.docker.io", "registry-1.docker.io"):
            host = DOCKER_HUB
        return cls(host, namespace, insecure)

    # -- where to talk to ---------------------------------------------------------

    @property
    def hostname(self) -> str:
        return split_host_port(self.host)[0]

    @property
    def loopback(self) -> bool:
        return is_loopback(self.hostname)

    @property
    def scheme(self) -> str:
        return "http" if (self.loopback or self.insecure) else "https"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_host}"

    @property
    def auth_key(self) -> str:
        """The key the Docker config and credential helpers know this registry by."""
        return DOCKER_HUB_AUTH_KEY if self.host == DOCKER_HUB else self.host

    @property
    def login_command(self) -> str:
        return "docker login" if self.host == DOCKER_HUB else f"docker login {self.host}"

    # -- names ----------------------------------------------------------------------

    def repository(self, name: str) -> str:
        """Repository path in the registry's API: ``NAMESPACE/name``."""
        return f"{self.namespace}/{name}" if self.namespace else name

    def engine_name(self, name: str) -> str:
        """The repository as the Docker Engine names it: ``HOST/NAMESPACE/name``."""
        return f"{self.host}/{self.repository(name)}"

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}" if self.namespace else self.host


def image_repository(service: str) -> str:
    name = IMAGE_REPO_PREFIX + service
    if not _COMPONENT_RE.match(name):
        raise DevenvError(f"service `{service}`: its name cannot be a registry repository (`{name}`)",
                          "Registry repository names are lowercase letters, digits and . _ - separators.")
    return name


def catalogue_tag(profile: str, tag: str | None) -> str:
    """The tag of a catalogue entry: PROFILE, or PROFILE-TAG."""
    full = f"{profile}-{tag}" if tag else profile
    if not TAG_RE.match(full):
        what = f"profile `{profile}`" + (f" with tag `{tag}`" if tag else "")
        raise DevenvError(f"{what} cannot be a registry tag (`{full}`)",
                          "Tags are letters, digits, _ . - (at most 128 characters, not starting with . or -).")
    return full
