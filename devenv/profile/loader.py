"""Finding profile files, loading them with positions, and resolving ``extends``."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExtendsCycleError, Location, ProfileError, ProfileIssue, ProfileNotFoundError
from ..yamlload import LoadedYaml, display_path, load_yaml
from . import schema
from .merge import merge
from .model import Profile, anonymise_problems, build_profile, parse_port

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DEFAULT_PROFILE = "small-db"


def default_profile_name() -> str:
    return os.environ.get("DEVENV_PROFILE") or DEFAULT_PROFILE


@dataclass
class ProfileStore:
    """The profiles directory and the images directory its recipes live in."""

    profiles_dir: Path
    images_dir: Path
    project_root: Path | None = None   # where mounts: point into (default: the profiles directory's parent)

    @property
    def root(self) -> Path:
        return self.project_root or self.profiles_dir.parent

    @classmethod
    def locate(cls, profiles_dir: str | Path | None = None) -> "ProfileStore":
        """--profiles-dir / $DEVENV_PROFILES_DIR, else ./profiles, else the reference profiles.

        The images directory is the ``images/`` next to the profiles directory
        (a project keeps ``profiles/`` and ``images/`` side by side).
        """
        chosen = profiles_dir or os.environ.get("DEVENV_PROFILES_DIR")
        if chosen:
            path = Path(chosen)
            if not path.is_dir():
                raise ProfileNotFoundError(f"profiles directory {path} does not exist")
        elif Path("profiles").is_dir():
            path = Path("profiles")
        else:
            path = reference_root() / "profiles"
        path = path.resolve()
        return cls(path, path.parent / "images")

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.profiles_dir.glob("*.yaml") if NAME_RE.match(p.stem))

    def path_of(self, name: str, asked_by: Location | None = None) -> Path:
        if not NAME_RE.match(name) or ".." in name:
            raise ProfileNotFoundError(
                f"`{name}` is not a profile name",
                "A profile is named by its file name without .yaml (letters, digits, . _ -), not by a path; "
                "use --profiles-dir to choose another directory.")
        path = self.profiles_dir / f"{name}.yaml"
        if not path.is_file():
            close = difflib.get_close_matches(name, self.names(), n=1)
            where = f"{asked_by}: " if asked_by else ""
            hint = f"did you mean `{close[0]}`?" if close else f"available: {', '.join(self.names()) or 'none'}"
            raise ProfileNotFoundError(f"{where}no profile `{name}` in {self.profiles_dir}", hint)
        return path

    def load_file(self, name: str, asked_by: Location | None = None) -> LoadedYaml:
        path = self.path_of(name, asked_by)
        loaded = load_yaml(path, display=display_path(path))
        issues = schema.validate(loaded.data, loaded.location, level="file")
        if issues:
            raise ProfileError(issues)
        return loaded

    def load(self, name: str) -> Profile:
        """Load ``name`` and its ancestors, merge them, validate, and build the model."""
        chain: list[LoadedYaml] = []
        names: list[str] = []
        current, asked_by = name, None
        while current is not None:
            if current in names:
                raise ExtendsCycleError(names + [current], asked_by)
            loaded = self.load_file(current, asked_by)
            chain.append(loaded)
            names.append(current)
            parent = loaded.data.get("extends")
            asked_by = loaded.location(("extends",))
            current = parent
        chain.reverse()  # root ancestor first
        merged: dict = {}
        for loaded in chain:
            merged = merge(merged, loaded.data)
        merged.pop("extends", None)
        if len(chain) > 1:
            merged = {"extends": chain[-1].data["extends"], **merged}

        def locate(path: tuple) -> Location:
            return _locate_in_chain(chain, path)

        issues = schema.validate(merged, locate, level="merged") + _semantic_issues(merged, locate) \
            + _mount_issues(merged, locate, self.root)
        if issues:
            raise ProfileError(issues, summary=f"profile `{name}` is invalid after merging "
                                               f"{' <- '.join(l.file for l in chain)}")
        return build_profile(name, tuple(l.file for l in chain), merged, base_dir=str(self.profiles_dir))


def reference_root() -> Path:
    """devenv's reference project: the ``lamp`` template of the built-in library."""
    from ..project import templates_dir
    return templates_dir() / "lamp"


def _locate_in_chain(chain: list[LoadedYaml], path: tuple) -> Location:
    """The file (leaf first) that defines the longest prefix of ``path``."""
    best, best_len = None, -1
    for loaded in reversed(chain):
        for n in range(len(path), -1, -1):
            if path[:n] in loaded.positions:
                if n > best_len:
                    best, best_len = loaded.location(path[:n]), n
                break
    return best or Location(chain[-1].file)


def _semantic_issues(merged: dict, locate) -> list[ProfileIssue]:
    """Cross-references the schema cannot express."""
    issues: list[ProfileIssue] = []
    services = merged.get("services", {})
    names = sorted(services)
    for svc, spec in services.items():
        for key, dep, condition in _dependency_entries(spec):
            where = locate(("services", svc, "depends_on", key))
            if dep not in services:
                close = difflib.get_close_matches(dep, names, n=1)
                issues.append(ProfileIssue(where, f"service {svc} depends on unknown service `{dep}`",
                                           f"did you mean `{close[0]}`?" if close else f"services: {', '.join(names)}"))
            elif dep == svc:
                issues.append(ProfileIssue(where, f"service {svc} depends on itself"))
            elif condition == "service_healthy" and not (services[dep] or {}).get("healthcheck"):
                issues.append(ProfileIssue(
                    locate(("services", svc, "depends_on", key, "condition")),
                    f"service {svc} waits for {dep} to be healthy, but {dep} has no healthcheck",
                    f"give {dep} a healthcheck, or use `condition: service_started`"))
    cycle = _dependency_cycle(services)
    if cycle:
        issues.append(ProfileIssue(locate(("services", cycle[0], "depends_on")),
                                   f"depends_on cycle: {' -> '.join(cycle)}"))
    ds = (merged.get("data") or {}).get("dataset")
    if ds and ds.get("service", "db") not in services:
        issues.append(ProfileIssue(locate(("data", "dataset")),
                                   f"dataset belongs to service `{ds.get('service', 'db')}`, which the profile does not declare"))
    im = (merged.get("data") or {}).get("imageset")
    if im:
        svc, vol = im.get("service", "web"), im.get("volume", "media")
        if svc not in services:
            issues.append(ProfileIssue(locate(("data", "imageset")),
                                       f"image set belongs to service `{svc}`, which the profile does not declare"))
        elif vol not in (services[svc].get("volumes") or {}):
            issues.append(ProfileIssue(locate(("data", "imageset")),
                                       f"image set goes into volume `{vol}` of service {svc}, which it does not mount"))
    suite = merged.get("try")
    if suite and suite.get("service") is not None and suite["service"] not in services:
        close = difflib.get_close_matches(str(suite["service"]), names, n=1)
        issues.append(ProfileIssue(locate(("try", "service")),
                                   f"try: the suite runs in service `{suite['service']}`, which the profile does not declare",
                                   f"did you mean `{close[0]}`?" if close else f"services: {', '.join(names)}"))
    if suite and suite.get("parts") and suite.get("shards"):
        issues.append(ProfileIssue(locate(("try", "shards")), "try: `parts` and `shards` are two ways to split a "
                                   "suite; give one of them"))
    if suite and isinstance(suite.get("command"), str) and any(isinstance(p, list) for p in suite.get("parts") or []):
        issues.append(ProfileIssue(locate(("try", "parts")), "try: a string command takes string parts "
                                   "(appended to it), not argument lists"))
    for (table, column), problem in anonymise_problems((merged.get("data") or {}).get("anonymise")):
        issues.append(ProfileIssue(locate(("data", "anonymise", table, column)), f"data.anonymise: {problem}"))
    taken: dict[tuple, str] = {}
    for svc, spec in sorted(services.items()):
        for i, p in enumerate(spec.get("ports") or []):
            port = parse_port(p)
            key = (port.host_ip, port.host, port.protocol)
            if key in taken:
                issues.append(ProfileIssue(locate(("services", svc, "ports", i)),
                                           f"port {port.host_ip}:{port.host} is published by both {taken[key]} and {svc}"))
            taken[key] = svc
    return issues


def _mount_issues(merged: dict, locate, root: Path) -> list[ProfileIssue]:
    """Every mount source is a path of the project that exists, symlinks resolved."""
    issues: list[ProfileIssue] = []
    real_root = root.resolve()
    for svc, spec in sorted((merged.get("services") or {}).items()):
        for target, source in sorted((spec.get("mounts") or {}).items()):
            if source is None:
                continue
            where = locate(("services", svc, "mounts", target))
            if os.path.isabs(source):
                issues.append(ProfileIssue(where, f"service {svc}: mount source `{source}` is an absolute path",
                                           f"mount sources are paths of the project, relative to {root}"))
                continue
            path = root / source
            real = path.resolve()
            if real != real_root and real_root not in real.parents:
                lexical = Path(os.path.normpath(real_root / source))
                inside = lexical == real_root or real_root in lexical.parents
                why = "leads out of the project through a symlink" if inside else "is outside the project"
                issues.append(ProfileIssue(where, f"service {svc}: mount source `{source}` {why} ({real})",
                                           f"mount sources must stay inside the project {root}"))
            elif not path.exists():
                issues.append(ProfileIssue(where, f"service {svc}: mount source `{source}` does not exist ({path})"))
    return issues


def _dependency_entries(spec: dict) -> list[tuple[int | str, str, str | None]]:
    """(key in the file, dependency, explicit condition) of a raw service's depends_on, either form."""
    deps = (spec or {}).get("depends_on") or []
    if isinstance(deps, dict):
        return [(name, name, (cond or {}).get("condition") if isinstance(cond, dict) else None)
                for name, cond in deps.items()]
    return [(i, name, None) for i, name in enumerate(deps) if isinstance(name, str)]


def _dependency_cycle(services: dict) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for _, d, _ in _dependency_entries(services[n]):
            if d not in services or d == n:
                continue
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(services):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None
