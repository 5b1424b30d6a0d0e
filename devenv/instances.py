"""Instances of a profile: host ports of their own and the address they are bound on,
kept across restarts.

The first (default) instance publishes the profile's host ports as declared; a
taken one is an error naming it (``up`` checks every port before it starts
anything). Another instance (``--name NAME``) tries the profile's ports too, and
takes a free port on the same address for each one that is taken.

``up --expose ADDR`` binds every published port of the instance on ADDR (an IP
address of the engine's host; 0.0.0.0 or :: for all of its interfaces) instead of
the address the profile gives (127.0.0.1 unless it names one). Both facts are
written to ``<cache>/instances/<project>/<profile>--<instance>.json`` and reused by
every later ``up`` of that instance (its URLs stay the same, and an ``up`` without
``--expose`` keeps the address; ``--expose 127.0.0.1`` returns to loopback). The
address becomes each ``Port.host_ip`` of the stack, the one field the settings hash,
the container spec and the compose output read: a changed address recreates the
containers that publish ports.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ExposeError
from .names import Scope
from .paths import cache_dir
from .profile.model import Port
from .render import ServicePlan, Stack

WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class InstanceState:
    """What is remembered of an instance: its chosen host ports and the address they bind."""

    ports: dict[str, int] = field(default_factory=dict)   # "service/container/protocol" -> host port
    expose: str | None = None                            # None: the profile's addresses


def _state_file(scope: Scope) -> Path:
    return cache_dir() / "instances" / scope.project / f"{scope.profile}--{scope.instance}.json"


def _key(service: str, p: Port) -> str:
    return f"{service}/{p.container}/{p.protocol}"


def load_state(scope: Scope) -> InstanceState:
    try:
        doc = json.loads(_state_file(scope).read_text())
        ports = {k: int(v) for k, v in doc.get("ports", {}).items()}
        expose = doc.get("expose")
        return InstanceState(ports, expose_address(expose) if isinstance(expose, str) else None)
    except (OSError, ValueError, AttributeError, ExposeError):
        return InstanceState()


def save_state(scope: Scope, state: InstanceState) -> None:
    path = _state_file(scope)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    doc: dict = {"ports": dict(sorted(state.ports.items()))}
    if state.expose is not None:
        doc["expose"] = state.expose
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def forget(scope: Scope) -> None:
    _state_file(scope).unlink(missing_ok=True)


def expose_address(value: str) -> str:
    """``value`` as an IP address literal in its normal form (``::0001`` -> ``::1``),
    or an ``ExposeError``: a host name is refused (it may resolve to several addresses,
    and differently on the engine's host)."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ExposeError(value, "not an IP address") from None
    if address.is_multicast:
        raise ExposeError(value, "a multicast address, not one of a host")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def check_local_address(value: str) -> None:
    """Refuse an address this machine has none of (for an engine on this machine:
    binding there would fail as a "taken" port)."""
    family = socket.AF_INET6 if ":" in value else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((value, 0))
        except OSError as exc:
            raise ExposeError(value, f"not an address of this machine, where the engine runs ({exc.strerror})") \
                from None


def port_free(p: Port, host: int | None = None) -> bool:
    kind = socket.SOCK_STREAM if p.protocol == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in p.host_ip else socket.AF_INET
    with socket.socket(family, kind) as s:
        # as servers do (docker-proxy too): a port in TIME_WAIT is free to listen on
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((p.host_ip, p.host if host is None else host))
        except OSError:
            return False
    return True


def free_port(p: Port) -> int:
    """An ephemeral port number free on ``p``'s address here (on any address when this
    machine has not that one: an address of a remote engine's host)."""
    kind = socket.SOCK_STREAM if p.protocol == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in p.host_ip else socket.AF_INET
    with socket.socket(family, kind) as s:
        try:
            s.bind((p.host_ip, 0))
        except OSError:
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        return s.getsockname()[1]


def overlaps(ip_a: str, ip_b: str) -> bool:
    """Whether ports bound on the two addresses collide (the same one, or either is a wildcard)."""
    return ip_a == ip_b or ip_a in WILDCARDS or ip_b in WILDCARDS


def with_instance_ports(stack: Stack, held_by_own: Callable[[Port], bool] = lambda p: False,
                        is_free: Callable[[Port], bool] = port_free, expose: str | None = None,
                        remember: bool = True) -> Stack:
    """``stack`` with the host ports and the address its instance uses.

    ``expose``: the address to bind every published port on from now on (None: the
    one remembered, else the profile's). The default instance keeps the profile's
    port numbers; another one keeps the numbers it chose before and takes a free one
    for each that is taken. ``held_by_own(port)`` says whether the instance's own
    container already publishes it (then it is not "taken"); ``is_free(port)``:
    whether the engine's host can publish it (this machine's ports by default; a
    remote engine's own containers say it for its host). The choice is saved for
    the next ``up`` unless ``remember`` is false (a dry run).
    """
    scope = stack.scope
    saved = load_state(scope)
    address = saved.expose if expose is None else expose_address(expose)
    if scope.is_default and address is None:
        return stack
    chosen: dict[str, int] = {}
    services = {}
    for name, sp in stack.services.items():
        ports = []
        for p in sp.service.ports:
            p = p if address is None else dataclasses.replace(p, host_ip=address)
            key = _key(name, p)
            candidate = p if scope.is_default else dataclasses.replace(p, host=saved.ports.get(key, p.host))
            if not scope.is_default and not held_by_own(candidate) and not is_free(candidate):
                for _ in range(100):   # free here (an ephemeral port), and free on the engine's host
                    candidate = dataclasses.replace(p, host=free_port(p))
                    if is_free(candidate):
                        break
            if not scope.is_default:
                chosen[key] = candidate.host
            ports.append(candidate)
        service = dataclasses.replace(sp.service, ports=tuple(ports))
        services[name] = ServicePlan(service, sp.image, sp.dataset)
    state = InstanceState(chosen, address)
    if remember and state != saved:
        save_state(scope, state)
    return dataclasses.replace(stack, services=services)


__all__ = ["InstanceState", "WILDCARDS", "check_local_address", "expose_address", "forget", "free_port",
           "load_state", "overlaps", "port_free", "save_state", "with_instance_ports"]
