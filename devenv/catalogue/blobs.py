"""Chunked files: upload a file as chunks, download chunks verified, resume.

Upload: every chunk is hashed first (the digest names it), skipped when the registry
already has it (HEAD), else uploaded in one PUT that streams the chunk from the file.

Download: an artifact's chunks go into one staging directory,
``<cache>/downloads/<artifact manifest hex>/``: the file ``data`` (each chunk written
at its offset, so no second copy is needed to assemble them) and per chunk a
``<chunk hex>.part`` progress counter or, once its sha256 (computed from the same
bytes as they stream) matched, a ``<chunk hex>.done`` marker. A mismatch drops the
chunk's progress and raises ``DigestMismatchError`` naming the blob, a blob the
registry serves short ``ShortBlobError``; a broken connection keeps the progress
and raises ``TransferInterruptedError``. The caller installs the file only when
every chunk is done. A stopped pull resumes: done chunks are hashed again from
disk, not fetched; a partial chunk is hashed from disk and continued with a Range
request.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import urllib3.exceptions

from .client import RegistryClient
from .entry import Blob
from .errors import (DigestMismatchError, RegistryError, RegistryUnreachableError, ShortBlobError,
                     TransferInterruptedError)
from .progress import Transfer

IO_BLOCK = 1 << 20
DEFAULT_CHUNK = 64 << 20
WORKERS = 3


def hex_of(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise RegistryError(f"`{digest}` is not a sha256 digest")
    return hexpart


def _hash_range(path: Path, offset: int, size: int, h=None):
    h = h or hashlib.sha256()
    buf = bytearray(IO_BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        left = size
        while left:
            n = f.readinto(view[:min(left, IO_BLOCK)])
            if not n:
                raise RegistryError(f"{path} is shorter than expected")
            h.update(view[:n])
            left -= n
    return h


def chunk_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    if chunk_size <= 0:
        raise ValueError("chunk size must be positive")
    return [(off, min(chunk_size, size - off)) for off in range(0, size, chunk_size)] or [(0, 0)]


class FileSlice:
    """``size`` bytes of a file from ``offset``, as an upload body: iterable, with a length."""

    def __init__(self, path: Path, offset: int, size: int, transfer: Transfer | None = None):
        self.path, self.offset, self.size, self.transfer = path, offset, size, transfer

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            left = self.size
            while left:
                data = f.read(min(left, IO_BLOCK))
                if not data:
                    raise RegistryError(f"{self.path} changed while it was uploaded")
                left -= len(data)
                if self.transfer:
                    self.transfer.add(len(data))
                yield data


def _run_parallel(fn, items: list, workers: int) -> list:
    """``fn(worker_index, item)`` for every item on ``workers`` threads, results in order.

    The first error stops the other workers after their current item and is raised.
    The threads are daemons: on Ctrl-C the process exits at once, even with a
    transfer stuck on a dead connection (a partial chunk is resumed next time).
    """
    if workers <= 1 or len(items) <= 1:
        return [fn(0, item) for item in items]
    results: list = [None] * len(items)
    errors: list[BaseException] = []
    lock = threading.Lock()
    pending = list(enumerate(items))
    stop = threading.Event()

    def worker(index: int) -> None:
        while not stop.is_set():
            with lock:
                if not pending:
                    return
                i, item = pending.pop(0)
            try:
                results[i] = fn(index, item)
            except BaseException as exc:   # handed to the caller's thread
                with lock:
                    errors.append(exc)
                stop.set()
                return

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name=f"devenv-transfer-{i}")
               for i in range(min(workers, len(items)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.25)
    except BaseException:
        stop.set()
        raise
    if errors:
        raise errors[0]
    return results


def upload_file(client: RegistryClient, repo: str, path: Path, chunk_size: int, transfer: Transfer,
                workers: int = WORKERS) -> list[Blob]:
    """Upload ``path`` as chunks of ``chunk_size`` bytes; returns their descriptors in order."""
    size = path.stat().st_size
    clients = [client] + [client.clone() for _ in range(max(workers, 1) - 1)]

    def one(index: int, rng: tuple[int, int]) -> Blob:
        offset, length = rng
        digest = "sha256:" + _hash_range(path, offset, length).hexdigest()
        c = clients[index]
        if c.blob_exists(repo, digest, length):
            transfer.skip(length)
        else:
            c.upload_blob(repo, digest, length, lambda: FileSlice(path, offset, length, transfer))
        return Blob(digest, length)

    try:
        return _run_parallel(one, chunk_ranges(size, chunk_size), workers)
    finally:
        for c in clients[1:]:
            c.close()


@contextmanager
def _locked(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _hash_fd(fd: int, offset: int, size: int, h=None):
    h = h or hashlib.sha256()
    pos = 0
    while pos < size:
        data = os.pread(fd, min(IO_BLOCK, size - pos), offset + pos)
        if not data:
            break
        h.update(data)
        pos += len(data)
    return h


def _read_progress(path: Path, size: int) -> int:
    try:
        n = int(path.read_bytes().strip() or 0)
    except (OSError, ValueError):
        return 0
    return n if 0 <= n <= size else 0


ATTEMPTS = 4      # responses per chunk in one pull before a broken connection is reported (resumable)
SAME_END = 3      # consecutive responses that break at the same byte: the registry's blob is short


@dataclass
class _Attempt:
    """How one GET of a chunk ended: ``pos`` bytes of it are on disk, hashed into ``h``."""

    pos: int
    h: "hashlib._Hash"
    broken: str | None = None     # why the connection broke; None: the response was complete
    answered: bool = True         # the registry answered (headers arrived) before it broke
    framed: bool = True           # the response said how long its body is (Content-Length or chunked)


def _get_once(client: RegistryClient, repo: str, blob: Blob, fd: int, offset: int, part: Path,
              transfer: Transfer) -> _Attempt:
    """One GET of the chunk, continuing from its progress counter; writes and hashes what arrives."""
    have = _read_progress(part, blob.size)
    h = hashlib.sha256()
    if have:
        _hash_fd(fd, offset, have, h)
    try:
        resp = client.get_blob(repo, blob.digest, have)
    except TransferInterruptedError:
        raise
    except RegistryUnreachableError as exc:       # refused, reset before an answer, timed out
        return _Attempt(have, h, broken=exc.reason, answered=False)
    pos = have
    attempt = _Attempt(pos, h, framed=resp.headers.get("Content-Length") is not None
                       or "chunked" in resp.headers.get("Transfer-Encoding", "").lower())
    try:
        if have and resp.status_code != 206:       # the registry ignored the Range: start over
            pos, h = 0, hashlib.sha256()
            attempt.h = h
        transfer.skip(pos)
        pfd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            # read1: whatever arrived (up to 1 MiB), so a stalled transfer has written what it got
            read = getattr(resp.raw, "read1", None) or resp.raw.read
            while True:
                try:
                    data = read(IO_BLOCK, decode_content=True)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    attempt.broken = exc.__class__.__name__
                    break
                if not data:
                    break
                if pos + len(data) > blob.size:
                    pos += len(data)
                    break
                h.update(data)
                view = memoryview(data)
                at = offset + pos
                while view:
                    n = os.pwrite(fd, view, at)
                    view, at = view[n:], at + n
                pos += len(data)
                os.pwrite(pfd, b"%20d" % pos, 0)
                transfer.add(len(data))
        finally:
            os.close(pfd)
    finally:
        resp.close()
    if attempt.broken is None and pos < blob.size and not attempt.framed:
        attempt.broken = "the registry closed the connection"   # no length given: cannot tell complete from cut
    attempt.pos = pos
    return attempt


def _fetch_chunk(client: RegistryClient, repo: str, blob: Blob, fd: int, offset: int, state: Path,
                 transfer: Transfer, what: str, artifact: str | None = None) -> None:
    """Chunk ``blob`` into the file ``fd`` at ``offset``, hashed as it streams.

    ``state/<hex>.done`` marks a verified chunk; ``state/<hex>.part`` holds how many of
    its bytes are written (updated after every write), so a pull that was stopped
    resumes a chunk with a Range request after hashing those bytes again.

    Two ways a chunk can come short, told apart because only one heals by itself:
    a connection that broke (an exception mid-body, no answer at all) is retried
    here with a Range request and, if it keeps breaking, reported as resumable;
    a complete response (its body as long as its own framing says) with fewer bytes
    than the descriptor, or responses that break at the same byte again and again,
    is a short blob in the registry (``ShortBlobError``: re-running cannot help).
    """
    hexd = hex_of(blob.digest)
    done, part = state / f"{hexd}.done", state / f"{hexd}.part"
    source = f"{client.ref.host}/{repo}"
    if done.exists():
        # verified by an earlier pull: hashed again, every byte installed is checked by this process
        if "sha256:" + _hash_fd(fd, offset, blob.size).hexdigest() == blob.digest:
            transfer.skip(blob.size)
            return
        done.unlink()          # damaged on this disk: fetch it again
    ends: list[int] = []       # where each answered-but-broken response stopped
    for n in range(1, ATTEMPTS + 1):
        attempt = _get_once(client, repo, blob, fd, offset, part, transfer)
        if attempt.broken is None:
            break
        if attempt.answered:
            ends.append(attempt.pos)
            if len(ends) >= SAME_END and len(set(ends[-SAME_END:])) == 1:
                part.unlink(missing_ok=True)
                raise ShortBlobError(what, blob.digest, blob.size, attempt.pos, source, artifact,
                                     f" (its responses break at byte {attempt.pos:,} {SAME_END} times in a row)")
        if n == ATTEMPTS:
            raise TransferInterruptedError(
                str(client.ref), f"the connection broke while downloading {what} {blob.digest}"
                f"{' of ' + artifact if artifact else ''} ({attempt.pos:,} of {blob.size:,} bytes, "
                f"{ATTEMPTS} tries): {attempt.broken}")
        time.sleep(0.2 * n)    # a moment for a flaky network; the Range request continues the chunk
    pos, h = attempt.pos, attempt.h
    if pos < blob.size:        # a complete response, and fewer bytes than the descriptor says
        part.unlink(missing_ok=True)
        raise ShortBlobError(what, blob.digest, blob.size, pos, source, artifact, " in a complete response")
    actual = "sha256:" + h.hexdigest() if pos == blob.size else f"{pos:,} bytes instead of {blob.size:,}"
    if actual != blob.digest:
        part.unlink(missing_ok=True)      # nothing of it is kept, nothing of it is installed
        raise DigestMismatchError(what, blob.digest, actual, source, artifact)
    done.touch()
    part.unlink(missing_ok=True)


def staging_dir(downloads: Path, manifest_digest: str) -> Path:
    return downloads / hex_of(manifest_digest)


def download_file(client: RegistryClient, repo: str, chunks: list[Blob], staging: Path, transfer: Transfer,
                  what: str = "chunk", workers: int = WORKERS, artifact: str | None = None) -> Path:
    """Download ``chunks`` into ``staging/data`` (each written at its offset: no second copy
    to assemble them) and verify each; returns the file once every chunk is verified."""
    staging.mkdir(parents=True, exist_ok=True)
    data = staging / "data"
    total = sum(c.size for c in chunks)
    offsets, at = [], 0
    for c in chunks:
        offsets.append(at)
        at += c.size
    with _locked(staging / "lock"):
        fd = os.open(data, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != total:
                os.ftruncate(fd, total)
            clients = [client] + [client.clone() for _ in range(max(workers, 1) - 1)]
            try:
                _run_parallel(lambda i, item: _fetch_chunk(clients[i], repo, item[0], fd, item[1], staging,
                                                           transfer, what, artifact),
                              list(zip(chunks, offsets)), workers)
            finally:
                for c in clients[1:]:
                    c.close()
        finally:
            os.close(fd)
    return data
