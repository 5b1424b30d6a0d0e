"""The sha256 hex digest of bytes or of a file: the one helper for every content hash
devenv records or checks (dataset and image-set manifests, dump sources, rendered
files). Streaming hashers that digest while they copy keep their own ``hashlib``
object; they do not read the data twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file_sized(path: str | Path) -> tuple[str, int]:
    """(hex digest, bytes read): the size the digest covers, even if the file grows meanwhile."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def sha256_file(path: str | Path) -> str:
    return sha256_file_sized(path)[0]
