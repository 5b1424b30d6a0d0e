"""The dataset directory: the one format a generated dataset (``devenv.data.datasets``)
and a production subset (``devenv.subset.writer``) are written in, and what the
db container's entrypoint bulk-loads::

    <table>.csv ...   one per table
    load.sql          LOAD DATA LOCAL INFILE '<SEED_MOUNT>/<table>.csv' ..., parents first,
                      ending in ``load_sql_tail`` (every row arrived, or the init fails)
    manifest.json     id, how it was made, rows / bytes / sha256 per table
    DATASET_ID        the id (one line)

Both writers and both readers import this module; it imports neither of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..digest import sha256_file
from ..errors import DevenvError

SEED_MOUNT = "/var/lib/devenv-seed"   # where devenv mounts the dataset in the db container
LOAD_FILE = "load.sql"
MANIFEST_FILE = "manifest.json"
ID_FILE = "DATASET_ID"
ROWS_MARKER = "-- devenv-total-rows:"  # read by the entrypoint to report rows/s

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


def load_sql_tail(dataset_id: str, tables: list[str], rows: dict[str, int]) -> list[str]:
    """The end of every load.sql: checks back on, then a row-count check that fails
    the init when LOAD DATA skipped anything (LOCAL turns bad rows into warnings)."""
    out = ["SET SESSION foreign_key_checks = 1, unique_checks = 1;",
           "-- every row arrived (LOAD DATA LOCAL turns bad rows into warnings; fail instead)",
           "DELIMITER //",
           "BEGIN NOT ATOMIC"]
    for name in tables:
        out.append(f"  IF (SELECT COUNT(*) FROM `{name}`) <> {rows[name]} THEN"
                   f" SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'devenv dataset {dataset_id}:"
                   f" {name} does not have {rows[name]} rows'; END IF;")
    return out + ["END //", "DELIMITER ;", ""]


def complete_manifest(path: Path, ds_id: str) -> dict | None:
    """The manifest of ``path`` when it is a complete directory of dataset ``ds_id``, else None
    (the cheap check of the generated-dataset cache: the directory was renamed into place whole)."""
    try:
        if (path / ID_FILE).read_text().strip() != ds_id:
            return None
        manifest = json.loads((path / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("id") != ds_id or not (path / LOAD_FILE).is_file():
        return None
    return manifest


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
    if not (path / LOAD_FILE).is_file():
        problems.append(f"no {LOAD_FILE}")
    for name, entry in sorted((manifest.get("tables") or {}).items()):
        f = path / entry.get("file", f"{name}.csv")
        if not f.is_file():
            problems.append(f"missing {f.name}")
        elif f.stat().st_size != entry.get("bytes"):
            problems.append(f"{f.name}: {f.stat().st_size} bytes, the manifest says {entry.get('bytes')}")
        elif verify and sha256_file(f) != entry.get("sha256"):
            problems.append(f"{f.name}: sha256 differs from the manifest")
    if not manifest.get("tables"):
        problems.append("the manifest lists no tables")
    if problems:
        raise DatasetDirectoryError(f"dataset directory {path} is incomplete or changed: " + "; ".join(problems), HINT)
    return DatasetFiles(path.resolve(), ds_id, manifest)
