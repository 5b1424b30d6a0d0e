"""The runtime settings of a service: declared once, read by the hash, the container
spec and the compose output.

Each ``Setting`` says, for one fact about how a service runs, three things: the
value that enters the service's settings hash (so a change recreates the
container), how it shapes the ``ContainerSpec`` that a runtime creates, and how it
appears in the rendered compose file. A new runtime setting is one entry here; the
model field it reads must be named in ``SETTINGS``, ``IMAGE_FIELDS`` or
``OTHER_FIELDS`` (a unit test fails otherwise), so none can be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .profile.model import Healthcheck, Service

# "ServicePlan" in the annotations is devenv.render.ServicePlan (which imports this
# module; named only in annotations, so there is no import circle)


def duration(seconds: float) -> str:
    """Compose's duration syntax: 1.5 -> '1500ms', 2.0 -> '2s'."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def literal(value):
    """Compose interpolates `$VAR` in every string; `$$` is a literal dollar."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    return value


def command_value(command: tuple[str, ...] | str | None) -> list[str] | str | None:
    return list(command) if isinstance(command, tuple) else command


def healthcheck_value(hc: Healthcheck | None) -> list | None:
    if hc is None:
        return None
    value = [list(hc.test), hc.interval, hc.timeout, hc.retries, hc.start_period]
    # appended only when declared: the hashes of the containers made before it stay the same
    return value + [hc.start_interval] if hc.start_interval is not None else value


@dataclass(frozen=True)
class Naming:
    """How a stack names its engine objects (volumes, networks): given by the caller,
    so that settings stay free of naming policy."""

    volume: Callable[[str], str]   # short volume name -> engine volume name
    source: Callable[[str], str] = lambda rel: rel   # project-relative mount source -> host path


@dataclass(frozen=True)
class Setting:
    """One runtime setting of a service."""

    name: str                                              # key in the settings hash
    fields: tuple[str, ...]                                # Service fields it reads ("" for plan-level facts)
    hash_value: Callable[["ServicePlan"], Any]
    spec: Callable[["ServicePlan", Naming], dict]          # ContainerSpec fields it sets
    compose: Callable[["ServicePlan", Naming], dict]       # compose service keys it sets


def _compose_ports(sp: "ServicePlan", _n: Naming) -> dict:
    ports = sp.service.ports
    if not ports:
        return {}
    # the short syntax: the long one's host_ip is unknown to docker-compose 1.29
    return {"ports": [f"{_ip(p.host_ip)}:{p.host}:{p.container}/{p.protocol}" for p in ports]}


def _ip(host_ip: str) -> str:
    return f"[{host_ip}]" if ":" in host_ip else host_ip


def _compose_volumes(sp: "ServicePlan", n: Naming) -> dict:
    if not sp.service.volumes:
        return {}
    return {"volumes": [{"type": "volume", "source": v.name, "target": v.target} for v in sp.service.volumes]}


def _compose_healthcheck(sp: "ServicePlan", _n: Naming) -> dict:
    hc = sp.service.healthcheck
    if hc is None:
        return {}
    return {"healthcheck": {"test": literal(list(hc.test)), "interval": duration(hc.interval),
                            "timeout": duration(hc.timeout), "retries": hc.retries,
                            "start_period": duration(hc.start_period)}}


SETTINGS: tuple[Setting, ...] = (
    Setting("image", (),
            lambda sp: sp.image.tag,
            lambda sp, n: {"image": sp.image.tag},
            lambda sp, n: {"image": sp.image.tag}),
    Setting("command", ("command",),
            lambda sp: sp.service.command,
            lambda sp, n: {"command": command_value(sp.service.command)},
            lambda sp, n: {} if sp.service.command is None else {"command": literal(command_value(sp.service.command))}),
    Setting("user", ("user",),
            lambda sp: sp.service.user,
            lambda sp, n: {"user": sp.service.user or ""},
            lambda sp, n: {"user": sp.service.user} if sp.service.user else {}),
    Setting("environment", ("environment",),
            lambda sp: list(sp.service.environment),
            lambda sp, n: {"environment": dict(sp.service.environment)},
            lambda sp, n: {"environment": literal(dict(sp.service.environment))} if sp.service.environment else {}),
    Setting("ports", ("ports",),
            lambda sp: [[p.host_ip, p.host, p.container, p.protocol] for p in sp.service.ports],
            lambda sp, n: {"ports": tuple(sp.service.ports)},
            _compose_ports),
    Setting("volumes", ("volumes",),
            lambda sp: [[v.name, v.target] for v in sp.service.volumes],
            lambda sp, n: {"volumes": tuple((n.volume(v.name), v.target) for v in sp.service.volumes)},
            _compose_volumes),
    Setting("healthcheck", ("healthcheck",),
            lambda sp: healthcheck_value(sp.service.healthcheck),
            lambda sp, n: {"healthcheck": sp.service.healthcheck},
            _compose_healthcheck),
    Setting("mounts", ("mounts",),
            lambda sp: [[m.target, m.source] for m in sp.service.mounts],
            lambda sp, n: {"mounts": tuple((n.source(m.source), m.target) for m in sp.service.mounts)},
            lambda sp, n: {"volumes": [{"type": "bind", "source": n.source(m.source), "target": m.target}
                                       for m in sp.service.mounts]} if sp.service.mounts else {}),
    # the dataset the database service holds: a changed dataset recreates that
    # container (the volume is kept; `up` then warns)
    Setting("dataset", (),
            lambda sp: sp.dataset,
            lambda sp, n: {},
            lambda sp, n: {}),
)

# Service fields that go into the image (its content hash), not the container.
IMAGE_FIELDS = ("recipe", "packages", "files", "copy")
# Service fields that are neither: identity, ordering, documentation, verification.
OTHER_FIELDS = ("name", "description", "depends_on", "verify", "listens")


def settings_values(sp: "ServicePlan") -> dict[str, Any]:
    """What the settings hash is computed from."""
    return {s.name: s.hash_value(sp) for s in SETTINGS}


def spec_fields(sp: "ServicePlan", naming: Naming) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in SETTINGS:
        out.update(s.spec(sp, naming))
    return out


def compose_fields(sp: "ServicePlan", naming: Naming) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in SETTINGS:
        for key, value in s.compose(sp, naming).items():
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = out[key] + value      # named volumes, then source mounts
            else:
                out[key] = value
    return out


def classified_fields() -> set[str]:
    declared = {f for s in SETTINGS for f in s.fields}
    return declared | set(IMAGE_FIELDS) | set(OTHER_FIELDS)


__all__ = ["IMAGE_FIELDS", "OTHER_FIELDS", "SETTINGS", "Naming", "Service", "Setting", "classified_fields",
           "compose_fields", "settings_values", "spec_fields"]
