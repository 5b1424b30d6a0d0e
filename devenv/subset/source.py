"""The production database the subset reads: a URL, opened by the engine its scheme
names behind the database seam (``devenv.db.sources``: connection, one consistent
snapshot, values as the server's text, the engine's catalog). This module only
dispatches and describes the source for the manifest."""

from __future__ import annotations

from ..db.sources import SourceURL, SqlSource, looks_like_url, parse_source_url
from .schema import Schema, read_schema

__all__ = ["SourceURL", "looks_like_url", "open_source", "parse_url", "schema_of"]


def parse_url(text: str, environ: dict[str, str] | None = None) -> SourceURL:
    """A source URL of any engine (``devenv.db.sources``), checked."""
    return parse_source_url(text, environ)[1]


def schema_of(source: SqlSource) -> Schema:
    return read_schema(source.catalog(), source.url.database, source.server_version)


def connect(url_text: str) -> SqlSource:
    engine, url = parse_source_url(url_text)
    return engine.connect(url)


def open_source(url_text: str) -> tuple[SqlSource, dict]:
    """The source for a URL, and the source facts for the manifest."""
    src = connect(url_text)
    return src, source_info(src, {"kind": "url", "url": src.url.display, "display": src.url.display})


def source_info(src: SqlSource, facts: dict) -> dict:
    return {**facts, "engine": src.engine.name, "database": src.url.database, "server_version": src.server_version}
