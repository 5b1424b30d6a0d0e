"""``devenv dataset import``: a whole source database (URL or dump) as a dataset
directory, every row of every table as it is (no subsetting, no anonymisation: for
production data use ``devenv dataset subset --fraction 100%``, which anonymises).

The directory is the documented format (``devenv.data.dataset_dir``): the source's
schema (``schema.sql``), one CSV per table in primary-key order (scan order for a
table without one), the source engine's load script, manifest.json and DATASET_ID
(``import-<database>-s0-<12 hex of the checksum>``; for a dump the file's name
without its suffixes stands for the database).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .. import __version__
from ..data.generators.csvout import CsvFile
from ..ui import Reporter
from .errors import SubsetError
from .run import Result, read_source_schema
from .schema import Schema, load_order
from .writer import OutputDir, finish, row_encoder, write_schema_sql


def write_full_tables(out: Path, source, schema: Schema, order: list[str], reporter: Reporter) -> dict[str, dict]:
    entries = {}
    for name in order:
        t = schema.tables[name]
        started = time.monotonic()
        encode = row_encoder([c.kind for c in t.columns], source.engine.null)
        csv = CsvFile(out / t.file, t.column_names)
        batch = []
        for row in source.scan(name, t.column_names, order_by=t.primary_key):
            batch.append(encode(row))
            if len(batch) >= 5000:
                csv.write(batch)
                batch = []
                reporter.detail(f"{name}: {csv.rows:,} rows")
        csv.write(batch)
        result = csv.close()
        entries[name] = {"file": t.file, "rows": result.rows, "bytes": result.bytes, "sha256": result.sha256,
                         "columns": list(t.column_names)}
        reporter.info(f"  {name}: {result.rows:,} rows, {result.bytes / 1e6:,.1f} MB "
                      f"({time.monotonic() - started:.1f}s)")
    return entries


def import_source(source, output: Path, reporter: Reporter, source_info: dict, force: bool = False) -> Result:
    """Every table of ``source`` (a ``devenv.db.sources.SqlSource``) into the dataset directory ``output``."""
    began = time.monotonic()
    with reporter.step(f"read the schema of {source_info.get('database', 'the source')}"):
        schema = read_source_schema(source)
    if not schema.tables:
        raise SubsetError(f"{source_info.get('display', schema.database)}: no tables to import",
                          "Check the database (and for PostgreSQL the schema: ...?schema=NAME).")
    schema.check_types()
    order = load_order(schema)
    outdir = OutputDir(output, force)
    try:
        with reporter.step(f"write every row of {len(order)} tables to {output}"):
            entries = write_full_tables(outdir.tmp, source, schema, order, reporter)
            write_schema_sql(outdir.tmp, source, order)
            extra = {"source": {k: v for k, v in source_info.items() if k != "display"},
                     "tool": {"name": "devenv", "version": __version__}}
            # a dump's throwaway database has devenv's name: the file's stands for it
            label = re.sub(r"[^A-Za-z0-9_.-]", "_", source_info.get("name") or schema.database)[:40] or "db"
            manifest = finish(outdir.tmp, schema, order, entries, extra, label, 0, {"import": True},
                              source.engine, generator="import", prefix="import")
        outdir.commit()
    except BaseException:
        outdir.discard()
        raise
    return Result(Path(output), manifest, time.monotonic() - began)
