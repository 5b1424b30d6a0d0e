"""Dataset generators: what they declare and the files they write.

The built-in generators (``shop``) are files written against the generator hook
(``devenv.data.hook``), like a project's own; ``devenv.data.datasets.registry``
lists them by name. A generator turns (size, seed, scale, image set) into one CSV file per table, in
the column order of its ``tables``, deterministically: same inputs, same bytes,
on every machine (own seeded PRNGs, no ``hash()``, no locale, no clock, integer
arithmetic for everything that ends up in a file).

CSV dialect (what ``load.sql`` tells ``LOAD DATA`` and what Python's ``csv``
module reads back): UTF-8, a header line, ``,`` between fields, ``\\n`` after
each row, text fields always in double quotes with ``"`` doubled inside, no
backslash escapes, numbers bare, no NULLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


# What a generator declares about the tables it writes: the CSV layout and the
# references between them. Not a database schema (no types, no keys): that is
# ``devenv.subset.schema.Table`` / ``ForeignKey``, read from a live server.

@dataclass(frozen=True)
class GeneratedReference:
    """``column`` of a generated table holds ids of ``parent.parent_column``."""

    column: str
    parent: str          # parent table
    parent_column: str = "id"


@dataclass(frozen=True)
class GeneratedTable:
    """One CSV file of a generator: the table it loads into and its column order."""

    name: str
    columns: tuple[str, ...]
    references: tuple[GeneratedReference, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


@dataclass(frozen=True)
class TableResult:
    rows: int
    sha256: str
    bytes: int


class Generator(Protocol):
    name: str
    version: int
    #: size name -> default scale (every key of ``scale_keys``)
    sizes: dict[str, dict[str, float]]
    #: scale key -> what it means (for errors and docs)
    scale_keys: dict[str, str]
    #: tables, parents before children (the load order)
    tables: tuple[GeneratedTable, ...]

    def generate(self, out, params: dict, imageset, workers: int, progress) -> dict[str, TableResult]:
        """Write one CSV per table into ``out``; ``params`` is the resolved scale
        plus ``seed``; ``imageset`` is None or an ImageSet. ``progress(text)`` is
        called from the calling process only."""
        ...
