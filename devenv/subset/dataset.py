"""A dataset directory named by a profile (``data.dataset.path``): checked, then
mounted as is. ``devenv.data.datasets.materialize`` calls ``open_dataset_dir`` for
a dataset with a path instead of generating one."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.datasets import ID_FILE, LOAD_FILE, MANIFEST_FILE, DatasetFiles
from ..data import sha256_file
from .errors import DatasetDirectoryError

HINT = "Make it with `devenv dataset subset --from SOURCE --output DIR ...` (see docs/subset.md)."


def open_dataset_dir(path: str | Path, verify: bool = False) -> DatasetFiles:
    """The dataset in directory ``path`` after checking it is complete: DATASET_ID,
    manifest with the same id, load.sql, every table file with its recorded size
    (and sha256 when ``verify``)."""
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
