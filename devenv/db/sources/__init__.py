"""Subset sources behind the database seam: one ``SourceEngine`` per engine
(``mariadb``, ``postgresql``), chosen by a URL's scheme, a dump file's first bytes or
the profile's engine (``devenv.db.engine_of``). ``devenv.subset`` above uses only
this package's interface and never names an engine."""

from __future__ import annotations

import gzip
from pathlib import Path

from .. import ENGINES, engine_for_url, url_scheme
from ..base import EngineMismatchError
from .base import BINARY, BIT, NUMBER, TEXT, Catalog, DumpServer, SourceEngine, SourceURL, SqlSource, redact
from .errors import SchemaError, SourceError, SourceUnreachableError, SubsetError
from .mariadb import MariaDBSourceEngine
from .postgresql import PostgreSQLSourceEngine

SOURCE_ENGINES: dict[str, SourceEngine] = {e.name: e for e in (MariaDBSourceEngine(), PostgreSQLSourceEngine())}
HEAD_BYTES = 65536


def looks_like_url(text: str) -> bool:
    return "://" in text


def url_hint() -> str:
    return ("SOURCE is " + " or ".join(f"{e.display_scheme}://user:pass@host:port/db"
                                       for e in SOURCE_ENGINES.values())
            + ", or a dump file (mariadb-dump/mysqldump .sql[.gz], pg_dump plain or custom format).")


def source_engine(name: str) -> SourceEngine:
    return SOURCE_ENGINES[name]


def source_engine_for_url(text: str) -> SourceEngine:
    engine = engine_for_url(text)
    if engine is not None and engine.name in SOURCE_ENGINES:
        return SOURCE_ENGINES[engine.name]
    schemes = ", ".join(f"{s}://" for e in ENGINES.values() if e.name in SOURCE_ENGINES for s in e.url_schemes)
    raise SourceError(f"source `{redact(text)}`: unknown scheme `{url_scheme(text)}` ({schemes})", url_hint())


def parse_source_url(text: str, environ: dict[str, str] | None = None) -> tuple[SourceEngine, SourceURL]:
    engine = source_engine_for_url(text)
    return engine, engine.parse_url(text, environ)


def read_head(path: Path) -> bytes:
    """The first bytes of a dump file, decompressed when it is gzip."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                head = f.read(HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise SourceError(f"source {path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    return head


def dump_kind(path: Path) -> tuple[SourceEngine | None, str]:
    """(the engine whose dump ``path`` is, its format) from the file's first bytes;
    (None, "plain") for SQL no tool signed (loaded by the profile's engine)."""
    head = read_head(path)
    for e in SOURCE_ENGINES.values():
        fmt = e.recognise(head)
        if fmt:
            return e, fmt
    return None, "plain"


def check_dump(path: Path, engine: SourceEngine, profile: str, service: str) -> str:
    """The format of dump ``path`` when ``engine`` (the profile's) can load it; a dump of
    another engine is refused before anything starts."""
    found, fmt = dump_kind(path)
    if found is not None and found.name != engine.name:
        raise EngineMismatchError(
            f"{path}: a {found.label} dump ({fmt}), but profile {profile}'s database service `{service}` "
            f"runs {engine.label}; nothing was loaded",
            f"Use a profile whose database is {found.label} (-p PROFILE), or a dump made by {engine.label}.")
    return fmt


__all__ = ["BINARY", "BIT", "NUMBER", "SOURCE_ENGINES", "TEXT", "Catalog", "DumpServer", "SchemaError",
           "SourceEngine", "SourceError", "SourceURL", "SourceUnreachableError", "SqlSource", "SubsetError",
           "check_dump", "dump_kind", "looks_like_url", "parse_source_url", "read_head", "source_engine",
           "source_engine_for_url", "url_hint"]
