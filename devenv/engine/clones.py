"""Copy-on-write database clones: one immutable base per snapshot, an overlay per instance.

A snapshot is unpacked once per engine into a **base**: the Docker volume
``devenv-base-<project>-<digest[:12]>`` (digest: sha256 of the snapshot's
``manifest.json``), filled by the verified restore path (``engine/restore.py``) and
never written again. Its completion is recorded last, as a second volume
``<base>-sealed`` whose labels hold the snapshot's digest and the **seal**: the
sha256 of a listing of every entry of the base (path, type, mode, owner, size, mtime,
ctime). The restore verified every byte against the manifest on the way in; any later
write into the base changes a ctime (which no user-space call can set back), so a
base whose seal differs is refused before a clone is made on it or started on it.
A base without its sealed record is a fill that was cut short: it is removed and
filled again (under a per-base file lock, so two ``up`` of one project fill it once).

An instance's datadir volume is then an overlay (Docker's local volume driver,
``type=overlay``) with the base as ``lowerdir`` and ``upper/``, ``work/`` in the
instance's own ``<datadir>-upper`` volume: creating it copies no data, and the
instance's writes land in its upper layer only (the first write to a file copies
that file up). The overlay volume is made last, after its upper layer is ready and
the base's seal checked, and carries ``dev.devenv.base`` (reference counting: the
users of a base are found by this label) and ``dev.devenv.upper``; its first mount
is tried at once (the kernel may refuse overlay) and a refusal falls back to the
copying restore. A killed devenv leaves at worst an upper layer without an overlay
(the next ``up`` resets it: nothing was ever written through it) or an overlay
whose base or upper is checked on every start (``check_clone``).

Bases are pruned (``prune_bases``, by ``devenv cache prune``) when no clone uses them and
their snapshot is gone (removed, or saved again under its name) or older than the newest
snapshot of its profile; only bases made from the pruning cache's snapshot stores (the
``dev.devenv.snapshot-store`` label) are judged. The check and the removal hold the base's
lock, which ``up`` also holds over the fill of a base and the clone made on it.

The trial mount runs until one overlay mounted on an engine (a marker file); afterwards the
kernel can still refuse a clone's overlay when the database container is created or first
started (``mount_refused``): ``uncloned_fallback`` then replaces the new clone (nothing was
written through it) by a plain volume with the copying restore, and says so once.

Clones need the engine on this machine (``DOCKER_HOST`` unset or a unix socket:
the base's mountpoint is a path on the engine's host, and the base lock is a file
here) and ``DEVENV_CLONES`` not set to ``0``; otherwise, or when the mount fails,
``up`` restores by copying and says so once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from .. import names
from ..data.snapshots import MANIFEST, Snapshot, SnapshotError, SnapshotStore
from ..errors import DevenvError
from ..names import Scope
from ..ui import Reporter
from . import cowstore
from .client import Engine
from .cowstore import COW_PATH, CowStore
from .helpers import VOLUME_MOUNT, HelperError, create_helper, remove_helper
from .volumes import volume_info

BASE = f"{names.PREFIX}.base"                 # on overlays and uppers: the base volume they use
UPPER = f"{names.PREFIX}.upper"               # on overlays: their upper-layer volume
SNAPSHOT = f"{names.PREFIX}.snapshot"         # on bases: "profile/name"
DIGEST = f"{names.PREFIX}.snapshot-digest"    # on bases: sha256 of the snapshot's manifest.json
STORE = f"{names.PREFIX}.snapshot-store"      # on bases: the snapshot store (directory) it came from
SEAL = f"{names.PREFIX}.seal"                 # on the sealed record: sha256 of the base's listing
BASE_KINDS = ("base", "base-sealed")
BASE_MOUNT = "/base"                          # where helpers see the base (read-only)


class CloneError(DevenvError):
    """A clone or its base cannot be used (missing, tampered, half made)."""


class ClonesUnavailable(Exception):
    """Clones cannot work here (reason in the message): the caller restores by copying."""


@dataclass(frozen=True)
class Base:
    volume: str          # the data volume (the overlay's lowerdir)
    mountpoint: str      # its data on the engine's host (in the btrfs store: the subvolume)
    seal: str
    cow: bool = False    # a read-only subvolume of the btrfs store (cowstore.py), not an overlay lower


def digest(snapshot: Snapshot) -> str:
    return hashlib.sha256((snapshot.path / MANIFEST).read_bytes()).hexdigest()


def base_name(project: str, snapshot: Snapshot, cow: bool = False) -> str:
    return f"devenv-{'cowbase' if cow else 'base'}-{project}-{digest(snapshot)[:12]}"


def sealed_name(base: str) -> str:
    return f"{base}-sealed"


def upper_name(volume: str) -> str:
    return f"{volume}-upper"


def unavailable_reason(engine: Engine | None = None) -> str | None:
    """Why clones cannot work with this engine, before trying (None: try them)."""
    if os.environ.get("DEVENV_CLONES", "").strip().lower() in ("0", "off", "no", "false"):
        return "DEVENV_CLONES is off"
    if engine is not None and not engine.is_local:
        return f"the engine is not on this machine ({engine.url}, chosen by {engine.source})"
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return f"the engine is not on this machine (DOCKER_HOST={host})"
    sock = host[len("unix://"):] if host else "/var/run/docker.sock"
    if not os.path.exists(sock):
        return f"the engine's socket {sock} is not on this machine"
    return None


def _base_labels(scope: Scope, kind: str, snapshot: Snapshot, base: str) -> dict[str, str]:
    m = snapshot.manifest
    labels = names.extra_labels() | {names.MANAGED: "true", names.PROJECT: scope.project, names.KIND: kind,
                                     BASE: base, SNAPSHOT: f"{m.profile}/{m.name}", DIGEST: digest(snapshot),
                                     STORE: str(snapshot.path.parent.parent.resolve())}
    if scope.root:
        labels[names.PROJECT_ROOT] = scope.root
    return labels


def _remove_volume(engine: Engine, name: str) -> None:
    """Remove a volume, first any helper container (left by a killed devenv) holding it, then
    its data in the btrfs store (when it is bound there)."""
    from .helpers import HELPER_KINDS
    v = volume_info(engine, name)
    for c in engine.api.containers(all=True, filters={"volume": name}):
        if (c.get("Labels") or {}).get(names.KIND) in HELPER_KINDS:
            remove_helper(engine, c["Id"])
    try:
        engine.api.remove_volume(name)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise CloneError(f"volume {name} cannot be removed: {exc.explanation or exc}") from None
    cowstore.release((v or {}).get("Labels"))


# The listing the seal is the sha256 of: every entry below the base, in a fixed order.
SEAL_SCRIPT = (f"cd {BASE_MOUNT} && find . -printf '%y %m %U:%G %s %T@ %C@ %p\\n' | LC_ALL=C sort | sha256sum "
               "| cut -d' ' -f1")


def _run(engine: Engine, image: str, scope: Scope, kind: str, binds: dict[str, dict], script: str) -> str:
    """Run ``sh -c script`` in a helper with ``binds``; its stdout (HelperError on failure)."""
    try:
        cid = engine.api.create_container(
            image=image, command=["sh", "-c", script], entrypoint=[], user="0",
            labels=names.helper_labels(scope, kind),
            host_config=engine.api.create_host_config(binds=binds))["Id"]
    except docker.errors.APIError as exc:
        raise HelperError(f"cannot create a {kind} helper: {exc.explanation or exc}") from None
    try:
        engine.api.start(cid)
        code = engine.api.wait(cid, timeout=600)["StatusCode"]
        out = engine.api.logs(cid, stdout=True, stderr=False).decode(errors="replace")
        if code != 0:
            err = engine.api.logs(cid, stdout=False, stderr=True).decode(errors="replace").strip()
            raise HelperError(f"the {kind} helper failed (exit {code}): {err[-500:]}")
        return out.strip()
    except docker.errors.APIError as exc:
        raise HelperError(f"the {kind} helper failed: {exc.explanation or exc}") from None
    finally:
        remove_helper(engine, cid)


def seal_of(engine: Engine, image: str, base: str, scope: Scope) -> str:
    return _run(engine, image, scope, "seal", {base: {"bind": BASE_MOUNT, "mode": "ro"}}, SEAL_SCRIPT)


# base locks this thread holds (re-entered, not re-taken: flock would deadlock). Per thread:
# `devenv try --jobs N` makes N instances from one base at once, and each thread must wait for
# the other's flock (each open() is its own lock) rather than walk in on it
_held = threading.local()


@contextmanager
def _base_lock(store: SnapshotStore, base: str):
    """One user of a base's life cycle at a time: its fill, a clone being made on it, its removal
    (two `up` of one project, `snapshot rm` or `cache prune` meanwhile)."""
    held = _held.__dict__.setdefault("counts", {})
    if held.get(base):
        held[base] += 1
        try:
            yield
        finally:
            held[base] -= 1
        return
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.root / f".{base}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        held[base] = 1
        try:
            yield
        finally:
            held.pop(base, None)


def sealed_base(engine: Engine, snapshot: Snapshot, *, image_id: str, image: str, scope: Scope,
                store: SnapshotStore, reporter: Reporter) -> Base:
    """The snapshot's base on this engine, made now when missing (the one copy of its data)."""
    from .restore import restore_into_volume
    base = base_name(scope.project, snapshot)
    with _base_lock(store, base):
        record = volume_info(engine, sealed_name(base))
        vol = volume_info(engine, base)
        if record is not None and vol is not None:
            return Base(base, vol["Mountpoint"], record["Labels"].get(SEAL, ""))   # checked by create_clone
        if record is not None:   # the data went (removed by hand): the record alone is worthless
            _remove_volume(engine, sealed_name(base))
        if vol is not None:      # a fill cut short (no record): start again
            with reporter.step(f"remove the unfinished base {base}"):
                _remove_volume(engine, base)
        engine.api.create_volume(base, labels=_base_labels(scope, "base", snapshot, base))
        try:
            restore_into_volume(engine, snapshot, image_id=image_id, image=image, volume=base,
                                profile=scope, reporter=reporter)
            with reporter.step(f"seal base {base}"):
                seal = seal_of(engine, image, base, scope)
                engine.api.create_volume(sealed_name(base), labels=_base_labels(scope, "base-sealed", snapshot, base)
                                         | {SEAL: seal})
        except BaseException:
            try:
                _remove_volume(engine, base)
            except Exception:  # noqa: BLE001 - the next fill removes it (no record); the first error matters
                pass
            raise
        return Base(base, volume_info(engine, base)["Mountpoint"], seal)


def sealed_cow_base(engine: Engine, snapshot: Snapshot, cow: CowStore, *, image_id: str, image: str,
                    scope: Scope, store: SnapshotStore, reporter: Reporter) -> Base:
    """The snapshot's base in the btrfs store, made now when missing: a subvolume filled by the
    verified restore through a Docker volume bound to it, then made read-only and sealed (the
    record volume, last). Anything of a fill cut short (a subvolume, its volume, no record) is
    deleted and filled again."""
    from .restore import restore_into_volume
    base = base_name(scope.project, snapshot, cow=True)
    path = cow.base_path(base)
    with _base_lock(store, base):
        record = volume_info(engine, sealed_name(base))
        vol = volume_info(engine, base)
        if record is not None and vol is not None and cowstore.is_subvolume(path):
            return Base(base, str(path), record["Labels"].get(SEAL, ""), cow=True)   # checked by create_cow_clone
        if record is not None:
            _remove_volume(engine, sealed_name(base))
        if vol is not None or path.exists():
            with reporter.step(f"remove the unfinished base {base}"):
                if vol is not None:
                    _remove_volume(engine, base)
                cowstore.delete(path)
        cowstore.create_subvolume(path)
        try:
            engine.api.create_volume(base, driver="local", driver_opts=cowstore.bind_options(path),
                                     labels=_base_labels(scope, "base", snapshot, base) | {COW_PATH: str(path)})
            restore_into_volume(engine, snapshot, image_id=image_id, image=image, volume=base,
                                profile=scope, reporter=reporter)
            with reporter.step(f"seal base {base} (read-only btrfs subvolume)"):
                cowstore.set_read_only(path)
                seal = cowstore.tree_seal(path)
                engine.api.create_volume(sealed_name(base), labels=_base_labels(scope, "base-sealed", snapshot, base)
                                         | {SEAL: seal})
        except BaseException:
            try:
                _remove_volume(engine, base)
                cowstore.delete(path)
            except Exception:  # noqa: BLE001 - the next fill removes it (no record); the first error matters
                pass
            raise
        return Base(base, str(path), seal, cow=True)


def create_cow_clone(engine: Engine, base: Base, cow: CowStore, *, volume: str, short: str, scope: Scope,
                     reporter: Reporter) -> None:
    """Make ``volume`` a btrfs snapshot of ``base`` (a Docker volume bound to it): no data is
    copied, only the blocks the server writes later are. The base's seal is checked first; the
    snapshot is atomic and the volume made last, so a killed devenv leaves at most a snapshot no
    volume was ever bound to (deleted here by the next clone of that name)."""
    path = cow.clone_path(volume)
    labels = names.volume_labels(scope, short) | {BASE: base.volume, COW_PATH: str(path)}
    with reporter.step(f"clone {base.volume} into {volume} (btrfs snapshot)"):
        _checked(engine, "", scope, base)
        cowstore.delete(path)
        cowstore.snapshot(Path(base.mountpoint), path)
        try:
            engine.api.create_volume(volume, driver="local", driver_opts=cowstore.bind_options(path), labels=labels)
        except BaseException:
            cowstore.delete(path)
            raise


def _checked(engine: Engine, image: str, scope: Scope, base: Base, now: str | None = None) -> Base:
    if now is None:
        now = cowstore.tree_seal(Path(base.mountpoint)) if base.cow else seal_of(engine, image, base.volume, scope)
    if now != base.seal:
        raise CloneError(f"base volume {base.volume} was changed after it was sealed (seal {now[:12]}, "
                         f"recorded {base.seal[:12]}): no clone is made on or started from it",
                         f"Remove the instances that use it (`devenv down PROFILE --name NAME --volumes`), then "
                         f"`docker volume rm {base.volume} {sealed_name(base.volume)}`; the next `up` unpacks it anew.")
    return base


def _upper_script(lower_root: str) -> str:
    # the base's seal first (one helper for both); upper/ takes the base root's owner and
    # mode: the overlay's root directory is upper/
    return (f"set -eu; ( {SEAL_SCRIPT} ); cd {VOLUME_MOUNT}; rm -rf upper work; mkdir upper work; "
            f"chown \"$(stat -c %u:%g {lower_root})\" upper; chmod \"$(stat -c %a {lower_root})\" upper")


def create_clone(engine: Engine, base: Base, *, image: str, volume: str, short: str, scope: Scope,
                 reporter: Reporter) -> None:
    """Make ``volume`` an overlay over ``base`` (see the module doc); raises ClonesUnavailable when
    the engine cannot mount it (nothing is left behind then)."""
    upper = upper_name(volume)
    labels = names.volume_labels(scope, short) | {BASE: base.volume}
    with reporter.step(f"clone {base.volume} into {volume} (copy-on-write)"):
        if volume_info(engine, upper) is None:
            engine.api.create_volume(upper, labels=labels | {names.KIND: "clone-upper"})
        # a leftover upper (a killed clone) never had an overlay: nothing was written through it
        seal = _run(engine, image, scope, "clone", {upper: {"bind": VOLUME_MOUNT, "mode": "rw"},
                                                    base.volume: {"bind": BASE_MOUNT, "mode": "ro"}},
                    _upper_script(BASE_MOUNT))
        try:
            _checked(engine, image, scope, base, now=seal)
        except CloneError:
            _remove_volume(engine, upper)
            raise
        opts = overlay_options(base.mountpoint, volume_info(engine, upper)["Mountpoint"])
        engine.api.create_volume(volume, driver="local", driver_opts=opts, labels=labels | {UPPER: upper})
        marker = _mounted_marker(engine)
        if marker is not None and marker.exists():
            return
        try:   # the first overlay on this engine: the kernel may refuse it (then: copy instead)
            _run(engine, image, scope, "probe", {volume: {"bind": VOLUME_MOUNT, "mode": "ro"}},
                 f"ls -A {VOLUME_MOUNT} >/dev/null")
        except HelperError as exc:
            _remove_volume(engine, volume)
            _remove_volume(engine, upper)
            raise ClonesUnavailable(f"the engine could not mount an overlay volume ({exc})") from None
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{upper}\n")


def overlay_options(lower: str, upper_mountpoint: str) -> dict[str, str]:
    """The local driver's options of a clone: ``lower`` (the base) under the upper volume's layer."""
    return {"type": "overlay", "device": "overlay",
            "o": f"lowerdir={lower},upperdir={upper_mountpoint}/upper,workdir={upper_mountpoint}/work"}


def _mounted_marker(engine: Engine) -> Path | None:
    """A file saying this engine mounted an overlay volume once: later clones skip the trial mount
    (a helper run; the database's own start mounts it)."""
    from ..paths import cache_dir
    try:
        engine_id = engine.api.info().get("ID", "").replace(":", "")
    except docker.errors.APIError:
        return None
    return cache_dir() / "clones" / f"overlay-mounts-{engine_id}" if engine_id else None


def clone_of(engine: Engine, volume: str) -> str | None:
    """The base volume ``volume`` is a clone of, or None (a plain volume, or none)."""
    v = volume_info(engine, volume)
    return ((v or {}).get("Labels") or {}).get(BASE) if v else None


def check_clone(engine: Engine, volume: str, image: str, scope: Scope) -> None:
    """Before a start of a clone: its base is there, sealed, unchanged, and its upper layer is there."""
    v = volume_info(engine, volume)
    labels = (v or {}).get("Labels") or {}
    base = labels.get(BASE)
    if not base:
        return
    if COW_PATH in labels:   # a btrfs snapshot: its data shares blocks with the base but needs nothing of it
        path = Path(labels[COW_PATH])
        if not cowstore.is_subvolume(path):
            raise CloneError(f"volume {volume} is a clone, but its data {path} in the copy-on-write store is gone",
                             f"Start it from scratch: `devenv down {scope} --volumes && devenv up {scope}`.")
        return
    upper = labels.get(UPPER, upper_name(volume))
    record, data = volume_info(engine, sealed_name(base)), volume_info(engine, base)
    missing = [n for n, x in ((base, data), (sealed_name(base), record), (upper, volume_info(engine, upper))) if x is None]
    if missing:
        raise CloneError(f"volume {volume} is a clone, but {', '.join(missing)} is gone: its data cannot be read",
                         f"Start it from scratch: `devenv down {scope} --volumes && devenv up {scope}`.")
    _checked(engine, image, scope, Base(base, data["Mountpoint"], record["Labels"].get(SEAL, "")))


def users_of(engine: Engine, base: str) -> list[str]:
    """The instances whose datadir is a clone of ``base`` ("profile --name instance")."""
    found = engine.api.volumes(filters={"label": [f"{BASE}={base}"]})["Volumes"] or []
    clones = [lab for lab in ((v.get("Labels") or {}) for v in found) if (UPPER in lab or COW_PATH in lab) and not is_base_volume(lab)]
    return sorted({str(Scope(lab.get(names.PROJECT, "?"), lab.get(names.PROFILE, "?"),
                             lab.get(names.INSTANCE, names.DEFAULT_INSTANCE))) for lab in clones})


def bases_of(engine: Engine, project: str, snapshot: Snapshot | None = None) -> list[str]:
    """The base volumes of ``project`` on this engine (of ``snapshot`` only, when given)."""
    wanted = [f"{names.MANAGED}=true", f"{names.PROJECT}={project}", f"{names.KIND}=base"]
    if snapshot is not None:
        wanted.append(f"{DIGEST}={digest(snapshot)}")
    return sorted(v["Name"] for v in engine.api.volumes(filters={"label": wanted})["Volumes"] or [])


def remove_bases(engine: Engine, project: str, snapshot: Snapshot, store: SnapshotStore) -> list[str]:
    """Before ``snapshot rm``: refuse while a clone uses the snapshot's base; else remove the base."""
    bases = bases_of(engine, project, snapshot)
    users = sorted({u for b in bases for u in users_of(engine, b)})
    m = snapshot.manifest
    if users:
        raise CloneError(f"snapshot {m.profile}/{m.name} is the base of {len(users)} running clone(s): "
                         f"{', '.join(users)}; it was not removed",
                         "Remove those instances' data first (`devenv down PROFILE --name NAME --volumes`).")
    for base in bases:
        with _base_lock(store, base):
            _remove_volume(engine, sealed_name(base))
            _remove_volume(engine, base)
    return bases


def is_base_volume(labels: dict) -> bool:
    return labels.get(names.KIND) in BASE_KINDS


__all__ = ["Base", "CloneError", "ClonesUnavailable", "base_name", "bases_of", "check_clone", "clone_of",
           "create_clone", "digest", "is_base_volume", "remove_bases", "sealed_base", "unavailable_reason",
           "users_of"]


def seed_by_clone(engine: Engine, stack, sp, new_volumes: set[str], reporter: Reporter):
    """``up``'s Data.CLONE step: the dataset service's (not yet existing) datadir volume becomes a
    clone of the matching snapshot's base; where clones cannot work, a plain volume gets the
    copying restore of ``plan_seed``. Returns (SeedPlan, the one warning of a fallback or None)."""
    from ..data.datasets import dataset_id
    from ..data.snapshots import check_server
    from .datadir import snapshot_store
    from .seeding import SeedPlan, plan_seed
    v = sp.service.volumes[0]
    volume = names.volume_name(stack.scope, v.name)
    reason = unavailable_reason(engine)
    if reason is None:
        store = snapshot_store(stack.scope)
        image_id = engine.api.inspect_image(sp.image.tag)["Id"]
        ds_id = dataset_id(stack.profile.dataset, stack.profile.imageset)
        snap = store.matching(stack.name, ds_id, image_id)
        cow = cowstore.find_store()[0] if snap is not None else None
        if snap is not None and cow is not None:   # block-level clones (cowstore.py)
            check_server(snap, image_id, sp.image.tag)
            with _base_lock(store, base_name(stack.scope.project, snap, cow=True)):   # not pruned meanwhile
                base = sealed_cow_base(engine, snap, cow, image_id=image_id, image=sp.image.tag, scope=stack.scope,
                                       store=store, reporter=reporter)
                create_cow_clone(engine, base, cow, volume=volume, short=v.name, scope=stack.scope,
                                 reporter=reporter)
            return SeedPlan({}, restored=f"{snap.manifest.profile}/{snap.manifest.name}", dataset=ds_id,
                            block_clone=True), None
        if snap is not None:
            check_server(snap, image_id, sp.image.tag)
            try:
                with _base_lock(store, base_name(stack.scope.project, snap)):   # not pruned meanwhile
                    base = sealed_base(engine, snap, image_id=image_id, image=sp.image.tag, scope=stack.scope,
                                       store=store, reporter=reporter)
                    create_clone(engine, base, image=sp.image.tag, volume=volume, short=v.name, scope=stack.scope,
                                 reporter=reporter)
                return SeedPlan({}, restored=f"{snap.manifest.profile}/{snap.manifest.name}", dataset=ds_id), None
            except ClonesUnavailable as exc:
                reason = str(exc)
    if volume_info(engine, volume) is None:
        engine.api.create_volume(volume, labels=names.volume_labels(stack.scope, v.name))
    seed = plan_seed(engine, stack, sp, set(new_volumes) | {volume}, reporter)
    if seed.restored is None:   # the snapshot went meanwhile: seeded, nothing to say about clones
        return seed, None
    return seed, (f"copy-on-write clones are not available ({reason}); snapshot {seed.restored} was restored "
                  "into the volume by copying instead")


@dataclass(frozen=True)
class StaleBase:
    volume: str
    project: str
    snapshot: str        # "profile/name" it was unpacked from
    reason: str          # why it goes
    bytes: int | None    # its size on the engine's disk, when the Engine reports it


def _stale_reason(labels: dict, store: SnapshotStore) -> str | None:
    """Why a base (unused) is not worth keeping, or None: its snapshot is gone (removed, or
    saved again under its name: another digest), or a newer snapshot of its profile exists
    (new instances clone that one)."""
    profile = labels.get(SNAPSHOT, "/").split("/", 1)[0]
    snaps = store.list(profile) if profile else []
    own = [s for s in snaps if digest(s) == labels.get(DIGEST)]
    if not own:
        return f"snapshot {labels.get(SNAPSHOT, '?')} of this base is gone"
    newer = [s for s in snaps if s.manifest.created > own[0].manifest.created]
    if newer:
        latest = max(newer, key=lambda s: s.manifest.created).manifest
        return f"snapshot {latest.profile}/{latest.name} of profile {profile} is newer"
    return None


def _sizes(engine: Engine) -> dict[str, int]:
    try:
        return {v["Name"]: (v.get("UsageData") or {}).get("Size", -1) for v in engine.api.df().get("Volumes") or []}
    except docker.errors.APIError:
        return {}


def prune_bases(engine: Engine, snapshots_root: Path, dry_run: bool = False) -> list[StaleBase]:
    """Remove the bases no clone uses whose snapshot is gone or older than the newest snapshot of
    their profile (``devenv cache prune``). Only bases made from this cache's snapshot stores
    (``snapshots_root/<project>``) are looked at: another cache's snapshots are not ours to
    judge. A base in use is never removed; the check and the removal hold the base's lock, so
    a clone being made on it meanwhile waits (and then unpacks it anew)."""
    wanted = [f"{names.MANAGED}=true", f"{names.KIND}=base"]
    found = engine.api.volumes(filters={"label": wanted})["Volumes"] or []
    sizes = _sizes(engine) if found else {}
    root = Path(snapshots_root).resolve()
    out = []
    for v in sorted(found, key=lambda v: v["Name"]):
        labels, name = v.get("Labels") or {}, v["Name"]
        project = labels.get(names.PROJECT, "")
        if not project or labels.get(STORE) != str(root / project):   # another cache's (or unlabelled: made before)
            continue
        store = SnapshotStore(root / project)
        with _base_lock(store, name):
            if users_of(engine, name):
                continue
            reason = _stale_reason(labels, store)
            if reason is None:
                continue
            if not dry_run:
                _remove_volume(engine, sealed_name(name))   # the record first: a base without it is never used
                _remove_volume(engine, name)
        size = sizes.get(name)
        out.append(StaleBase(name, project, labels.get(SNAPSHOT, "?"), reason, size if size and size >= 0 else None))
    return out + _prune_store_orphans(engine, dry_run)


def _prune_store_orphans(engine: Engine, dry_run: bool) -> list[StaleBase]:
    """The btrfs store's data of volumes that are gone (see ``cowstore.orphans``); only with a
    local engine (the store's volumes are this engine's)."""
    cow = cowstore.find_store()[0] if unavailable_reason(engine) is None else None
    if cow is None:
        return []
    volumes = {v["Name"] for v in engine.api.volumes().get("Volumes") or []}
    out = []
    for path in cowstore.orphans(cow, volumes):
        sizes = cowstore.exclusive_bytes([path])
        project = path.name[len("devenv-cowbase-"):].rsplit("-", 1)[0] if path.parent.name == "bases" else "?"
        if not dry_run:
            cowstore.delete(path)
        out.append(StaleBase(path.name, project, "?", f"its volume is gone; its data stayed in the store ({path})",
                             sizes.get(str(path))))
    return out


MOUNT_REFUSED = ("failed to mount local volume", "error while mounting volume")


def mount_refused(error: str) -> bool:
    """The Engine's words for a volume it could not mount when starting a container."""
    return any(m in error for m in MOUNT_REFUSED)


def uncloned_fallback(engine: Engine, stack, sp, new_volumes: set[str], error: str, reporter: Reporter):
    """The database's first start on its new clone failed because the kernel refused the overlay
    mount (the trial mount is skipped once one worked on this engine; a kernel or filesystem can
    change): nothing was ever written through the clone, so it is replaced by a plain volume with
    the copying restore of the same snapshot. The caller removed the container and makes it
    again with the returned SeedPlan. Returns (SeedPlan, the one warning)."""
    from .seeding import plan_seed
    v = sp.service.volumes[0]
    volume = names.volume_name(stack.scope, v.name)
    upper = ((volume_info(engine, volume) or {}).get("Labels") or {}).get(UPPER, upper_name(volume))
    with reporter.step(f"remove the clone {volume} (the engine refused its overlay mount)"):
        _remove_volume(engine, volume)
        _remove_volume(engine, upper)
        marker = _mounted_marker(engine)
        if marker is not None:
            marker.unlink(missing_ok=True)   # the next clone tries a mount first again
    engine.api.create_volume(volume, labels=names.volume_labels(stack.scope, v.name))
    seed = plan_seed(engine, stack, sp, set(new_volumes) | {volume}, reporter)
    # the kernel's reason ends the Engine's message ("...: mount overlay:...: no such file or directory")
    cause = error.strip().rsplit(": ", 1)[-1][:200] if error.strip() else "mount refused"
    return seed, (f"copy-on-write clones are not available (the engine refused the overlay mount: {cause}); "
                  + (f"snapshot {seed.restored} was restored into the volume by copying instead" if seed.restored
                     else "the volume was seeded instead"))


__all__ += ["StaleBase", "mount_refused", "overlay_options", "prune_bases", "uncloned_fallback"]
