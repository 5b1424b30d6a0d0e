"""Restore a snapshot into a datadir volume: stage, verify while streaming, then switch.

The old data is never touched before the whole snapshot verified:

1. A holder container (the server image, the volume at ``/vol``) receives the
   decompressed archive through the Engine's archive API into ``/vol/.devenv-restore``;
   ``snapshots.verified_chunks`` checks every member (path, sha256, nothing missing,
   not cut off) as it streams and raises on the first fault, before the faulty chunk
   is handed on. A fault, Ctrl-C or a lost connection: the staging is removed, the
   old data is as it was. A SIGKILL: the staging (without ``VERIFIED``) is removed
   by the next ``prepare_datadir``.
2. ``VERIFIED`` is written into the staging, then the switch helper replaces the
   old entries by the staged ones under a roll-forward journal
   (``datadir_state.switch``). A switch cut short is finished by the next
   ``prepare_datadir`` (every ``up``, every restore).
"""

from __future__ import annotations

import io
import posixpath
import tarfile

import docker.errors

from ..data.snapshots import Snapshot, SnapshotError, check_server, verified_chunks
from ..ui import Reporter
from .client import Engine
from .datadir_state import STAGING, VERIFIED, discard_staging, prepare_datadir, switch
from .helpers import VOLUME_MOUNT, create_helper, remove_helper


def _small_tar(name: str, data: bytes | None = None) -> bytes:
    """A tar of one directory (``data`` None) or one file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        if data is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
        else:
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _put(engine: Engine, holder: str, path: str, data, volume: str) -> None:
    try:
        ok = engine.api.put_archive(holder, path, data)
    except docker.errors.APIError as exc:
        raise SnapshotError(f"restoring into volume {volume} failed: {exc.explanation or exc}",
                            "The current data was not touched.") from None
    if not ok:
        raise SnapshotError(f"the engine refused to write into volume {volume}", "The current data was not touched.")


def restore_into_volume(engine: Engine, snapshot: Snapshot, *, image_id: str, image: str, volume: str,
                        profile: "Scope | str", reporter: Reporter, identity=None) -> None:
    """Replace the content of ``volume`` by ``snapshot``, verified first (see the module doc).

    ``image`` is the server image (it must be the one the snapshot was taken with);
    the caller has stopped the database. Helpers are labelled for ``profile``.
    ``identity``: the server's ``ServerIdentity`` (it must read the snapshot's files).
    """
    check_server(snapshot, image_id, image, identity)
    m = snapshot.manifest
    root = posixpath.basename(m.volume_target.rstrip("/"))
    # a switch cut short is finished, an older staging removed: start from a known state
    prepare_datadir(engine, image, volume, profile, reporter, complete_entry=snapshot.manifest.completion,
                    refuse_incomplete=False)
    holder = create_helper(engine, image, volume, profile, "restore")
    try:
        with reporter.step(f"restore snapshot {m.profile}/{m.name} into {volume}"):
            _put(engine, holder, VOLUME_MOUNT, _small_tar(STAGING), volume)
            _put(engine, holder, f"{VOLUME_MOUNT}/{STAGING}", verified_chunks(snapshot, reporter), volume)
            _put(engine, holder, VOLUME_MOUNT, _small_tar(f"{STAGING}/{VERIFIED}", root.encode()), volume)
    except BaseException:
        # a fault, Ctrl-C, a lost engine: the old data was never touched; drop what was staged
        remove_helper(engine, holder)
        try:
            discard_staging(engine, image, volume, profile)
        except Exception:  # noqa: BLE001 - the next prepare_datadir removes it; the first error matters
            pass
        raise
    remove_helper(engine, holder)
    with reporter.step(f"switch {volume} to snapshot {m.profile}/{m.name}"):
        switch(engine, image, volume, profile)
