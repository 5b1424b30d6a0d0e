"""The database service's data volume: which one it is, and snapshots of it.

The dataset belongs to one service (``data.dataset.service``, default ``db``); that
service must mount exactly one named volume: its datadir.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors

from .. import names
from ..names import REFERENCE_PROJECT, Scope
from ..data.snapshots import Snapshot, SnapshotError, SnapshotStore, check_server, save
from ..errors import DevenvError
from ..paths import cache_dir
from ..render import Stack
from ..ui import Reporter
from .client import Engine
from ..db import engine_of
from .datadir_state import DatadirState, prepare_datadir
from .health import wait_ready
from .helpers import HelperError, remove_stale_helpers, run_in_volume, VOLUME_MOUNT
from .identity import server_identity
from .images import ensure_images
from .restore import restore_into_volume


@dataclass(frozen=True)
class DataVolume:
    service: str
    container: str
    volume: str        # engine volume name
    target: str        # mount path in the container


def data_volume(stack: Stack) -> DataVolume:
    dataset = stack.profile.dataset
    service_name = dataset.service if dataset else "db"
    service = stack.profile.services.get(service_name)
    if service is None:
        raise DevenvError(f"profile {stack.name} has no database service `{service_name}` to snapshot")
    if len(service.volumes) != 1:
        raise DevenvError(f"service {service_name} of profile {stack.name} mounts {len(service.volumes)} volumes; "
                          "snapshots need exactly one (the datadir)")
    v = service.volumes[0]
    return DataVolume(service_name, names.container_name(stack.scope, service_name),
                      names.volume_name(stack.scope, v.name), v.target)


def snapshot_store(project: Scope | str = REFERENCE_PROJECT) -> SnapshotStore:
    """The snapshots of one project (``<cache>/snapshots/<project>/``): a snapshot is only
    ever listed, matched or restored within the project it belongs to."""
    name = project.project if isinstance(project, Scope) else project
    return SnapshotStore(cache_dir() / "snapshots" / name)


def save_snapshot(engine: Engine, stack: Stack, name: str, reporter: Reporter) -> Snapshot:
    dv = data_volume(stack)
    try:
        engine.api.inspect_container(dv.container)
    except docker.errors.NotFound:
        raise DevenvError(f"profile {stack.name} has no {dv.service} container to snapshot",
                          f"Run `devenv up {stack.name}` first.") from None
    db = engine_of(stack.profile)
    image = stack.services[dv.service].image.tag
    ensure_images(engine, [stack.services[dv.service].image], stack.base, reporter)
    identity = server_identity(engine, db, image, stack.scope)

    def check_stopped() -> str | None:
        """The engine's own check of the stopped datadir (e.g. pg_controldata)."""
        try:
            run_in_volume(engine, image, dv.volume, stack.scope, "probe",
                          db.clean_shutdown_script(VOLUME_MOUNT), read_only=True)
        except HelperError as exc:
            # "the probe helper on volume V failed (exit 3): REASON"
            return exc.message.split("): ", 1)[-1].strip() or exc.message
        return None

    snap = save(engine, snapshot_store(stack.scope), profile=stack.name, name=name, service=dv.service,
                container=dv.container, volume_target=dv.target, dataset=stack.dataset_id, reporter=reporter,
                completion=db.complete_entry, identity=identity, check_stopped=check_stopped)
    _wait_if_running(engine, dv)
    return snap


def restore_snapshot(engine: Engine, stack: Stack, name: str, reporter: Reporter) -> Snapshot:
    """Restore a snapshot into the profile's datadir volume; the db container is stopped meanwhile.

    The old data stays until the snapshot verified completely (``engine/restore.py``);
    cut short at any moment, the volume holds the old data or the snapshot, and the
    database is started again only on one of them.
    """
    dv = data_volume(stack)
    snap = snapshot_store(stack.scope).get(stack.name, name)
    sp = stack.services[dv.service]
    ensure_images(engine, [sp.image], stack.base, reporter)
    image_id = engine.api.inspect_image(sp.image.tag)["Id"]
    running = False
    try:
        running = engine.api.inspect_container(dv.container)["State"]["Running"]
    except docker.errors.NotFound:
        pass
    identity = server_identity(engine, engine_of(stack.profile), sp.image.tag, stack.scope)
    check_server(snap, image_id, sp.image.tag, identity)  # before stopping anything
    remove_stale_helpers(engine, stack.scope)    # a killed restore's holder or switch
    if running:
        with reporter.step(f"stop {dv.service}"):
            engine.api.stop(dv.container, timeout=60)
    done = False
    try:
        _ensure_volume(engine, stack, dv)
        restore_into_volume(engine, snap, image_id=image_id, image=sp.image.tag, volume=dv.volume,
                            profile=stack.scope, reporter=reporter, identity=identity)
        done = True
    finally:
        if not done:  # cut short: finish a switch or drop the staging before a server sees it
            remove_stale_helpers(engine, stack.scope)
            prepare_datadir(engine, sp.image.tag, dv.volume, stack.scope, reporter,
                            complete_entry=engine_of(stack.profile).complete_entry, refuse_incomplete=False)
        if running:
            engine.api.start(dv.container)
    _wait_if_running(engine, dv)
    return snap


def prepare_data_volume(engine: Engine, stack: Stack, reporter: Reporter) -> DatadirState | None:
    """Before EVERY start of the stack's database service: make its datadir safe to start on.

    Removes the stack's stale helpers, finishes a snapshot switch cut short, drops a
    restore's staging that never reached its switch, and refuses a datadir of unknown
    origin (``IncompleteDatadirError``, with the way out) when the stack seeds a
    dataset (the entrypoint contract: a complete datadir holds the engine's completion entry).
    None when the stack has no single-volume database service; EMPTY when its volume
    does not exist yet. The service image must exist (call it after ``ensure_images``).
    """
    try:
        dv = data_volume(stack)
    except DevenvError:
        return None
    try:
        engine.api.inspect_volume(dv.volume)
    except docker.errors.NotFound:
        return DatadirState.EMPTY
    remove_stale_helpers(engine, stack.scope)
    return prepare_datadir(engine, stack.services[dv.service].image.tag, dv.volume, stack.scope, reporter,
                           complete_entry=engine_of(stack.profile).complete_entry,
                           refuse_incomplete=stack.profile.dataset is not None)


def _ensure_volume(engine: Engine, stack: Stack, dv: DataVolume) -> None:
    try:
        engine.api.inspect_volume(dv.volume)
    except docker.errors.NotFound:
        short = next(v.name for v in stack.profile.services[dv.service].volumes)
        engine.api.create_volume(dv.volume, labels=names.volume_labels(stack.scope, short))


def _wait_if_running(engine: Engine, dv: DataVolume) -> None:
    import time
    try:
        if engine.api.inspect_container(dv.container)["State"]["Running"]:
            wait_ready(engine, {dv.service: dv.container}, time.monotonic() + 300)
    except docker.errors.NotFound:
        pass


__all__ = ["DataVolume", "SnapshotError", "data_volume", "prepare_data_volume", "restore_snapshot", "save_snapshot",
           "snapshot_store"]
