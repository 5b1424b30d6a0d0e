"""What changes when the engine is not on this machine (``Engine.is_local`` false).

Its filesystem is not this one: working-tree mounts cannot work there (refused
before anything starts), and a port it publishes is on the engine host's
addresses, so URLs name that host.
"""

from __future__ import annotations

import ipaddress
from typing import Callable

from ..errors import RemoteMountError
from ..instances import WILDCARDS, overlaps
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
    """The host part of a URL for a port the engine published on ``ip`` (IPv6 in brackets).

    A wildcard (0.0.0.0, ::; every interface of the engine's host): on this machine
    its loopback, 127.0.0.1; on a remote engine the engine's host name. A loopback
    address: on this machine the address itself; on a remote engine the engine's host
    name too (its loopback is reached through that host, e.g. ``ssh -L``). Any other
    address (``up --expose ADDR``): the address itself, wherever the engine is."""
    if ip in WILDCARDS:
        name = engine.host or "127.0.0.1"
    else:
        try:
            loopback = ipaddress.ip_address(ip).is_loopback
        except ValueError:
            loopback = False
        name = engine.host if loopback and engine.host else ip
    return f"[{name}]" if ":" in name else name


def remote_port_free(engine: Engine) -> Callable[[Port], bool]:
    """Whether a port is free on a remote engine's host, as far as the engine can tell:
    none of its containers publishes it on an address that collides with the port's
    (this machine's ports say nothing about that host)."""
    taken = {(p.get("IP") or "", p["PublicPort"]) for c in engine.api.containers()
             for p in c.get("Ports", []) if p.get("PublicPort")}

    def free(port: Port) -> bool:
        return not any(number == port.host and overlaps(ip, port.host_ip) for ip, number in taken)
    return free
