"""The Compose Specification document for a rendered stack.

Users can run the rendered stack with ``docker compose`` as is: images carry the
devenv tags and build contexts, volumes carry the same names devenv gives them (so
the database volume is shared with ``devenv up``), and ports bind to the same
addresses. Containers and networks get compose's own names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:
    from .render import Stack


def _duration(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _literal(value):
    """Compose interpolates `$VAR` in every string; `$$` is a literal dollar."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def compose_document(stack: "Stack") -> dict:
    profile = stack.profile
    services: dict = {}
    volumes: dict = {}
    for name in stack.order():
        sp = stack.services[name]
        s = sp.service
        doc: dict = {
            "image": sp.image.tag,
            "build": {"context": f"images/{name}", "dockerfile": "Dockerfile"},
            "labels": names.service_labels(profile.name, name, sp.config_hash, extra=False),
        }
        if s.command is not None:
            doc["command"] = _literal(list(s.command) if isinstance(s.command, tuple) else s.command)
        if s.user:
            doc["user"] = s.user
        if s.environment:
            doc["environment"] = _literal(dict(s.environment))
        if s.ports:
            doc["ports"] = [{"target": p.container, "published": str(p.host), "host_ip": p.host_ip,
                             "protocol": p.protocol} for p in s.ports]
        if s.volumes:
            doc["volumes"] = [{"type": "volume", "source": v.name, "target": v.target} for v in s.volumes]
            for v in s.volumes:
                volumes[v.name] = {"name": names.volume_name(profile.name, v.name),
                                   "labels": names.volume_labels(profile.name, v.name, extra=False)}
        if s.healthcheck:
            hc = s.healthcheck
            doc["healthcheck"] = {"test": _literal(list(hc.test)), "interval": _duration(hc.interval),
                                  "timeout": _duration(hc.timeout), "retries": hc.retries,
                                  "start_period": _duration(hc.start_period)}
        if s.depends_on:
            doc["depends_on"] = {
                dep: {"condition": "service_healthy" if profile.services[dep].healthcheck else "service_started"}
                for dep in s.depends_on
            }
        services[name] = doc
    out: dict = {"name": names.project(profile.name), "services": services}
    if volumes:
        out["volumes"] = dict(sorted(volumes.items()))
    return out
