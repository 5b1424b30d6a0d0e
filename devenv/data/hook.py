"""The generator hook: a dataset generator for a schema, written against a small API.

A profile names a Python file of the project::

    data:
      dataset: {generator: ./datagen.py, size: small, seed: 1}

The file declares its sizes and one function; devenv imports it, calls it, and
writes a dataset directory (CSV per table + manifest + the engine's load script)
that the database entrypoint bulk-loads exactly like a built-in dataset. devenv's
own ``shop`` generator (``devenv/data/generators/shop.py``) is such a file::

    from devenv.data.hook import Dataset

    VERSION = 1                                   # bump when the output changes
    SIZES = {"small": {"customers": 1000, "orders": 3000},
             "large": {"customers": 100_000, "orders": 300_000}}

    def generate(ds: Dataset) -> None:
        p = ds.params
        customers = ds.table("customers", ["id", "email", "created_at"],
                             ids=range(1, p["customers"] + 1))
        orders = ds.table("orders", ["id", "customer_id", "total_cents"],
                          ids=range(1, p["orders"] + 1), references={"customer_id": "customers"})

        def customer_rows(chunk):                 # chunk.ids: this chunk's part of the ids
            rng = chunk.random                    # seeded from (seed, table, chunk index)
            for i in chunk.ids:
                chunk.row(i, f"user{i}@example.invalid", ds.timestamp(rng, 2020, 2025))

        def order_rows(chunk):
            for i in chunk.ids:
                chunk.row(i, 1 + int(chunk.random.random() * p["customers"]),
                          100 + int(chunk.random.random() * 99_900))

        customers.fill(customer_rows, chunk_rows=50_000)   # chunks run in worker processes
        orders.fill(order_rows, chunk_rows=50_000)

Two ways to write a table:

- **Directly**: ``t = ds.table(...)`` then ``t.row(*values)`` inside ``generate`` (one
  process, in order). Simple; fine for small tables and for facts that depend on
  the rows before them.
- **Filled**: ``t.fill(fn, chunk_rows=N, also=(...))`` registers ``fn``; devenv calls
  it after ``generate`` returns, once per chunk of ``N`` declared ids, in up to
  ``workers`` forked processes (``data.dataset`` generation uses up to 4). ``fn(chunk,
  *also_writers)`` writes the chunk's rows with ``chunk.row`` (ids in order, exactly
  ``chunk.ids``). Without ``chunk_rows`` the whole table is one chunk (``chunk.ids``
  is the declared range, or None); ``also`` tables are written by the same call
  (``fn(chunk, items)``: ``items.row(...)``), e.g. order lines whose totals the order
  row needs; a fill with ``also`` is one chunk. Chunks are scheduled in the order of
  the ``fill`` calls: fill the slowest unsplit table first.

Rules the API enforces:

- **Determinism**: ``ds.random(name)`` is a ``random.Random`` seeded from the dataset
  seed and ``name``, ``chunk.random`` one seeded from (seed, table, chunk index)
  (sha256: the same on every machine); use nothing else that varies (no clock, no
  ``hash()``, no set order). The bytes do not depend on the number of workers as
  long as a chunk reads shared state (what ``generate`` computed before returning)
  and never changes it: a ``Random`` made in ``generate`` and drawn from in chunks
  would advance differently in each process; draw from ``chunk.random``. The
  dataset id covers ``VERSION``, size, seed, scale and image set, and for a
  project's file its content: a changed generator is a new dataset.
- **Declared ids** (``ids=range(first, stop)``): the table's first column holds
  exactly these ids, in order; a row with another id, or a table (chunk) that ends
  with ids missing, is an error. Such a table may be referenced before it is
  written and from any process, its ids never held in memory: a reference is
  checked against the range, which is exact because the range is checked too.
- **Foreign keys**: ``references={column: parent_table}``; the parent is declared
  first (tables load in the order they are declared). Against a parent with declared
  ids the value must be an ``int`` in its range; against one without, the parent is
  written directly before the child's rows (its ids are held in a set) and must not
  be filled. A dangling reference is an error naming the table, row and column, and
  no dataset is kept.
- **Values**: ``int``, ``float``, ``str`` (always quoted in the CSV), ``bool`` (written
  as 1/0). ``None`` is refused (datasets load into both engines, whose CSV loaders
  disagree about NULL).
- ``SIZES[size]`` is the default of ``ds.params``; ``data.dataset.scale`` overrides keys
  of it (integers stay integers). ``ds.imageset`` is the profile's image set (``count``,
  ``width``, ``height``) or None. An optional ``validate(params)`` returns problems.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from random import Random
from types import ModuleType
from typing import Any, Callable, Iterable

from ..errors import DevenvError
from . import derive_seed
from .generators import GeneratedReference, GeneratedTable, TableResult
from .generators.csvout import CHUNK_ROWS, CsvFile, q

_EPOCH = _dt.datetime(1970, 1, 1)
PARTS_DIR = ".parts"       # inside the generation's temp directory: chunk files of worker processes


class GeneratorError(DevenvError):
    """A project's generator file is missing, broken, or wrote inconsistent data."""


# -- values -> CSV ------------------------------------------------------------------------

def _field(t: "TableWriter", row: int, v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return q(v)
    raise GeneratorError(f"{t.ds.label}: table {t.name} row {row}: value {v!r} "
                         f"({type(v).__name__}) is not an int, float, bool or str")


_FAST_FIELDS = {int: "{%s}", float: "{%s!r}", str: '"{%s.replace(_Q, _QQ)}"', bool: '{"1" if %s else "0"}'}


def _compile_fast_row(rows: "Rows", types: tuple[type, ...]) -> Callable[..., None] | None:
    """``rows``'s row function for rows whose values have exactly ``types``: the same
    checks and bytes as ``Rows._checked``, as one generated function. Why: the large
    datasets are millions of rows, and a generic loop over values and checks costs
    about twice a hand-written f-string per row. Anything unusual (another arity or
    type, a failed check) goes to ``Rows._checked``, which writes it or raises the
    error naming table, row and column."""
    if any(t not in _FAST_FIELDS for t in types):
        return None
    n = len(types)
    names = [f"v{i}" for i in range(n)]
    guard = [f"type(v{i}) is not {t.__name__}" for i, t in enumerate(types)]
    namespace: dict[str, Any] = {"_Q": '"', "_QQ": '""', "r": rows, "slow": rows._checked, "buf": rows._buf,
                                 "append": rows._buf.append, "flush": rows.flush, "track": None}
    step = ""
    if rows._next is not None:
        guard.append(f"v0 != r._next or v0 >= {rows.ids.stop}")
        step = "    r._next = v0 + 1\n"
    elif rows._track is not None:
        namespace["track"] = rows._track.add
        step = "    track(v0)\n"
    for k, (i, _col, _parent, lo, hi, known) in enumerate(rows._checks):
        if known is None:
            guard.append(f"type(v{i}) is not int or not ({lo} <= v{i} < {hi})")
        else:
            namespace[f"known{k}"] = known
            guard.append(f"v{i} not in known{k}")
    body = ",".join(_FAST_FIELDS[t] % f"v{i}" for i, t in enumerate(types))
    src = (f"def fast(*values):\n"
           f"    try:\n        {', '.join(names)}, = values\n"
           f"    except ValueError:\n        return slow(values)\n"
           f"    if {' or '.join(guard)}:\n        return slow(values)\n"
           f"{step}"
           f"    append(f'{body}\\n')\n"
           f"    r.count += 1\n"
           f"    if len(buf) >= {CHUNK_ROWS}:\n        flush()\n")
    exec(compile(src, f"<devenv.data.hook row of {rows.table.name}>", "exec"), namespace)  # noqa: S102 - our template
    return namespace["fast"]


# -- where rows go ------------------------------------------------------------------------

class _PartFile:
    """A chunk's rows in a worker process: no header, no hash (the parent joins the
    parts in chunk order into the table's CsvFile and hashes them there)."""

    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "wb")
        self.rows = 0

    def write(self, lines: list[str]) -> None:
        if lines:
            self._f.write("".join(lines).encode("utf-8"))
            self.rows += len(lines)

    def close(self) -> int:
        self._f.close()
        return self.rows


class Rows:
    """Writes one table's rows into a sink, checking them: column count, declared ids
    in order, references. Behind ``TableWriter.row``, every ``Chunk``, and the writers
    of a fill's ``also`` tables (``row``, ``rows``)."""

    def __init__(self, table: "TableWriter", sink, first_row: int, ids: range | None, track: set | None):
        self.table, self.sink = table, sink
        self.ids = ids
        self._next = ids.start if ids is not None else None
        self._first_row = first_row       # 1-based row number of this writer's first row in the table
        self._track = track               # ids of a table without declared ids, for its children
        self._checks = table._checks()
        self._width = len(table.columns)
        self._buf: list[str] = []
        self.count = 0
        self._row = self._first     # the first row's types choose the compiled fast path

    def row(self, *values: Any) -> None:
        self._row(values)

    def _first(self, values: tuple) -> None:
        self._checked(values)
        fast = _compile_fast_row(self, tuple(type(v) for v in values))
        if fast is not None:
            # ``writer.row(...)`` now calls the generated function directly; a ``row``
            # fetched before the first row goes through ``Rows.row``: the same, one call slower
            self.row = fast
            self._row = lambda values: fast(*values)
        else:
            self._row = self._checked

    def _checked(self, values: tuple) -> None:
        t = self.table
        row = self._first_row + self.count
        if len(values) != self._width:
            raise GeneratorError(f"{t.ds.label}: table {t.name} row {row}: "
                                 f"{len(values)} values for {self._width} columns")
        if self._next is not None and (type(values[0]) is not int or values[0] != self._next
                                       or self._next >= self.ids.stop):
            raise GeneratorError(
                f"{t.ds.label}: table {t.name} row {row}: {t.columns[0]} = "
                f"{values[0]!r}, but the next of its declared ids is {self._next}"
                + ("" if self._next < self.ids.stop else f" (the ids end at {self.ids.stop - 1})"),
                "A table with ids=range(...) writes exactly those ids, in order.")
        for i, col, parent, lo, hi, known in self._checks:
            v = values[i]
            if known is None:
                if type(v) is int and lo <= v < hi:
                    continue
            elif v in known:
                continue
            raise GeneratorError(f"{t.ds.label}: table {t.name} row {row}: "
                                 f"{col} = {v!r} is not an id of {parent}"
                                 + (f" (its ids are {lo}..{hi - 1})" if known is None else ""))
        line = ",".join([_field(t, row, v) for v in values]) + "\n"
        if self._next is not None:
            self._next += 1
        elif self._track is not None:
            self._track.add(values[0])
        self._buf.append(line)
        self.count += 1
        if len(self._buf) >= CHUNK_ROWS:
            self.flush()

    def rows(self, rows: Iterable[tuple]) -> None:
        for r in rows:
            self.row(*r)

    def flush(self) -> None:
        self.sink.write(self._buf)
        self._buf.clear()   # the same list: the compiled row function appends to it

    def check_complete(self, what: str) -> None:
        if self.ids is not None and self.count != len(self.ids):
            t = self.table
            raise GeneratorError(f"{t.ds.label}: table {t.name}{what}: wrote {self.count:,} rows, but its declared "
                                 f"ids {self.ids.start}..{self.ids.stop - 1} are {len(self.ids):,}",
                                 "A table with ids=range(...) writes exactly those ids, in order.")


class Chunk(Rows):
    """What a fill function gets: ``index``, ``ids`` (its part of the declared ids, or
    None), ``random`` (seeded from (seed, table, index)), ``row(*values)``."""

    def __init__(self, table: "TableWriter", sink, index: int, ids: range | None):
        first_row = 1 + (ids.start - table.ids.start if ids is not None else 0)
        super().__init__(table, sink, first_row, ids, None)
        self.index = index
        self.random = Random(derive_seed("hook-chunk", table.ds.seed, table.name, index))


@dataclass(frozen=True)
class _Task:
    table: "TableWriter"
    index: int
    ids: range | None
    fn: Callable
    also: tuple["TableWriter", ...]


# -- tables ---------------------------------------------------------------------------------

class TableWriter:
    """One table of the dataset: its columns, declared ids, references, and its rows
    (``row`` directly, or ``fill`` in chunks)."""

    def __init__(self, ds: "Dataset", name: str, columns: list[str], references: dict[str, str],
                 ids: range | None):
        self.ds, self.name, self.columns = ds, name, tuple(columns)
        if not self.columns:
            raise GeneratorError(f"{ds.label}: table {name} has no columns")
        if ids is not None and (not isinstance(ids, range) or ids.step != 1):
            raise GeneratorError(f"{ds.label}: table {name}: ids must be a range(first, stop) of step 1, "
                                 f"got {ids!r}")
        self.ids = ids
        self.refs: list[tuple[int, str, str]] = []
        for col, parent in references.items():
            if col not in self.columns:
                raise GeneratorError(f"{ds.label}: table {name}: reference column `{col}` is not one of its columns")
            p = ds.tables.get(parent)
            if p is None:
                raise GeneratorError(f"{ds.label}: table {name} references `{parent}`, which is not declared before it",
                                     "Declare parent tables first: tables load in that order.")
            p._referenced_by(name)
            self.refs.append((self.columns.index(col), col, parent))
        self.filled = False
        self._children: list[str] = []
        self._known = set() if ids is None else None   # ids written directly, when not declared
        self._direct: Rows | None = None
        self.csv: CsvFile | None = None

    # a child of a table without declared ids checks against the ids written so far
    def _referenced_by(self, child: str) -> None:
        if self.ids is None and self.filled:
            raise GeneratorError(f"{self.ds.label}: table {child} references {self.name}, which is filled in "
                                 f"worker processes without declared ids", _DECLARE_HINT)
        self._children.append(child)

    def _checks(self) -> list[tuple]:
        out = []
        for i, col, parent in self.refs:
            p = self.ds.tables[parent]
            if p.ids is not None:
                out.append((i, col, parent, p.ids.start, p.ids.stop, None))
            else:
                out.append((i, col, parent, 0, 0, p._known))
        return out

    def _open_csv(self) -> CsvFile:
        if self.csv is None:
            self.csv = CsvFile(self.ds.out / f"{self.name}.csv", self.columns)
        return self.csv

    def row(self, *values: Any) -> None:
        """Write one row now (in ``generate``'s process)."""
        if self._direct is None:
            if self.filled:
                raise GeneratorError(f"{self.ds.label}: table {self.name} is filled; it cannot also be written "
                                     f"with row()")
            self._direct = Rows(self, self._open_csv(), 1, self.ids, self._known)
        self._direct.row(*values)

    def rows(self, rows: Iterable[tuple]) -> None:
        for r in rows:
            self.row(*r)

    def fill(self, fn: Callable, chunk_rows: int | None = None, also: Iterable["TableWriter"] = ()) -> None:
        """Have ``fn(chunk, *also_writers)`` write this table (and ``also``) after
        ``generate`` returns: once per ``chunk_rows`` declared ids, or once for the
        whole table; chunks run in worker processes (see the module doc)."""
        also = tuple(also)
        label = self.ds.label
        for t in (self, *also):
            if not isinstance(t, TableWriter) or self.ds.tables.get(t.name) is not t:
                raise GeneratorError(f"{label}: table {self.name}: fill(also=...) takes tables of this dataset")
            if t.filled or t._direct is not None:
                raise GeneratorError(f"{label}: table {t.name} is already written "
                                     f"({'filled' if t.filled else 'with row()'})")
            if t.ids is None and t._children:
                raise GeneratorError(f"{label}: table {t.name} is referenced by {', '.join(t._children)}, so it "
                                     f"cannot be filled in worker processes without declared ids", _DECLARE_HINT)
        if len({t.name for t in (self, *also)}) != 1 + len(also):
            raise GeneratorError(f"{label}: table {self.name}: a table appears twice in fill()")
        if chunk_rows is not None:
            if self.ids is None:
                raise GeneratorError(f"{label}: table {self.name}: chunk_rows needs declared ids (ids=range(...))")
            if also:
                raise GeneratorError(f"{label}: table {self.name}: a fill with also=... is one chunk (no chunk_rows)",
                                     "The rows per chunk of the other tables are not known in advance.")
            if not isinstance(chunk_rows, int) or chunk_rows < 1:
                raise GeneratorError(f"{label}: table {self.name}: chunk_rows must be a whole number >= 1")
        for t in (self, *also):
            t.filled = True
        if chunk_rows is None:
            self.ds._tasks.append(_Task(self, 0, self.ids, fn, also))
            return
        for index, start in enumerate(range(self.ids.start, self.ids.stop, chunk_rows)):
            self.ds._tasks.append(_Task(self, index, range(start, min(start + chunk_rows, self.ids.stop)), fn, ()))

    def _chunk_count(self) -> int:
        return sum(1 for task in self.ds._tasks if task.table is self)


_DECLARE_HINT = "Declare its ids (ids=range(...)) so references are checked against the range, or write it with row()."


# -- the dataset ----------------------------------------------------------------------------

class Dataset:
    """What ``generate(ds)`` gets: parameters, seeded randomness, tables."""

    def __init__(self, out: Path, params: dict, label: str, imageset=None):
        self.out, self.label = Path(out), label
        self.params = {k: v for k, v in params.items() if k != "seed"}
        self.seed = int(params["seed"])
        self.imageset = imageset
        self.tables: dict[str, TableWriter] = {}
        self._tasks: list[_Task] = []
        self._reported: set[str] = set()

    def random(self, name: str) -> Random:
        return Random(derive_seed("hook", self.seed, name))

    def table(self, name: str, columns: list[str], references: dict[str, str] | None = None,
              ids: range | None = None) -> TableWriter:
        if name in self.tables:
            raise GeneratorError(f"{self.label}: table {name} declared twice")
        writer = TableWriter(self, name, columns, references or {}, ids)
        self.tables[name] = writer
        return writer

    @staticmethod
    def timestamp(rng: Random, first_year: int, last_year: int) -> str:
        """'YYYY-MM-DD HH:MM:SS' between Jan 1 of ``first_year`` and Jan 1 of ``last_year``."""
        a = int((_dt.datetime(first_year, 1, 1) - _EPOCH).total_seconds())
        b = int((_dt.datetime(last_year, 1, 1) - _EPOCH).total_seconds())
        return (_EPOCH + _dt.timedelta(seconds=a + int(rng.random() * (b - a)))).strftime("%Y-%m-%d %H:%M:%S")

    # -- after generate(ds): the fills, then every table's file -----------------------------

    def finish(self, workers: int, progress: Callable[[str], None]) -> dict[str, TableResult]:
        for t in self.tables.values():
            if t._direct is not None:
                t._direct.flush()
                t._direct.check_complete("")
        if workers > 1 and len(self._tasks) > 1 and _fork_available():
            self._run_parallel(workers, progress)
        else:
            for task in self._tasks:
                self._run_serial(task)
        results = {}
        for t in self.tables.values():
            if t.ids is not None and t._direct is None and not t.filled and len(t.ids):
                raise GeneratorError(f"{self.label}: table {t.name} declares {len(t.ids):,} ids but was never "
                                     f"written (row() or fill())")
            results[t.name] = t._open_csv().close()
            if t.name not in self._reported:
                progress(f"{t.name}: {results[t.name].rows:,} rows")
        return results

    def _run_serial(self, task: _Task) -> None:
        chunk, extra = _open_task(task, lambda t: t._open_csv())
        _call(task, chunk, extra)

    def _run_parallel(self, workers: int, progress: Callable[[str], None]) -> None:
        parts = self.out / PARTS_DIR
        parts.mkdir()
        pending: dict[str, dict[int, int]] = {t.name: {} for t in self.tables.values()}  # table -> index -> rows
        joined: dict[str, int] = {t.name: 0 for t in self.tables.values()}               # next index to join
        _STATE["tasks"] = self._tasks
        try:
            # concurrent.futures, not multiprocessing.Pool: Pool.terminate() after an error can
            # kill a worker while it holds the result queue's lock and then wait on that lock
            # forever (a unit test hung so in CI). The executor lets the running chunks end,
            # cancels the rest, and reports a worker that died instead of waiting for it.
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(min(workers, len(self._tasks)), mp_context=ctx) as pool:
                futures = [pool.submit(_run_task, i) for i in range(len(self._tasks))]
                try:
                    for done in as_completed(futures):
                        outcome = done.result()
                        if outcome[0] == "error":
                            raise GeneratorError(outcome[1], outcome[2])
                        _, index, rows = outcome
                        for name in rows:
                            pending[name][index] = rows[name]
                        # join every table's chunks as soon as they are contiguous: the parent
                        # hashes while the workers generate
                        for name in rows:
                            t = self.tables[name]
                            while joined[name] in pending[name]:
                                i = joined[name]
                                _join(t._open_csv(), _part_path(parts, name, i), pending[name].pop(i))
                                joined[name] += 1
                                if joined[name] == t._chunk_count():
                                    progress(f"{name}: {t.csv.rows:,} rows")
                                    self._reported.add(name)
                except BrokenProcessPool:
                    raise GeneratorError(f"{self.label}: a worker process of the generator died before its "
                                         "chunk was done (killed, or out of memory?)",
                                         "nothing was kept; run it again, or look at the machine's memory") \
                        from None
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        # Ctrl-C: the chunks already handed to the workers are not waited for
                        # (the executor treats killed workers as a broken pool and cleans up)
                        for process in list(getattr(pool, "_processes", {}).values()):
                            process.terminate()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            _STATE.clear()
        os.rmdir(parts)


def _part_path(parts: Path, table: str, index: int) -> Path:
    return parts / f"{table}.{index:06d}"


def _join(csv: CsvFile, part: Path, rows: int) -> None:
    csv.append_file(part, rows)
    part.unlink()


def _open_task(task: _Task, sink_of: Callable[[TableWriter], Any]) -> tuple[Chunk, list[Rows]]:
    chunk = Chunk(task.table, sink_of(task.table), task.index, task.ids)
    extra = [Rows(t, sink_of(t), 1, t.ids, None) for t in task.also]
    return chunk, extra


def _call(task: _Task, chunk: Chunk, extra: list[Rows]) -> None:
    ds = task.table.ds
    try:
        task.fn(chunk, *extra)
    except GeneratorError:
        raise
    except Exception as exc:  # noqa: BLE001 - the generator's code: any error is its, reported with the table
        raise GeneratorError(f"{ds.label} failed in table {task.table.name} (chunk {task.index}): "
                             f"{type(exc).__name__}: {exc}") from None
    where = f" chunk {task.index} (ids {task.ids.start}..{task.ids.stop - 1})" if task.ids is not None \
        and task.table._chunk_count() > 1 else ""
    for writer, what in ((chunk, where), *((w, "") for w in extra)):
        writer.flush()
        writer.check_complete(what)


# Set in the parent before forking; read by the workers (inherited memory: the fill
# functions are closures over what generate() computed, which cannot be pickled).
_STATE: dict = {}


def _run_task(i: int):
    task: _Task = _STATE["tasks"][i]
    parts = task.table.ds.out / PARTS_DIR
    files: dict[str, _PartFile] = {}

    def sink(t: TableWriter) -> _PartFile:
        files[t.name] = _PartFile(_part_path(parts, t.name, task.index))
        return files[t.name]

    try:
        chunk, extra = _open_task(task, sink)
        _call(task, chunk, extra)
        return ("done", task.index, {name: f.close() for name, f in files.items()})
    except GeneratorError as exc:   # returned, not raised: the parent re-raises it with its hint
        return ("error", exc.message, exc.hint)


def _fork_available() -> bool:
    return os.name == "posix" and "fork" in multiprocessing.get_all_start_methods()


# -- the generator ----------------------------------------------------------------------------

class HookGenerator:
    """A generator file (a project's, or a built-in module) with the interface of
    ``generators.Generator``."""

    def __init__(self, path: str | Path | None = None, *, module: ModuleType | None = None,
                 name: str | None = None, scale_keys: dict[str, str] | None = None):
        if module is None:
            self.path = Path(path)
            module, source = self._import(self.path)
            # the file's content is part of the version: an edit is a new dataset
            self.version = f"{getattr(module, 'VERSION', 1)}-{hashlib.sha256(source).hexdigest()[:12]}"
        else:   # a built-in: devenv bumps its VERSION whenever its bytes change
            self.path = Path(module.__file__)
            self.version = getattr(module, "VERSION", 1)
        sizes, gen = getattr(module, "SIZES", None), getattr(module, "generate", None)
        if not isinstance(sizes, dict) or not sizes or not callable(gen):
            raise GeneratorError(f"dataset generator {self.path} must define SIZES (size -> params) and generate(ds)",
                                 "See devenv/data/hook.py for the API.")
        self.module, self._generate = module, gen
        self.name = name or self.path.stem
        self.sizes = {k: dict(v) for k, v in sizes.items()}
        self.scale_keys = dict(scale_keys) if scale_keys else {k: "generator parameter"
                                                              for s in self.sizes.values() for k in s}
        self.tables: tuple[GeneratedTable, ...] = tuple(getattr(module, "TABLES", ()))

    @staticmethod
    def _import(path: Path) -> tuple[ModuleType, bytes]:
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise GeneratorError(f"dataset generator {path}: {exc.strerror} (data.dataset.generator)") from None
        spec = importlib.util.spec_from_file_location(f"devenv_hook_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: any error is theirs, reported with its file
            raise GeneratorError(f"dataset generator {path} failed to import: {type(exc).__name__}: {exc}") from None
        return module, source

    def validate(self, params: dict) -> list[str]:
        check = getattr(self.module, "validate", None)
        return list(check(params)) if callable(check) else []

    def generate(self, out, params: dict, imageset, workers: int = 1,
                 progress: Callable[[str], None] = lambda text: None) -> dict[str, TableResult]:
        ds = Dataset(out, params, f"dataset generator {self.path.name}", imageset)
        try:
            self._generate(ds)
        except GeneratorError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code
            raise GeneratorError(f"dataset generator {self.path} failed: {type(exc).__name__}: {exc}") from None
        if not ds.tables:
            raise GeneratorError(f"dataset generator {self.path} wrote no table")
        results = ds.finish(workers, progress)
        self.tables = tuple(GeneratedTable(t.name, t.columns,
                                           tuple(GeneratedReference(c, p) for _, c, p in t.refs))
                            for t in ds.tables.values())
        return results
