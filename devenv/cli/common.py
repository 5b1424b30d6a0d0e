"""What every command module of the CLI shares: the ``Context`` of the global options,
the option decorators, the profile-name default, output paths and table output.

Command modules import from here and from the library, never from each other or
from ``devenv.cli`` itself (which imports them all).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from ..errors import OutputPathError, ProfileNotFoundError
from ..profile import ProfileStore, default_profile_name
from ..profile.loader import NAME_RE
from ..names import DEFAULT_INSTANCE, INSTANCE_RE, Scope
from ..project import Project, find_root
from ..project import load as load_project
from ..project import locate as locate_project
from ..render import Renderer


class Context:
    """What the global options decided, shared by every command."""

    def __init__(self, profiles_dir: str | None, debug: bool, project_dir: str | None = None,
                 engine_url: str | None = None):
        self.profiles_dir = profiles_dir
        self.debug = debug
        self.project_dir = project_dir
        self.engine_url = engine_url   # --engine; None: $DOCKER_HOST, the Docker context, the local socket
        self._store: ProfileStore | None = None
        self._project: Project | None = None

    @property
    def project(self) -> Project:
        """--project / $DEVENV_PROJECT, else the project around --profiles-dir or the working directory."""
        if self._project is None:
            if self.profiles_dir and not self.project_dir:
                around = Path(self.profiles_dir).resolve().parent
                self._project = load_project(find_root(around) or around)
            else:
                self._project = locate_project(self.project_dir)
        return self._project

    @property
    def store(self) -> ProfileStore:
        if self._store is None:
            if self.profiles_dir:
                self._store = ProfileStore.locate(self.profiles_dir)
            else:
                p = self.project
                if not p.profiles_dir.is_dir():
                    raise ProfileNotFoundError(f"project {p.root} has no profiles directory {p.profiles_dir}")
                self._store = ProfileStore(p.profiles_dir.resolve(), p.recipes_dir.resolve(), p.root)
        return self._store

    def renderer(self) -> Renderer:
        return Renderer(self.store.images_dir, self.project.root, project=self.project.name)

    def stack(self, name: str, instance: str | None = None):
        """PROFILE rendered for this project, as its instance INSTANCE (default: the first)."""
        profile = self.store.load(name)
        stack = self.renderer().render(profile, instance or DEFAULT_INSTANCE)
        return stack

    def scope(self, profile: str, instance: str | None = None) -> Scope:
        """Whose containers a command acts on: this project's PROFILE, instance INSTANCE."""
        return Scope(self.project.name, profile, instance or DEFAULT_INSTANCE, str(self.project.root))

    def default_profile(self) -> str:
        return os.environ.get("DEVENV_PROFILE") or self.project.default_profile

    def engine(self):
        """The Docker Engine the commands act on (devenv.engine.client.resolve says which), connected once."""
        if getattr(self, "_engine", None) is None:
            from ..engine import connect
            self._engine = connect(url=self.engine_url)
            if self.engine_url:
                # tools devenv runs (testinfra's docker backend runs the docker CLI) act on the same engine
                os.environ["DOCKER_HOST"] = self._engine.url
        return self._engine


pass_ctx = click.make_pass_decorator(Context)


# -- shared options ---------------------------------------------------------------

ENGINE_HELP = ("The Docker Engine: unix:///path.sock, tcp://HOST:PORT (TLS from $DOCKER_CERT_PATH and "
               "$DOCKER_TLS_VERIFY) or ssh://USER@HOST [default: $DOCKER_HOST, else the current Docker "
               "context, else the local socket].")


def check_engine_url(ctx: click.Context, param, value: str | None) -> str | None:
    """--engine checked as it is parsed: a URL that is none is refused before any work starts."""
    if value:
        from ..engine.client import check_url
        check_url(value, "--engine")
    return value


def _set_engine(ctx: click.Context, param, value: str | None) -> None:
    check_engine_url(ctx, param, value)
    obj = ctx.find_object(Context)
    if value and obj is not None:   # None while completing: no Context exists then
        obj.engine_url = value


def engine_option(f):
    """--engine URL on a command: the same as the global option, written after the command."""
    return click.option("--engine", "engine_url", metavar="URL", expose_value=False, callback=_set_engine,
                        help=ENGINE_HELP)(f)


def add_engine_option(command: click.Command) -> None:
    """Give ``command`` (every command of a group) the --engine option, for commands that act on an engine."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_engine_option(sub)
        return
    if not any(p.name == "engine_url" for p in command.params):
        engine_option(command)   # click.option appends to an existing Command's params

def profile_argument(f):
    """Optional PROFILE argument; defaults to $DEVENV_PROFILE or small-db."""
    return click.argument("profile", required=False, metavar="[PROFILE]", shell_complete=complete_profiles)(f)


def profile_option(f):
    return click.option("-p", "--profile", "profile", metavar="PROFILE", shell_complete=complete_profiles,
                        help="Profile of the environment (default: $DEVENV_PROFILE or small-db).")(f)


def instance_option(f):
    """--name INSTANCE: one of several instances of a profile (default: its first)."""
    return click.option("--name", "instance", metavar="INSTANCE", callback=_check_instance,
                        shell_complete=complete_instances,
                        help="The instance of the profile (default: its first; several run side by side).")(f)


def complete_instances(ctx: click.Context, param, incomplete: str) -> list:
    """The instance names of the current project on the engine."""
    try:
        from ..engine import connect, lifecycle
        project = _completion_context(ctx).project.name
        engine = connect(timeout=5, url=_completion_context(ctx).engine_url)
        found = sorted({r.instance for r in lifecycle.instances(engine) if r.project == project})
    except Exception:   # no engine, no project: complete nothing rather than print into the shell
        return []
    return [n for n in found if n.startswith(incomplete)]


def _check_instance(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None
    if not INSTANCE_RE.match(value):
        raise click.BadParameter(
            f"`{value}` is not an instance name: lower-case letters, digits, - and _, at most 40, "
            "starting with a letter or digit (no `/`, no `..`)", ctx=ctx, param=param)
    return value


# -- shell completion (`devenv completion SHELL`) ---------------------------------------

def _completion_context(ctx: click.Context) -> Context:
    """The global options of the command line being completed.

    While completing, click parses without running the group's callback, so no
    ``Context`` object exists yet: it is made from the parsed global options.
    """
    root = ctx.find_root()
    if isinstance(root.obj, Context):
        return root.obj
    return Context(root.params.get("profiles_dir"), False, root.params.get("project_dir"),
                   ctx.params.get("engine_url") or root.params.get("engine_url"))


def complete_profiles(ctx: click.Context, param, incomplete: str) -> list:
    """The project's profile names."""
    try:
        found = _completion_context(ctx).store.names()
    except Exception:   # a completion never fails: a broken project completes nothing
        return []
    return [n for n in found if n.startswith(incomplete)]


def complete_services(ctx: click.Context, param, incomplete: str) -> list:
    """The service names of the profile on the command line, else of the default profile."""
    try:
        obj = _completion_context(ctx)
        name = ctx.params.get("profile") or _profile_on_line(ctx, incomplete) or obj.default_profile()
        found = sorted(obj.store.load(name).services)
    except Exception:   # an invalid profile completes nothing rather than printing into the shell
        return []
    return [s for s in found if s.startswith(incomplete)]


def _profile_on_line(ctx: click.Context, incomplete: str) -> str | None:
    """PROFILE of the command being completed when click's parse lost it.

    Completing an option's value (``devenv devcontainer e-proto --service <TAB>``),
    click parses the line up to that option, which fails resiliently and leaves
    every parameter unset. Parsed again without the trailing option, the profile
    is found. The words are in $COMP_WORDS, which click's bash, zsh and fish
    scripts all set.
    """
    from click.parser import split_arg_string
    words = split_arg_string(os.environ.get("COMP_WORDS", ""))
    if ctx.info_name not in words:
        return None
    rest = words[words.index(ctx.info_name) + 1:]
    if incomplete and rest and rest[-1] == incomplete:
        rest = rest[:-1]
    while rest and rest[-1].startswith("-"):
        rest = rest[:-1]
    sub = ctx.command.make_context(ctx.info_name, rest, parent=ctx.parent, resilient_parsing=True)
    return sub.params.get("profile")


def target_option(f):
    """--target: where up, down, status, logs, exec and verify act (the Docker Engine, or the kubeconfig's cluster)."""
    return click.option("--target", type=click.Choice(["docker", "kubernetes"]), default="docker", show_default=True,
                        help="docker: the Docker Engine; kubernetes: the current kubeconfig context "
                             "(docs/kubernetes.md).")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def profile_name(name: str | None) -> str:
    """The profile a command acts on: NAME, else $DEVENV_PROFILE, else the project's default.

    Checked here, before any engine is asked: commands that act on containers by
    their labels (down, status, logs, ...) would otherwise accept a path as a name.
    """
    if not name:
        ctx = click.get_current_context(silent=True)
        obj = ctx.find_object(Context) if ctx else None
        name = obj.default_profile() if obj else default_profile_name()
    check_profile_name(name)
    return name


def check_profile_name(name: str) -> None:
    if not NAME_RE.match(name) or ".." in name:
        raise ProfileNotFoundError(
            f"`{name}` is not a profile name",
            "A profile is named by its file name without .yaml (letters, digits, . _ -), not by a path; "
            "use --profiles-dir to choose another directory.")


# -- output paths ---------------------------------------------------------------------

# Kernel filesystems accept no new files: writing below them fails with odd errors
# (ENOENT under /proc/self, EACCES in /sys), or for root may even "succeed".
_PSEUDO_FILESYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                       "configfs", "pstore", "bpf", "devpts", "mqueue", "fusectl", "binfmt_misc"}


def _filesystem_type(path: Path) -> str | None:
    """The type of the filesystem ``path`` (existing) is on, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path)
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount = fields[4].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, fstype = mount, right.split()[0]
    return fstype


def output_problem(path: str, directory: bool) -> str | None:
    """Why ``path`` cannot be written as an output file (or directory), or None.

    Checked before the command starts its work, so a long build or fingerprint run
    does not end in an error about where to put the result.
    """
    target = Path(os.path.abspath(path))
    if target.exists():
        if directory and not target.is_dir():
            return f"{path} is a file, not a directory"
        if not directory and target.is_dir():
            return f"{path} is a directory, not a file"
    existing = target
    while not existing.exists():
        existing = existing.parent
    if existing != target and not existing.is_dir():
        return f"{path}: {existing} is a file, so nothing can be created below it"
    fstype = _filesystem_type(existing.resolve())
    if fstype in _PSEUDO_FILESYSTEMS:
        return f"{path} is on the kernel's {fstype} filesystem, where no files can be written"
    if target.is_dir():
        probe_dir = target
    elif target.exists():
        if not os.access(target, os.W_OK):
            return f"{path} is not writable"
        probe_dir = target.parent  # files are replaced through a temporary file next to them
    else:
        probe_dir = existing
    try:
        fd, probe = tempfile.mkstemp(prefix=".devenv-write-test-", dir=probe_dir)
    except OSError as exc:
        return f"{path}: cannot write in {probe_dir}: {exc.strerror}"
    os.close(fd)
    os.unlink(probe)
    return None


class OutputPath(click.Path):
    """A file or directory the command will write: refused at once when it cannot be."""

    def __init__(self, directory: bool = False):
        super().__init__(file_okay=not directory, dir_okay=directory)
        self.directory = directory

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        problem = output_problem(os.fspath(value), self.directory)
        if problem:
            self.fail(problem, param, ctx)
        return value


@contextmanager
def writing(path: str) -> Iterator[None]:
    """Turn an OSError while writing output to ``path`` into a clear error naming it."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or path
        raise OutputPathError(f"cannot write {where}: {exc.strerror or exc}",
                              "Choose an output path in a writable directory.") from None


# -- tables -----------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


# -- watching ---------------------------------------------------------------------------

def record_and_collect(engine, stack) -> None:
    """After an `up` (and after each change `watch` applies): record what the stack uses; the
    images that edits left behind (older than the previous one of each service, kept by no
    project) are removed."""
    from ..data.datasets import dataset_id
    from ..data.imagesets import imageset_id
    from ..engine.images import remove_unused
    from ..housekeeping import record_use as record
    from ..paths import cache_dir
    p = stack.profile
    dropped = record(cache_dir(), stack.scope.project, stack.scope.root, p.name,
                     {s: sp.image.tag for s, sp in stack.services.items()},
                     dataset_id(p.dataset, p.imageset) if p.dataset else None,
                     imageset_id(p.imageset) if p.imageset else None)
    if dropped:
        remove_unused(engine, dropped)


def watch_running(ctx: Context, name: str, instance: str | None, engine, stack, timeout: float) -> None:
    """The loop of ``devenv watch`` and ``devenv up --watch``, once the stack is up:
    every change of the project's files re-renders PROFILE and converges with
    ``up``'s plan, one line per change, until Ctrl-C (exit 130, the stack keeps running)."""
    from ..devcontainer import refresh as refresh_devcontainer
    from ..engine import lifecycle
    from ..errors import Interrupted
    from ..ui import SilentReporter
    from ..watch import Watcher, apply_with, describe, stack_roots
    project = ctx.project
    state = {"stack": stack}

    def render():
        ctx._store = None            # profiles are read anew on every change
        state["stack"] = ctx.stack(name, instance)
        refresh_devcontainer(project.root, state["stack"])   # .devcontainer/ follows the profile
        return state["stack"]

    def roots():
        return stack_roots(project.root, ctx.store.profiles_dir, ctx.store.images_dir, state["stack"])

    def converge(s):
        result = lifecycle.up(engine, s, SilentReporter(), timeout=timeout)
        record_and_collect(engine, s)       # an edit's older images go, as after `up`
        return result

    apply = apply_with(render, converge)
    watcher = Watcher(project.root, roots, apply, lambda change: click.echo(describe(change), err=not change.ok))
    label = str(stack.scope)
    try:
        # "watching" once the first scan is taken: an edit from then on is seen
        watcher.run(ready=lambda: click.echo(f"watching {project.root} for {label} (Ctrl-C stops)"))
    except KeyboardInterrupt:
        raise Interrupted(f"stopped watching {label}; the stack keeps running (`devenv down {name}"
                          + (f" --name {instance}" if instance else "") + "` stops it)") from None
