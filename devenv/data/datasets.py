"""Database datasets: generated CSV files plus the engine's load script for the bulk load.

``materialize(dataset, imageset, cache_dir, reporter, engine=...)`` returns the directory
``cache_dir/datasets/<id>/`` (generating it first when missing)::

    users.csv shops.csv listings.csv listing_images.csv orders.csv order_items.csv
    load.sql / load.pgsql   the engine's bulk load (``devenv.db``), parents first
    manifest.json   id, generator + version, params, load order, rows / bytes / sha256 per table
    DATASET_ID      the id (one line)

The CSV bytes do not depend on the engine: one directory serves both, each engine's
load script is added when first needed. devenv bind-mounts that directory read-only
at ``/var/lib/devenv-seed`` into the database container; on the first start of an
empty volume the recipe's entrypoint runs the schema, then the load script instead
of the static seed, and records the id in the engine's seed state.

Generators: the built-in ``shop`` (``data.dataset.name``) or a project's own file
(``data.dataset.generator``); both are written against ``devenv.data.hook``.

The id is ``<generator>-<size>-<seed>-<12 hex>``, the hex digest covering the
generator name and version, size, seed, the resolved scale and the image set's
count/width/height: equal ids mean equal bytes. Generation happens in a
temporary directory renamed into place at the end, so an interrupted generation
never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import DevenvError
from ..profile.model import Dataset, ImageSet
from ..ui import Reporter
from . import atomic_directory, content_digest
from ..db import DEFAULT_ENGINE, SEED_MOUNT, DatabaseEngine, LoadTable, engine_named
from .dataset_dir import ID_FILE, MANIFEST_FILE, DatasetFiles, complete_manifest, ensure_load_script, open_dataset_dir
from .generators import GeneratedTable, Generator
from .hook import HookGenerator


class UnknownDatasetError(DevenvError):
    """The profile names a dataset generator or size that does not exist."""


class DatasetScaleError(DevenvError):
    """``data.dataset.scale`` has unknown keys or impossible values."""


def registry() -> dict[str, Generator]:
    """The built-in generators, by name: files written against the generator hook
    (``devenv.data.hook``) like a project's own, registered under their name."""
    from .generators import shop
    gens: list[Generator] = [HookGenerator(module=shop, name="shop", scale_keys=shop.SCALE_KEYS)]
    return {g.name: g for g in gens}


def available() -> dict[str, list[str]]:
    """generator name -> its sizes."""
    return {name: sorted(g.sizes) for name, g in sorted(registry().items())}


def generator_for(dataset: Dataset) -> Generator:
    if dataset.generator is not None:   # the project's own (devenv.data.hook)
        gen = HookGenerator(dataset.generator)
        if dataset.size not in gen.sizes:
            raise UnknownDatasetError(
                f"dataset generator {dataset.generator}: unknown size `{dataset.size}` (data.dataset.size)",
                f"Sizes of its SIZES: {', '.join(sorted(gen.sizes))}.")
        return gen
    gens = registry()
    gen = gens.get(dataset.name)
    if gen is None:
        have = ", ".join(f"{n} (sizes: {', '.join(s)})" for n, s in available().items())
        raise UnknownDatasetError(
            f"dataset `{dataset.name}` (data.dataset.name): no generator of that name",
            f"Available generators: {have}.")
    if dataset.size not in gen.sizes:
        raise UnknownDatasetError(
            f"dataset `{dataset.name}`: unknown size `{dataset.size}` (data.dataset.size)",
            f"Sizes of the {gen.name} generator: {', '.join(sorted(gen.sizes))}.")
    return gen


def resolve_params(dataset: Dataset) -> tuple[Generator, dict[str, Any]]:
    """The generator and its full parameters: size defaults, then ``scale`` overrides."""
    gen = generator_for(dataset)
    params: dict[str, Any] = dict(gen.sizes[dataset.size])
    unknown = [k for k, _ in dataset.scale if k not in gen.scale_keys]
    if unknown:
        keys = "; ".join(f"{k}: {doc}" for k, doc in gen.scale_keys.items())
        raise DatasetScaleError(
            f"dataset `{dataset.name}`: unknown scale key(s) {', '.join(sorted(unknown))} (data.dataset.scale)",
            f"Scale keys of the {gen.name} generator: {keys}.")
    for key, value in dataset.scale:
        params[key] = value
    # canonical numbers: 2 and 2.0 give the same id
    params = {k: (int(v) if float(v).is_integer() else float(v)) for k, v in params.items()}
    problems = gen.validate(params)
    if problems:
        raise DatasetScaleError(f"dataset `{dataset.name}` ({dataset.size}): invalid scale: " + "; ".join(problems))
    params["seed"] = int(dataset.seed)
    return gen, params


def _imageset_params(imageset: ImageSet | None) -> dict | None:
    if imageset is None or imageset.count <= 0:
        return None
    return {"count": imageset.count, "width": imageset.width, "height": imageset.height}


def dataset_id(dataset: Dataset, imageset: ImageSet | None) -> str:
    if dataset.path is not None:   # a directory made by `devenv dataset subset`: its own id
        return open_dataset_dir(dataset.path).id
    gen, params = resolve_params(dataset)
    digest = content_digest({"generator": gen.name, "version": gen.version, "size": dataset.size,
                             "params": params, "imageset": _imageset_params(imageset)})
    return f"{gen.name}-{dataset.size}-{dataset.seed}-{digest}"


def load_sql(dataset_id: str, tables: tuple[GeneratedTable, ...], rows: dict[str, int], mount: str = SEED_MOUNT,
             engine: DatabaseEngine | None = None, sizes: dict[str, int] | None = None) -> str:
    """The bulk load script of ``engine`` (default: ``devenv.db.DEFAULT_ENGINE``) for generated ``tables``
    (parents first); ``sizes``: CSV bytes per table, for engines that balance parallel loads."""
    engine = engine or engine_named(DEFAULT_ENGINE)
    sizes = sizes or {}
    return engine.load_script(dataset_id, [LoadTable(t.name, t.file, t.columns, rows[t.name], sizes.get(t.name, 0))
                                           for t in tables], mount)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def materialize(dataset: Dataset, imageset: ImageSet | None, cache_dir: Path, reporter: Reporter,
                workers: int | None = None, engine: DatabaseEngine | None = None) -> DatasetFiles:
    """The dataset directory for ``dataset`` (and ``imageset``, whose count the
    listing images refer to), generated into ``cache_dir/datasets/<id>/`` unless
    already there. ``workers``: processes for generation (default: CPUs, max 4;
    small datasets always use one). A dataset with a ``path`` (a directory made by
    ``devenv dataset subset``) is checked and returned as is. The directory gets
    ``engine``'s load script (default: the default engine) when it lacks one."""
    engine = engine or engine_named(DEFAULT_ENGINE)
    if dataset.path is not None:
        files = open_dataset_dir(dataset.path)
        ensure_load_script(files, engine)
        return files
    gen, params = resolve_params(dataset)
    ds_id = dataset_id(dataset, imageset)
    final = Path(cache_dir) / "datasets" / ds_id
    manifest = complete_manifest(final, ds_id)
    if manifest is not None:
        files = DatasetFiles(final, ds_id, manifest)
        ensure_load_script(files, engine)
        return files
    if final.exists():  # not ours or damaged: replace it (never half-trust a dataset)
        import shutil
        shutil.rmtree(final)

    images = imageset if _imageset_params(imageset) else None
    # a generator's whole-number parameters are mostly row counts (the shop's users..orders,
    # a project's customers, orders ...): enough to tell a small dataset from a large one
    est_rows = sum(v for k, v in params.items() if k != "seed" and isinstance(v, int))
    if workers is None:
        workers = default_workers() if est_rows > 50_000 else 1
    with reporter.step(f"generate dataset {ds_id}"):
        start = time.monotonic()
        with atomic_directory(final) as tmp:
            results = gen.generate(tmp, params, images, workers=workers, progress=reporter.detail)
            rows = {name: r.rows for name, r in results.items()}
            (tmp / engine.load_file).write_text(load_sql(ds_id, gen.tables, rows, engine=engine,
                                                          sizes={n: r.bytes for n, r in results.items()}))
            manifest = {
                "id": ds_id,
                "generator": gen.name,
                "generator_version": gen.version,
                "dataset": dataset.name,
                "size": dataset.size,
                "seed": int(dataset.seed),
                "params": params,
                "imageset": _imageset_params(images),
                "mount": SEED_MOUNT,
                "order": [t.name for t in gen.tables],
                "tables": {t.name: {"file": t.file, "rows": results[t.name].rows,
                                    "bytes": results[t.name].bytes, "sha256": results[t.name].sha256,
                                    "columns": list(t.columns)}
                           for t in gen.tables},
                "total_rows": sum(rows.values()),
                "total_bytes": sum(r.bytes for r in results.values()),
            }
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (tmp / ID_FILE).write_text(ds_id + "\n")
            for f in tmp.iterdir():
                os.chmod(f, 0o644)
        elapsed = time.monotonic() - start
        reporter.info(f"dataset {ds_id}: {manifest['total_rows']:,} rows, "
                      f"{manifest['total_bytes'] / 1e6:,.1f} MB in {elapsed:.1f}s")
    return DatasetFiles(final, ds_id, manifest)
