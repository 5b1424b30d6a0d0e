"""What ``up`` will do, computed from the observed state before anything changes.

``plan_up`` only looks (images, containers, network, volumes, the database
volume's state, snapshots); ``devenv.engine.lifecycle.execute`` then does what the
plan says. ``devenv up --dry-run`` prints the plan and stops. Deciding first is
what lets ``up`` refuse a whole stack (a taken port, a database volume that holds
incomplete data) before it has started any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .. import names
from ..errors import DevenvError, NotOwnerError
from ..names import Scope, as_scope
from ..render import ServicePlan, Stack
from .client import Engine
from .clones import is_base_volume
from .images import image_exists


class Action(Enum):
    KEEP = "keep"            # running with the declared settings
    START = "start"          # exists with the declared settings, stopped
    CREATE = "create"        # no container yet
    RECREATE = "recreate"    # its image or settings changed


class Data(Enum):
    NONE = "none"            # not the dataset service, or nothing to do
    CHECK = "check"          # existing volume: its state is checked before the start
    RESTORE = "restore"      # new/empty volume: restore a matching snapshot
    CLONE = "clone"          # no volume yet: a copy-on-write clone of a matching snapshot (engine/clones.py)
    SEED = "seed"            # new/empty volume: bulk-load the dataset
    DECIDE = "decide"        # new volume, server image still to build: restore or seed after the build


@dataclass(frozen=True)
class ServiceStep:
    service: str
    action: Action
    reason: str = ""
    data: Data = Data.NONE
    snapshot: str | None = None       # "profile/name" for Data.RESTORE and Data.CLONE
    container_id: str | None = None   # the existing container (START, RECREATE, KEEP)
    imageset: bool = False            # copy the image set into its volume (created containers)

    @property
    def changes(self) -> bool:
        return self.action is not Action.KEEP


@dataclass(frozen=True)
class UpPlan:
    stack: Stack
    build: tuple[str, ...]                      # image tags to build
    base_missing: bool                          # the base image must be bootstrapped first
    remove: tuple[tuple[str, str], ...]         # (service, container id) dropped from the profile
    network: bool                               # the network must be created
    volumes: tuple[str, ...]                    # engine volumes to create
    waves: tuple[tuple[ServiceStep, ...], ...]  # in depends_on order
    stale_helpers: tuple[str, ...] = ()         # helper containers of this stack left by a killed devenv

    def steps(self) -> list[ServiceStep]:
        return [s for wave in self.waves for s in wave]

    @property
    def changes(self) -> bool:
        return bool(self.build or self.remove or self.network or self.volumes
                    or any(s.changes for s in self.steps()) or self.stale_helpers)

    def describe(self) -> list[str]:
        """One line per thing ``up`` would do (``up --dry-run``)."""
        if not self.changes:
            return ["nothing to do"]
        lines = []
        if self.base_missing:
            lines.append(f"bootstrap base image {self.stack.base.tag}")
        lines += [f"build {tag}" for tag in self.build]
        lines += [f"remove helper container {c}" for c in self.stale_helpers]
        lines += [f"remove {svc} (no longer in the profile)" for svc, _ in self.remove]
        if self.network:
            lines.append(f"create network {names.network_name(self.stack.scope)}")
        lines += [f"create volume {v}" for v in self.volumes]
        for i, wave in enumerate(self.waves, 1):
            for s in wave:
                text = f"wave {i}: {s.action.value} {s.service}"
                if s.reason:
                    text += f" ({s.reason})"
                if s.data is Data.RESTORE:
                    text += f"; restore snapshot {s.snapshot}"
                elif s.data is Data.CLONE:
                    text += f"; clone snapshot {s.snapshot} (copy-on-write; a copying restore where it cannot)"
                elif s.data is Data.SEED:
                    text += "; seed the dataset"
                elif s.data is Data.DECIDE:
                    text += "; restore a matching snapshot or seed the dataset (after the build)"
                elif s.data is Data.CHECK:
                    text += "; check the database volume before the start"
                if s.imageset:
                    text += "; copy the image set if it changed"
                lines.append(text)
        return lines


def containers_of(engine: Engine, scope: Scope | str) -> dict[str, dict]:
    """service -> container summary, for the service containers devenv made for ``scope``.

    Service containers are the ones with a settings hash: helpers (probe, restore)
    inherit their image's labels, ``dev.devenv.service`` among them, but no hash.
    """
    found = engine.api.containers(all=True, filters={"label": [*as_scope(scope).filters(), names.CONFIG_HASH]})
    return {c["Labels"][names.SERVICE]: c for c in found if names.SERVICE in c.get("Labels", {})}


def helpers_of(engine: Engine, scope: Scope | str) -> list[dict]:
    """Helper containers (probe, restore, switch) devenv made for ``scope``'s stack."""
    from .helpers import HELPER_KINDS
    found = engine.api.containers(all=True, filters={"label": [*as_scope(scope).filters(), names.KIND]})
    return [c for c in found if (c.get("Labels") or {}).get(names.KIND) in HELPER_KINDS
            and names.CONFIG_HASH not in (c.get("Labels") or {})]


class ProjectClashError(DevenvError):
    """Another project directory uses the same project name on this engine."""


def check_owner(engine: Engine, scope: Scope) -> None:
    """Refuse to touch objects of the same project name that another directory made.

    Names and labels are scoped by project name; the root label tells two
    directories apart that claim the same name (two checkouts, two templates
    initialised with one name), so neither ever adopts, stops or deletes the other's.
    """
    if not scope.root:
        return
    wanted = [f"{names.MANAGED}=true", f"{names.PROJECT}={scope.project}"]
    found = [c.get("Labels") or {} for c in engine.api.containers(all=True, filters={"label": wanted})]
    # clone bases are immutable, content-addressed snapshot data, never adopted by name: the bases a
    # removed checkout left must not lock its name away from a new directory
    found += [lab for v in engine.api.volumes(filters={"label": wanted})["Volumes"] or []
              if not is_base_volume(lab := v.get("Labels") or {})]
    others = sorted({lab.get(names.PROJECT_ROOT) for lab in found} - {scope.root, None, ""})
    if others:
        raise ProjectClashError(
            f"project name `{scope.project}` is already used on this engine by {others[0]}, not by {scope.root}",
            f"Give this project its own name (`name:` in {scope.root}/devenv.yaml), or remove the other one's "
            f"environment first (`devenv --project {others[0]} down {scope.profile}`).")


def check_instance_owner(engine: Engine, scope: Scope) -> None:
    """Refuse to remove an instance whose network or volumes another owner made (see
    ``names.current_owner``); objects without an owner label (made before it existed) are anyone's."""
    me = names.current_owner()
    filters = {"label": scope.filters()}
    found = [n.get("Labels") or {} for n in engine.api.networks(filters=filters)]
    found += [v.get("Labels") or {} for v in engine.api.volumes(filters=filters)["Volumes"] or []]
    others = sorted({lab.get(names.OWNER) for lab in found} - {me, None, ""})
    if others:
        raise NotOwnerError.refusing(str(scope), others[0], me, f"devenv down {scope} --force")


def waves(stack: Stack) -> list[list[str]]:
    """Services grouped so that each group depends only on earlier groups."""
    level: dict[str, int] = {}
    for name in stack.order():  # dependencies come first
        deps = stack.services[name].service.depends_on
        level[name] = 1 + max((level[d.service] for d in deps), default=-1)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in stack.order():
        out[level[name]].append(name)
    return out


def _existing_volumes(engine: Engine, stack: Stack) -> set[str]:
    vols = engine.api.volumes(filters={"label": stack.scope.filters()})["Volumes"] or []
    return {v["Name"] for v in vols}


def _data_step(engine: Engine, stack: Stack, sp: ServicePlan, volume_exists: bool) -> tuple[Data, str | None]:
    """What the dataset service's volume needs before the service starts."""
    ds = stack.profile.dataset
    if ds is None or sp.service.name != ds.service or len(sp.service.volumes) != 1:
        return Data.NONE, None
    if not image_exists(engine, sp.image.tag):
        return (Data.CHECK if volume_exists else Data.DECIDE), None
    if volume_exists:
        from .datadir_state import DatadirState, IncompleteDatadirError, datadir_state
        v = sp.service.volumes[0]
        volume = names.volume_name(stack.scope, v.name)
        from ..db import engine_of
        from .clones import check_clone
        check_clone(engine, volume, sp.image.tag, stack.scope)   # a clone's base is there and unchanged
        state = datadir_state(engine, sp.image.tag, volume, stack.scope, engine_of(stack.profile).complete_entry)
        if state is DatadirState.INCOMPLETE:   # refused before anything starts
            raise IncompleteDatadirError(
                f"volume {volume} of service {sp.service.name} holds an incomplete datadir: files, but no "
                "complete seed or snapshot and nothing devenv can finish; nothing was started",
                f"Restore a snapshot (`devenv snapshot restore {stack.scope}`) or start from scratch "
                f"(`devenv down {stack.scope} --volumes && devenv up {stack.scope}`).")
        if state not in (DatadirState.EMPTY, DatadirState.SEED_INTERRUPTED):
            return Data.CHECK, None     # complete, or a restore the start finishes or drops
    data, snapshot = new_volume_source(engine, stack, sp)
    if data is Data.RESTORE and not volume_exists:   # a clone, or the copying restore with a warning
        return Data.CLONE, snapshot
    return data, snapshot


def new_volume_source(engine: Engine, stack: Stack, sp: ServicePlan) -> tuple[Data, str | None]:
    """Restore or seed for an empty datadir volume: a snapshot of the same dataset, taken with a
    server that reads it (same engine, version, architecture, page size), wins."""
    from ..data.datasets import dataset_id
    from ..db import engine_of
    from .datadir import snapshot_store
    from .identity import server_identity
    ds = stack.profile.dataset
    image_id = engine.api.inspect_image(sp.image.tag)["Id"]
    identity = server_identity(engine, engine_of(stack.profile), sp.image.tag, stack.scope)
    snap = snapshot_store(stack.scope).matching(stack.name, dataset_id(ds, stack.profile.imageset), image_id, identity)
    if snap is not None:
        return Data.RESTORE, f"{snap.manifest.profile}/{snap.manifest.name}"
    return Data.SEED, None


def plan_up(engine: Engine, stack: Stack) -> UpPlan:
    """Observe the engine and decide every step of ``up``; changes nothing."""
    check_owner(engine, stack.scope)
    order = stack.order()
    images = [stack.services[s].image for s in order]
    build = tuple(p.tag for p in images if not image_exists(engine, p.tag))
    base_missing = bool(build) and not image_exists(engine, stack.base.tag)
    existing = containers_of(engine, stack.scope)
    remove = tuple((svc, c["Id"]) for svc, c in sorted(existing.items()) if svc not in stack.services)
    have_network = bool(engine.api.networks(names=[names.network_name(stack.scope)],
                                            filters={"label": stack.scope.filters()}))
    have_volumes = _existing_volumes(engine, stack)
    wanted = [names.volume_name(stack.scope, v.name) for s in order for v in stack.services[s].service.volumes]
    new_volumes = tuple(dict.fromkeys(v for v in wanted if v not in have_volumes))

    planned: list[tuple[ServiceStep, ...]] = []
    for wave in waves(stack):
        steps = []
        for service in wave:
            sp = stack.services[service]
            current = existing.get(service)
            cid = current["Id"] if current else None
            if current and current["Labels"].get(names.CONFIG_HASH) == sp.config_hash:
                action = Action.KEEP if current["State"] == "running" else Action.START
                reason = "" if action is Action.KEEP else f"stopped ({current['State']})"
            elif current:
                action, reason = Action.RECREATE, "its image or settings changed"
            else:
                action, reason = Action.CREATE, ""
            data, snapshot = Data.NONE, None
            if action is not Action.KEEP:
                vol_exists = all(names.volume_name(stack.scope, v.name) in have_volumes for v in sp.service.volumes)
                data, snapshot = _data_step(engine, stack, sp, vol_exists)
                if action is Action.START and data is Data.SEED:
                    # the dataset is mounted when the container is created
                    action, reason = Action.RECREATE, "its database volume must be seeded"
            imageset = action in (Action.CREATE, Action.RECREATE) and stack.profile.imageset is not None \
                and stack.profile.imageset.service == service
            steps.append(ServiceStep(service, action, reason, data, snapshot, cid, imageset))
        planned.append(tuple(steps))
    # a clone's volume is made by the clone step itself (an overlay), not as a plain volume
    cloned = {names.volume_name(stack.scope, stack.services[s.service].service.volumes[0].name)
              for w in planned for s in w if s.data is Data.CLONE}
    new_volumes = tuple(v for v in new_volumes if v not in cloned)
    stale = tuple(c["Names"][0].lstrip("/") for c in helpers_of(engine, stack.scope))
    return UpPlan(stack, build, base_missing, remove, not have_network and any(
        s.action in (Action.CREATE, Action.RECREATE) for w in planned for s in w), new_volumes, tuple(planned), stale)


__all__ = ["Action", "Data", "ProjectClashError", "ServiceStep", "check_owner", "UpPlan", "containers_of", "helpers_of", "new_volume_source",
           "plan_up", "waves"]
