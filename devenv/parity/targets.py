"""Fingerprint targets: any pytest-testinfra host, plus ``image://IMAGE``.

    docker://CONTAINER          a running container (docker exec)
    ssh://user@host[:port]      a production host (the ssh client, your ~/.ssh/config);
                                testinfra query options work: ?ssh_config=FILE&ssh_identity_file=KEY&sudo=true
    local://                    this machine
    image://IMAGE               devenv starts a throwaway container from IMAGE (idle, no
                                network), fingerprints it and removes it
    paramiko://, safe-ssh://, podman://, kubectl://, lxc://, ansible://   as testinfra has them
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .. import names
from ..engine import Engine
from .errors import TargetError
from .facts import CountingHost, gather
from .model import HostFingerprint

TESTINFRA_SCHEMES = ("docker", "ssh", "safe-ssh", "paramiko", "local", "podman", "kubectl", "lxc", "ansible")
SCHEMES = TESTINFRA_SCHEMES + ("image",)
FINGERPRINT_KIND = "fingerprint"


@dataclass(frozen=True)
class Target:
    spec: str
    scheme: str
    address: str  # what follows scheme://, query included

    @property
    def live(self) -> bool:
        """Running hosts have listening sockets and processes; an image container has neither."""
        return self.scheme != "image"

    @property
    def needs_engine(self) -> bool:
        """image:// starts a container; docker:// is looked up first, so a missing or
        stopped container is named as such instead of as a failed command."""
        return self.scheme in ("image", "docker")

    @property
    def default_name(self) -> str:
        """The key a fingerprint of this target gets in a file when no --service is given."""
        if self.scheme == "local":
            return "local"
        host = self.address.split("?", 1)[0]
        host = host.rsplit("@", 1)[-1]
        if self.scheme == "image":
            host = host.rsplit("/", 1)[-1].split(":", 1)[0]
        else:
            host = host.split(":", 1)[0] if not host.startswith("[") else host
        return host or self.scheme

    @classmethod
    def parse(cls, spec: str) -> "Target":
        scheme, sep, address = spec.partition("://")
        if not sep:
            raise TargetError(f"`{spec}` is not a target",
                              "Use docker://CONTAINER, ssh://user@host[:port], local:// or image://IMAGE.")
        if scheme not in SCHEMES:
            raise TargetError(f"`{spec}`: unknown target type `{scheme}://`",
                              f"Known: {', '.join(s + '://' for s in SCHEMES)}.")
        if scheme != "local" and not address.split("?", 1)[0]:
            raise TargetError(f"`{spec}`: {scheme}:// needs a {'image' if scheme == 'image' else 'host or container'} name")
        if scheme in SSH_SCHEMES:
            _check_port(spec, address)
        return cls(spec, scheme, address)

    @property
    def container(self) -> str:
        """docker://[user@]CONTAINER -> CONTAINER."""
        return self.address.split("?", 1)[0].rsplit("@", 1)[-1]


SSH_SCHEMES = ("ssh", "safe-ssh", "paramiko")


def _check_port(spec: str, address: str) -> None:
    """ssh://user@host:PORT: the port must be a number (ssh's own complaint is cryptic)."""
    host = address.split("?", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):  # [v6 address]:port
        port = host.partition("]")[2][1:] if host.partition("]")[2].startswith(":") else None
    else:
        port = host.partition(":")[2] if ":" in host else None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise TargetError(f"`{spec}`: port `{port}` is not a port number (1-65535)",
                          "Write ssh://user@host or ssh://user@host:PORT.")


@contextmanager
def connect(target: Target, engine: Engine | None = None) -> Iterator[CountingHost]:
    """A testinfra host for ``target``; for image:// the throwaway container lives as long as this."""
    import testinfra
    if target.scheme == "image":
        if engine is None:
            raise TargetError(f"{target.spec}: image targets need the Docker Engine")
        with throwaway_container(engine, target.address) as container:
            yield CountingHost(testinfra.get_host(engine.testinfra_spec(container, "root")), target.spec)
        return
    if target.scheme == "docker" and engine is not None:
        check_container(engine, target)
    try:
        host = testinfra.get_host("local://" if target.scheme == "local" else target.spec)
    except (RuntimeError, ValueError, ImportError) as exc:
        raise TargetError(f"{target.spec}: {exc}") from None
    yield CountingHost(host, target.spec)


def check_container(engine: Engine, target: Target) -> None:
    """A docker:// target must exist and run: `docker exec` would blame /bin/sh otherwise."""
    state = engine.container(target.container)
    if state is None:
        raise TargetError(f"{target.spec}: no container `{target.container}` on the Docker Engine",
                          "`docker ps` lists the running containers; devenv's are named "
                          "devenv-PROFILE-SERVICE (`devenv status PROFILE`).")
    if not state.running:
        raise TargetError(f"{target.spec}: container `{target.container}` is not running "
                          f"(state: {state.status})",
                          "Start it (`devenv up PROFILE` for devenv's containers), or fingerprint its "
                          "image instead: image://IMAGE.")


@contextmanager
def throwaway_container(engine: Engine, image: str) -> Iterator[str]:
    """An idle container of ``image`` (no network, not its own command), removed afterwards."""
    if engine.image(image) is None:
        raise TargetError(f"image {image} is not on the engine",
                          "Build it first (`devenv up PROFILE` builds a profile's images; "
                          "`devenv drift` builds missing ones itself) or load it (docker load).")
    name = f"devenv-fingerprint-{secrets.token_hex(6)}"
    engine.create_container(
        image, name=name, entrypoint=["sleep"], command=["infinity"], user="0", hostname="fingerprint",
        network=False, labels=names.extra_labels() | {names.MANAGED: "true", names.KIND: FINGERPRINT_KIND})
    try:
        engine.start(name)
        yield name
    finally:
        engine.remove_container(name)


def fingerprint(target: Target, paths: list[str] = (), engine: Engine | None = None) -> HostFingerprint:
    """Fingerprint one host: one command on it (plus creating/removing the container for image://)."""
    with connect(target, engine) as host:
        return gather(host, list(paths), live=target.live)
