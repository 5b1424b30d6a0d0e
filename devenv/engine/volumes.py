"""The one lookup of a volume on the engine (clones, seeding and the store all ask it)."""

from __future__ import annotations

import docker.errors

from .client import Engine


def volume_info(engine: Engine, name: str) -> dict | None:
    """The Engine's record of a volume, or None when there is none."""
    try:
        return engine.api.inspect_volume(name)
    except docker.errors.NotFound:
        return None
