"""An in-memory source with the interface of a ``devenv.db.sources.SqlSource`` (and the
seam's default engine's CSV dialect and hash order), for tests and experiments without a server. Rows hold the server's text form (``str``, ``bytes``
for binary columns, ``None`` for NULL); ``where`` conditions are Python
expressions over the row's columns (``"id % 2 == 0"``), not SQL."""

from __future__ import annotations

import hashlib
from typing import Iterable, Iterator, Sequence

from ..db import DEFAULT_ENGINE
from ..db.sources import source_engine
from .schema import Schema


class MemorySource:
    def __init__(self, schema: Schema, rows: dict[str, list[tuple]], server_version: str = "memory"):
        self._schema = schema
        self.rows = rows
        self.server_version = server_version
        self.queries = 0
        self.engine = source_engine(DEFAULT_ENGINE)

    def schema(self) -> Schema:
        return self._schema

    def _dicts(self, table: str) -> Iterator[tuple[dict, tuple]]:
        names = self._schema.tables[table].column_names
        for r in self.rows.get(table, []):
            yield dict(zip(names, r)), r

    def _match(self, table: str, where: Iterable[str]) -> list[dict]:
        conds = list(where)
        out = []
        for d, _ in self._dicts(table):
            if all(eval(c, {}, dict(d)) for c in conds):  # noqa: S307 - test helper
                out.append(d)
        return out

    def count(self, table: str, where: Iterable[str] = ()) -> int:
        self.queries += 1
        return len(self._match(table, where))

    @staticmethod
    def pick_order(salt: str, pk: tuple) -> str:
        """MD5(CONCAT_WS(CHAR(31), salt, pk...)) as the default engine computes it."""
        parts = [salt] + [x.hex() if isinstance(x, bytes) else x for x in pk]
        return hashlib.md5("\x1f".join(parts).encode()).hexdigest()

    def pick(self, table: str, columns: Sequence[str], pk: Sequence[str], where: Iterable[str], n: int | None,
             salt: str) -> Iterator[tuple]:
        self.queries += 1
        rows = self._match(table, where)
        if n is not None:
            def key(d):
                k = tuple(d[c] for c in pk)
                return (self.pick_order(salt, k), tuple(int(x) if x.lstrip("-").isdigit() else x for x in k))
            rows = sorted(rows, key=key)[:n]
        return iter([tuple(d[c] for c in columns) for d in rows])

    def lookup(self, table: str, columns: Sequence[str], match: Sequence[str], values: list[tuple]) -> Iterator[tuple]:
        self.queries += 1
        wanted = set(values)
        return iter([tuple(d[c] for c in columns) for d, _ in self._dicts(table)
                     if tuple(d[c] for c in match) in wanted])

    def scan(self, table: str, columns: Sequence[str], order_by: Sequence[str] = ()) -> Iterator[tuple]:
        self.queries += 1
        rows = [tuple(d[c] for c in columns) for d, _ in self._dicts(table)]
        if order_by:
            idx = [list(columns).index(c) for c in order_by]
            rows.sort(key=lambda r: tuple(int(r[i]) if str(r[i]).lstrip("-").isdigit() else r[i] for i in idx))
        return iter(rows)

    def create_statements(self, order: Sequence[str]) -> list[str]:
        out = []
        for name in order:
            cols = ",\n  ".join(f"`{c.name}` {c.column_type}" for c in self._schema.tables[name].columns)
            out.append(f"CREATE TABLE `{name}` (\n  {cols}\n);")
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> "MemorySource":
        return self

    def __exit__(self, *exc) -> None:
        pass
