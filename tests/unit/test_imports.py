"""No import circles between devenv's modules, and every module imports alone.

The graph is read from the source with ``ast``: every ``import devenv...`` and
``from ... import`` naming a devenv module, at module level and inside functions
(a function-level import hides a circle, it does not remove it). ``from .pkg
import name`` counts as an import of ``pkg.name`` when that is a module, else of
``pkg``. A package's ``__init__`` is the module ``devenv.pkg``, and importing
``devenv.pkg.mod`` runs it first, so that is an edge to ``devenv.pkg`` as well
(``profile`` -> ``subset.rules`` goes through ``subset/__init__``, which imports
the whole package). The packages a module itself lives in are left out: Python
has them imported already, and an ``__init__`` importing its own submodules
would otherwise make every package a circle.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import devenv

ROOT = Path(devenv.__file__).resolve().parent
PACKAGE = "devenv"

# Circles another change removes; each entry is deleted with the change that cuts it.
ALLOWED_CYCLES: set[frozenset[str]] = set()   # none left


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    # template files are a user project's code (its app, generator, checks), not devenv's modules
    templates = ROOT / "library" / "templates"
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if templates not in p.parents}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (``from ..x import y`` -> ``devenv.x``)."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The devenv modules ``module`` imports, anywhere in its file."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import devenv.a.b` names devenv.a.b; keep the longest prefix that is a module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            while target.startswith(PACKAGE + "."):   # the module and the packages it runs on the way
                if target != module and not module.startswith(target + "."):
                    out.add(target)
                target = target.rpartition(".")[0]
    return out


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], start: str, component: set[str]) -> list[str]:
    """One circle through ``start`` inside ``component``, for the message."""
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    chain = [v]
                    while chain[-1] != start:
                        chain.append(prev[chain[-1]])
                    return list(reversed(chain)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    """The parser itself: a relative import inside a function is an edge."""
    pkg = tmp_path / "devenv"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import x\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import y\n    from . import c\n")
    (pkg / "sub" / "c.py").write_text("")
    (pkg / "b.py").write_text("import devenv.sub.a\n")
    modules = {module_name_in(tmp_path, p): p for p in pkg.rglob("*.py")}
    graph = {m: imports_of(m, p, modules) for m, p in modules.items()}
    assert graph["devenv.sub.a"] == {"devenv.b", "devenv.sub.c"}
    assert graph["devenv.b"] == {"devenv.sub", "devenv.sub.a"}   # devenv.sub's __init__ runs first
    assert graph["devenv.sub"] == {"devenv.sub.a"}
    assert cycles(graph) == [["devenv.b", "devenv.sub", "devenv.sub.a"]]


def module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_import_cycles():
    graph = import_graph()
    problems = []
    for component in cycles(graph):
        if frozenset(component) in ALLOWED_CYCLES:
            continue
        problems.append(" -> ".join(_path(graph, component[0], set(component)))
                        + f" (one circle of {len(component)} modules: {', '.join(component)})")
    assert not problems, "import circles:\n  " + "\n  ".join(problems)


def test_allowed_cycles_still_exist():
    """An allowed circle that is gone must leave the list, so it cannot come back unseen."""
    present = {frozenset(c) for c in cycles(import_graph())}
    assert ALLOWED_CYCLES <= present, f"no longer circles, delete them: {ALLOWED_CYCLES - present}"


# __main__ runs the CLI when imported: it is the one module that is not imported alone
@pytest.mark.parametrize("module", sorted(m for m in all_modules() if not m.endswith(".__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)
