"""Physical database snapshots: the datadir volume, taken consistently, zstd-compressed.

A snapshot is a directory ``<cache>/snapshots/<profile>/<name>/`` holding
``datadir.tar.zst`` (the volume's tar stream as the Engine's archive API gives it)
and ``manifest.json``: profile, dataset id, the server image it was taken with
(physical files are tied to the server version), sizes, and the sha256 of every
file in it.

Consistency: the database container is stopped while the volume is read. On the
way the tar stream is rewritten with the system schema (``COMPLETION_DIR``) last.

Restore checks before it touches the volume: the server image must be the one the
snapshot was taken with, the archive must be byte for byte the one saved (its
sha256 is in the manifest; the per-file sha256s are checked instead for snapshots
without it), and, when the volume holds data, every member must stay inside the
volume (no absolute paths, no ``..``, no links pointing out, no devices). Then the
archive is decompressed straight into the volume through the Engine's archive API
(no staging copy), each member header checked again on the way. A restore cut
short leaves a volume without the system schema, which ``devenv up`` recognises
and restores again.
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
import tempfile
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
FORMAT = 2
# The datadir's system schema: saved last, restored last, so a volume without it
# (but with other files) is a restore that did not finish.
COMPLETION_DIR = "mysql"
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
    archive_sha256: str | None = None                       # of datadir.tar.zst as stored

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

class _ChunkReader(io.RawIOBase):
    """The Engine's archive stream (an iterator of chunks) as a file object."""

    def __init__(self, chunks, on_read):
        self._chunks, self._buf, self._on_read = iter(chunks), b"", on_read

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
            self._on_read(len(self._buf))
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n


class _HashingWriter:
    """Counts and hashes what is written to the archive file."""

    def __init__(self, f):
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.h.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


class _HashingReader:
    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def is_completion_member(name: str, root: str) -> bool:
    """Members written last: while they are missing, the volume is known to be incomplete."""
    prefix = f"{root}/{COMPLETION_DIR}"
    return name == prefix or name.startswith(prefix + "/")


def save(engine, store: SnapshotStore, *, profile: str, name: str, service: str, container: str,
         volume_target: str, dataset: str | None, reporter: Reporter, level: int = 3) -> Snapshot:
    """Snapshot the volume mounted at ``volume_target`` of ``container`` (stopped meanwhile).

    The tar stream is rewritten on the way with the completion members (the system
    schema) moved to the end, so that a restore cut short can be recognised.
    """
    final = store.dir_of(profile, name)
    info = engine.api.inspect_container(container)
    image_id = info["Image"]
    image_tag = info["Config"]["Image"]
    was_running = info["State"]["Running"]
    root = posixpath.basename(volume_target.rstrip("/"))
    tmp = final.parent / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if was_running:
            with reporter.step(f"stop {service} for a consistent copy"):
                engine.api.stop(container, timeout=60)
        files: dict[str, dict] = {}
        read = [0]
        start = time.monotonic()

        def progress(n: int) -> None:
            read[0] += n
            reporter.detail(f"{read[0] / 1e6:.0f} MB read, {read[0] / 1e6 / max(time.monotonic() - start, 1e-3):.0f} MB/s")

        with reporter.step(f"save snapshot {profile}/{name}"):
            stream, _stat = engine.api.get_archive(container, volume_target, chunk_size=CHUNK)
            cctx = zstandard.ZstdCompressor(level=level, threads=-1)
            deferred: list[tuple[tarfile.TarInfo, tempfile.SpooledTemporaryFile | None]] = []
            with open(tmp / ARCHIVE, "wb") as raw_out:
                counted = _HashingWriter(raw_out)
                with cctx.stream_writer(counted, closefd=False) as zout, \
                        tarfile.open(fileobj=zout, mode="w|", format=tarfile.PAX_FORMAT) as out, \
                        tarfile.open(fileobj=_ChunkReader(stream, progress), mode="r|") as src:
                    for member in src:
                        why = _safe(member, root)
                        if why:
                            raise SnapshotError(f"{container}:{volume_target} holds {member.name!r} ({why})")
                        data = None
                        if member.isreg():
                            hashing = _HashingReader(src.extractfile(member))
                            if is_completion_member(member.name, root):
                                data = tempfile.SpooledTemporaryFile(max_size=64 << 20)
                                shutil.copyfileobj(hashing, data, CHUNK)
                                data.seek(0)
                            else:
                                out.addfile(member, hashing)
                            files[member.name] = {"sha256": hashing.h.hexdigest(), "size": member.size}
                        if is_completion_member(member.name, root):
                            deferred.append((member, data))
                        elif not member.isreg():
                            out.addfile(member)
                    for member, data in deferred:
                        out.addfile(member, data)
                        if data is not None:
                            data.close()
        manifest = Manifest(
            format=FORMAT, profile=profile, name=name, service=service, volume_target=volume_target,
            dataset=dataset, server_image=image_tag, server_image_id=image_id,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            datadir_bytes=sum(f["size"] for f in files.values()),
            archive_bytes=counted.size, files=files, archive_sha256=counted.h.hexdigest())
        (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except (tarfile.TarError, zstandard.ZstdError, docker.errors.APIError) as exc:
        raise SnapshotError(f"reading the datadir of {container} failed: {exc}") from None
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


class _TarHeaderScanner:
    """Checks every member header of a tar stream as its bytes pass by, copying nothing.

    Understands ustar, GNU long names and pax headers: enough to see each member's
    real name, type and link target, which ``_safe`` judges.
    """

    def __init__(self, root: str, label: str):
        self.root, self.label = root, label
        self.buf = bytearray()
        self.skip = 0               # data bytes (padded) of the current member still to pass
        self.pending: dict[str, str] = {}
        self.pending_data: tuple[str, int] | None = None   # ("x"/"L"/"K", size) being collected
        self.ended = False

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.skip:
                n = min(self.skip, len(view))
                if self.pending_data:
                    self.buf += view[:n]
                self.skip -= n
                view = view[n:]
                if not self.skip and self.pending_data:
                    self._meta(bytes(self.buf))
                    self.buf.clear()
                continue
            need = 512 - len(self.buf)
            self.buf += view[:need]
            view = view[need:]
            if len(self.buf) == 512:
                header = bytes(self.buf)
                self.buf.clear()
                self._header(header)

    def _meta(self, data: bytes) -> None:
        kind, size = self.pending_data
        data = data[:size]
        self.pending_data = None
        if kind == "L":
            self.pending["path"] = data.rstrip(b"\0").decode("utf-8", "replace")
        elif kind == "K":
            self.pending["linkpath"] = data.rstrip(b"\0").decode("utf-8", "replace")
        else:  # pax records: "LEN key=value\n"
            pos = 0
            while pos < len(data):
                sp = data.index(b" ", pos)
                length = int(data[pos:sp])
                key, _, value = data[sp + 1:pos + length - 1].partition(b"=")
                if key in (b"path", b"linkpath"):
                    self.pending[key.decode()] = value.decode("utf-8", "replace")
                pos += length

    def _header(self, h: bytes) -> None:
        if h == b"\0" * 512:
            self.ended = True
            return
        if self.ended:
            raise SnapshotError(f"snapshot {self.label} refused: data after the end of the archive")
        size = int(h[124:136].rstrip(b"\0 ") or b"0", 8) if h[124] < 0x80 else int.from_bytes(h[125:136], "big")
        kind = chr(h[156]) if h[156] else "0"
        padded = (size + 511) // 512 * 512
        if kind in ("x", "L", "K"):
            self.pending_data = (kind, size)
            self.skip = padded
            return
        if kind == "g":
            self.skip = padded
            return
        name = h[0:100].rstrip(b"\0").decode("utf-8", "replace")
        prefix = h[345:500].rstrip(b"\0").decode("utf-8", "replace") if h[257:262] == b"ustar" else ""
        name = self.pending.get("path") or (f"{prefix}/{name}" if prefix else name)
        info = tarfile.TarInfo(name.rstrip("/") if kind == "5" else name)
        info.type = kind.encode()
        info.linkname = self.pending.get("linkpath") or h[157:257].rstrip(b"\0").decode("utf-8", "replace")
        self.pending = {}
        why = _safe(info, self.root)
        if why:
            raise SnapshotError(f"snapshot {self.label} refused: member {info.name!r}: {why}")
        self.skip = padded if kind in ("0", "\0", "7") else 0


def _decompressed_chunks(snapshot: Snapshot, scanner: _TarHeaderScanner, reporter: Reporter) -> Iterator[bytes]:
    start, done = time.monotonic(), 0
    with open(snapshot.archive, "rb") as raw, \
            zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK) as reader:
        while chunk := reader.read(4 * CHUNK):
            scanner.feed(chunk)
            done += len(chunk)
            reporter.detail(f"{done / 1e6:.0f} MB, {done / 1e6 / max(time.monotonic() - start, 1e-3):.0f} MB/s")
            yield chunk


def check_archive(snapshot: Snapshot, reporter: Reporter) -> None:
    """Before anything is written: the archive is byte for byte the one saved.

    Snapshots of format 2 record the sha256 of the compressed archive (one fast pass
    over a fifth of the data); older ones get the per-file check of ``verify``.
    """
    m = snapshot.manifest
    if not m.archive_sha256:
        verify(snapshot, reporter)
        return
    with reporter.step(f"check snapshot {m.profile}/{m.name}"):
        h = hashlib.sha256()
        try:
            with open(snapshot.archive, "rb") as f:
                while chunk := f.read(4 * CHUNK):
                    h.update(chunk)
        except OSError as exc:
            raise SnapshotError(f"snapshot {m.profile}/{m.name} is unreadable: {exc}") from None
    if h.hexdigest() != m.archive_sha256:
        raise SnapshotError(f"snapshot {m.profile}/{m.name} is corrupt or tampered: {ARCHIVE} does not match "
                            "the sha256 in its manifest",
                            "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")


def scan(snapshot: Snapshot, reporter: Reporter) -> None:
    """Check every member's path (no writing): used before an existing volume is emptied."""
    m = snapshot.manifest
    scanner = _TarHeaderScanner(posixpath.basename(m.volume_target.rstrip("/")), f"{m.profile}/{m.name}")
    with reporter.step(f"scan snapshot {m.profile}/{m.name}"):
        try:
            for _ in _decompressed_chunks(snapshot, scanner, reporter):
                pass
        except zstandard.ZstdError as exc:
            raise SnapshotError(f"snapshot {m.profile}/{m.name} is corrupt: {exc}") from None


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
            reporter: Reporter, volume_is_new: bool = False) -> None:
    """Replace the content of ``volume`` with the snapshot, after checking it.

    Refused before the volume is touched: another server image, an archive that is
    not byte for byte the one saved, and (for a volume that holds data) any member
    that would land outside the volume. The archive is then decompressed straight
    into the volume through the Engine (no staging copy), every member header checked
    again on the way. The system schema comes last in the archive: a restore cut
    short leaves a volume without it, which the next ``devenv up`` restores again.
    ``image`` is the server image to restore with; the caller stops the database.
    """
    check_server(snapshot, image_id, image)
    m = snapshot.manifest
    check_archive(snapshot, reporter)
    if not volume_is_new:
        scan(snapshot, reporter)
    target = m.volume_target.rstrip("/")
    labels = names.extra_labels() | {names.MANAGED: "true", names.KIND: "restore"}
    with reporter.step(f"restore snapshot {m.profile}/{m.name} into {volume}"):
        if not volume_is_new:
            run_in_volume(engine, image, volume, target, labels, f"find {target} -mindepth 1 -delete")
        holder = engine.api.create_container(
            image=image, command=["true"], entrypoint=[], user="0", labels=labels,
            host_config=engine.api.create_host_config(binds={volume: {"bind": target, "mode": "rw"}}))["Id"]
        scanner = _TarHeaderScanner(posixpath.basename(target), f"{m.profile}/{m.name}")
        try:
            ok = engine.api.put_archive(holder, posixpath.dirname(target) or "/",
                                        _decompressed_chunks(snapshot, scanner, reporter))
            if not ok:
                raise SnapshotError(f"the engine refused to write the snapshot into {volume}")
        except docker.errors.APIError as exc:
            raise SnapshotError(f"restoring into {volume} failed: {exc.explanation or exc}") from None
        except (zstandard.ZstdError, SnapshotError) as exc:
            raise SnapshotError(f"{exc}; volume {volume} is incomplete: `devenv up` restores or seeds it again")
        finally:
            engine.api.remove_container(holder, force=True)


def run_in_volume(engine, image: str, volume: str, target: str, labels: dict, script: str) -> None:
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
