"""One heavy suite at a time per engine: a lock file in the cache directory.

``try.heavy: true`` marks a suite that loads the machine (a large database, many
workers); two of them side by side on one engine slow both down more than
running them one after the other. The lock is an ``flock`` on a file keyed by
the engine's id, so it is released by the kernel when the holder dies (SIGKILL
included); the file says who holds it, for the "waiting for ..." line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..paths import cache_dir


def lock_path(engine_id: str) -> Path:
    key = hashlib.sha256(engine_id.encode()).hexdigest()[:16]
    return cache_dir() / "locks" / f"try-heavy-{key}.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another heavy try"
    what = f"heavy try {info.get('what', '?')}"
    return f"{what} (pid {info['pid']})" if info.get("pid") else what


@contextmanager
def heavy_slot(engine_id: str, what: str, on_wait: Callable[[str], None], poll: float = 0.5) -> Iterator[None]:
    """Hold the engine's heavy slot for the block; ``on_wait(holder)`` once when it must wait."""
    path = lock_path(engine_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    on_wait(_holder(path))
                    told = True
                time.sleep(poll)   # polled, so Ctrl-C ends the wait at once
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ["heavy_slot", "lock_path"]
