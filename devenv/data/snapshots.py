"""Physical database snapshots: the datadir volume, taken consistently, zstd-compressed.

A snapshot is a directory ``<cache>/snapshots/<profile>/<name>/`` holding
``datadir.tar.zst`` (the volume's tar stream as the Engine's archive API gives it)
and ``manifest.json``: profile, dataset id, the server it was taken with (its
``ServerIdentity``: engine, version, architecture, page size; physical files are
readable by exactly such servers; and the image, for the record), sizes, and the
sha256 of every file in it.

Consistency: the database container is stopped while the volume is read, and the
server must have shut down cleanly (its exit status 0 and the engine's own check of
the datadir), or nothing is saved. On the way the tar stream is rewritten with the
engine's completion entry (MariaDB's system schema ``mysql/``, PostgreSQL's
``global/``) last.

Restore (``engine/restore.py``) reads the archive once through ``verified_chunks``:
the server image must be the one the snapshot was taken with, every member must stay
inside the volume (no absolute paths, no ``..``, no links pointing out, no devices,
none of devenv's reserved names), every file's sha256 must match the manifest,
nothing may be missing or cut off, and the compressed file must be byte for byte the
one saved. The stream goes into a staging directory of the volume; only a stream
that verified completely is switched in.
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

import zstandard

from ..db import DEFAULT_ENGINE, ENGINES, RESERVED_NAMES, ServerIdentity
from ..errors import DevenvError, EngineError, NotFoundError
from . import _pid_alive
from ..ui import Reporter

ARCHIVE = "datadir.tar.zst"
MANIFEST = "manifest.json"
FORMAT = 2
# The default completion entry (MariaDB's system schema): saved last, restored last, so
# a volume without it (but with other files) is a restore that did not finish. Callers
# that know the engine pass its ``complete_entry``.
COMPLETION_DIR = ENGINES[DEFAULT_ENGINE].complete_entry
# RESERVED_NAMES (devenv.db): restore stages into <volume>/.devenv-restore and switches
# under the journal <volume>/.devenv-switching: a datadir may not hold them.
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
    identity: dict | None = None                            # ServerIdentity.to_json(); None: older snapshots
    completion: str = COMPLETION_DIR                        # the entry saved last

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

    def remove(self, profile: str, name: str, before=None) -> None:
        """Delete a snapshot; ``before(snapshot)`` may refuse first by raising (a base in use:
        ``engine/clones.py``) or clean up what was made from it."""
        snap = self.get(profile, name)
        if before is not None:
            before(snap)
        shutil.rmtree(snap.path)

    def matching(self, profile: str, dataset: str | None, server_image_id: str,
                 identity: ServerIdentity | None = None) -> Snapshot | None:
        """A snapshot usable to seed ``profile``: same dataset, a server that reads it
        (``identity``; snapshots without one: the same image); own profile first."""
        candidates = [s for s in self.list() if s.manifest.dataset == dataset
                      and server_reads(s.manifest, server_image_id, identity)]
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


def is_completion_member(name: str, root: str, completion: str = COMPLETION_DIR) -> bool:
    """Members written last: while they are missing, the volume is known to be incomplete."""
    prefix = f"{root}/{completion}"
    return name == prefix or name.startswith(prefix + "/")


class SaveInterrupted(DevenvError):
    """Ctrl-C during ``snapshot save``: nothing was saved, the database restarted."""

    exit_code = 130


def _partial_dir(final: Path, pid: int) -> Path:
    return final.parent / f".{final.name}.partial-{pid}"


def remove_stale_partials(profile_dir: Path) -> list[Path]:
    """Remove ``.NAME.partial-PID`` folders whose saving process is gone (a SIGKILLed save)."""
    removed = []
    for path in profile_dir.glob(".*.partial-*"):
        try:
            pid = int(path.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and _pid_alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _in_worker(fn, on_interrupt):
    """Run ``fn`` in a worker thread; the main thread only waits, so Ctrl-C is handled at once.

    A blocking socket read of the Engine's stream would otherwise delay the
    KeyboardInterrupt (or swallow it, when the signal lands on a compressor thread).
    On Ctrl-C ``on_interrupt`` unblocks the worker (closes its stream), the worker
    gets a second to wind down, and KeyboardInterrupt goes on.
    """
    import threading
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="devenv-snapshot-save", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        on_interrupt()
        worker.join(0.5)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def save(engine, store: SnapshotStore, *, profile: str, name: str, service: str, container: str,
         volume_target: str, dataset: str | None, reporter: Reporter, level: int = 3,
         completion: str = COMPLETION_DIR, identity: ServerIdentity | None = None,
         check_stopped=None) -> Snapshot:
    """Snapshot the volume mounted at ``volume_target`` of ``container`` (stopped meanwhile).

    The tar stream is rewritten on the way with the completion members (the system
    schema) moved to the end. The files are written into ``.NAME.partial-PID`` and
    renamed into place when complete; partials of dead processes are removed first.
    Ctrl-C stops at once: the Engine's stream is cut, the partial removed, the
    database started again, and ``SaveInterrupted`` raised.

    A server that did not shut down cleanly is refused before anything is read: its
    exit status must be 0 (a server killed after the stop timeout is not), and
    ``check_stopped()`` (the engine's datadir check, run on the stopped volume)
    must return None rather than a reason.
    """
    final = store.dir_of(profile, name)
    remove_stale_partials(final.parent)
    info = engine.container(container)
    if info is None:
        raise SnapshotError(f"snapshot of {service}: no container {container}", f"Start it with `devenv up {profile}`.")
    image_id, image_tag, was_running = info.image_id, info.image, info.running
    root = posixpath.basename(volume_target.rstrip("/"))
    tmp = _partial_dir(final, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    import threading
    stream: list = []   # the engine's ArchiveStream, once the request is made
    cancelled = threading.Event()
    interrupted = saved = False

    def cut() -> None:
        cancelled.set()
        for s in stream:
            s.abort()

    try:
        if was_running:
            with reporter.step(f"stop {service} for a consistent copy"):
                _in_worker(lambda: engine.stop(container, timeout=60), cut)
        _refuse_unclean(engine, container, service, profile, check_stopped)
        start = time.monotonic()
        read = [0]

        def progress(n: int) -> None:
            if cancelled.is_set():
                raise KeyboardInterrupt  # ends the worker; the main thread handles the real one
            read[0] += n
            reporter.detail(f"{read[0] / 1e6:.0f} MB read, {read[0] / 1e6 / max(time.monotonic() - start, 1e-3):.0f} MB/s")

        def copy():
            stream.append(engine.archive_stream(container, volume_target))
            if cancelled.is_set():  # Ctrl-C came while the request was being made
                stream[0].abort()
                raise KeyboardInterrupt
            return _rewrite_archive(stream[0].chunks(), tmp / ARCHIVE, root, f"{container}:{volume_target}",
                                    level, progress, completion)

        with reporter.step(f"save snapshot {profile}/{name}"):
            files, archive_bytes, archive_sha256 = _in_worker(copy, cut)
        manifest = Manifest(
            format=FORMAT, profile=profile, name=name, service=service, volume_target=volume_target,
            dataset=dataset, server_image=image_tag, server_image_id=image_id,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            datadir_bytes=sum(f["size"] for f in files.values()),
            archive_bytes=archive_bytes, files=files, archive_sha256=archive_sha256,
            identity=identity.to_json() if identity else None, completion=completion)
        (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        saved = True
    except KeyboardInterrupt:
        interrupted = True
    except (tarfile.TarError, zstandard.ZstdError, EngineError, OSError) as exc:
        raise SnapshotError(f"reading the datadir of {container} failed: {exc}") from None
    finally:
        if not saved:  # an unread stream would keep the Engine holding the container
            cut()
        shutil.rmtree(tmp, ignore_errors=True)
        restarted = engine.start_within(container, 1.2) if was_running and interrupted else None
        if was_running and not interrupted:
            engine.start(container)
    if interrupted:
        again = ("" if not was_running else f"; {service} was started again" if restarted
                 else f"; {service} did not start again in time: `devenv up {profile}` starts it")
        raise SaveInterrupted(f"snapshot save interrupted: nothing was saved{again}")
    return Snapshot(final, manifest)


def _refuse_unclean(engine, container: str, service: str, profile: str, check_stopped) -> None:
    """Refuse a datadir whose server did not shut down cleanly (see ``save``)."""
    state = engine.container(container)
    why = None
    if state is None:
        why = f"the container {container} is gone"
    elif state.running:
        why = "it is still running"
    elif state.exit_code not in (0, None):
        why = (f"its server exited with status {state.exit_code}"
               + (" (killed, e.g. after the stop timeout)" if state.exit_code == 137 else ""))
    elif check_stopped is not None:
        why = check_stopped()
    if why:
        raise SnapshotError(f"snapshot of {service} refused: the datadir was not shut down cleanly: {why}",
                            f"Start it (`devenv up {profile}`) so the server recovers, then save again.")


def _rewrite_archive(chunks, out_path: Path, root: str, label: str, level: int,
                     progress, completion: str = COMPLETION_DIR) -> tuple[dict[str, dict], int, str]:
    """Copy the Engine's tar stream into a zstd archive, system schema last; the per-file
    sha256s, the archive's size and sha256."""
    files: dict[str, dict] = {}
    cctx = zstandard.ZstdCompressor(level=level, threads=-1)
    deferred: list[tuple[tarfile.TarInfo, tempfile.SpooledTemporaryFile | None]] = []
    with open(out_path, "wb") as raw_out:
        counted = _HashingWriter(raw_out)
        with cctx.stream_writer(counted, closefd=False) as zout, \
                tarfile.open(fileobj=zout, mode="w|", format=tarfile.PAX_FORMAT) as out, \
                tarfile.open(fileobj=_ChunkReader(chunks, progress), mode="r|") as src:
            for member in src:
                why = _safe(member, root)
                if why:
                    raise SnapshotError(f"{label} holds {member.name!r} ({why})")
                data = None
                if member.isreg():
                    hashing = _HashingReader(src.extractfile(member))
                    if is_completion_member(member.name, root, completion):
                        data = tempfile.SpooledTemporaryFile(max_size=64 << 20)
                        shutil.copyfileobj(hashing, data, CHUNK)
                        data.seek(0)
                    else:
                        out.addfile(member, hashing)
                    files[member.name] = {"sha256": hashing.h.hexdigest(), "size": member.size}
                if is_completion_member(member.name, root, completion):
                    deferred.append((member, data))
                elif not member.isreg():
                    out.addfile(member)
            for member, data in deferred:
                out.addfile(member, data)
                if data is not None:
                    data.close()
    return files, counted.size, counted.h.hexdigest()


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
    top = norm[len(root) + 1:].split("/", 1)[0]
    if top in RESERVED_NAMES:
        return f"{top} is reserved for devenv's restore"
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
    """Checks every member of a tar stream as its bytes pass by, copying nothing.

    Understands ustar, GNU long names and pax headers: enough to see each member's
    real name, type and link target, which ``_safe`` judges. Given ``expected`` (member
    -> sha256, the manifest's ``files``), it also hashes every regular member's data
    and raises as soon as one differs, appears twice or is not in the manifest;
    ``finish`` then checks that the archive ended properly and nothing is missing.
    """

    def __init__(self, root: str, label: str, expected: dict[str, str] | None = None):
        self.root, self.label, self.expected = root, label, expected
        self.buf = bytearray()
        self.skip = 0               # data bytes (padded) of the current member still to pass
        self.pending: dict[str, str] = {}
        self.pending_data: tuple[str, int] | None = None   # ("x"/"L"/"K", size) being collected
        self.ended = False
        self.current: tuple[str, "hashlib._Hash"] | None = None   # regular member being hashed
        self.data_left = 0          # its unpadded data bytes still to hash
        self.seen: set[str] = set()

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.skip:
                n = min(self.skip, len(view))
                if self.pending_data:
                    self.buf += view[:n]
                if self.current is not None and self.data_left:
                    take = min(n, self.data_left)
                    self.current[1].update(view[:take])
                    self.data_left -= take
                self.skip -= n
                view = view[n:]
                if not self.skip and self.pending_data:
                    self._meta(bytes(self.buf))
                    self.buf.clear()
                if not self.skip and self.current is not None:
                    self._member_done()
                continue
            need = 512 - len(self.buf)
            self.buf += view[:need]
            view = view[need:]
            if len(self.buf) == 512:
                header = bytes(self.buf)
                self.buf.clear()
                self._header(header)

    def _member_done(self) -> None:
        name, h = self.current
        self.current = None
        if h.hexdigest() != self.expected.get(name):
            raise SnapshotError(f"snapshot {self.label} is corrupt or tampered: {ARCHIVE} member {name} does not "
                                "match the sha256 in its manifest",
                                "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")

    def finish(self) -> None:
        """At the end of the stream: it ended properly and (when checking data) holds every file."""
        if not self.ended or self.skip or self.buf or self.pending_data:
            raise SnapshotError(f"snapshot {self.label} is corrupt: {ARCHIVE} is cut off",
                                "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")
        if self.expected is not None:
            missing = sorted(set(self.expected) - self.seen)
            if missing:
                raise SnapshotError(f"snapshot {self.label} is corrupt or tampered: {ARCHIVE} lacks {len(missing)} "
                                    f"file(s) of its manifest, e.g. {', '.join(missing[:3])}",
                                    "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")

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
        regular = kind in ("0", "\0", "7")
        self.skip = padded if regular else 0
        if regular and self.expected is not None:
            if info.name in self.seen or info.name not in self.expected:
                why = "appears twice" if info.name in self.seen else "is not in its manifest"
                raise SnapshotError(f"snapshot {self.label} is corrupt or tampered: {ARCHIVE} member {info.name} {why}",
                                    "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")
            self.seen.add(info.name)
            self.current, self.data_left = (info.name, hashlib.sha256()), size
            if not self.skip:
                self._member_done()


def verified_chunks(snapshot: Snapshot, reporter: Reporter) -> Iterator[bytes]:
    """The snapshot's tar stream, decompressed, checked as it passes: for a restore.

    Every member's path is judged by ``_safe`` and every regular file's data by its
    sha256 in the manifest; then that nothing is missing, that the archive is not cut
    off, and (format 2) that the compressed file is the one saved. A failure raises
    ``SnapshotError``. The chunk holding the end of a member is only handed on after
    that member checked, and the last chunk only after everything did: a consumer
    never receives a complete archive that did not verify.
    """
    m = snapshot.manifest
    label = f"{m.profile}/{m.name}"
    scanner = _TarHeaderScanner(posixpath.basename(m.volume_target.rstrip("/")), label,
                                {k: v["sha256"] for k, v in m.files.items()})
    start, done, held = time.monotonic(), 0, None
    try:
        with open(snapshot.archive, "rb") as f:
            raw = _HashingReader(f)
            with zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK, closefd=False) as reader:
                while chunk := reader.read(4 * CHUNK):
                    scanner.feed(chunk)
                    done += len(chunk)
                    reporter.detail(f"{done / 1e6:.0f} / {m.datadir_bytes / 1e6:.0f} MB checked, "
                                    f"{done / 1e6 / max(time.monotonic() - start, 1e-3):.0f} MB/s")
                    if held is not None:
                        yield held
                    held = chunk
            while raw.read(4 * CHUNK):
                pass  # the rest of the file, for its sha256
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"snapshot {label} is corrupt: {ARCHIVE}: {exc}",
                            "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).") from None
    except OSError as exc:
        raise SnapshotError(f"snapshot {label} is unreadable: {exc}") from None
    scanner.finish()
    if m.archive_sha256 and raw.h.hexdigest() != m.archive_sha256:
        raise SnapshotError(f"snapshot {label} is corrupt or tampered: {ARCHIVE} does not match "
                            "the sha256 in its manifest",
                            "The current volume was not touched. Take a new snapshot (`devenv snapshot save`).")
    if held is not None:
        yield held


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


def server_reads(m: Manifest, image_id: str, identity: ServerIdentity | None) -> bool:
    """Whether a server (image ``image_id``, ``identity``) reads the snapshot's files."""
    theirs = ServerIdentity.from_json(m.identity)
    if theirs is not None and identity is not None:
        return theirs == identity
    return image_id == m.server_image_id


def check_server(snapshot: Snapshot, image_id: str, image: str, identity: ServerIdentity | None = None) -> None:
    """Physical files are tied to the server: refuse a snapshot that this server cannot read
    (another engine, version, architecture or page size; without identities: another image)."""
    m = snapshot.manifest
    theirs = ServerIdentity.from_json(m.identity)
    if theirs is not None and identity is not None:
        if theirs != identity:
            raise SnapshotError(
                f"snapshot {m.profile}/{m.name} was taken with {theirs}, the current {image} runs {identity}: "
                + "; ".join(theirs.differences(identity)),
                "A physical snapshot is readable only by the same engine, version, architecture and page size: "
                "seed from the dataset (`devenv down --volumes` then `devenv up`) and take a new snapshot.")
        return
    if image_id != m.server_image_id:
        raise SnapshotError(
            f"snapshot {m.profile}/{m.name} was taken with server image {m.server_image} "
            f"({m.server_image_id[:19]}), not with the current {image} ({image_id[:19]})",
            "Physical snapshots are tied to the server version: seed from the dataset "
            "(`devenv down --volumes` then `devenv up`) and take a new snapshot.")
