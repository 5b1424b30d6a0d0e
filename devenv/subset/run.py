"""One subset run: schema, checks, closure, files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..ui import Reporter
from .anonymise import Anonymiser, key_fingerprint
from .closure import Closure, resolve_starts
from .errors import RulesError, SubsetError
from .rules import Rules, check_rules, load_keys
from .schema import Schema, default_follow, default_start, load_order
from .source import open_source, schema_of  # noqa: F401 - open_source: the package's interface
from .writer import OutputDir, finish, size_label, write_schema_sql, write_tables


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    fraction: float | None = None
    rows: dict[str, int] = field(default_factory=dict)
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seed: int = 1
    exclude: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"fraction": self.fraction, "rows": dict(sorted(self.rows.items())),
                "where": {t: list(w) for t, w in sorted(self.where.items())}, "exclude": sorted(self.exclude)}


@dataclass(frozen=True)
class Result:
    path: Path
    manifest: dict
    seconds: float
    source_rows: int | None = None

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def total_rows(self) -> int:
        return self.manifest["total_rows"]


def prepare(schema: Schema, rules: Rules, request: Request) -> tuple[Schema, set[str], set[str]]:
    """Check everything that can be checked before reading a row; returns the
    schema without the excluded tables, the follow edges and the cut edges."""
    excluded = set(rules.subset.exclude) | set(request.exclude)
    unknown = sorted(excluded - set(schema.tables))
    if unknown:
        raise SubsetError(f"--exclude / subset.exclude: no table {', '.join(unknown)} in {schema.database}",
                          f"Tables: {', '.join(sorted(schema.tables))}.")
    check_rules(rules, schema, excluded)
    blocked = [f"{fk} (exclude {fk.table} too, or keep {fk.parent})" for fk in schema.foreign_keys()
               if fk.parent in excluded and fk.table not in excluded]
    if blocked:
        raise RulesError(blocked, "excluded tables are still referenced by kept ones:")
    work = schema.without(excluded)
    work.check_types()
    work.check_keys()
    follow = (default_follow(work) | {e for e in rules.subset.follow if work.edge(e)}) - set(rules.subset.no_follow)
    cut = {e for e in rules.subset.cut if work.edge(e)}
    return work, follow, cut


def subset(source, output: Path, request: Request, rules: Rules, reporter: Reporter,
           source_info: dict, keys: dict[str, bytes] | None = None, key_file: str | None = None,
           force: bool = False) -> Result:
    """Read ``source`` (a ``devenv.db.sources.SqlSource``), write the dataset directory ``output``."""
    began = time.monotonic()
    with reporter.step(f"read the schema of {source_info.get('database', 'the source')}"):
        full = read_source_schema(source)
    schema, follow, cut = prepare(full, rules, request)
    if keys is None:
        keys = load_keys(rules.key_names(), key_file)
    starts = resolve_starts(schema, request.fraction, request.rows, request.where, rules.subset.start,
                            rules.subset.full, default_start(schema, follow))
    reporter.info(f"subset of {source_info.get('display', schema.database)}: {len(schema.tables)} tables; "
                  f"start: {', '.join(f'{s.table} ({s.describe()})' for s in starts)}; "
                  f"follow: {', '.join(sorted(follow)) or '-'}; cut: {', '.join(sorted(cut)) or '-'}")
    selection = Closure(source, schema, follow, cut, request.seed, reporter).run(starts)
    order = load_order(schema, cut)
    anonymiser = Anonymiser(schema, rules, keys, request.seed)
    outdir = OutputDir(output, force)
    try:
        with reporter.step(f"write {selection.total:,} rows to {output}"):
            estimates = {n: t.rows_estimate for n, t in schema.tables.items()}
            entries, nulled = write_tables(outdir.tmp, source, schema, order, selection, anonymiser, reporter,
                                           estimates)
            write_schema_sql(outdir.tmp, source, order)
            extra = {
                "source": {k: v for k, v in source_info.items() if k != "display"},
                "tool": {"name": "devenv", "version": __version__},
                "request": request.to_json(),
                "rules": rules.to_json(),
                "hash_keys": {name: key_fingerprint(k) for name, k in sorted(keys.items())
                              if name in rules.key_names()},
                "start": selection.start,
                "follow": sorted(follow),
                "cut": sorted(cut),
                "nulled": nulled,
                "dangling": selection.dangling,
                "anonymised": anonymiser.anonymised_columns(),
            }
            manifest = finish(outdir.tmp, schema, order, entries, extra, size_label(request.fraction, request.rows),
                              request.seed, {"rules": rules.to_json(), "request": request.to_json(),
                                             "keys": extra["hash_keys"]}, source.engine)
        outdir.commit()
    except BaseException:
        outdir.discard()
        raise
    return Result(Path(output), manifest, time.monotonic() - began)


def read_source_schema(source) -> Schema:
    """The schema of a server source (its catalog), or of an in-memory one."""
    return source.schema() if hasattr(source, "schema") else schema_of(source)
