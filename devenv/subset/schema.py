"""The source's schema as the subset sees it: tables, columns, keys, foreign keys.

Built once from the source's catalog (``read_schema`` over a ``devenv.db.sources.Catalog``,
which each engine reads its own way) or by hand in tests.
Values travel as the server's text form (``str``; ``bytes`` for binary columns),
so the schema also decides how a value is written to CSV (``Column.kind``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..db.sources.base import BINARY, BIT, NUMBER, TEXT, Catalog
from .errors import SchemaError

# NUMBER, TEXT, BINARY, BIT: how a column's values are written to CSV (Column.kind)

INT_TYPES = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
NUMERIC_TYPES = set(INT_TYPES) | {"decimal", "numeric", "float", "double", "real", "year"}
BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
SPATIAL_TYPES = {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
                 "multipolygon", "geometrycollection"}
DATE_TYPES = {"date", "datetime", "timestamp"}



@dataclass(frozen=True)
class Column:
    name: str
    data_type: str                   # neutral type name, lower case (int, varchar, ...: see Catalog)
    column_type: str = ""            # full type (int(10) unsigned, enum('a','b'), ...)
    nullable: bool = False
    max_length: int | None = None    # CHARACTER_MAXIMUM_LENGTH (characters) for text types
    collation: str | None = None
    charset: str | None = None

    @property
    def kind(self) -> str:
        t = self.data_type
        if t == "bit":
            return BIT
        if t in BINARY_TYPES or (self.charset == "binary" and t not in NUMERIC_TYPES):
            return BINARY
        if t in NUMERIC_TYPES:
            return NUMBER
        return TEXT

    @property
    def is_integer(self) -> bool:
        return self.data_type in INT_TYPES

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()

    @property
    def int_bits(self) -> int:
        return INT_TYPES[self.data_type]

    @property
    def case_insensitive(self) -> bool:
        return bool(self.collation) and self.collation.endswith("_ci")


@dataclass(frozen=True)
class ForeignKey:
    """``table.columns`` references ``parent.parent_columns``."""

    name: str
    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    nullable: bool = False           # a column of the key accepts NULL (NULL there disables the key)
    on_delete: str = "RESTRICT"

    @property
    def id(self) -> str:
        """How rules name the edge: ``child_table.column`` (first column of the key)."""
        return f"{self.table}.{self.columns[0]}"

    @property
    def cascade(self) -> bool:
        return self.on_delete.upper() == "CASCADE"

    def __str__(self) -> str:
        return f"{self.table}({', '.join(self.columns)}) -> {self.parent}({', '.join(self.parent_columns)})"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]                            # () when the table has none
    unique_keys: tuple[tuple[str, ...], ...] = ()           # every UNIQUE index (the primary key too)
    foreign_keys: tuple[ForeignKey, ...] = ()               # outgoing
    pk_substitute: bool = False                             # primary_key is a UNIQUE NOT NULL key
    rows_estimate: int = 0                                  # the catalog's row estimate (approximate)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


@dataclass
class Schema:
    database: str
    tables: dict[str, Table]
    server_version: str = ""
    _incoming: dict[str, list[ForeignKey]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._incoming = {name: [] for name in self.tables}
        for t in self.tables.values():
            for fk in t.foreign_keys:
                if fk.parent in self._incoming:
                    self._incoming[fk.parent].append(fk)

    def foreign_keys(self) -> list[ForeignKey]:
        return [fk for name in sorted(self.tables) for fk in self.tables[name].foreign_keys]

    def incoming(self, table: str) -> list[ForeignKey]:
        return self._incoming[table]

    def edge(self, edge_id: str) -> ForeignKey | None:
        for fk in self.foreign_keys():
            if fk.id == edge_id:
                return fk
        return None

    def without(self, excluded: Iterable[str]) -> "Schema":
        ex = set(excluded)
        return Schema(self.database, {n: t for n, t in self.tables.items() if n not in ex}, self.server_version)

    def key_columns(self, table: str) -> tuple[str, ...]:
        """Columns the closure needs of a row: primary key, outgoing FK columns,
        columns other tables reference (in table order, no repeats)."""
        t = self.tables[table]
        need = set(t.primary_key)
        for fk in t.foreign_keys:
            need.update(fk.columns)
        for fk in self.incoming(table):
            need.update(fk.parent_columns)
        return tuple(c for c in t.column_names if c in need)

    def check_types(self) -> None:
        bad = [f"{t.name}.{c.name} ({c.data_type})" for t in self.tables.values() for c in t.columns
               if c.data_type in SPATIAL_TYPES]
        if bad:
            raise SchemaError(f"column types the subset cannot copy yet: {', '.join(sorted(bad))}",
                              "Exclude the table (--exclude TABLE) or ask for spatial support.")

    def check_keys(self) -> None:
        missing = sorted(n for n, t in self.tables.items() if not t.primary_key)
        if missing:
            raise SchemaError(
                f"table(s) without a primary key: {', '.join(missing)}. The subset picks, de-duplicates and "
                "sorts rows by their primary key (a UNIQUE key over NOT NULL columns also does).",
                "Add one in production (ALTER TABLE t ADD PRIMARY KEY (...), or an id column), or leave the "
                "table out with --exclude TABLE (or `exclude:` in the rules) if no other table references it.")


def load_order(schema: Schema, cut: Iterable[str] = ()) -> list[str]:
    """Tables parents first (ties by name). Inside a foreign-key cycle an edge is
    cut to break it: first one of ``cut`` (edge ids), else a nullable one, else any
    (the load runs with foreign_key_checks=0, so the order inside a cycle never
    makes a load fail; parents first only makes the files easy to follow)."""
    cut = set(cut)
    edges = {(fk.table, fk.parent, fk.id, fk.nullable) for fk in schema.foreign_keys()
             if fk.parent != fk.table and fk.parent in schema.tables}
    order: list[str] = []
    remaining = set(schema.tables)
    active = set(edges)
    while remaining:
        ready = sorted(t for t in remaining
                       if not any(child == t and parent in remaining for child, parent, _, _ in active))
        if ready:
            order.append(ready[0])
            remaining.discard(ready[0])
            continue
        # a cycle: drop the most cuttable edge among the remaining tables
        candidates = sorted((e for e in active if e[0] in remaining and e[1] in remaining),
                            key=lambda e: (e[2] not in cut, not e[3], e[2]))
        active.discard(candidates[0])
    return order


def default_follow(schema: Schema) -> set[str]:
    """Edges whose children come along with a kept parent by default: foreign keys
    declared ON DELETE CASCADE (the child row is part of its parent, like an order's items)."""
    return {fk.id for fk in schema.foreign_keys() if fk.cascade and fk.parent in schema.tables}


def default_start(schema: Schema, follow: set[str]) -> list[str]:
    """Start tables when none are named: the bottom of the foreign-key graph. Those
    tables no other table references (follow edges aside: their children come
    along anyway) and that are not follow-children themselves; a group of tables
    referencing each other in a cycle counts as one table."""
    fks = [fk for fk in schema.foreign_keys() if fk.parent in schema.tables]
    follow_children = {fk.table for fk in fks if fk.id in follow}
    referencing: dict[str, set[str]] = {t: set() for t in schema.tables}   # parent -> children (non-follow)
    for fk in fks:
        if fk.id not in follow and fk.table != fk.parent:
            referencing[fk.parent].add(fk.table)
    comp = _components(schema.tables, referencing)
    start = []
    for t in sorted(schema.tables):
        if t in follow_children:
            continue
        if all(comp[c] == comp[t] for c in referencing[t]):
            start.append(t)
    return start


def _components(nodes: Iterable[str], graph: dict[str, set[str]]) -> dict[str, int]:
    """Strongly connected component number of every node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    counter = [0, 0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp[w] = counter[1]
                    if w == node:
                        break
                counter[1] += 1
    return comp


# -- building the schema from the source's catalog ------------------------------------

def _text(v) -> str | None:
    if v is None:
        return None
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


def read_schema(catalog: Catalog, database: str, server_version: str = "") -> Schema:
    """The schema of ``database`` from its ``catalog`` (``devenv.db.sources.Catalog``)."""
    estimates = {_text(r[0]): int(r[1] or 0) for r in catalog.tables}
    names = sorted(estimates)
    cols: dict[str, list[Column]] = {n: [] for n in names}
    for tname, cname, dtype, ctype, nullable, maxlen, coll, cs, extra in catalog.columns:
        tname = _text(tname)
        if tname not in cols:
            continue   # a view
        extra = (_text(extra) or "").upper()
        if "GENERATED" in extra or extra in ("VIRTUAL", "PERSISTENT", "STORED"):
            continue   # computed by the server; cannot be loaded
        dtype = _text(dtype).lower()
        cols[tname].append(Column(name=_text(cname), data_type=dtype, column_type=_text(ctype) or dtype,
                                  nullable=_text(nullable) == "YES",
                                  max_length=int(maxlen) if maxlen is not None else None,
                                  collation=_text(coll), charset=_text(cs)))
    uniques: dict[str, dict[str, list[str]]] = {n: {} for n in names}
    for tname, iname, cname in catalog.uniques:
        tname = _text(tname)
        if tname in uniques:
            uniques[tname].setdefault(_text(iname), []).append(_text(cname))
    fk_parts: dict[tuple[str, str], dict] = {}
    foreign: list[str] = []
    for tname, cname, col, rschema, rtable, rcol, delete_rule in catalog.foreign_keys:
        tname, cname = _text(tname), _text(cname)
        if tname not in cols:
            continue
        if _text(rschema) != catalog.namespace:
            foreign.append(f"{tname}.{_text(col)} -> {_text(rschema)}.{_text(rtable)}")
            continue
        part = fk_parts.setdefault((tname, cname), {"cols": [], "pcols": [], "parent": _text(rtable),
                                                    "on_delete": _text(delete_rule) or "RESTRICT"})
        part["cols"].append(_text(col))
        part["pcols"].append(_text(rcol))
    if foreign:
        raise SchemaError(f"foreign keys into other databases or schemas: {', '.join(foreign)}",
                          "A subset covers one database; drop or exclude these references.")
    tables: dict[str, Table] = {}
    for name in names:
        columns = tuple(cols[name])
        by_name = {c.name: c for c in columns}
        idx = uniques[name]
        pk = tuple(idx.get("PRIMARY", ()))
        substitute = False
        if not pk:
            # like InnoDB: the first UNIQUE key over NOT NULL columns stands in for it
            for iname in sorted(idx):
                cs = idx[iname]
                if all(c in by_name and not by_name[c].nullable for c in cs):
                    pk, substitute = tuple(cs), True
                    break
        fks = []
        for (tname, cname), part in sorted(fk_parts.items()):
            if tname != name:
                continue
            fks.append(ForeignKey(name=cname, table=name, columns=tuple(part["cols"]), parent=part["parent"],
                                  parent_columns=tuple(part["pcols"]),
                                  nullable=any(by_name[c].nullable for c in part["cols"] if c in by_name),
                                  on_delete=part["on_delete"]))
        tables[name] = Table(name=name, columns=columns, primary_key=pk,
                             unique_keys=tuple(tuple(v) for _, v in sorted(idx.items())),
                             foreign_keys=tuple(fks), pk_substitute=substitute, rows_estimate=estimates[name])
    return Schema(database, tables, server_version)
