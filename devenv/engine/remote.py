"""What changes when the engine is not on this machine (``Engine.is_local`` false).

Its filesystem is not this one: working-tree mounts cannot work there (refused
before anything starts), and a port it publishes is on the engine host's
addresses, so URLs name that host.
"""

from __future__ import annotations

from ..errors import RemoteMountError
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
