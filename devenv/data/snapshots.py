"""Physical database snapshots: the datadir volume, taken consistently, zstd-compressed.

A snapshot is a directory ``<cache>/snapshots/<profile>/<name>/`` holding
``datadir.tar.zst`` (the volume's tar stream as the Engine's archive API gives it)
and ``manifest.json``: profile, dataset id, the server image it was taken with
(physical files are tied to the server version), sizes, and the sha256 of every
file in it.

Consistency: the database container is stopped while the volume is read.
Restore checks everything before it touches the volume: the server image must be
the one the snapshot was taken with, every member must stay inside the volume (no
absolute paths, no ``..``, no links pointing out, no devices) and every file must
match its sha256. Only then is the volume emptied and the archive streamed into it
(decompressed on the fly: no staging copy on disk).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import docker.errors
import zstandard

from .. import names
from ..errors import DevenvError, NotFoundError
from ..ui import Reporter

ARCHIVE = "datadir.tar.zst"
MANIFEST = "manifest.json"
FORMAT = 1
INIT_MARKER = ".devenv-init-in-progress"  # the MariaDB entrypoint's "not yet complete" marker
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CHUNK = 1 << 20


class SnapshotError(DevenvError):
    """A snapshot cannot be used (missing, corrupt, unsafe, or for another server)."""


@dataclass(frozen=True)
class Manifest:
    format: int
    profile: str
    name: str
    service: str
    volume_target: str
    dataset: str | None
    server_image: str          # tag, e.g. devenv/db:0123abcd4567
    server_image_id: str       # sha256:... of that image
    created: str
    datadir_bytes: int
    archive_bytes: int
    files: dict[str, dict] = field(default_factory=dict)   # member -> {"sha256", "size"}

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise SnapshotError(f"snapshot manifest {path} is unreadable: {exc}") from None


@dataclass(frozen=True)
class Snapshot:
    path: Path
    manifest: Manifest

    @property
    def archive(self) -> Path:
        return self.path / ARCHIVE


class SnapshotStore:
    """Snapshots on disk, under ``<cache>/snapshots``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def dir_of(self, profile: str, name: str) -> Path:
        if not NAME_RE.match(name) or not NAME_RE.match(profile):
            raise SnapshotError(f"`{name}` is not a snapshot name (letters, digits, . _ -)")
        return self.root / profile / name

    def get(self, profile: str, name: str) -> Snapshot:
        path = self.dir_of(profile, name)
        if not (path / MANIFEST).is_file():
            have = ", ".join(s.manifest.name for s in self.list(profile)) or "none"
            raise NotFoundError(f"no snapshot `{name}` for profile {profile}", f"snapshots of {profile}: {have}")
        return Snapshot(path, Manifest.load(path / MANIFEST))

    def list(self, profile: str | None = None) -> list[Snapshot]:
        out = []
        pattern = f"{profile}/*/{MANIFEST}" if profile else f"*/*/{MANIFEST}"
        for manifest in sorted(self.root.glob(pattern)):
            try:
                out.append(Snapshot(manifest.parent, Manifest.load(manifest)))
            except SnapshotError:
                continue  # a broken one is reported by `get`, not by listings
        return out

    def remove(self, profile: str, name: str) -> None:
        snap = self.get(profile, name)
        shutil.rmtree(snap.path)

    def matching(self, profile: str, dataset: str | None, server_image_id: str) -> Snapshot | None:
        """A snapshot usable to seed ``profile``: same dataset, same server image; own profile first."""
        candidates = [s for s in self.list() if s.manifest.dataset == dataset
                      and s.manifest.server_image_id == server_image_id]
        candidates.sort(key=lambda s: (s.manifest.profile != profile, s.manifest.created), reverse=False)
        own = [s for s in candidates if s.manifest.profile == profile]
        pool = own or candidates
        return max(pool, key=lambda s: s.manifest.created) if pool else None


# -- save ---------------------------------------------------------------------------

class _Pipe:
    """An OS pipe between the download loop and the tar parser thread."""

    def __init__(self):
        self._r, self._w = os.pipe()
        self.reader = os.fdopen(self._r, "rb", buffering=CHUNK)
        self.writer = os.fdopen(self._w, "wb", buffering=0)


def _hash_members(stream: BinaryIO, files: dict, errors: list) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.isreg():
                    h = hashlib.sha256()
                    f = tar.extractfile(member)
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                    files[member.name] = {"sha256": h.hexdigest(), "size": member.size}
    except Exception as exc:  # reported by the caller
        errors.append(exc)
    while stream.read(CHUNK):  # drain the rest so the writer never blocks
        pass


def save(engine, store: SnapshotStore, *, profile: str, name: str, service: str, container: str,
         volume_target: str, dataset: str | None, reporter: Reporter, level: int = 3) -> Snapshot:
    """Snapshot the volume mounted at ``volume_target`` of ``container`` (stopped meanwhile)."""
    final = store.dir_of(profile, name)
    info = engine.api.inspect_container(container)
    image_id = info["Image"]
    image_tag = info["Config"]["Image"]
    was_running = info["State"]["Running"]
    tmp = final.parent / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if was_running:
            with reporter.step(f"stop {service} for a consistent copy"):
                engine.api.stop(container, timeout=60)
        files: dict[str, dict] = {}
        errors: list[Exception] = []
        raw = 0
        with reporter.step(f"save snapshot {profile}/{name}"):
            stream, _stat = engine.api.get_archive(container, volume_target, chunk_size=CHUNK)
            pipe = _Pipe()
            hasher = threading.Thread(target=_hash_members, args=(pipe.reader, files, errors), daemon=True)
            hasher.start()
            cctx = zstandard.ZstdCompressor(level=level, threads=-1)
            start = time.monotonic()
            with open(tmp / ARCHIVE, "wb") as out, cctx.stream_writer(out) as zout:
                for chunk in stream:
                    raw += len(chunk)
                    zout.write(chunk)
                    pipe.writer.write(chunk)
                    reporter.detail(f"{raw / 1e6:.0f} MB read, {raw / 1e6 / max(time.monotonic() - start, 1e-3):.0f} MB/s")
            pipe.writer.close()
            hasher.join()
            pipe.reader.close()
            if errors:
                raise SnapshotError(f"reading the datadir of {container} failed: {errors[0]}")
        manifest = Manifest(
            format=FORMAT, profile=profile, name=name, service=service, volume_target=volume_target,
            dataset=dataset, server_image=image_tag, server_image_id=image_id,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            datadir_bytes=sum(f["size"] for f in files.values()),
            archive_bytes=(tmp / ARCHIVE).stat().st_size, files=files)
        (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if was_running:
            engine.api.start(container)
    return Snapshot(final, manifest)


# -- verify and restore ---------------------------------------------------------------

def _safe(member: tarfile.TarInfo, root: str) -> str | None:
    """Why ``member`` would escape the volume, or None when it is safe."""
    name = member.name
    if name.startswith("/") or name.startswith("\\"):
        return "absolute path"
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or "/../" in f"/{name}/":
        return "path with .."
    if norm != root and not norm.startswith(root + "/"):
        return f"outside {root}/"
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith("/"):
            return f"link to absolute path {target}"
        base = posixpath.dirname(norm) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved != root and not resolved.startswith(root + "/"):
            return f"link pointing outside the volume ({target})"
    elif not (member.isreg() or member.isdir()):
        return "device, fifo or other special file"
    return None


def _members(snapshot: Snapshot) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    dctx = zstandard.ZstdDecompressor()
    with open(snapshot.archive, "rb") as raw, dctx.stream_reader(raw, read_size=CHUNK) as reader:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                yield member, tar


def verify(snapshot: Snapshot, reporter: Reporter) -> None:
    """Refuse a corrupt, tampered or unsafe snapshot. Reads it once, writes nothing."""
    m = snapshot.manifest
    root = posixpath.basename(m.volume_target.rstrip("/"))
    seen: dict[str, str] = {}
    done = 0
    with reporter.step(f"verify snapshot {m.profile}/{m.name}"):
        try:
            for member, tar in _members(snapshot):
                why = _safe(member, root)
                if why:
                    raise SnapshotError(f"snapshot {m.profile}/{m.name} refused: member {member.name!r}: {why}")
                if member.isreg():
                    h = hashlib.sha256()
                    f = tar.extractfile(member)
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                    seen[member.name] = h.hexdigest()
                    done += member.size
                    reporter.detail(f"{done / 1e6:.0f} / {m.datadir_bytes / 1e6:.0f} MB checked")
        except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
            raise SnapshotError(f"snapshot {m.profile}/{m.name} is corrupt: {exc}") from None
    expected = {k: v["sha256"] for k, v in m.files.items()}
    if seen != expected:
        bad = sorted(k for k in set(seen) | set(expected) if seen.get(k) != expected.get(k))
        raise SnapshotError(f"snapshot {m.profile}/{m.name} is corrupt or tampered: "
                            f"{len(bad)} file(s) differ from the manifest, e.g. {', '.join(bad[:3])}",
                            "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")


class _DecompressedTar(io.RawIOBase):
    """The decompressed archive as a file object, for streaming into the Engine."""

    def __init__(self, path: Path, reporter: Reporter, total: int):
        self._raw = open(path, "rb")
        self._reader = zstandard.ZstdDecompressor().stream_reader(self._raw, read_size=CHUNK)
        self._reporter, self._total, self._done = reporter, total, 0
        self._start = time.monotonic()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._reader.read(CHUNK if size is None or size < 0 else size)
        self._done += len(data)
        self._reporter.detail(f"{self._done / 1e6:.0f} MB written, "
                              f"{self._done / 1e6 / max(time.monotonic() - self._start, 1e-3):.0f} MB/s")
        return data

    def __iter__(self):
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._reader.close()
        self._raw.close()
        super().close()


def check_server(snapshot: Snapshot, image_id: str, image: str) -> None:
    """Physical files are tied to the server: refuse a snapshot from another server image."""
    m = snapshot.manifest
    if image_id != m.server_image_id:
        raise SnapshotError(
            f"snapshot {m.profile}/{m.name} was taken with server image {m.server_image} "
            f"({m.server_image_id[:19]}), not with the current {image} ({image_id[:19]})",
            "Physical snapshots are tied to the server version: seed from the dataset "
            "(`devenv down --volumes` then `devenv up`) and take a new snapshot.")


def restore(engine, snapshot: Snapshot, *, image_id: str, image: str, volume: str,
            reporter: Reporter) -> None:
    """Replace the content of ``volume`` with the snapshot, after checking everything.

    ``image`` is the server image to restore with (it must be the one the snapshot
    was taken with); the database container must be stopped by the caller.
    """
    check_server(snapshot, image_id, image)
    m = snapshot.manifest
    verify(snapshot, reporter)
    target = m.volume_target.rstrip("/")
    labels = names.extra_labels() | {names.MANAGED: "true", names.KIND: "restore"}
    marker = posixpath.join(target, INIT_MARKER)
    with reporter.step(f"restore snapshot {m.profile}/{m.name} into {volume}"):
        # Empty the volume and leave the "initialisation in progress" marker until the
        # last byte is written: a restore cut short (Ctrl-C, crash) is then redone by the
        # next `up`, never taken for a complete database.
        _run_in_volume(engine, image, volume, target, labels,
                       f"find {target} -mindepth 1 -delete && touch {marker}")
        holder = engine.api.create_container(
            image=image, command=["true"], entrypoint=[], user="0", labels=labels,
            host_config=engine.api.create_host_config(binds={volume: {"bind": target, "mode": "rw"}}))["Id"]
        try:
            stream = _DecompressedTar(snapshot.archive, reporter, m.datadir_bytes)
            try:
                ok = engine.api.put_archive(holder, posixpath.dirname(target) or "/", stream)
            finally:
                stream.close()
            if not ok:
                raise SnapshotError(f"the engine refused to write the snapshot into {volume}")
        except docker.errors.APIError as exc:
            raise SnapshotError(f"restoring into {volume} failed: {exc.explanation or exc}") from None
        finally:
            engine.api.remove_container(holder, force=True)
        _run_in_volume(engine, image, volume, target, labels, f"rm -f {marker}")


def _run_in_volume(engine, image: str, volume: str, target: str, labels: dict, script: str) -> None:
    """Run a shell command in a throwaway container of ``image`` with ``volume`` at ``target``."""
    cid = engine.api.create_container(
        image=image, command=["sh", "-c", script], entrypoint=[], user="0", labels=labels,
        host_config=engine.api.create_host_config(binds={volume: {"bind": target, "mode": "rw"}}))["Id"]
    try:
        engine.api.start(cid)
        code = engine.api.wait(cid, timeout=600)["StatusCode"]
        if code != 0:
            raise SnapshotError(f"`{script}` in volume {volume} failed (exit {code})")
    finally:
        engine.api.remove_container(cid, force=True)
