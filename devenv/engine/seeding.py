"""Data for a fresh environment: the database seed and the product image set.

Database: when the dataset service's container is (re)created and its datadir
volume still needs initialising (new, empty, or left half-initialised by an
interrupted seed), devenv first looks for a snapshot of the same dataset taken
with a server that reads it (``devenv.db.ServerIdentity``) and restores it; otherwise it
generates the dataset (cached per machine, with the engine's load script) and
mounts it read-only at the seed path, where the recipe's entrypoint bulk-loads
it on first start. A volume that is initialised is
never touched. On a local engine the cache directory is bind-mounted; an engine
whose filesystem is not this machine's (``Engine.is_local`` false) gets it copied
through the archive API into a seed volume of the instance, reused while it holds
the same dataset.

Image set: the files go into the image set's volume through the Engine's archive
API (before the container starts), with the set's id as a marker file, so they
are copied once and replaced only when the image set changes.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from .. import names
from ..paths import cache_dir
from ..render import ServicePlan, Stack
from ..ui import Reporter
from .client import Engine
from .datadir_state import DatadirState, prepare_datadir, wipe
from .exec import read_file
from .volumes import volume_info

IMAGESET_MARKER = "IMAGESET_ID"


@dataclass(frozen=True)
class SeedPlan:
    binds: dict[str, dict]        # host path -> {"bind": path, "mode": "ro"}
    restored: str | None = None   # snapshot restored, "profile/name"
    dataset: str | None = None    # dataset id generated / mounted
    block_clone: bool = False     # the datadir is a block-level clone: no mount of it can be refused


def plan_seed(engine: Engine, stack: Stack, sp: ServicePlan, new_volumes: set[str], reporter: Reporter) -> SeedPlan:
    """What the dataset service needs before it is created: a restored snapshot or a seed mount.

    The datadir's state decides (``prepare_datadir``, one probe; skipped for a volume
    created just now): COMPLETE needs nothing; EMPTY or SEED_INTERRUPTED get a matching
    snapshot restored, else the dataset mounted (an interrupted seed wiped first); an
    interrupted restore is finished or dropped first; INCOMPLETE is refused.
    """
    profile = stack.profile
    if profile.dataset is None or sp.service.name != profile.dataset.service or len(sp.service.volumes) != 1:
        return SeedPlan({})
    from ..data.datasets import SEED_MOUNT, dataset_id, materialize
    from ..db import engine_of
    from .datadir import snapshot_store
    from .identity import server_identity
    from .restore import restore_into_volume

    v = sp.service.volumes[0]
    volume = names.volume_name(stack.scope, v.name)
    if volume in new_volumes:
        state = DatadirState.EMPTY
    else:
        state = prepare_datadir(engine, sp.image.tag, volume, stack.scope, reporter,
                                complete_entry=engine_of(profile).complete_entry)
    if state is DatadirState.COMPLETE:
        return SeedPlan({})
    ds_id = dataset_id(profile.dataset, profile.imageset)
    image_id = engine.api.inspect_image(sp.image.tag)["Id"]
    identity = server_identity(engine, engine_of(profile), sp.image.tag, stack.scope)
    snap = snapshot_store(stack.scope).matching(stack.name, ds_id, image_id, identity)
    if snap is not None:
        restore_into_volume(engine, snap, image_id=image_id, image=sp.image.tag, volume=volume,
                            profile=stack.scope, reporter=reporter, identity=identity)
        return SeedPlan({}, restored=f"{snap.manifest.profile}/{snap.manifest.name}", dataset=ds_id)
    files = materialize(profile.dataset, profile.imageset, cache_dir(), reporter, engine=engine_of(profile))
    if state is DatadirState.SEED_INTERRUPTED:  # start from empty (the entrypoint would too)
        wipe(engine, sp.image.tag, volume, stack.scope)
    source = str(files.path) if engine.is_local else seed_volume(engine, stack, sp.image.tag, files, reporter)
    return SeedPlan({source: {"bind": SEED_MOUNT, "mode": "ro"}}, dataset=files.id)


SEED_VOLUME = "seed"
SEED_MARKER = ".devenv-seed-copied"   # written after the whole dataset: its id


def seed_volume(engine: Engine, stack: Stack, image: str, files, reporter: Reporter) -> str:
    """The dataset directory ``files`` in a volume of the instance on the engine, copied
    through the archive API (the engine cannot see this machine's cache); its name.

    The marker with the dataset id is written after every file, so a copy cut short
    is never taken for a complete one: it is copied again from empty.
    """
    from .helpers import VOLUME_MOUNT, create_helper, remove_helper
    volume = names.volume_name(stack.scope, SEED_VOLUME)
    cid = None
    try:
        existing = volume_info(engine, volume) is not None
        if not existing:
            engine.api.create_volume(volume, labels=names.volume_labels(stack.scope, SEED_VOLUME))
        cid = create_helper(engine, image, volume, stack.scope, "seed")
        if existing and (read_file(engine, cid, posixpath.join(VOLUME_MOUNT, SEED_MARKER)) or b"").decode(errors="replace").strip() == files.id:
            return volume
        if existing:   # another dataset, or a copy cut short: start from an empty volume
            remove_helper(engine, cid)
            cid = None
            engine.api.remove_volume(volume)
            engine.api.create_volume(volume, labels=names.volume_labels(stack.scope, SEED_VOLUME))
            cid = create_helper(engine, image, volume, stack.scope, "seed")
        size = sum(p.stat().st_size for p in Path(files.path).rglob("*") if p.is_file())
        with reporter.step(f"copy dataset {files.id} ({size / 1e6:,.1f} MB) to the engine's volume {volume}"):
            stream = _TarStream(Path(files.path))
            try:
                if not engine.api.put_archive(cid, VOLUME_MOUNT, stream):
                    raise docker.errors.APIError(f"the engine refused the dataset for volume {volume}")
            finally:
                stream.close()
            if not engine.api.put_archive(cid, VOLUME_MOUNT, _one_file(SEED_MARKER, files.id + "\n")):
                raise docker.errors.APIError(f"the engine refused the seed marker for volume {volume}")
        return volume
    finally:
        if cid is not None:
            remove_helper(engine, cid)


def _one_file(name: str, text: str) -> bytes:
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def populate_imageset(engine: Engine, stack: Stack, sp: ServicePlan, container: str, reporter: Reporter) -> str | None:
    """Copy the image set into its volume of a created (not yet started) container, when needed."""
    imageset = stack.profile.imageset
    if imageset is None or sp.service.name != imageset.service:
        return None
    mount = next((v for v in sp.service.volumes if v.name == imageset.volume), None)
    if mount is None:
        return None
    from ..data.imagesets import imageset_id, materialize as materialize_images
    set_id = imageset_id(imageset)
    marker = read_file(engine, container, posixpath.join(mount.target, IMAGESET_MARKER))
    if marker is not None and marker.decode(errors="replace").strip() == set_id:
        return None
    files = materialize_images(imageset, cache_dir(), reporter)
    with reporter.step(f"copy {files.count:,} images ({files.bytes / 1e6:,.0f} MB) into volume {mount.name}"):
        stream = _TarStream(files.path)
        if not engine.api.put_archive(container, mount.target, stream):
            raise docker.errors.APIError(f"the engine refused the image set for {container}")
    return set_id


class _TarStream(io.RawIOBase):
    """A directory's contents as a tar stream, produced as it is read (no temp file)."""

    def __init__(self, root: Path):
        import os
        import threading
        self._r, self._w = os.pipe()
        self._reader = os.fdopen(self._r, "rb")
        self._thread = threading.Thread(target=self._write, args=(root, os.fdopen(self._w, "wb")), daemon=True)
        self._thread.start()

    @staticmethod
    def _write(root: Path, out) -> None:
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path in sorted(root.rglob("*")):
                    info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
                    info.uid = info.gid = 0
                    info.uname = info.gname = "root"
                    info.mode = 0o755 if path.is_dir() else 0o644
                    if path.is_file():
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
        finally:
            out.close()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(1 << 20 if size is None or size < 0 else size)

    def __iter__(self):
        while chunk := self.read(1 << 20):
            yield chunk

    def close(self) -> None:
        self._reader.close()
        super().close()


def held_dataset(engine: Engine, container: str, db_engine=None) -> str | None:
    """The dataset id a running database holds, as the recipe's entrypoint records it
    (the engine's seed state); None when it cannot be read."""
    from ..db import DEFAULT_ENGINE, engine_named
    from .exec import capture
    db_engine = db_engine or engine_named(DEFAULT_ENGINE)
    code, out = capture(engine, container, db_engine.held_dataset_command())
    return out.strip() or None if code == 0 else None


def dataset_mismatch(engine: Engine, stack: Stack, container: str) -> str | None:
    """A warning when the volume holds another dataset than the profile declares."""
    profile = stack.profile
    if profile.dataset is None:
        return None
    from ..data.datasets import dataset_id
    want = dataset_id(profile.dataset, profile.imageset)
    from ..db import engine_of
    have = held_dataset(engine, container, engine_of(profile))
    if have is None or have == want:
        return None
    return (f"the {profile.dataset.service} volume holds dataset {have}, but profile {stack.name} declares {want}; "
            f"the volume is kept as it is. To reseed: `devenv down {stack.name} --volumes && devenv up {stack.name}`.")
