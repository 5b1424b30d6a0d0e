"""Sized data: generated database datasets and product image sets.

* ``devenv.data.datasets.materialize(dataset, imageset, cache_dir, reporter)``
  -> ``DatasetFiles``: CSV files + ``load.sql`` for the db container's bulk load
  (the directory format, shared with ``devenv dataset subset``: ``devenv.data.dataset_dir``).
* ``devenv.data.imagesets.materialize(imageset, cache_dir, reporter)``
  -> ``ImageSetFiles``: JPEGs for the web service's media volume.

Both are content-addressed (the directory name is an id derived from everything
that decides the bytes) and generated into a temporary directory that is renamed
into place at the end, so a directory under its final name is always complete.
This module holds the helpers both share.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..digest import sha256_bytes

TMP_MARK = ".tmp-"


def content_digest(params: Any, length: int = 12) -> str:
    """Hex digest of ``params`` as canonical JSON (sorted keys, no whitespace)."""
    data = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return sha256_bytes(data)[:length]


def derive_seed(*parts: Any) -> int:
    """A 64-bit seed from any parts, the same on every machine and every run
    (no ``hash()``: string hashing is randomised per process)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(parent: Path, final_name: str) -> None:
    """Remove temp directories of earlier generations of ``final_name`` whose
    process is gone (killed with SIGKILL, machine crash)."""
    if not parent.is_dir():
        return
    for p in parent.glob(f".{final_name}{TMP_MARK}*"):
        try:
            pid = int(p.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh temp directory next to ``final``; rename it to ``final`` when
    the block succeeds, delete it when the block raises (or is interrupted).

    If another process completed ``final`` in the meantime, ours is discarded and
    theirs is kept (same id, same content).
    """
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(parent, final.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}{os.getpid()}-", dir=parent))
    os.chmod(tmp, 0o755)  # bind-mounted into containers: readable by everyone
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race to an identical copy
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
