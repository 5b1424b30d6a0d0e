"""``devenv try``: the project's test suite on the developer's change, in throwaway instances.

1. the change (commits since the base, uncommitted edits, new files) as a patch,
   applied to a clean worktree of the base (``devenv.tryrun.worktree``);
2. the profile rendered from that worktree, as instance ``try-ID`` of the
   developer's project: its scope (names, labels, owner) stays the project's, its
   ``project_root`` (where mount sources are) is the worktree; data comes the way
   ``up`` gets it for a new volume (the project's matching snapshot, else the seed);
3. the suite's parts (``try:``) run in ``--jobs`` such instances at once, a
   heavy suite only when no other heavy one runs on the engine (``heavy``);
4. the JUnit reports merged, failing tests named, everything torn down unless
   ``keep``; Ctrl-C removes the instances and the worktree too.

The core reports through the Reporter it is given and returns a ``TryResult``;
the CLI prints and chooses the exit code from it.
"""

from __future__ import annotations

import dataclasses
import queue
import shlex
import signal
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .. import names
from ..engine.runtime import ENGINE_FAILURES
from ..errors import DevenvError
from ..names import Scope
from ..profile.model import TrySuite
from ..project import Project
from ..render import Stack
from ..ui import Reporter
from . import junit
from .heavy import heavy_slot
from .worktree import Worktree, apply, capture, checkout, repository_of

#: exit codes of a try: the suite passed, a test failed, try could not run
PASSED, FAILED, NOT_RUN = 0, 1, 2


class TryError(DevenvError):
    """devenv try could not run the suite (no try: section, the instance did not come up)."""


@dataclass(frozen=True)
class TryOptions:
    profile: str
    base: str | None = None
    command: str | None = None     # --cmd: replaces the suite's command (one part, run by sh -c)
    jobs: int = 1
    keep: bool = False


@dataclass
class PartResult:
    index: int
    label: str
    instance: str
    exit_code: int | None = None
    seconds: float = 0.0
    output: str = ""
    cases: list[junit.TestCase] = field(default_factory=list)
    report: ET.Element | None = None     # the part's JUnit (or a synthetic one when it left none)
    has_junit: bool = False

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or any(c.failed for c in self.cases)

    def as_dict(self) -> dict:
        return {"part": self.index, "label": self.label, "instance": self.instance, "exit_code": self.exit_code,
                "seconds": round(self.seconds, 3), "passed": not self.failed, "junit": self.has_junit,
                "tests": len(self.cases), "failed_tests": [c.name for c in self.cases if c.failed]}


@dataclass
class TryResult:
    id: str
    profile: str
    base: str
    base_commit: str
    files: list[str]
    parts: list[PartResult] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    kept: bool = False
    worktree: str | None = None          # kept with --keep: the instances mount it
    seconds: float = 0.0                 # until the suite's result was known (before the teardown)
    up_seconds: float = 0.0
    teardown_seconds: float = 0.0
    junit_xml: bytes = b""

    @property
    def failures(self) -> list[tuple[PartResult, junit.TestCase | None]]:
        """Each failing test with its part; a part that failed with no failing test stands for itself."""
        out: list[tuple[PartResult, junit.TestCase | None]] = []
        for p in self.parts:
            failing = [c for c in p.cases if c.failed]
            out += [(p, c) for c in failing]
            if p.exit_code != 0 and not failing:
                out.append((p, None))
        return out

    @property
    def exit_code(self) -> int:
        return FAILED if any(p.failed for p in self.parts) else PASSED

    def as_dict(self) -> dict:
        return {"id": self.id, "profile": self.profile, "base": self.base, "base_commit": self.base_commit,
                "files": self.files, "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "up_seconds": round(self.up_seconds, 3),
                "teardown_seconds": round(self.teardown_seconds, 3), "instances": self.instances, "kept": self.kept,
                "worktree": self.worktree, "parts": [p.as_dict() for p in self.parts],
                "failures": [{"part": p.index, "test": c.name if c else None,
                              "message": c.message if c else p.output[-4000:]} for p, c in self.failures]}


# -- the instances -------------------------------------------------------------------------------

def render_in_worktree(project: Project, store_profiles: Path, wt_root: Path, profile: str, instance: str) -> Stack:
    """The profile as the patch has it, rendered from the worktree, scoped as the developer's project.

    Names, labels and the owner check use the project's name and root (so the
    instance belongs to the project, like any ``--name``); mount sources resolve in
    the worktree (``Stack.project_root``).
    """
    from ..profile import ProfileStore
    from ..render import Renderer
    root = project.root.resolve()
    try:
        profiles = wt_root / store_profiles.resolve().relative_to(root)
        recipes = wt_root / project.recipes_dir.resolve().relative_to(root)
    except ValueError:
        raise TryError(f"the profiles directory {store_profiles} is outside the project {root}",
                       "devenv try renders the profiles of the patched checkout; keep them in the project.") from None
    store = ProfileStore(profiles, recipes, wt_root)
    stack = Renderer(recipes, wt_root, project=project.name).render(store.load(profile), instance)
    return dataclasses.replace(stack, project_root=wt_root,
                               scope=Scope(project.name, profile, instance, str(root)))


def _teardown(engine, scopes: list[Scope]) -> None:
    """Remove the instances, all at once: killed, not stopped (their volumes go too, so a clean
    shutdown would protect nothing; a clone's base is read-only under its overlay)."""
    from .. import instances
    from ..engine import lifecycle

    def one(scope: Scope) -> None:
        try:
            lifecycle.down(engine, scope, volumes=True, stop_timeout=0)
        except ENGINE_FAILURES:
            pass   # a second pass follows once every worker has stopped
        instances.forget(scope)

    if len(scopes) > 1:
        with ThreadPoolExecutor(max_workers=len(scopes), thread_name_prefix="devenv-try-down") as pool:
            list(pool.map(one, scopes))
    else:
        for scope in scopes:
            one(scope)


@contextmanager
def _no_interrupt() -> Iterator[None]:
    """Cleanup is not cut short by a second Ctrl-C (only the main thread gets signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Lines(Reporter):
    """Steps of parallel instances as prefixed lines (one live display cannot serve several threads)."""

    def __init__(self, base: Reporter, prefix: str):
        self.base, self.prefix = base, prefix

    @contextmanager
    def step(self, title: str) -> Iterator[Reporter]:
        start = time.monotonic()
        self.base.info(f"==> [{self.prefix}] {title}")
        yield self
        self.base.info(f"    [{self.prefix}] {title}: done in {time.monotonic() - start:.1f}s")

    def info(self, text: str) -> None:
        self.base.info(f"[{self.prefix}] {text}")


# -- the parts -----------------------------------------------------------------------------------

def part_command(suite: TrySuite, extra: tuple[str, ...] | str) -> list[str]:
    if isinstance(suite.command, str):
        tail = extra if isinstance(extra, str) else " ".join(shlex.quote(a) for a in extra)
        return ["sh", "-c", f"{suite.command} {tail}".strip()]
    return list(suite.command) + (shlex.split(extra) if isinstance(extra, str) else list(extra))


def part_label(suite: TrySuite, index: int, count: int, extra: tuple[str, ...] | str) -> str:
    if suite.parts:
        return extra if isinstance(extra, str) else " ".join(extra)
    return f"shard {index}/{count}" if count > 1 else "suite"


def run_part(engine, scope: Scope, suite: TrySuite, part: PartResult, extra: tuple[str, ...] | str,
             env: dict[str, str]) -> None:
    container = names.container_name(scope, suite.service)
    command = part_command(suite, extra)
    if suite.junit:
        # a report left by an earlier part of this instance must not count for this one: the
        # part's own exec removes it first (one engine round trip per part, not two)
        command = ["sh", "-c", 'rm -f -- "$0" && exec "$@"', suite.junit, *command]
    start = time.monotonic()
    code, output = engine.exec_output(container, command, environment=env, workdir=suite.workdir)
    part.seconds = time.monotonic() - start
    part.exit_code = code
    part.output = output.decode(errors="replace")
    xml = engine.read_file(container, suite.junit) if suite.junit else None
    if xml is not None:
        try:
            part.report, part.cases = junit.parse(xml)
            part.has_junit = True
        except junit.JUnitError as exc:
            part.output += f"\ndevenv try: {suite.junit}: {exc}"
    if part.report is None:
        part.report = junit.crashed_part(part.label, part.exit_code, part.output) if part.exit_code else \
            ET.Element("testsuite", name=part.label, tests="0")


def _line(part: PartResult, count: int) -> str:
    head = f"part {part.index}/{count} [{part.label}]"
    if part.exit_code is None:
        return f"{head}: running in {part.instance}"
    tests = f"{len(part.cases)} tests" if part.has_junit else f"exit {part.exit_code}, no JUnit report"
    failing = sum(c.failed for c in part.cases)
    if part.failed:
        what = f"{failing} of {len(part.cases)} tests failed" if failing else tests
        return f"{head}: FAILED in {part.seconds:.1f}s ({what})"
    return f"{head}: passed in {part.seconds:.1f}s ({tests})"


# -- the whole try -------------------------------------------------------------------------------

def try_suite(engine, project: Project, profiles_dir: Path, opts: TryOptions, reporter: Reporter,
              on_result: Callable[[TryResult], None] | None = None) -> TryResult:
    """Run the profile's suite on the working tree's change; see the module docstring.

    ``on_result`` gets the result as soon as the suite has finished, before the
    teardown (which still completes before this returns): the report need not wait
    for the instances to go. ``result.seconds`` is the time until then,
    ``result.teardown_seconds`` what the teardown took after it.
    """
    started = time.monotonic()
    toplevel = repository_of(project.root)
    try_id = uuid.uuid4().hex[:8]
    with reporter.step(f"patch of the working tree against {opts.base or 'the upstream (else main)'}"):
        change = capture(toplevel, opts.base)
        reporter.info(f"    {len(change.files)} files changed against {change.base} "
                      f"({change.base_commit[:10]}): {', '.join(change.files[:8])}"
                      + (" ..." if len(change.files) > 8 else ""))
    result = TryResult(try_id, opts.profile, change.base, change.base_commit, change.files)
    wt: Worktree | None = None
    scopes: list[Scope] = []
    finished = False
    try:
        with reporter.step(f"worktree of {change.base} with the change applied"):
            wt = checkout(change, f"try-{try_id}")
            reporter.info(f"    worktree {wt.path}")
            apply(change, wt)
        wt_root = wt.path / project.root.resolve().relative_to(toplevel)
        first = render_in_worktree(project, profiles_dir, wt_root, opts.profile, f"try-{try_id}")
        suite = _suite(first, opts)
        split = suite.split()
        jobs = max(1, min(opts.jobs, len(split)))
        stacks = [first] if jobs == 1 else [first.for_instance(f"try-{try_id}-{k}") for k in range(1, jobs + 1)]
        scopes = [s.scope for s in stacks]
        result.instances = [s.scope.instance for s in stacks]
        slot = heavy_slot(engine.engine_id(), f"{try_id} of {project.name}",
                          lambda holder: reporter.info(f"waiting for {holder} to finish (try.heavy: one heavy "
                                                       "suite at a time on this engine)")) \
            if suite.heavy else nullcontext()
        with slot:
            _run_parts(engine, project, stacks, suite, split, result, reporter)
        result.junit_xml = junit.merge([(p.label, p.report) for p in result.parts if p.report is not None])
        finished = True
        if opts.keep:
            result.kept, result.worktree = True, str(wt.path)
        result.seconds = time.monotonic() - started
        if on_result is not None:
            on_result(result)
    finally:   # Ctrl-C included: the instances and the worktree go
        if not (finished and opts.keep):
            down_started = time.monotonic()
            with _no_interrupt():
                _teardown(engine, scopes)
                if wt is not None:
                    wt.remove()
            result.teardown_seconds = time.monotonic() - down_started
    return result


def _suite(stack: Stack, opts: TryOptions) -> TrySuite:
    suite = stack.profile.try_suite
    if suite is None:
        raise TryError(f"profile {opts.profile} has no `try:` section (in the patched checkout)",
                       "Add one naming the service, the command and its JUnit file (README: devenv try).")
    if opts.command is not None:
        return dataclasses.replace(suite, command=opts.command, parts=(), shards=None)
    return suite


def _run_parts(engine, project: Project, stacks: list[Stack], suite: TrySuite, split, result: TryResult,
               reporter: Reporter) -> None:
    """Up every instance, then each takes parts off one queue until none is left."""
    from ..engine import lifecycle
    count = len(split)
    todo: queue.Queue = queue.Queue()
    for i, (extra, env) in enumerate(split, 1):
        todo.put((i, extra, env))
    cancel = threading.Event()
    lock = threading.Lock()
    up_times: list[float] = []

    def worker(stack: Stack) -> None:
        rep = reporter if len(stacks) == 1 else _Lines(reporter, stack.scope.instance)
        t0 = time.monotonic()
        with rep.step(f"up {stack.scope} (the patched worktree mounted)"):
            # the new instance volume: `up` clones the project's matching snapshot (copy-on-write,
            # devenv.engine.clones), else restores by copying or seeds
            try:
                lifecycle.up(engine, stack, rep)
            except DevenvError as exc:
                raise TryError(f"the try instance {stack.scope} did not come up: {exc.message}", exc.hint) from None
        with lock:
            up_times.append(time.monotonic() - t0)
        while not cancel.is_set():
            try:
                i, extra, env = todo.get_nowait()
            except queue.Empty:
                return
            part = PartResult(i, part_label(suite, i, count, extra), stack.scope.instance)
            with lock:
                result.parts.append(part)
            reporter.info(_line(part, count))
            run_part(engine, stack.scope, suite, part, extra, env)
            reporter.info(_line(part, count))

    pool = ThreadPoolExecutor(max_workers=len(stacks), thread_name_prefix="devenv-try")
    futures = [pool.submit(worker, s) for s in stacks]
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    raise f.exception()
    except BaseException:
        cancel.set()
        with _no_interrupt():
            _teardown(engine, [s.scope for s in stacks])   # ends the workers' ups and execs
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    result.parts.sort(key=lambda p: p.index)
    result.up_seconds = max(up_times, default=0.0)


__all__ = ["FAILED", "NOT_RUN", "PASSED", "PartResult", "TryError", "TryOptions", "TryResult",
           "render_in_worktree", "try_suite"]
