"""What changes when the engine is not on this machine (``Engine.is_local`` false).

Its filesystem is not this one: working-tree mounts cannot work there (refused
before anything starts), and a port it publishes is on the engine host's
addresses, so URLs name that host.
"""

from __future__ import annotations

from typing import Callable

from ..errors import RemoteMountError
from ..profile.model import Port
from ..render import Stack
from .client import Engine


def check_source_mounts(engine: Engine, stack: Stack) -> None:
    """Refuse a stack with source mounts on a remote engine, naming each service and path."""
    if engine.is_local:
        return
    found = [(name, m.target, m.source) for name, sp in sorted(stack.services.items())
             for m in sp.service.mounts]
    if found:
        raise RemoteMountError(engine.url, found)


def url_host(engine: Engine, ip: str) -> str:
    """The host part of a URL for a port the engine published on ``ip``.

    On this machine: the address itself (0.0.0.0 and :: as 127.0.0.1). On a remote
    engine: the engine's host name, for an address on the engine host is one of
    that host (a loopback one is reached through it, e.g. ``ssh -L``)."""
    if engine.host:
        return engine.host
    return "127.0.0.1" if ip in ("0.0.0.0", "::", "") else ip


def remote_port_free(engine: Engine) -> Callable[[Port], bool]:
    """Whether a port is free on a remote engine's host, as far as the engine can tell:
    none of its containers publishes it (this machine's ports say nothing about that host)."""
    taken = {(p.get("IP") or "", p["PublicPort"]) for c in engine.api.containers()
             for p in c.get("Ports", []) if p.get("PublicPort")}

    def free(port: Port) -> bool:
        return not any(number == port.host and ip in (port.host_ip, "0.0.0.0", "::", "") for ip, number in taken)
    return free
