"""Database engines behind one seam (``base.DatabaseEngine``); which one a profile uses.

The engine of a profile's dataset service is ``data.dataset.engine`` when set, else the
one whose recipe the service uses (``mariadb``, ``postgresql``), else MariaDB (a
project's own recipe under another name: the historical default; set
``data.dataset.engine`` for anything else).
"""

from __future__ import annotations

import difflib

from .base import (INIT_MARKER, RESERVED_NAMES, ROWS_MARKER, SEED_MOUNT, DatabaseEngine, EngineMismatchError,
                   LoadTable, ServerIdentity, UnknownEngineError)
from .mariadb import MariaDB
from .postgresql import PostgreSQL

ENGINES: dict[str, DatabaseEngine] = {e.name: e for e in (MariaDB(), PostgreSQL())}
DEFAULT_ENGINE = "mariadb"


def engine_named(name: str, where: str = "data.dataset.engine") -> DatabaseEngine:
    engine = ENGINES.get(name)
    if engine is None:
        close = difflib.get_close_matches(name, ENGINES, n=1)
        raise UnknownEngineError(f"unknown database engine `{name}` ({where})",
                                 (f"did you mean `{close[0]}`? " if close else "")
                                 + f"Engines: {', '.join(sorted(ENGINES))}.")
    return engine


def engine_for_recipe(recipe: str | None, declared: str | None = None) -> DatabaseEngine:
    if declared:
        return engine_named(declared)
    for engine in ENGINES.values():
        if recipe in engine.recipes:
            return engine
    return ENGINES[DEFAULT_ENGINE]


def engine_of(profile) -> DatabaseEngine:
    """The engine of ``profile``'s dataset service (MariaDB for a profile without a dataset)."""
    ds = profile.dataset
    if ds is None:
        return ENGINES[DEFAULT_ENGINE]
    service = profile.services.get(ds.service)
    return engine_for_recipe(service.recipe if service else None, ds.engine)


def url_scheme(url: str) -> str:
    """``mysql`` of ``MySQL://u@h/db`` ("" without ``://``)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def engine_for_url(url: str) -> DatabaseEngine | None:
    """The engine whose ``url_schemes`` hold ``url``'s scheme (the one place that knows
    which scheme is which engine's; ``devenv.db.sources`` asks it too)."""
    scheme = url_scheme(url)
    return next((e for e in ENGINES.values() if scheme in e.url_schemes), None)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "INIT_MARKER", "RESERVED_NAMES", "ROWS_MARKER", "SEED_MOUNT",
           "DatabaseEngine", "EngineMismatchError", "LoadTable", "ServerIdentity", "UnknownEngineError",
           "engine_for_recipe", "engine_for_url", "engine_named", "engine_of", "url_scheme"]
