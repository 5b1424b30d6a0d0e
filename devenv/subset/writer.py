"""Writing the subset (or import) as a devenv dataset directory (the format of
``devenv.data.dataset_dir``, loaded unchanged by the source engine's entrypoint)::

    <table>.csv ...   one per table, parents first, rows in primary-key order
    load.sql|.pgsql   the source engine's bulk load (``SourceEngine.subset_load_script``) + row-count check
    schema.sql        the source's CREATE TABLE statements (for reference; the db image brings the schema)
    manifest.json     source, engine, rules, request, seed, rows / bytes / sha256 per table, checksum
    DATASET_ID        subset-<size>-s<seed>-<12 hex of the checksum>

CSV dialect (the generators' one, see ``devenv.data.generators``): UTF-8, header
line, ``,`` between fields, ``\\n`` after rows, text always in double quotes with
``"`` doubled (newlines inside quotes are fine), no backslash escapes, numbers
bare. On top of the generators: the source engine's NULL token (``SourceEngine.null``,
recorded in the manifest) unquoted is SQL NULL (quoted it is the string), binary
columns as that engine's bulk load reads them, BIT columns decimal, date and time
values as the server prints them in UTC.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from ..data.dataset_dir import ID_FILE, MANIFEST_FILE, SEED_MOUNT
from ..data.generators.csvout import CsvFile, q
from ..digest import sha256_bytes
from ..ui import Reporter
from .anonymise import Anonymiser
from .errors import SubsetError
from .closure import Selection, getter
from .schema import BINARY, BIT, NUMBER, TEXT, Schema, Table

SCHEMA_FILE = "schema.sql"
FORMAT = "devenv-subset/1"
SCAN_RATIO = 0.3        # fetch by full scan instead of key lookups above this share of the table
FETCH_BATCH = 5000


# -- CSV ---------------------------------------------------------------------------------

def encoder(kind: str, null: str = "NULL") -> Callable[[Any], str]:
    """The CSV field of one value; ``null``: the engine's token for SQL NULL."""
    if kind == NUMBER:
        return lambda v: null if v is None else v
    if kind == BINARY:
        return lambda v: null if v is None else (v.encode() if isinstance(v, str) else v).hex()
    if kind == BIT:
        return lambda v: null if v is None else (v if isinstance(v, str) else str(int.from_bytes(v, "big")))
    return lambda v: null if v is None else q(v)


def row_encoder(kinds: list[str], null: str = "NULL") -> Callable[[list], str]:
    """A CSV line for a row of values (compiled once per table: this runs for every row)."""
    parts, env = [], {"NULL_TOKEN": null}
    for i, kind in enumerate(kinds):
        v = f"r[{i}]"
        if kind == NUMBER:
            parts.append(f'(NULL_TOKEN if {v} is None else {v})')
        elif kind == TEXT:
            parts.append(f"""(NULL_TOKEN if {v} is None else '"' + {v}.replace('"', '""') + '"')""")
        else:
            env[f"e{i}"] = encoder(kind, null)
            parts.append(f"e{i}({v})")
    src = "def encode(r):\n    return " + " + ',' + ".join(parts or ['""']) + " + '\\n'\n"
    exec(compile(src, "<row_encoder>", "exec"), env)  # noqa: S102 - code built from fixed templates
    return env["encode"]


def sort_key_fn(table: Table) -> Callable[[tuple], tuple]:
    """Python order of primary keys (numbers by value), the order rows are written in."""
    if len(table.primary_key) == 1 and table.column(table.primary_key[0]).is_integer:
        return lambda pk: int(pk[0])
    conv = []
    for name in table.primary_key:
        c = table.column(name)
        if c.is_integer:
            conv.append(int)
        elif c.kind == NUMBER and c.data_type != "year":
            conv.append(Decimal)
        else:
            conv.append(lambda x: x)
    return lambda pk: tuple(f(x) for f, x in zip(conv, pk))


def row_key_text(pk: tuple) -> str:
    return "-".join(x.hex() if isinstance(x, (bytes, bytearray)) else x for x in pk)


# -- the directory ------------------------------------------------------------------------

def size_label(fraction: float | None, rows: dict[str, int]) -> str:
    if fraction is not None and not rows:
        pct = f"{fraction * 100:.4f}".rstrip("0").rstrip(".")
        return f"{pct}pct"
    return "rows" if rows else "custom"


def subset_id(label: str, seed: int, checksum: str) -> str:
    return f"subset-{label}-s{seed}-{checksum[:12]}"


class OutputDir:
    """A temp directory next to the final one, renamed into place at the end; an
    existing dataset directory is only replaced with ``force``."""

    def __init__(self, final: Path, force: bool):
        self.final = Path(final).absolute()
        if self.final.exists():
            if not self.final.is_dir():
                raise SubsetError(f"--output {final}: exists and is not a directory")
            entries = list(self.final.iterdir())
            if entries and not force:
                raise SubsetError(f"--output {final}: exists and is not empty",
                                  "Pass --force to replace it (only a dataset directory is ever replaced).")
            if entries and not (self.final / ID_FILE).is_file():
                raise SubsetError(f"--output {final}: not a dataset directory (no {ID_FILE}); will not replace it",
                                  "Choose a new or empty directory.")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.tmp-{os.getpid()}-", dir=self.final.parent))
        os.chmod(self.tmp, 0o755)   # bind-mounted into the db container: readable by everyone

    def commit(self) -> None:
        for f in self.tmp.iterdir():
            os.chmod(f, 0o644)
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_tables(out: Path, source, schema: Schema, order: list[str], sel: Selection, anonymiser: Anonymiser,
                 reporter: Reporter, estimates: dict[str, int] | None = None) -> tuple[dict, dict[str, int]]:
    """One CSV per table in ``order``; returns (per-table manifest entries, NULLed values per edge)."""
    entries: dict[str, dict] = {}
    nulled: dict[str, int] = {}
    estimates = estimates or {}
    for name in order:
        t = schema.tables[name]
        cols = t.column_names
        start = time.monotonic()
        keys = sel.kept[name]
        sort_key = sort_key_fn(t)
        ordered = sorted(keys, key=sort_key)
        pk_of = getter([cols.index(c) for c in t.primary_key])
        encode = row_encoder([c.kind for c in t.columns], source.engine.null)
        transforms = anonymiser.transforms(name, cols)
        checks = [(fk, getter([cols.index(c) for c in fk.columns]),
                   [i for i, c in enumerate(cols) if c in fk.columns and t.column(c).nullable])
                  for fk in t.foreign_keys if fk.nullable and fk.parent in schema.tables]
        counts = {fk.id: 0 for fk, _, _ in checks}
        csv = CsvFile(out / t.file, cols)

        def render(row: tuple) -> str:
            if not (checks or transforms):
                return encode(row)
            r = list(row)
            for fk, get, nullable in checks:
                v = get(r)
                if None not in v and not sel.has_parent(fk, v):
                    for i in nullable:
                        r[i] = None
                    counts[fk.id] += 1
            if transforms:
                rk = row_key_text(pk_of(row))
                for i, fn in transforms:
                    r[i] = fn(r[i], rk)
            return encode(r)

        estimate = estimates.get(name, 0)
        if ordered and estimate and len(ordered) >= SCAN_RATIO * estimate:
            picked = [(sort_key(pk), row) for row in source.scan(name, cols) if (pk := pk_of(row)) in keys]
            picked.sort(key=lambda x: x[0])
            csv.write([render(row) for _, row in picked])
            how = "scan"
        else:
            for i in range(0, len(ordered), FETCH_BATCH):
                batch = ordered[i:i + FETCH_BATCH]
                by_pk = {pk_of(row): row for row in source.lookup(name, cols, t.primary_key, batch)}
                csv.write([render(by_pk[pk]) for pk in batch if pk in by_pk])
                reporter.detail(f"{name}: {min(i + FETCH_BATCH, len(ordered)):,}/{len(ordered):,}")
            how = "lookup"
        result = csv.close()
        if result.rows != len(keys):
            raise SubsetError(f"{name}: expected {len(keys)} rows, read {result.rows} "
                              "(did the source change outside the snapshot?)")
        for k, v in counts.items():
            if v:
                nulled[k] = v
        entries[name] = {"file": t.file, "rows": result.rows, "bytes": result.bytes, "sha256": result.sha256,
                         "columns": list(cols)}
        reporter.info(f"  {name}: {result.rows:,} rows, {result.bytes / 1e6:,.1f} MB "
                      f"({how}, {time.monotonic() - start:.1f}s)")
    return entries, nulled


def write_schema_sql(out: Path, source, order: list[str]) -> None:
    parts = [f"-- The source's tables ({source.engine.label}), parents first. For reference, or to create",
             "-- the schema of a new project's db image (its initdb files); the load script only loads rows.", ""]
    for ddl in source.create_statements(order):
        parts += [ddl, ""]
    (out / SCHEMA_FILE).write_text("\n".join(parts))


def checksum(entries: dict[str, dict], order: list[str], load_text_without_id: str, rules_json: dict) -> str:
    data = json.dumps({"tables": [[n, entries[n]["sha256"], entries[n]["rows"]] for n in order],
                       "load": sha256_bytes(load_text_without_id.encode()),
                       "rules": rules_json}, sort_keys=True, separators=(",", ":"))
    return sha256_bytes(data.encode())


def finish(out: Path, schema: Schema, order: list[str], entries: dict[str, dict], manifest_extra: dict,
           label: str, seed: int, rules_json: dict, engine, generator: str = "subset", prefix: str = "subset") -> dict:
    """The load script of ``engine`` (the source's ``SourceEngine``), manifest.json and
    DATASET_ID; returns the manifest."""
    tables = [schema.tables[n] for n in order]
    rows = {n: entries[n]["rows"] for n in order}
    digest = checksum(entries, order, engine.subset_load_script("-", tables, rows, SEED_MOUNT), rules_json)
    ds_id = subset_id(label, seed, digest).replace("subset-", prefix + "-", 1)
    (out / engine.load_file).write_text(engine.subset_load_script(ds_id, tables, rows, SEED_MOUNT))
    manifest = {
        "id": ds_id,
        "format": FORMAT,
        "generator": generator,
        "engine": engine.name,
        "null": engine.null,
        "schema": SCHEMA_FILE,
        "load": engine.load_file,
        "mount": SEED_MOUNT,
        "seed": seed,
        "size": label,
        "checksum": digest,
        "order": order,
        "tables": entries,
        "total_rows": sum(rows.values()),
        "total_bytes": sum(e["bytes"] for e in entries.values()),
        **manifest_extra,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / ID_FILE).write_text(ds_id + "\n")
    return manifest
