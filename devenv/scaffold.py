"""``devenv init``: a ready project from a template of the built-in library.

A template (``devenv/library/templates/NAME/``) holds ``devenv.yaml``,
``profiles/``, the app source and a ``.gitignore``; it holds no recipes, since
recipes a project does not have come from the library. ``--recipe NAME`` copies
a library recipe into the project's ``images/`` for the user to change (the
project's copy then wins over the library's).
"""

from __future__ import annotations

import difflib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DevenvError
from .project import PROJECT_FILE, library_recipes, sanitize, templates_dir


def templates() -> list[str]:
    return sorted(p.parent.name for p in templates_dir().glob(f"*/{PROJECT_FILE}"))


@dataclass
class InitResult:
    root: Path
    name: str
    template: str
    files: list[str] = field(default_factory=list)
    recipes: list[str] = field(default_factory=list)


def init_project(root: Path, template: str, name: str | None = None, recipes: tuple[str, ...] = ()) -> InitResult:
    """Scaffold ``template`` into ``root`` (new or empty); nothing is overwritten."""
    if template not in templates():
        close = difflib.get_close_matches(template, templates(), n=1)
        raise DevenvError(f"no template `{template}`",
                          f"did you mean `{close[0]}`?" if close else f"templates: {', '.join(templates())}")
    available = sorted(p.parent.name for p in library_recipes().glob("*/Dockerfile.j2")) + ["_base"]
    for recipe in recipes:
        if recipe not in available:
            close = difflib.get_close_matches(recipe, available, n=1)
            raise DevenvError(f"no recipe `{recipe}` in the library",
                              f"did you mean `{close[0]}`?" if close else f"recipes: {', '.join(available)}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DevenvError(f"{root} exists and is not a directory", "Choose a new or empty directory.")
    if root.is_dir() and any(root.iterdir()):
        if (root / PROJECT_FILE).exists():
            raise DevenvError(f"{root} already holds a devenv project ({root / PROJECT_FILE})")
        raise DevenvError(f"{root} is not empty", "`devenv init` writes into a new or empty directory only.")
    project_name = name or sanitize(root.resolve().name)
    source = templates_dir() / template
    result = InitResult(root, project_name, template)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if "__pycache__" in rel.parts:
                continue
            dest = root / rel
            if path.is_dir():
                dest.mkdir(exist_ok=True)
                continue
            if rel.as_posix() == PROJECT_FILE:
                dest.write_text(f"name: {project_name}\n" + path.read_text())
            elif rel.name == "gitignore":      # kept without the dot in the library
                dest = dest.with_name(".gitignore")
                shutil.copy2(path, dest)
            else:
                shutil.copy2(path, dest)
            result.files.append(dest.relative_to(root).as_posix())
        for recipe in recipes:
            shutil.copytree(library_recipes() / recipe, root / "images" / recipe,
                            ignore=shutil.ignore_patterns("__pycache__"))
            result.recipes.append(recipe)
    except OSError as exc:
        raise DevenvError(f"cannot write the project to {root}: {exc.strerror or exc} ({exc.filename or root})") from None
    return result


__all__ = ["InitResult", "init_project", "templates"]
