"""``devenv watch``: keep a running environment in step with the project's files.

Watched: ``devenv.yaml``, the profiles directory, the project's recipes and the
sources its services ``copy:`` into their images. Mounted source needs nothing
(the container sees the working tree), so it is not watched; nor is anything
``.gitignore`` or ``.devenvignore`` leaves out. A change (debounced) re-renders
the profile, and ``up``'s own plan decides what that means: only images whose
content hash changed are built, only services whose image or settings changed
are recreated, then their health is awaited. Each change gives one ``Change``
to the caller; an error (a profile that no longer validates, a failing build) is
one too, and watching goes on.

Polling (stat of every watched file, 10 times a second) rather than inotify:
no dependency, works on every filesystem (bind mounts, network shares), and a
project's watched set (profiles, templates, copied sources) is small.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import DevenvError

POLL = 0.1
DEBOUNCE = 0.15
ALWAYS_IGNORED = (".git", "__pycache__", "*.pyc", "*.swp", "*~", ".#*", "node_modules", ".venv")


@dataclass(frozen=True)
class Change:
    paths: tuple[str, ...]                 # project-relative files that changed
    ok: bool
    summary: str                           # one line: what was rebuilt / recreated, or the error
    seconds: float
    services: tuple[str, ...] = ()


@dataclass
class IgnoreRules:
    """The patterns of .gitignore and .devenvignore (the common subset: globs, dir/, !negation, /anchored)."""

    patterns: list[tuple[str, bool, bool, bool]] = field(default_factory=list)  # (glob, negate, dir_only, anchored)

    @classmethod
    def of(cls, root: Path) -> "IgnoreRules":
        rules = cls()
        for name in (".gitignore", ".devenvignore"):
            path = root / name
            if not path.is_file():
                continue
            for line in path.read_text(errors="replace").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                line = line[1:] if negate else line
                dir_only = line.endswith("/")
                line = line.rstrip("/")
                anchored = line.startswith("/") or "/" in line
                rules.patterns.append((line.lstrip("/"), negate, dir_only, anchored))
        return rules

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        parts = rel.split("/")
        if any(fnmatch.fnmatch(p, pat) for p in parts for pat in ALWAYS_IGNORED):
            return True
        result = False
        for glob, negate, dir_only, anchored in self.patterns:
            if anchored:
                hit = fnmatch.fnmatch(rel, glob) or any(fnmatch.fnmatch("/".join(parts[:i]), glob)
                                                        for i in range(1, len(parts)))
            else:
                hit = any(fnmatch.fnmatch(p, glob) for p in (parts if not dir_only else parts[:-1] or parts))
                if dir_only and not is_dir:
                    hit = any(fnmatch.fnmatch(p, glob) for p in parts[:-1])
            if hit:
                result = not negate
        return result


def watched_roots(project_root: Path, profiles_dir: Path, recipes_dir: Path, copy_sources: list[Path],
                  mounted: list[Path]) -> tuple[list[Path], list[Path]]:
    """(directories and files to watch, paths excluded because they are mounted)."""
    roots = [project_root / "devenv.yaml", profiles_dir, recipes_dir, *copy_sources]
    return [r for r in dict.fromkeys(roots) if r.exists()], mounted


def copy_sources(project_root: Path, stack) -> list[Path]:
    """The project directories a stack's services copy into their images (``./`` sources)."""
    return [project_root / source for sp in stack.services.values() for _dest, source in sp.service.copy
            if source.startswith("./")]


def mounted_sources(project_root: Path, stack) -> list[Path]:
    """Project paths mounted into containers: not watched (the container sees them live)."""
    return [project_root / m.source for sp in stack.services.values() for m in sp.service.mounts]


def stack_roots(project_root: Path, profiles_dir: Path, recipes_dir: Path, stack) -> tuple[list[Path], list[Path]]:
    """What to watch for ``stack`` (see ``watched_roots``)."""
    return watched_roots(project_root, profiles_dir, recipes_dir, copy_sources(project_root, stack),
                         mounted_sources(project_root, stack))


def describe(change: Change, stamp: str | None = None) -> str:
    """The one line printed for a change: time, ok/error, the files, what happened, how long."""
    stamp = stamp or time.strftime("%H:%M:%S")
    files = ", ".join(change.paths[:3]) + (f" (+{len(change.paths) - 3})" if len(change.paths) > 3 else "")
    return f"{stamp} {'ok' if change.ok else 'error'}: {files}: {change.summary} ({change.seconds:.1f}s)"


def scan(project_root: Path, roots: list[Path], excluded: list[Path], ignore: IgnoreRules) -> dict[str, tuple[int, int]]:
    """project-relative path -> (mtime_ns, size) of every watched file."""
    out: dict[str, tuple[int, int]] = {}
    excl = [str(e.resolve()) for e in excluded]

    def skip(path: str) -> bool:
        return any(path == e or path.startswith(e + os.sep) for e in excl)

    base = str(project_root.resolve())
    for root in roots:
        root = root.resolve()
        if root.is_file():
            st = root.stat()
            out[os.path.relpath(root, base)] = (st.st_mtime_ns, st.st_size)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, base)
            dirnames[:] = [d for d in dirnames if not skip(os.path.join(dirpath, d))
                           and not ignore.ignored(os.path.normpath(os.path.join(rel_dir, d)), is_dir=True)]
            for f in filenames:
                full = os.path.join(dirpath, f)
                rel = os.path.normpath(os.path.join(rel_dir, f))
                if skip(full) or ignore.ignored(rel):
                    continue
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                out[rel] = (st.st_mtime_ns, st.st_size)
    return out


def diff(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


class Watcher:
    """Polls, debounces and applies changes; ``apply`` is given by the caller (it
    re-renders and runs ``up``), so this module knows neither profiles nor engines."""

    def __init__(self, root: Path, roots: Callable[[], tuple[list[Path], list[Path]]],
                 apply: Callable[[list[str]], Change], on_change: Callable[[Change], None],
                 poll: float = POLL, debounce: float = DEBOUNCE):
        self.root, self.roots, self.apply, self.on_change = root, roots, apply, on_change
        self.poll, self.debounce = poll, debounce

    def _scan(self) -> dict:
        roots, excluded = self.roots()
        return scan(self.root, roots, excluded, IgnoreRules.of(self.root))

    def run(self, stop: threading.Event | None = None, ready: Callable[[], None] | None = None) -> None:
        stop = stop or threading.Event()
        state = self._scan()
        if ready:
            ready()
        while not stop.is_set():
            time.sleep(self.poll)
            now = self._scan()
            changed = diff(state, now)
            if not changed:
                continue
            # debounce: an editor's save is often several writes; wait until quiet
            while not stop.is_set():
                time.sleep(self.debounce)
                later = self._scan()
                if later == now:
                    break
                changed = sorted(set(changed) | set(diff(now, later)))
                now = later
            state = now
            self.on_change(self.apply(changed))


def apply_with(render: Callable[[], object], up: Callable[[object], object]) -> Callable[[list[str]], Change]:
    """The usual ``apply``: render the profile again and converge with ``up``."""

    def apply(paths: list[str]) -> Change:
        start = time.monotonic()
        try:
            stack = render()
            result = up(stack)
        except DevenvError as exc:
            # the headline and the first detail: a profile error's first issue names file and line
            lines = [line.strip() for line in exc.render().splitlines() if line.strip()]
            return Change(tuple(paths), False, " ".join(lines[:2]) or type(exc).__name__, time.monotonic() - start)
        services = tuple(sorted(set(result.created) | set(result.started)))
        parts = []
        if result.built:
            parts.append("built " + ", ".join(result.built))
        if result.created:
            parts.append("recreated " + ", ".join(result.created))
        if result.started:
            parts.append("started " + ", ".join(result.started))
        summary = ("; ".join(parts) + ": healthy") if parts else "nothing to rebuild"
        return Change(tuple(paths), True, summary, time.monotonic() - start, services)

    return apply


__all__ = ["Change", "IgnoreRules", "Watcher", "apply_with", "copy_sources", "describe", "diff", "mounted_sources",
           "scan", "stack_roots", "watched_roots"]

