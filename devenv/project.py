"""The project: the directory that holds a team's profiles, recipes and app source.

Found like git finds a repository: from the working directory upward, the first
directory with a ``devenv.yaml`` (or, for projects made before it existed, with
``profiles/`` and ``images/`` side by side); ``--project DIR`` or
``$DEVENV_PROJECT`` names one directly. Without any, devenv uses its own reference
project (the ``lamp`` template in the built-in library), named ``devenv``.

Every resource devenv creates is named and labelled by the project's name (and
the profile's), the way Compose scopes by project name; the project's root path
is recorded too, so two directories that claim the same name are told apart
instead of sharing containers (``devenv.engine.ownership``).

``devenv.yaml``::

    name: shop            # letters, digits, - and _; default: the directory's name
    default: small-db     # the profile commands use when none is named
    profiles: profiles    # the profiles directory (default)
    recipes: images       # the project's own recipes and templates (default)
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DevenvError, ProfileError, ProfileIssue
from .yamlload import display_path, load_yaml

PROJECT_FILE = "devenv.yaml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
KEYS = ("name", "default", "profiles", "recipes")
REFERENCE_NAME = "devenv"
FALLBACK_DEFAULT = "small-db"


def library_dir() -> Path:
    """devenv's built-in recipe library and project templates (inside the package)."""
    return Path(__file__).resolve().parent / "library"


def library_recipes() -> Path:
    return library_dir() / "recipes"


def templates_dir() -> Path:
    return library_dir() / "templates"


class ProjectError(DevenvError):
    """No usable project where one was named, or a bad devenv.yaml."""


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    default_profile: str
    profiles_dir: Path
    recipes_dir: Path            # the project's own recipes (may not exist)
    config_file: Path | None     # devenv.yaml, when there is one
    reference: bool = False      # devenv's own reference project

    @property
    def recipe_dirs(self) -> tuple[Path, ...]:
        """Where recipes and templates are looked up: the project's own first, then the library."""
        own = (self.recipes_dir,) if self.recipes_dir.is_dir() else ()
        return own + (library_recipes(),)

    def contains(self, path: Path) -> bool:
        root = self.root.resolve()
        p = path.resolve()
        return p == root or root in p.parents


def sanitize(name: str) -> str:
    """A directory name as a project name: lower case, other characters as '-'."""
    text = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "project"
    return text[:40]


def _is_project_dir(path: Path) -> bool:
    return (path / PROJECT_FILE).is_file() or ((path / "profiles").is_dir() and (path / "images").is_dir())


def find_root(start: Path) -> Path | None:
    start = start.resolve()
    for d in (start, *start.parents):
        if _is_project_dir(d):
            return d
    return None


def load(root: Path, reference: bool = False) -> Project:
    """The project at ``root`` (its devenv.yaml read and checked, every issue at once)."""
    root = root.resolve()
    config = root / PROJECT_FILE
    data: dict = {}
    if config.is_file():
        loaded = load_yaml(config, display=display_path(config))
        if loaded.data is None:
            loaded.data = {}
        issues: list[ProfileIssue] = []
        data = loaded.data
        for key in data:
            if key not in KEYS:
                close = difflib.get_close_matches(str(key), KEYS, n=1)
                issues.append(ProfileIssue(loaded.location((key,)), f"unknown key `{key}`",
                                           f"did you mean `{close[0]}`?" if close else f"keys: {', '.join(KEYS)}"))
        for key in KEYS:
            if key in data and not isinstance(data[key], str):
                issues.append(ProfileIssue(loaded.location((key,)), f"`{key}` must be a string"))
        name = data.get("name")
        if isinstance(name, str) and not NAME_RE.match(name):
            issues.append(ProfileIssue(loaded.location(("name",)),
                                       f"`{name}` is not a project name (lower-case letters, digits, - and _, "
                                       "at most 40, starting with a letter or digit)"))
        for key in ("profiles", "recipes"):
            value = data.get(key)
            if isinstance(value, str) and not _inside(root, root / value):
                issues.append(ProfileIssue(loaded.location((key,)), f"`{key}: {value}` is outside the project {root}"))
        if issues:
            raise ProfileError(issues, summary=f"{display_path(config)} is invalid")
    name = data.get("name") or (REFERENCE_NAME if reference else sanitize(root.name))
    return Project(root=root, name=name, default_profile=data.get("default") or FALLBACK_DEFAULT,
                   profiles_dir=root / data.get("profiles", "profiles"),
                   recipes_dir=root / data.get("recipes", "images"),
                   config_file=config if config.is_file() else None, reference=reference)


def reference_project() -> Project:
    return load(templates_dir() / "lamp", reference=True)


def locate(explicit: str | Path | None = None, cwd: Path | None = None) -> Project:
    """--project / $DEVENV_PROJECT, else upward from the working directory, else the reference project."""
    chosen = explicit or os.environ.get("DEVENV_PROJECT")
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise ProjectError(f"project directory {path} does not exist",
                               "Give a directory with a devenv.yaml (`devenv init DIR` makes one).")
        return load(path)
    root = find_root(cwd or Path.cwd())
    if root is None:
        return reference_project()
    return load(root)


def _inside(root: Path, path: Path) -> bool:
    r, p = root.resolve(), path.resolve()
    return p == r or r in p.parents


__all__ = ["PROJECT_FILE", "Project", "ProjectError", "find_root", "library_dir", "library_recipes", "load",
           "locate", "reference_project", "sanitize", "templates_dir"]

