"""Bringing an environment up and down, and reading its state.

``up`` is idempotent and resumable: every object is found by name and labels
before it is created, a container whose ``config-hash`` label matches the plan is
kept (started if stopped), one that differs is recreated, and services start in
``depends_on`` waves, each wave once the dependencies it waits for are healthy
(``service_started`` ones only need to be on the stack's network, see ``starts``; ``up`` ends
when all are healthy; the new data-less containers of later waves are created early, while the
first waves start). An ``up``
interrupted anywhere leaves only complete objects behind, which the next ``up``
adopts. Volumes are never removed here except by ``down(volumes=True)``.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import docker.errors
from docker.types import Healthcheck as EngineHealthcheck, Mount
from docker.utils import version_gte

from .. import names
from ..names import Scope, as_scope
from ..profile.model import Healthcheck
from ..errors import DevenvError, NotFoundError, PortConflictError, PortConflictsError
from ..instances import check_local_address, expose_address, overlaps, port_free, with_instance_ports
from ..render import ServicePlan, Stack
from ..spec import Bind, ContainerSpec, container_spec
from ..ui import RecordingReporter, Reporter
from .client import Engine
from .health import Health, current, observe, wait_ready
from .images import ensure_images
from .plan import Action, Data, ServiceStep, UpPlan, check_instance_owner, check_owner, containers_of, plan_up
from .datadir import prepare_data_volume
from .datadir_state import DatadirState
from .helpers import remove_stale_helpers
from .seeding import dataset_mismatch, plan_seed, populate_imageset
from .starts import Starts
from .clones import is_base_volume, mount_refused, seed_by_clone, uncloned_fallback
from .cowstore import COW_PATH, CowStoreError, exclusive_bytes, release
from .remote import check_source_mounts, remote_port_free, url_host

STOP_TIMEOUT = 10


@dataclass
class UpResult:
    built: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)   # snapshots restored by copying
    cloned: list[str] = field(default_factory=list)     # snapshots cloned copy-on-write (engine/clones.py)
    seeded: list[str] = field(default_factory=list)     # datasets mounted for seeding
    images_copied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    health: dict[str, Health] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.built or self.created or self.started or self.removed)


def _ensure_network(engine: Engine, scope: Scope) -> str:
    name = names.network_name(scope)
    if not engine.api.networks(names=[name], filters={"label": scope.filters()}):
        engine.api.create_network(name, driver="bridge", labels=names.network_labels(scope), check_duplicate=True)
    return name


def _create_volumes(engine: Engine, stack: Stack, volumes: tuple[str, ...]) -> None:
    short = {names.volume_name(stack.scope, v.name): v.name
             for sp in stack.services.values() for v in sp.service.volumes}
    for vname in volumes:
        engine.api.create_volume(vname, labels=names.volume_labels(stack.scope, short[vname]))


def _port_holder(engine: Engine, host_ip: str, port: int) -> str | None:
    for c in engine.api.containers():
        for p in c.get("Ports", []):
            if p.get("PublicPort") == port and overlaps(p.get("IP") or "", host_ip):
                return c["Names"][0].lstrip("/")
    return None


def check_ports(engine: Engine, plan: UpPlan) -> None:
    """Every host port the plan will bind is free, or held by a container this ``up``
    replaces; otherwise refuse before anything starts, naming every conflict."""
    replaced = {names.container_name(plan.stack.scope, s.service) for s in plan.steps()
                if s.action is Action.RECREATE} | {names.container_name(plan.stack.scope, svc) for svc, _ in plan.remove}
    conflicts = []
    for step in plan.steps():
        if step.action is Action.KEEP:
            continue
        for p in plan.stack.services[step.service].service.ports:
            # a remote engine's ports are on its host: only its own containers can say they are taken
            if port_free(p) if engine.is_local else _port_holder(engine, p.host_ip, p.host) is None:
                continue
            holder = _port_holder(engine, p.host_ip, p.host)
            if holder not in replaced:
                conflicts.append(PortConflictError(p.host_ip, p.host, step.service, holder))
    if conflicts:
        raise PortConflictsError(conflicts)


def _create(engine: Engine, spec: ContainerSpec) -> str:
    host_config = engine.api.create_host_config(
        port_bindings={f"{p.container}/{p.protocol}": (p.host_ip, p.host) for p in spec.ports},
        mounts=[Mount(target, source, type="volume") for source, target in spec.volumes],
        binds={**{b.source: {"bind": b.target, "mode": "ro" if b.read_only else "rw"} for b in spec.binds},
               **{src: {"bind": target, "mode": "rw"} for src, target in spec.mounts}} or None,
        network_mode=spec.network,
        init=False,
    )
    healthcheck = engine_healthcheck(spec.healthcheck, engine.api.api_version) if spec.healthcheck else None
    try:
        engine.api.create_container(
            image=spec.image,
            name=spec.name,
            hostname=spec.hostname,
            command=spec.command,
            user=spec.user,
            environment=spec.environment,
            labels=spec.labels,
            ports=[(p.container, p.protocol) for p in spec.ports],
            healthcheck=healthcheck,
            host_config=host_config,
            networking_config=engine.api.create_networking_config(
                {spec.network: engine.api.create_endpoint_config(aliases=list(spec.aliases))}),
        )
    except docker.errors.APIError as exc:
        raise DevenvError(f"creating container {spec.name} failed: {exc.explanation or exc}",
                          "`devenv down` then `devenv up` starts from clean containers (volumes are kept).") from None
    return spec.name


def engine_healthcheck(hc: Healthcheck, api_version: str) -> EngineHealthcheck:
    """The Engine's form of a healthcheck. ``start_interval`` needs API 1.44 (Engine 25); an
    older Engine checks every ``interval`` from the start, and ``up`` does not wait for it:
    its own probes run every 0.25 s while it waits (``health.Prober``)."""
    out = EngineHealthcheck(test=list(hc.test), interval=int(hc.interval * 1e9), timeout=int(hc.timeout * 1e9),
                            retries=hc.retries, start_period=int(hc.start_period * 1e9))
    if hc.start_interval is not None and version_gte(api_version, "1.44"):
        out["StartInterval"] = int(hc.start_interval * 1e9)
    return out


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
        hint = None
        if "cannot assign requested address" in text:   # a host address the engine's host does not have
            hint = ("The address the ports are bound on is not one of the engine host's: `devenv up --expose ADDR` "
                    "with one of its addresses (0.0.0.0: all of them), or `--expose 127.0.0.1` for loopback.")
        raise DevenvError(f"service {sp.service.name}: starting container {container} failed: {text}", hint) from None


def _remove(engine: Engine, container: str) -> None:
    try:
        engine.api.remove_container(container, force=True, v=False)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise DevenvError(f"removing container {container} failed: {exc.explanation or exc}") from None


def _create_seeded(engine: Engine, stack: Stack, sp: ServicePlan, name: str, seed, result: UpResult,
                   reporter: Reporter, starts: Starts | None = None) -> None:
    """A new container with its seed binds (dataset) and image set: created, filled and started
    (through ``starts``: on its network; without: the start call has ended, its errors raised)."""
    binds = tuple(Bind(src, b["bind"], b.get("mode", "ro") == "ro") for src, b in seed.binds.items())
    _create(engine, container_spec(stack, sp, binds))
    copied = populate_imageset(engine, stack, sp, name, reporter)
    result.images_copied += [copied] if copied else []
    if starts is None:
        _start(engine, sp, name)
    else:
        starts.begin(name, partial(_start, engine, sp, name))


def up(engine: Engine, stack: Stack, reporter: Reporter, timeout: float = 300, expose: str | None = None) -> UpResult:
    """Build what is missing, then converge the running environment to ``stack``."""
    return execute(engine, plan_up(engine, instance_stack(engine, stack, expose)), reporter, timeout)


def instance_stack(engine: Engine, stack: Stack, expose: str | None = None, remember: bool = True) -> Stack:
    """``stack`` with its instance's host ports and the address they bind (``expose``:
    a new one, remembered; None: the one remembered; see ``devenv.instances``)."""
    if expose is not None:
        expose = expose_address(expose)
        if engine.is_local:
            check_local_address(expose)
    if stack.scope.is_default:
        return with_instance_ports(stack, expose=expose, remember=remember)
    own = {(p.get("IP") or "", p.get("PublicPort")) for c in containers_of(engine, stack.scope).values()
           for p in c.get("Ports", []) if p.get("PublicPort")}
    # its own container releases the port when it is recreated (on another address too)
    return with_instance_ports(stack, lambda p: any(n == p.host and overlaps(ip, p.host_ip) for ip, n in own),
                               is_free=port_free if engine.is_local else remote_port_free(engine),
                               expose=expose, remember=remember)


def execute(engine: Engine, plan: UpPlan, reporter: Reporter, timeout: float = 300) -> UpResult:
    """Carry out ``plan``: nothing starts unless every host port is free first.

    ``timeout`` bounds the health wait of each wave (a slow seed in the first wave
    does not eat the budget of the services that depend on it).
    """
    stack = plan.stack
    result = UpResult()
    check_source_mounts(engine, stack)
    check_ports(engine, plan)
    remove_stale_helpers(engine, stack.scope)
    if plan.build:
        result.built = ensure_images(engine, [stack.services[s].image for s in stack.order()], stack.base, reporter)
    for service, cid in plan.remove:
        _remove(engine, cid)
        result.removed.append(service)
    if plan.network:
        _ensure_network(engine, stack.scope)
    _create_volumes(engine, stack, plan.volumes)
    new_volumes = set(plan.volumes)
    dataset_service = stack.profile.dataset.service if stack.profile.dataset else None

    # the new data-less containers of later waves are created (and their image sets copied in)
    # while the first waves start and become healthy; each still starts only in its own wave
    early_steps = [s for wave in plan.waves[1:] for s in wave
                   if s.action is Action.CREATE and s.data is Data.NONE and s.service != dataset_service]
    early_pool = ThreadPoolExecutor(max_workers=len(early_steps)) if early_steps else None
    early = {s.service: early_pool.submit(_create_early, engine, stack, s) for s in early_steps} if early_pool else {}
    starts = Starts(engine, names.network_name(stack.scope))
    try:
        _run_waves(engine, plan, early, new_volumes, dataset_service, result, reporter, timeout, starts)
    finally:
        starts.close()
        if early_pool is not None:
            early_pool.shutdown(wait=True)
    ds = stack.profile.dataset
    if ds and ds.service in stack.services and not result.seeded and not result.restored and not result.cloned \
            and ds.service in set(result.created) | set(result.started):
        warning = dataset_mismatch(engine, stack, names.container_name(stack.scope, ds.service))
        if warning:
            result.warnings.append(warning)
    return result


def _create_early(engine: Engine, stack: Stack, step: ServiceStep) -> tuple[str, str | None, RecordingReporter]:
    """A new data-less container of a later wave, created and given its image set (not started)."""
    sp = stack.services[step.service]
    recorded = RecordingReporter()
    name = _create(engine, container_spec(stack, sp, ()))
    return name, populate_imageset(engine, stack, sp, name, recorded), recorded


def _run_waves(engine: Engine, plan: UpPlan, early: dict, new_volumes: set, dataset_service: str | None,
               result: UpResult, reporter: Reporter, timeout: float, starts: Starts) -> None:
    """Start the waves in order; before a wave, wait only for what it needs healthy.

    A ``service_started`` dependency orders the starts but is not waited for: the
    dependent starts while it boots. Whatever is not healthy yet is waited for at the end.
    """
    stack = plan.stack
    pending: dict[str, str] = {}    # started, not yet waited for: service -> container
    changed: set[str] = set()
    for wave in plan.waves:
        needed = {d.service for s in wave for d in stack.services[s.service].service.depends_on if d.needs_healthy}
        _wait_healthy(engine, {s: c for s, c in pending.items() if s in needed}, pending, changed,
                      result, reporter, timeout, starts)
        to_wait: dict[str, str] = {}
        done: dict[str, list[str]] = {}     # service -> the result list it goes in, in the wave's order
        # a new container with no data and no image set is only created and started: those run
        # beside the rest of the wave (each engine start takes a while; they do not report);
        # the ones created early are started beside it too
        plain = [s for s in wave if s.action is Action.CREATE and s.data is Data.NONE and not s.imageset
                 and s.service != dataset_service and s.service not in early]
        ready = [s for s in wave if s.service in early]
        parallel = len(plain) + len(ready) if len(wave) > 1 or ready else 0
        pool = ThreadPoolExecutor(max_workers=parallel) if parallel else None
        started = {s.service: pool.submit(_create_and_start, engine, stack, s, starts) for s in plain} if pool else {}
        started |= {s.service: pool.submit(_start_early, engine, stack, s, early[s.service], starts) for s in ready}
        try:
            _run_wave(engine, stack, wave, set(started), done, to_wait, new_volumes, result, reporter, starts)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        for service, fut in started.items():
            copied = fut.result()     # the first error of a parallel start, once all have ended
            if service in early:
                early[service].result()[2].replay(reporter, "while the earlier services started")
            result.images_copied += [copied] if copied else []
            done[service] = result.created
        for step in wave:
            done[step.service].append(step.service)
        pending.update(to_wait)
        changed |= {s.service for s in wave if s.changes}
    starts.finish()
    _wait_healthy(engine, dict(pending), pending, changed, result, reporter, timeout, starts)


def _wait_healthy(engine: Engine, services: dict[str, str], pending: dict[str, str], changed: set[str],
                  result: UpResult, reporter: Reporter, timeout: float, starts: Starts) -> None:
    """Wait for ``services`` (service -> container) to be healthy; they leave ``pending``."""
    if not services:
        return
    starts.finish(set(services.values()))    # their start calls have ended, without error
    for service in services:
        del pending[service]
    if changed & set(services) or any(observe(engine, c).health is not Health.HEALTHY for c in services.values()):
        with reporter.step(f"wait for {', '.join(services)}"):
            result.health.update(wait_ready(
                engine, services, time.monotonic() + timeout,
                on_ready=lambda s, h: reporter.detail(f"{s}: {h.value}")))
    else:
        result.health.update({s: Health.HEALTHY for s in services})


def _run_wave(engine: Engine, stack: Stack, wave, parallel: set[str], done: dict, to_wait: dict,
              new_volumes: set, result: UpResult, reporter: Reporter, starts: Starts) -> None:
    """The steps of one wave but the ``parallel`` ones, in order; ``done`` gets the result list of each."""
    for step in wave:
        sp = stack.services[step.service]
        name = names.container_name(stack.scope, step.service)
        to_wait[step.service] = name
        if step.action is Action.KEEP:
            done[step.service] = result.unchanged
            continue
        if step.service in parallel:
            continue
        recreate = step.action is Action.RECREATE
        if step.action is Action.START:
            # before every start of the database: its volume is complete or made so
            if step.data is not Data.CHECK:
                starts.begin(step.container_id, partial(_start, engine, sp, step.container_id))
                done[step.service] = result.started
                continue
            state = prepare_data_volume(engine, stack, reporter)
            if state not in (DatadirState.EMPTY, DatadirState.SEED_INTERRUPTED):
                _start(engine, sp, step.container_id)   # the database: its own errors, at once
                done[step.service] = result.started
                continue
            recreate = True   # a restore dropped, nothing left: seed or restore it anew
        if recreate:
            with reporter.step(f"recreate {step.service} ({step.reason or 'its volume must be seeded'})"):
                _remove(engine, step.container_id)
        warning = None
        if step.data is Data.CLONE:
            seed, warning = seed_by_clone(engine, stack, sp, new_volumes, reporter)
            result.warnings += [warning] if warning else []
        else:
            seed = plan_seed(engine, stack, sp, new_volumes, reporter)
        if seed.restored:   # a clone, unless it fell back to the copying restore (the warning)
            (result.cloned if step.data is Data.CLONE and not warning else result.restored).append(seed.restored)
        result.seeded += [seed.dataset] if seed.binds else []
        try:
            # a database's start is waited for (an overlay clone refused at its first mount is
            # copied instead, below), but for a block-level clone, whose mount cannot be refused
            overlapped = step.data is Data.NONE or (step.data is Data.CLONE and seed.block_clone and not warning)
            _create_seeded(engine, stack, sp, name, seed, result, reporter, starts if overlapped else None)
        except DevenvError as exc:   # a new clone's overlay refused at its first mount: copy instead
            if not (step.data is Data.CLONE and seed.restored and not warning and mount_refused(exc.message)):
                raise
            _remove(engine, name)
            result.cloned.remove(seed.restored)
            seed, warning = uncloned_fallback(engine, stack, sp, new_volumes, exc.message, reporter)
            result.warnings.append(warning)
            (result.restored if seed.restored else result.seeded).append(seed.restored or seed.dataset)
            _create_seeded(engine, stack, sp, name, seed, result, reporter)
        done[step.service] = result.created


def _create_and_start(engine: Engine, stack: Stack, step: ServiceStep, starts: Starts) -> None:
    """A new container without data or image set: created and started (on its network)."""
    sp = stack.services[step.service]
    name = _create(engine, container_spec(stack, sp, ()))
    starts.begin(name, partial(_start, engine, sp, name))


def _start_early(engine: Engine, stack: Stack, step: ServiceStep, created, starts: Starts) -> str | None:
    """Start a container made by ``_create_early`` (on its network); the image set it copied, if any."""
    name, copied, _ = created.result()
    starts.begin(name, partial(_start, engine, stack.services[step.service], name))
    return copied


@dataclass
class DownResult:
    removed_containers: list[str] = field(default_factory=list)
    removed_networks: list[str] = field(default_factory=list)
    removed_volumes: list[str] = field(default_factory=list)
    kept_volumes: list[str] = field(default_factory=list)


def down(engine: Engine, scope: Scope | str, volumes: bool = False, stop_timeout: int = STOP_TIMEOUT,
         force: bool = False) -> DownResult:
    """Stop and remove the scope's containers and network; volumes only when asked.

    An instance another owner made is refused (``NotOwnerError``) unless ``force``.

    ``stop_timeout`` 0 kills at once: for a throwaway instance whose volumes go too
    (``devenv try``), where a clean shutdown protects nothing.
    """
    profile = as_scope(scope)
    check_owner(engine, profile)
    if not force:
        check_instance_owner(engine, profile)
    result = DownResult()
    remove_stale_helpers(engine, profile)
    containers = containers_of(engine, profile)

    def stop_and_remove(c: dict) -> None:
        # stop_timeout 0: the forced remove kills and removes in one engine call
        if c["State"] == "running" and stop_timeout > 0:
            try:
                engine.api.stop(c["Id"], timeout=stop_timeout)
            except docker.errors.NotFound:
                pass
        _remove(engine, c["Id"])

    if containers:  # in parallel: each stop may take up to stop_timeout
        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            list(pool.map(stop_and_remove, containers.values()))
    result.removed_containers += [c["Names"][0].lstrip("/") for c in containers.values()]
    for net in engine.api.networks(filters={"label": profile.filters()}):
        try:
            engine.api.remove_network(net["Id"])
            result.removed_networks.append(net["Name"])
        except docker.errors.NotFound:
            pass
    vols = engine.api.volumes(filters={"label": profile.filters()})["Volumes"] or []
    for v in vols:
        if volumes:
            try:
                engine.api.remove_volume(v["Name"])
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                users = [c["Names"][0].lstrip("/") for c in engine.api.containers(
                    all=True, filters={"volume": v["Name"]})]
                raise DevenvError(f"volume {v['Name']} cannot be removed: {exc.explanation or exc}",
                                  f"containers using it: {', '.join(users) or 'none listed'}") from None
            release(v.get("Labels"))   # a clone's data in the btrfs store goes with its volume
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


def status(engine: Engine, profile: Scope | str) -> list[ServiceStatus]:
    out = []
    for service, c in sorted(containers_of(engine, profile).items()):
        obs = current(engine, c["Id"])
        health = {Health.NO_HEALTHCHECK: "no healthcheck", Health.EXITED: "-"}.get(obs.health, obs.health.value)
        out.append(ServiceStatus(service, c["Names"][0].lstrip("/"), c["State"], health, c["Image"],
                                 _urls(engine, c)))
    return out


def service_urls(engine: Engine, profile: Scope | str) -> list[tuple[str, str]]:
    """(service, URL) of every published port: what `up` prints (one engine call; no health probes)."""
    return [(service, url) for service, c in sorted(containers_of(engine, profile).items())
            for url in _urls(engine, c)]


def _urls(engine: Engine, container: dict) -> list[str]:
    return sorted({_url(p, engine) for p in container.get("Ports", []) if p.get("PublicPort")})


def _url(port: dict, engine: Engine) -> str:
    ip = url_host(engine, port.get("IP") or "127.0.0.1")
    scheme = "http" if port.get("PrivatePort") in (80, 8080) else "tcp"
    return f"{scheme}://{ip}:{port['PublicPort']}/" if scheme == "http" else f"{scheme}://{ip}:{port['PublicPort']}"


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def container_of(engine: Engine, profile: Scope | str, service: str, running: bool = True) -> str:
    """The container name of a service of a scope, or a clear NotFoundError."""
    profile = as_scope(profile)
    found = containers_of(engine, profile)
    if not found and not profile.is_default:
        raise NotFoundError(f"no instance `{profile.instance}` of profile {profile.profile} is up",
                            f"`devenv ls` lists the instances; `devenv up {profile}` starts this one.")
    if service not in found:
        have = ", ".join(sorted(found)) or f"none: is it up? (`devenv up {profile}`)"
        raise NotFoundError(f"profile {profile} has no container for service `{service}`", f"services running: {have}")
    c = found[service]
    if running and c["State"] != "running":
        raise NotFoundError(f"service {service} of profile {profile} is not running (state: {c['State']})",
                            f"Start it with `devenv up {profile}`.")
    return c["Names"][0].lstrip("/")


def exists(engine: Engine, scope: Scope) -> bool:
    """Whether anything (a container or a volume) of ``scope`` is on the engine."""
    if engine.api.containers(all=True, filters={"label": scope.filters()}):
        return True
    return bool(engine.api.volumes(filters={"label": scope.filters()})["Volumes"])


@dataclass
class InstanceRow:
    project: str
    profile: str
    instance: str
    root: str
    state: str                 # "running 4/4", "stopped", "volumes only"
    ports: list[str]
    disk_bytes: int | None     # the instance's volumes (None: the engine did not say)
    owner: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def instances(engine: Engine) -> list[InstanceRow]:
    """Every scope devenv has containers or volumes of on this engine."""
    groups: dict[tuple, dict] = {}

    def group(labels: dict) -> dict:
        key = (labels.get(names.PROJECT, "?"), labels.get(names.PROFILE, "?"),
               labels.get(names.INSTANCE, names.DEFAULT_INSTANCE))
        g = groups.setdefault(key, {"root": labels.get(names.PROJECT_ROOT, ""), "owner": "",
                                    "running": 0, "services": 0, "ports": set(), "volumes": []})
        g["owner"] = g["owner"] or labels.get(names.OWNER, "")   # volumes carry it (containers may not)
        return g

    for c in engine.api.containers(all=True, filters={"label": [f"{names.MANAGED}=true", names.CONFIG_HASH]}):
        g = group(c.get("Labels") or {})
        g["services"] += 1
        g["running"] += c["State"] == "running"
        g["ports"] |= {_host_port(p.get("IP") or "0.0.0.0", p["PublicPort"]) for p in c.get("Ports", [])
                       if p.get("PublicPort")}
    for v in engine.api.volumes(filters={"label": f"{names.MANAGED}=true"})["Volumes"] or []:
        if not is_base_volume(v.get("Labels") or {}):   # a snapshot's base belongs to no instance
            group(v.get("Labels") or {})["volumes"].append(v["Name"])
    sizes: dict[str, int] = {}
    try:
        for v in engine.api.df().get("Volumes") or []:
            size = (v.get("UsageData") or {}).get("Size")
            if size is not None and size >= 0:
                sizes[v["Name"]] = size
    except docker.errors.APIError:
        sizes = {}
    # a btrfs clone's disk use is what it holds of its own (the Engine sees only a bind mount)
    cow = {v["Name"]: (v.get("Labels") or {})[COW_PATH] for v in engine.api.volumes(
        filters={"label": [f"{names.MANAGED}=true", COW_PATH]})["Volumes"] or []
        if not is_base_volume(v.get("Labels") or {})}
    try:
        own = exclusive_bytes([Path(p) for p in cow.values() if Path(p).is_dir()])
    except CowStoreError:
        own = {}
    sizes |= {name: own[path] for name, path in cow.items() if path in own}
    rows = []
    for (project, profile, instance), g in sorted(groups.items()):
        state = (f"running {g['running']}/{g['services']}" if g["running"] else "stopped") if g["services"] \
            else "volumes only"
        disk = sum(sizes.get(v, 0) for v in g["volumes"]) if sizes or not g["volumes"] else None
        rows.append(InstanceRow(project, profile, instance, g["root"], state, sorted(g["ports"]), disk, g["owner"]))
    return rows
