"""The dataset directory: the one format a generated dataset (``devenv.data.datasets``,
a project's generator through ``devenv.data.hook``) and a production subset
(``devenv.subset.writer``) are written in, and what the db container's entrypoint
bulk-loads, with either engine::

    <table>.csv ...   one per table: UTF-8, a header line with the column names, ``,``
                      between fields, text in double quotes (``"`` doubled), ``\\n`` after rows
    manifest.json     id, how it was made; ``tables``: name -> {file, columns, rows, bytes,
                      sha256}; ``order``: the load order (parents first; else the
                      ``tables`` order)
    DATASET_ID        the id (one line)
    load.sql          MariaDB's load script    } the engine's load script (``devenv.db``):
    load.pgsql        PostgreSQL's load script } written from the manifest when missing
    schema.sql        (subsets and imports) the source's CREATE TABLE statements

A directory made from a database (``devenv dataset subset`` / ``import``) records its
source's engine in the manifest (``engine``, and ``null``: the CSV token of SQL NULL
that engine's loader reads); it is loaded by that engine only. Generated datasets hold
no NULL and name no engine: either engine loads them.

The schema is the project's (the db recipe's initdb files), not the directory's: the
entrypoint runs the schema files, the load script in place of the static seed, then
the post-load files (keys, indexes).

Both writers and both readers import this module; it imports neither of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import os

from ..db import DEFAULT_ENGINE, ROWS_MARKER, SEED_MOUNT, DatabaseEngine, LoadTable, engine_named
from ..digest import sha256_file
from ..errors import DevenvError

LOAD_FILE = engine_named(DEFAULT_ENGINE).load_file   # the load script subsets write (their source's engine)
MANIFEST_FILE = "manifest.json"
ID_FILE = "DATASET_ID"
__all__ = ["ID_FILE", "LOAD_FILE", "MANIFEST_FILE", "ROWS_MARKER", "SEED_MOUNT", "DatasetDirectoryError",
           "DatasetFiles", "complete_manifest", "ensure_load_script", "load_tables",
           "open_dataset_dir"]

HINT = "Make it with `devenv dataset subset --from SOURCE --output DIR ...` (see docs/subset.md)."


class DatasetDirectoryError(DevenvError):
    """A directory named as a dataset (``data.dataset.path``) is not a complete dataset directory."""


@dataclass(frozen=True)
class DatasetFiles:
    path: Path        # directory to mount at SEED_MOUNT
    id: str
    manifest: dict

    @property
    def total_rows(self) -> int:
        return self.manifest["total_rows"]


def complete_manifest(path: Path, ds_id: str) -> dict | None:
    """The manifest of ``path`` when it is a complete directory of dataset ``ds_id``, else None
    (the cheap check of the generated-dataset cache: the directory was renamed into place whole)."""
    try:
        if (path / ID_FILE).read_text().strip() != ds_id:
            return None
        manifest = json.loads((path / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("id") != ds_id:
        return None
    # every table file at its recorded size: a file truncated or replaced since (a full
    # disk, a hand edit) makes the directory regenerate instead of loading short
    for name, entry in (manifest.get("tables") or {}).items():
        try:
            if (path / entry.get("file", f"{name}.csv")).stat().st_size != entry.get("bytes"):
                return None
        except OSError:
            return None
    return manifest


def load_tables(manifest: dict) -> list[LoadTable]:
    """The manifest's tables in load order."""
    tables = manifest.get("tables") or {}
    order = manifest.get("order") or list(tables)
    return [LoadTable(name, tables[name].get("file", f"{name}.csv"), tuple(tables[name]["columns"]),
                      int(tables[name]["rows"]), int(tables[name].get("bytes", 0))) for name in order]


def ensure_load_script(files: "DatasetFiles", engine: DatabaseEngine) -> None:
    """Write ``engine``'s load script into the dataset directory unless it is there
    (atomically: a script is complete or absent)."""
    made_for = files.manifest.get("engine")
    if made_for and made_for != engine.name:
        raise DatasetDirectoryError(
            f"dataset directory {files.path} was made from a {made_for} database (manifest.json: engine), "
            f"but the profile's database runs {engine.name}: its CSV files are written for {made_for}'s "
            "loader (NULL, binary values); nothing was loaded",
            f"Make it again from a {engine.name} source, or name it in a profile whose database is {made_for}.")
    target = files.path / engine.load_file
    if target.is_file():
        return
    text = engine.load_script(files.id, load_tables(files.manifest))
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        tmp.rename(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetDirectoryError(f"dataset directory {files.path}: cannot write the {engine.name} load script "
                                    f"{engine.load_file}: {exc.strerror}",
                                    f"Make the directory writable once, or add {engine.load_file} to it.") from None


def open_dataset_dir(path: str | Path, verify: bool = False) -> DatasetFiles:
    """The dataset in directory ``path`` after checking it is complete: DATASET_ID,
    manifest with the same id, load.sql, every table file with its recorded size
    (and sha256 when ``verify``). For a directory a profile names, made elsewhere."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetDirectoryError(f"dataset directory {path} does not exist", HINT)
    try:
        ds_id = (path / ID_FILE).read_text().strip()
        manifest = json.loads((path / MANIFEST_FILE).read_text())
    except OSError as exc:
        raise DatasetDirectoryError(f"dataset directory {path}: {exc.strerror}: {exc.filename}", HINT) from None
    except ValueError as exc:
        raise DatasetDirectoryError(f"dataset directory {path}: {MANIFEST_FILE} is not JSON ({exc})", HINT) from None
    problems = []
    if manifest.get("id") != ds_id:
        problems.append(f"{ID_FILE} says {ds_id!r}, {MANIFEST_FILE} says {manifest.get('id')!r}")
    for name, entry in sorted((manifest.get("tables") or {}).items()):
        f = path / entry.get("file", f"{name}.csv")
        if not f.is_file():
            problems.append(f"missing {f.name} (table {name})")
            continue
        header = _header(f)
        columns = list(entry.get("columns") or [])
        if columns and header != columns:
            problems.append(f"{f.name} (table {name}): its header has columns {header}, "
                            f"the manifest says {columns}")
        if f.stat().st_size != entry.get("bytes"):
            problems.append(f"{f.name}: {f.stat().st_size} bytes, the manifest says {entry.get('bytes')}")
        elif verify and sha256_file(f) != entry.get("sha256"):
            problems.append(f"{f.name}: sha256 differs from the manifest")
    if not manifest.get("tables"):
        problems.append("the manifest lists no tables")
    if problems:
        raise DatasetDirectoryError(f"dataset directory {path} is incomplete or changed: " + "; ".join(problems), HINT)
    return DatasetFiles(path.resolve(), ds_id, manifest)


def _header(f: Path) -> list[str]:
    """The column names of a CSV file's header line."""
    import csv
    with open(f, newline="", encoding="utf-8", errors="replace") as fh:
        return next(csv.reader([fh.readline()]), [])
