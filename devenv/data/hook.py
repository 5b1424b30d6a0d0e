"""The generator hook: a project's own dataset generator for its own schema.

A profile names a Python file of the project::

    data:
      dataset: {generator: ./datagen.py, size: small, seed: 1}

The file declares its sizes and one function; devenv imports it, calls it, and
writes a dataset directory (CSV per table + manifest + the engine's load script)
that the database entrypoint bulk-loads exactly like a built-in dataset::

    from devenv.data.hook import Dataset

    VERSION = 1                                   # bump when the output changes
    SIZES = {"small": {"customers": 1000, "orders": 3000},
             "large": {"customers": 100_000, "orders": 300_000}}

    def generate(ds: Dataset) -> None:
        rng = ds.random("customers")              # deterministic: (seed, name)
        customers = ds.table("customers", ["id", "email", "created_at"])
        for i in range(1, ds.params["customers"] + 1):
            customers.row(i, f"user{i}@example.invalid", ds.timestamp(rng, 2020, 2025))
        orders = ds.table("orders", ["id", "customer_id", "total_cents"],
                          references={"customer_id": "customers"})
        for i in range(1, ds.params["orders"] + 1):
            orders.row(i, rng.randint(1, ds.params["customers"]), rng.randint(100, 99_999))

Rules the API enforces:

- **Determinism**: ``ds.random(name)`` is a ``random.Random`` seeded from the dataset
  seed and ``name`` (sha256, the same on every machine); use nothing else that varies
  (no clock, no ``hash()``, no set order). The dataset id covers the file's content,
  ``VERSION``, size, seed and scale: a changed generator is a new dataset.
- **Foreign keys**: ``references={column: parent_table}`` checks every value against the
  ids written to the parent (its first column), which must be written first (tables
  load in the order they are opened). A dangling reference is an error naming the
  table, row and column, and nothing is written.
- **Values**: ``int``, ``float``, ``str`` (always quoted in the CSV), ``bool`` (``t``/
  ``f``... written as 1/0). ``None`` is refused (datasets load into both engines, whose
  CSV loaders disagree about NULL).
- ``SIZES[size]`` is the default of ``ds.params``; ``data.dataset.scale`` overrides keys
  of it (integers stay integers).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
from pathlib import Path
from random import Random
from typing import Any, Iterable

from ..errors import DevenvError
from . import derive_seed
from .generators import GeneratedReference, GeneratedTable, TableResult
from .generators.csvout import CsvFile, q

_EPOCH = _dt.datetime(1970, 1, 1)


class GeneratorError(DevenvError):
    """A project's generator file is missing, broken, or wrote inconsistent data."""


class TableWriter:
    """One table's CSV, written row by row, its references checked."""

    def __init__(self, ds: "Dataset", name: str, columns: list[str], references: dict[str, str]):
        self.ds, self.name, self.columns = ds, name, tuple(columns)
        self.csv = CsvFile(ds.out / f"{name}.csv", self.columns)
        self.refs = []
        for col, parent in references.items():
            if col not in self.columns:
                raise GeneratorError(f"{ds.label}: table {name}: reference column `{col}` is not one of its columns")
            if parent not in ds.ids:
                raise GeneratorError(f"{ds.label}: table {name} references `{parent}`, which is not written before it",
                                     "Open (and fill) parent tables first: tables load in that order.")
            self.refs.append((self.columns.index(col), col, parent))
        self.ids: set = set()
        self._buf: list[str] = []
        self.count = 0

    def row(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise GeneratorError(f"{self.ds.label}: table {self.name} row {self.count + 1}: {len(values)} values "
                                 f"for {len(self.columns)} columns")
        for i, col, parent in self.refs:
            if values[i] not in self.ds.ids[parent]:
                raise GeneratorError(f"{self.ds.label}: table {self.name} row {self.count + 1}: {col} = {values[i]!r} "
                                     f"is not an id of {parent}")
        self.ids.add(values[0])
        self._buf.append(",".join(_field(self, v) for v in values) + "\n")
        self.count += 1
        if len(self._buf) >= 20_000:
            self.csv.write(self._buf)
            self._buf = []

    def rows(self, rows: Iterable[tuple]) -> None:
        for r in rows:
            self.row(*r)

    def close(self) -> TableResult:
        self.csv.write(self._buf)
        self._buf = []
        return self.csv.close()


def _field(t: TableWriter, v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return q(v)
    raise GeneratorError(f"{t.ds.label}: table {t.name} row {t.count + 1}: value {v!r} "
                         f"({type(v).__name__}) is not an int, float, bool or str")


class Dataset:
    """What ``generate(ds)`` gets: parameters, seeded randomness, table writers."""

    def __init__(self, out: Path, params: dict, label: str):
        self.out, self.label = Path(out), label
        self.params = {k: v for k, v in params.items() if k != "seed"}
        self.seed = int(params["seed"])
        self.ids: dict[str, set] = {}
        self.order: list[TableWriter] = []

    def random(self, name: str) -> Random:
        return Random(derive_seed("hook", self.seed, name))

    def table(self, name: str, columns: list[str], references: dict[str, str] | None = None) -> TableWriter:
        if name in self.ids or any(t.name == name for t in self.order):
            raise GeneratorError(f"{self.label}: table {name} opened twice")
        for t in self.order:   # a new table: the previous ones are complete
            self.ids.setdefault(t.name, t.ids)
        writer = TableWriter(self, name, columns, references or {})
        self.order.append(writer)
        self.ids[name] = writer.ids
        return writer

    @staticmethod
    def timestamp(rng: Random, first_year: int, last_year: int) -> str:
        """'YYYY-MM-DD HH:MM:SS' between Jan 1 of ``first_year`` and Jan 1 of ``last_year``."""
        a = int((_dt.datetime(first_year, 1, 1) - _EPOCH).total_seconds())
        b = int((_dt.datetime(last_year, 1, 1) - _EPOCH).total_seconds())
        return (_EPOCH + _dt.timedelta(seconds=a + int(rng.random() * (b - a)))).strftime("%Y-%m-%d %H:%M:%S")


class HookGenerator:
    """A project's generator file with the interface of ``generators.Generator``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            source = self.path.read_bytes()
        except OSError as exc:
            raise GeneratorError(f"dataset generator {self.path}: {exc.strerror} (data.dataset.generator)") from None
        spec = importlib.util.spec_from_file_location(f"devenv_hook_{self.path.stem}", self.path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: any error is theirs, reported with its file
            raise GeneratorError(f"dataset generator {self.path} failed to import: {type(exc).__name__}: {exc}") from None
        sizes, gen = getattr(module, "SIZES", None), getattr(module, "generate", None)
        if not isinstance(sizes, dict) or not sizes or not callable(gen):
            raise GeneratorError(f"dataset generator {self.path} must define SIZES (size -> params) and generate(ds)",
                                 "See devenv/data/hook.py for the API.")
        self.module, self._generate = module, gen
        self.name = self.path.stem
        # the file's content is part of the version: an edit is a new dataset
        self.version = f"{getattr(module, 'VERSION', 1)}-{hashlib.sha256(source).hexdigest()[:12]}"
        self.sizes = {k: dict(v) for k, v in sizes.items()}
        self.scale_keys = {k: "generator parameter" for s in self.sizes.values() for k in s}
        self.tables: tuple[GeneratedTable, ...] = ()

    def validate(self, params: dict) -> list[str]:
        check = getattr(self.module, "validate", None)
        return list(check(params)) if callable(check) else []

    def generate(self, out, params: dict, imageset, workers: int, progress) -> dict[str, TableResult]:
        ds = Dataset(out, params, f"dataset generator {self.path.name}")
        try:
            self._generate(ds)
        except GeneratorError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code
            raise GeneratorError(f"dataset generator {self.path} failed: {type(exc).__name__}: {exc}") from None
        results = {}
        for t in ds.order:
            results[t.name] = t.close()
            progress(f"{t.name}: {results[t.name].rows:,} rows")
        self.tables = tuple(GeneratedTable(t.name, t.columns,
                                           tuple(GeneratedReference(c, p) for _, c, p in t.refs)) for t in ds.order)
        if not results:
            raise GeneratorError(f"dataset generator {self.path} wrote no table")
        return results
