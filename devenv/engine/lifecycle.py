"""Bringing an environment up and down, and reading its state.

``up`` is idempotent and resumable: every object is found by name and labels
before it is created, a container whose ``config-hash`` label matches the plan is
kept (started if stopped), one that differs is recreated, and services start in
``depends_on`` waves, each wave once its dependencies are healthy. An ``up``
interrupted anywhere leaves only complete objects behind, which the next ``up``
adopts. Volumes are never removed here except by ``down(volumes=True)``.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field

import docker.errors
from docker.types import Mount

from .. import names
from ..errors import DevenvError, NotFoundError, PortConflictError
from ..render import ServicePlan, Stack
from ..ui import Reporter
from .client import Engine
from .health import Health, Observation, observe, probe_once, wait_ready
from .images import ensure_images
from .seeding import dataset_mismatch, plan_seed, populate_imageset

STOP_TIMEOUT = 10


@dataclass
class UpResult:
    built: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)   # snapshots restored
    seeded: list[str] = field(default_factory=list)     # datasets mounted for seeding
    images_copied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    health: dict[str, Health] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.built or self.created or self.started or self.removed)


def _containers(engine: Engine, profile: str) -> dict[str, dict]:
    """service -> container summary, for the containers devenv made for ``profile``."""
    found = engine.api.containers(all=True, filters={"label": [f"{names.MANAGED}=true", f"{names.PROFILE}={profile}"]})
    return {c["Labels"].get(names.SERVICE, c["Names"][0].lstrip("/")): c for c in found}


def _ensure_network(engine: Engine, profile: str) -> str:
    name = names.network_name(profile)
    if not engine.api.networks(names=[name], filters={"label": f"{names.PROFILE}={profile}"}):
        engine.api.create_network(name, driver="bridge", labels=names.network_labels(profile), check_duplicate=True)
    return name


def _ensure_volumes(engine: Engine, stack: Stack) -> set[str]:
    """Create missing volumes; returns the names of those created now."""
    created: set[str] = set()
    existing = {v["Name"] for v in (engine.api.volumes(filters={"label": f"{names.PROFILE}={stack.name}"})["Volumes"] or [])}
    for sp in stack.services.values():
        for v in sp.service.volumes:
            vname = names.volume_name(stack.name, v.name)
            if vname not in existing:
                engine.api.create_volume(vname, labels=names.volume_labels(stack.name, v.name))
                existing.add(vname)
                created.add(vname)
    return created


def _port_holder(engine: Engine, host_ip: str, port: int) -> str | None:
    for c in engine.api.containers():
        for p in c.get("Ports", []):
            if p.get("PublicPort") == port and p.get("IP") in (host_ip, "0.0.0.0", "::", ""):
                return c["Names"][0].lstrip("/")
    return None


def _check_ports(engine: Engine, sp: ServicePlan) -> None:
    for p in sp.service.ports:
        kind = socket.SOCK_STREAM if p.protocol == "tcp" else socket.SOCK_DGRAM
        family = socket.AF_INET6 if ":" in p.host_ip else socket.AF_INET
        with socket.socket(family, kind) as s:
            # as servers do (docker-proxy too): a port in TIME_WAIT is free to listen on
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((p.host_ip, p.host))
            except OSError:
                raise PortConflictError(p.host_ip, p.host, sp.service.name, _port_holder(engine, p.host_ip, p.host)) from None


def _create(engine: Engine, stack: Stack, sp: ServicePlan, network: str, binds: dict | None = None) -> str:
    s = sp.service
    name = names.container_name(stack.name, s.name)
    host_config = engine.api.create_host_config(
        port_bindings={f"{p.container}/{p.protocol}": (p.host_ip, p.host) for p in s.ports},
        mounts=[Mount(v.target, names.volume_name(stack.name, v.name), type="volume") for v in s.volumes],
        binds=binds or None,
        network_mode=network,
        init=False,
    )
    healthcheck = None
    if s.healthcheck:
        hc = s.healthcheck
        healthcheck = {"test": list(hc.test), "interval": int(hc.interval * 1e9), "timeout": int(hc.timeout * 1e9),
                       "retries": hc.retries, "start_period": int(hc.start_period * 1e9)}
    engine.api.create_container(
        image=sp.image.tag,
        name=name,
        hostname=s.name,
        command=list(s.command) if isinstance(s.command, tuple) else s.command,
        user=s.user or "",
        environment=dict(s.environment),
        labels=names.service_labels(stack.name, s.name, sp.config_hash) | {names.IMAGE_HASH: sp.image.hash},
        ports=[(p.container, p.protocol) for p in s.ports],
        healthcheck=healthcheck,
        host_config=host_config,
        networking_config=engine.api.create_networking_config(
            {network: engine.api.create_endpoint_config(aliases=[s.name])}),
    )
    return name


def _start(engine: Engine, sp: ServicePlan, container: str) -> None:
    try:
        engine.api.start(container)
    except docker.errors.APIError as exc:
        text = exc.explanation or str(exc)
        if "port is already allocated" in text or "address already in use" in text:
            p = sp.service.ports[0] if sp.service.ports else None
            for port in sp.service.ports:
                if str(port.host) in text:
                    p = port
            if p is not None:
                raise PortConflictError(p.host_ip, p.host, sp.service.name, _port_holder(engine, p.host_ip, p.host)) from None
        raise DevenvError(f"service {sp.service.name}: starting container {container} failed: {text}") from None


def _remove(engine: Engine, container: str) -> None:
    try:
        engine.api.remove_container(container, force=True, v=False)
    except docker.errors.NotFound:
        pass


def up(engine: Engine, stack: Stack, reporter: Reporter, timeout: float = 300) -> UpResult:
    """Build what is missing, then converge the running environment to ``stack``."""
    result = UpResult()
    order = stack.order()
    result.built = ensure_images(engine, [stack.services[s].image for s in order], stack.base, reporter)
    existing = _containers(engine, stack.name)

    for service, c in existing.items():
        if service not in stack.services:  # a service dropped from the profile
            _remove(engine, c["Id"])
            result.removed.append(service)

    network = None
    new_volumes: set[str] = set()
    waves = _waves(stack)
    deadline = time.monotonic() + timeout
    for wave in waves:
        to_wait: dict[str, str] = {}
        for service in wave:
            sp = stack.services[service]
            current = existing.get(service)
            name = names.container_name(stack.name, service)
            if current and current["Labels"].get(names.CONFIG_HASH) == sp.config_hash:
                if current["State"] == "running":
                    result.unchanged.append(service)
                else:
                    _check_ports(engine, sp)
                    _start(engine, sp, current["Id"])
                    result.started.append(service)
                to_wait[service] = name
                continue
            if network is None:
                network = _ensure_network(engine, stack.name)
                new_volumes = _ensure_volumes(engine, stack)
            if current:
                with reporter.step(f"recreate {service} (its image or settings changed)"):
                    _remove(engine, current["Id"])
            _check_ports(engine, sp)
            seed = plan_seed(engine, stack, sp, new_volumes, reporter)
            result.restored += [seed.restored] if seed.restored else []
            result.seeded += [seed.dataset] if seed.binds else []
            _create(engine, stack, sp, network, seed.binds)
            copied = populate_imageset(engine, stack, sp, name, reporter)
            result.images_copied += [copied] if copied else []
            _start(engine, sp, name)
            result.created.append(service)
            to_wait[service] = name
        if result.created or result.started or any(
                observe(engine, c).health is not Health.HEALTHY for c in to_wait.values()):
            with reporter.step(f"wait for {', '.join(wave)}"):
                result.health.update(wait_ready(
                    engine, to_wait, deadline,
                    on_ready=lambda s, h: reporter.detail(f"{s}: {h.value}")))
        else:
            result.health.update({s: Health.HEALTHY for s in to_wait})
    ds = stack.profile.dataset
    if ds and ds.service in stack.services and not result.seeded and not result.restored \
            and ds.service in set(result.created) | set(result.started):
        warning = dataset_mismatch(engine, stack, names.container_name(stack.name, ds.service))
        if warning:
            result.warnings.append(warning)
    return result


def _waves(stack: Stack) -> list[list[str]]:
    """Services grouped so that each group depends only on earlier groups."""
    level: dict[str, int] = {}
    for name in stack.order():  # dependencies come first
        deps = stack.services[name].service.depends_on
        level[name] = 1 + max((level[d] for d in deps), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in stack.order():
        waves[level[name]].append(name)
    return waves


@dataclass
class DownResult:
    removed_containers: list[str] = field(default_factory=list)
    removed_networks: list[str] = field(default_factory=list)
    removed_volumes: list[str] = field(default_factory=list)
    kept_volumes: list[str] = field(default_factory=list)


def down(engine: Engine, profile: str, volumes: bool = False) -> DownResult:
    """Stop and remove the profile's containers and network; volumes only when asked."""
    result = DownResult()
    containers = _containers(engine, profile)

    def stop(c: dict) -> None:
        try:
            engine.api.stop(c["Id"], timeout=STOP_TIMEOUT)
        except docker.errors.NotFound:
            pass

    running = [c for c in containers.values() if c["State"] == "running"]
    if running:  # in parallel: each may take up to STOP_TIMEOUT
        with ThreadPoolExecutor(max_workers=len(running)) as pool:
            list(pool.map(stop, running))
    for service, c in containers.items():
        _remove(engine, c["Id"])
        result.removed_containers.append(c["Names"][0].lstrip("/"))
    for net in engine.api.networks(filters={"label": [f"{names.MANAGED}=true", f"{names.PROFILE}={profile}"]}):
        try:
            engine.api.remove_network(net["Id"])
            result.removed_networks.append(net["Name"])
        except docker.errors.NotFound:
            pass
    vols = engine.api.volumes(filters={"label": [f"{names.MANAGED}=true", f"{names.PROFILE}={profile}"]})["Volumes"] or []
    for v in vols:
        if volumes:
            engine.api.remove_volume(v["Name"])
            result.removed_volumes.append(v["Name"])
        else:
            result.kept_volumes.append(v["Name"])
    return result


@dataclass
class ServiceStatus:
    service: str
    container: str
    state: str
    health: str
    image: str
    urls: list[str]

    def as_dict(self) -> dict:
        return {"service": self.service, "container": self.container, "state": self.state,
                "health": self.health, "image": self.image, "urls": self.urls}


def status(engine: Engine, profile: str) -> list[ServiceStatus]:
    out = []
    for service, c in sorted(_containers(engine, profile).items()):
        obs = observe(engine, c["Id"])
        if obs.health is Health.STARTING and c["State"] == "running" and probe_once(engine, c["Id"]) == 0:
            obs = Observation(Health.HEALTHY)  # the Engine's first scheduled check is still to come
        health = {Health.NO_HEALTHCHECK: "no healthcheck", Health.EXITED: "-"}.get(obs.health, obs.health.value)
        urls = sorted({_url(p) for p in c.get("Ports", []) if p.get("PublicPort")})
        out.append(ServiceStatus(service, c["Names"][0].lstrip("/"), c["State"], health, c["Image"], urls))
    return out


def _url(port: dict) -> str:
    ip = port.get("IP") or "127.0.0.1"
    ip = "127.0.0.1" if ip in ("0.0.0.0", "::") else ip
    scheme = "http" if port.get("PrivatePort") in (80, 8080) else "tcp"
    return f"{scheme}://{ip}:{port['PublicPort']}/" if scheme == "http" else f"{scheme}://{ip}:{port['PublicPort']}"


def container_of(engine: Engine, profile: str, service: str, running: bool = True) -> str:
    """The container name of a service of a profile, or a clear NotFoundError."""
    found = _containers(engine, profile)
    if service not in found:
        have = ", ".join(sorted(found)) or "none: is it up? (`devenv up " + profile + "`)"
        raise NotFoundError(f"profile {profile} has no container for service `{service}`", f"services running: {have}")
    c = found[service]
    if running and c["State"] != "running":
        raise NotFoundError(f"service {service} of profile {profile} is not running (state: {c['State']})",
                            f"Start it with `devenv up {profile}`.")
    return c["Names"][0].lstrip("/")
