"""Which rows to keep: start rows, then the closure over foreign keys.

1. **Start rows.** Each start table keeps ``n`` of the rows matching its
   ``--where`` conditions: those with the smallest MD5 of (seed, table, primary
   key), ties by key. ``n`` is ``--rows TABLE=N``, else ``round(fraction x
   matching rows)`` (at least 1 when any match), else (only ``--where``) all of them.
   The pick is deterministic and independent of the physical row order; a
   larger ``n`` keeps a superset.
2. **Parents.** Every kept row keeps the row each of its foreign keys points at,
   transitively (whatever way the row got in), so every foreign key holds. A
   ``cut`` edge (nullable) is not followed: its value stays when the parent is
   kept anyway, else it becomes NULL.
3. **Children** come along only over *follow* edges: by default the foreign keys
   declared ``ON DELETE CASCADE`` (the child is part of its parent: an order's
   items), plus ``subset.follow``, minus ``subset.no_follow``. They apply to every
   kept row, so a kept order always has all its items.

Steps 2 and 3 repeat until nothing new comes in. The result is the least set of
rows that contains the start rows and is closed under both rules, so it does not
depend on the order of the work; cycles (self-references, two tables pointing
at each other) need no special case: a row already kept is never fetched again,
and a cycle's rows come in as a unit.

Only key columns travel in this phase (primary key, foreign keys, referenced
columns); the full rows are read when the files are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Callable, Iterable, Protocol, Sequence

from ..ui import Reporter
from .errors import IntegrityError, SubsetError
from .schema import ForeignKey, Schema


class Source(Protocol):
    queries: int

    def count(self, table: str, where: Iterable[str] = ()) -> int: ...

    def pick(self, table: str, columns: Sequence[str], pk: Sequence[str], where: Iterable[str], n: int | None,
             salt: str) -> Iterable[tuple]: ...

    def lookup(self, table: str, columns: Sequence[str], match: Sequence[str], values: list[tuple]) -> Iterable[tuple]: ...

    def scan(self, table: str, columns: Sequence[str]) -> Iterable[tuple]: ...


@dataclass(frozen=True)
class Start:
    table: str
    where: tuple[str, ...] = ()
    rows: int | None = None          # --rows TABLE=N
    fraction: float | None = None    # --fraction F
    # neither: every row matching ``where`` (a `full` table, or --where alone)

    def describe(self) -> str:
        how = f"{self.rows} rows" if self.rows is not None else \
            f"fraction {self.fraction:g}" if self.fraction is not None else "all rows"
        return how + (f" where {' and '.join(self.where)}" if self.where else "")


def picked_count(fraction: float, matching: int) -> int:
    n = int((Decimal(repr(fraction)) * matching).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(1, n) if matching and fraction > 0 else n


def salt(seed: int, table: str) -> str:
    return f"devenv-subset:{seed}:{table}"


@dataclass
class Selection:
    schema: Schema
    kept: dict[str, set[tuple]]                       # table -> primary keys kept
    refs: dict[tuple[str, tuple[str, ...]], set[tuple]]  # (table, referenced non-pk columns) -> values kept
    start: dict[str, dict] = field(default_factory=dict)  # table -> {matching, picked, how}
    follow: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    dangling: dict[str, int] = field(default_factory=dict)  # nullable edge id -> values pointing nowhere
    rounds: int = 0

    def has_parent(self, fk: ForeignKey, value: tuple) -> bool:
        p = self.schema.tables[fk.parent]
        if tuple(fk.parent_columns) == tuple(p.primary_key):
            return value in self.kept[fk.parent]
        return value in self.refs.get((fk.parent, tuple(fk.parent_columns)), ())

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.kept.values())


class Closure:
    def __init__(self, source: Source, schema: Schema, follow: set[str], cut: set[str], seed: int,
                 reporter: Reporter):
        self.source, self.schema, self.seed, self.reporter = source, schema, seed, reporter
        self.follow = sorted(follow)
        self.cut = sorted(cut)
        self.kc = {t: schema.key_columns(t) for t in schema.tables}
        pos = {t: {c: i for i, c in enumerate(cols)} for t, cols in self.kc.items()}
        self.pk_idx = {t: tuple(pos[t][c] for c in schema.tables[t].primary_key) for t in schema.tables}
        fks = [fk for fk in schema.foreign_keys() if fk.parent in schema.tables]
        # outgoing edges to follow to the parent: (fk, index of its columns in the child's key columns)
        self.up = {t: [(fk, getter([pos[t][c] for c in fk.columns])) for fk in fks
                       if fk.table == t and fk.id not in cut] for t in schema.tables}
        # edges to follow down to children: (fk, index of the referenced columns in the parent's key columns)
        self.down = {t: [(fk, getter([pos[t][c] for c in fk.parent_columns])) for fk in fks
                         if fk.parent == t and fk.id in follow] for t in schema.tables}
        # referenced column sets other than the primary key: indexed for membership tests
        self.ref_sets: dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]] = {t: [] for t in schema.tables}
        for fk in fks:
            pcols = tuple(fk.parent_columns)
            if pcols != tuple(schema.tables[fk.parent].primary_key) and \
                    pcols not in [c for c, _ in self.ref_sets[fk.parent]]:
                self.ref_sets[fk.parent].append((pcols, tuple(pos[fk.parent][c] for c in pcols)))
        self.pk_get = {t: getter(idx) for t, idx in self.pk_idx.items()}
        self.ref_get = {t: [(cols, getter(idx)) for cols, idx in sets] for t, sets in self.ref_sets.items()}
        self.kept: dict[str, set[tuple]] = {t: set() for t in schema.tables}
        self.refs: dict[tuple[str, tuple[str, ...]], set[tuple]] = \
            {(t, cols): set() for t, sets in self.ref_sets.items() for cols, _ in sets}
        self.need: dict[ForeignKey, set[tuple]] = {}       # parent values to fetch
        self.children: dict[ForeignKey, set[tuple]] = {}   # parent values whose children to fetch
        self.absent: dict[tuple[str, tuple[str, ...]], set[tuple]] = {}
        self.missing: dict[ForeignKey, set[tuple]] = {}

    # -- bookkeeping -------------------------------------------------------------------

    def _have_set(self, fk: ForeignKey) -> set[tuple]:
        if tuple(fk.parent_columns) == tuple(self.schema.tables[fk.parent].primary_key):
            return self.kept[fk.parent]
        return self.refs[(fk.parent, tuple(fk.parent_columns))]

    def _have(self, fk: ForeignKey, value: tuple) -> bool:
        return value in self._have_set(fk)

    def add(self, table: str, rows: Iterable[tuple]) -> int:
        kept = self.kept[table]
        pk_of = self.pk_get[table]
        new = []
        for r in rows:
            pk = pk_of(r)
            if pk not in kept:
                kept.add(pk)
                new.append(r)
        if not new:
            return 0
        for cols, get in self.ref_get[table]:
            self.refs[(table, cols)].update(map(get, new))
        for fk, get in self.up[table]:
            need = self.need.setdefault(fk, set())
            absent = self.absent.get((fk.parent, tuple(fk.parent_columns)), ())
            have = self._have_set(fk)
            for v in map(get, new):
                if v in have or None in v:
                    continue
                if v in absent:
                    self.missing.setdefault(fk, set()).add(v)
                    continue
                need.add(v)
        for fk, get in self.down[table]:
            todo = self.children.setdefault(fk, set())
            todo.update(v for v in map(get, new) if None not in v)
        return len(new)

    # -- the work ----------------------------------------------------------------------

    def pick(self, start: Start) -> dict:
        t = self.schema.tables[start.table]
        info: dict = {"how": start.describe()}
        n: int | None = None
        if start.rows is not None or start.fraction is not None:
            matching = self.source.count(start.table, start.where)
            n = start.rows if start.rows is not None else picked_count(start.fraction, matching)
            n = min(n, matching)
            info["matching"] = matching
        rows = list(self.source.pick(start.table, self.kc[start.table], t.primary_key, start.where, n,
                                     salt(self.seed, start.table)))
        info["picked"] = len(rows)
        info.setdefault("matching", len(rows))
        self.add(start.table, rows)
        self.reporter.info(f"  start {start.table}: {len(rows):,} of {info['matching']:,} rows ({start.describe()})")
        return info

    def run(self, starts: list[Start]) -> Selection:
        start_info = {}
        with self.reporter.step("pick start rows"):
            for s in starts:
                start_info[s.table] = self.pick(s)
        rounds = 0
        with self.reporter.step("follow foreign keys (parents; children over follow edges)"):
            while any(self.need.values()) or any(self.children.values()):
                rounds += 1
                while any(self.need.values()):
                    for fk in sorted(self.need, key=_fk_order):
                        values = self.need[fk]
                        if not values:
                            continue
                        self.need[fk] = set()
                        self._fetch_parents(fk, values)
                for fk in sorted(self.children, key=_fk_order):
                    values = self.children[fk]
                    if not values:
                        continue
                    self.children[fk] = set()
                    got = self.add(fk.table, self.source.lookup(fk.table, self.kc[fk.table], fk.columns,
                                                                list(values)))
                    self.reporter.detail(f"round {rounds}: +{got:,} {fk.table} (children of {fk.parent})")
                self.reporter.detail(f"round {rounds}: {sum(len(k) for k in self.kept.values()):,} rows")
        problems = []
        dangling = {}
        for fk, values in sorted(self.missing.items(), key=lambda kv: _fk_order(kv[0])):
            if fk.nullable:
                dangling[fk.id] = dangling.get(fk.id, 0) + len(values)
            else:
                sample = ", ".join("/".join(_show(x) for x in v) for v in sorted(values, key=_order)[:5])
                problems.append(f"{fk}: {len(values)} value(s) point at no row (e.g. {sample})")
        if problems:
            raise IntegrityError(
                "production's data breaks its own foreign keys (rows loaded with foreign_key_checks=0?):\n  "
                + "\n  ".join(problems),
                "Fix the rows in production, or --exclude the child table if nothing else needs it.")
        return Selection(self.schema, self.kept, self.refs, start_info, self.follow, self.cut, dangling, rounds)

    def _fetch_parents(self, fk: ForeignKey, values: set[tuple]) -> None:
        have = self._have_set(fk)
        todo = [v for v in values if v not in have]   # query order does not matter: the result is a set
        if not todo:
            return
        parent = fk.parent
        pcols = tuple(fk.parent_columns)
        rows = list(self.source.lookup(parent, self.kc[parent], pcols, todo))
        self.add(parent, rows)
        found = set(map(getter([self.kc[parent].index(c) for c in pcols]), rows))
        lost = [v for v in todo if v not in found]
        if lost:
            self.absent.setdefault((parent, pcols), set()).update(lost)
            self.missing.setdefault(fk, set()).update(lost)
        self.reporter.detail(f"+{len(rows):,} {parent} (parents of {fk.table})")


def getter(idx: Sequence[int]) -> Callable[[Sequence], tuple]:
    """row -> tuple of the values at ``idx`` (fast paths for one and two columns)."""
    if len(idx) == 1:
        i = idx[0]
        return lambda r: (r[i],)
    return itemgetter(*idx)


def _fk_order(fk: ForeignKey) -> tuple[str, str]:
    return fk.id, fk.name


def _order(v: tuple):
    """A total order over key tuples of server text (numbers by value)."""
    return tuple((0, int(x), "") if isinstance(x, str) and x.lstrip("-").isdigit() else
                 (1, 0, x if isinstance(x, str) else x.hex()) for x in v)


def _show(x) -> str:
    return x.hex() if isinstance(x, (bytes, bytearray)) else str(x)


def resolve_starts(schema: Schema, fraction: float | None, rows: dict[str, int], where: dict[str, tuple[str, ...]],
                   configured: Sequence[str], full: Sequence[str], default: Sequence[str]) -> list[Start]:
    """The start tables and how much of each: tables named by --rows / --where,
    else the rules' ``subset.start``, else ``default``; plus the ``full`` tables."""
    import difflib
    problems = []
    for name in sorted(set(rows) | set(where)):
        if name not in schema.tables:
            close = difflib.get_close_matches(name, list(schema.tables), n=1)
            problems.append(f"no table `{name}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    if problems:
        raise SubsetError("; ".join(problems), f"Tables: {', '.join(sorted(schema.tables))}.")
    if fraction is not None and not 0 < fraction <= 1:
        raise SubsetError(f"--fraction {fraction}: must be above 0 and at most 1 (0.1 = 10 %)")
    for name, n in rows.items():
        if n < 0:
            raise SubsetError(f"--rows {name}={n}: must be 0 or more")
    named = sorted(set(rows) | set(where))
    tables = named or list(configured) or list(default)
    starts = []
    for t in tables:
        if t in full:
            continue
        w = tuple(where.get(t, ()))
        if t in rows:
            starts.append(Start(t, w, rows=rows[t]))
        elif fraction is not None:
            starts.append(Start(t, w, fraction=fraction))
        elif t in where:
            starts.append(Start(t, w))
        else:
            raise SubsetError(f"how many rows of start table {t}? Give --fraction F or --rows {t}=N",
                              "Start tables: those named by --rows/--where, else subset.start of the rules, "
                              f"else the tables at the bottom of the foreign-key graph ({', '.join(default)}).")
    starts += [Start(t, tuple(where.get(t, ()))) for t in full]
    if not starts:
        raise SubsetError("nothing to start from: no start table and no `full` table",
                          "Name start tables with --rows TABLE=N or --where TABLE:COND, or subset.start in the rules.")
    return starts
