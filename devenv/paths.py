"""Where devenv keeps generated data on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$DEVENV_CACHE, else $XDG_CACHE_HOME/devenv, else ~/.cache/devenv.

    Datasets, image sets and snapshots live here; deleting it loses nothing that
    devenv cannot regenerate, except snapshots.
    """
    if os.environ.get("DEVENV_CACHE"):
        return Path(os.environ["DEVENV_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "devenv"
