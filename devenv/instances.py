"""Instances of a profile: host ports of their own, kept across restarts.

The first (default) instance publishes the profile's host ports as declared; a
taken one is an error naming it (``up`` checks every port before it starts
anything). Another instance (``--name NAME``) tries the profile's ports too, and
takes a free port on the same address for each one that is taken; the choice is
written to ``<cache>/instances/<project>/<profile>--<instance>.json`` and reused
by every later ``up`` of that instance, so its URLs stay the same.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Callable

from .names import Scope
from .paths import cache_dir
from .profile.model import Port
from .render import ServicePlan, Stack


def _state_file(scope: Scope) -> Path:
    return cache_dir() / "instances" / scope.project / f"{scope.profile}--{scope.instance}.json"


def _key(service: str, p: Port) -> str:
    return f"{service}/{p.container}/{p.protocol}"


def load_ports(scope: Scope) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(_state_file(scope).read_text()).get("ports", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def save_ports(scope: Scope, ports: dict[str, int]) -> None:
    path = _state_file(scope)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"ports": dict(sorted(ports.items()))}, indent=1) + "\n")
    tmp.replace(path)


def forget(scope: Scope) -> None:
    _state_file(scope).unlink(missing_ok=True)


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
    kind = socket.SOCK_STREAM if p.protocol == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in p.host_ip else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((p.host_ip, 0))
        return s.getsockname()[1]


def with_instance_ports(stack: Stack, held_by_own: Callable[[Port], bool] = lambda p: False,
                        is_free: Callable[[Port], bool] = port_free) -> Stack:
    """``stack`` with the host ports its instance uses (unchanged for the default instance).

    ``held_by_own(port)`` says whether the instance's own container already
    publishes it (then it is not "taken"); the choice is saved for the next ``up``.
    ``is_free(port)``: whether the engine's host can publish it (this machine's ports
    by default; a remote engine's own containers say it for its host).
    """
    scope = stack.scope
    if scope.is_default:
        return stack
    saved = load_ports(scope)
    chosen: dict[str, int] = {}
    services = {}
    for name, sp in stack.services.items():
        ports = []
        for p in sp.service.ports:
            key = _key(name, p)
            host = saved.get(key, p.host)
            candidate = dataclasses.replace(p, host=host)
            if not held_by_own(candidate) and not is_free(candidate):
                for _ in range(100):   # free here (an ephemeral port), and free on the engine's host
                    candidate = dataclasses.replace(p, host=free_port(p))
                    if is_free(candidate):
                        break
            chosen[key] = candidate.host
            ports.append(candidate)
        service = dataclasses.replace(sp.service, ports=tuple(ports))
        services[name] = ServicePlan(service, sp.image, sp.dataset)
    if chosen != saved:
        save_ports(scope, chosen)
    return dataclasses.replace(stack, services=services)


__all__ = ["forget", "free_port", "load_ports", "port_free", "save_ports", "with_instance_ports"]
