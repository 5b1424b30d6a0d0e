"""What a runtime is asked to create for one service: a neutral container spec.

Built from the declared settings (``devenv.settings``) plus the stack's naming and
labels; a runtime (today ``devenv.engine``, the Docker Engine) translates it into
its own API calls. Nothing here knows the Docker SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import names
from .compose_identity import identity_labels
from .profile.model import Healthcheck, Port
from .render import ServicePlan, Stack
from .settings import spec_fields


@dataclass(frozen=True)
class Bind:
    """A host path mounted into the container (the dataset for seeding, a source tree)."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    hostname: str
    image: str
    network: str
    aliases: tuple[str, ...]
    labels: dict[str, str]
    command: list[str] | str | None = None
    user: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()     # (engine volume name, target)
    binds: tuple[Bind, ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()      # source mounts: (host path, target), read-write
    healthcheck: Healthcheck | None = None


def container_spec(stack: Stack, sp: ServicePlan, binds: tuple[Bind, ...] = ()) -> ContainerSpec:
    s = sp.service
    return ContainerSpec(
        name=names.container_name(stack.scope, s.name),
        hostname=s.name,
        network=names.network_name(stack.scope),
        aliases=(s.name,),
        labels=names.service_labels(stack.scope, s.name, sp.config_hash) | {names.IMAGE_HASH: sp.image.hash}
        | identity_labels(stack.scope, s.name),   # the editor attaches to it (devenv.compose_identity)
        binds=binds,
        **spec_fields(sp, stack.naming()),
    )
