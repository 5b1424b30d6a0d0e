"""The ``devenv`` command line: thin commands over the library.

One module per command group (``profiles``, ``env``, ``data``, ``parity``,
``catalogue``, ``dataset``), each with module-level commands that only import
``common`` and the library; this module builds the group from them and holds
``main``, the one place that prints errors and chooses exit codes.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

# Imports allocate a lot and free little: the cyclic collector's passes over them are wasted
# time (about 50 ms of a command's start). It is on again once this module and a command's
# module are loaded (``load_command``).
gc.disable()

import click  # noqa: E402

from .. import __version__  # noqa: E402
from ..interrupts import take_sigint  # noqa: E402
from ..errors import DevenvError  # noqa: E402
from .common import ENGINE_HELP, Context, add_engine_option, check_engine_url  # noqa: E402

gc.enable()


# command name -> (module of devenv.cli, attribute, acts on an engine). A command's module
# is imported only when it runs (or for --help/completion, which list them all): `devenv
# up` does not import the catalogue's, the subset tool's or the editor's code.
LAZY_COMMANDS: dict[str, tuple[str, str, bool]] = {
    "profiles": ("profiles", "profiles_cmd", False), "show": ("profiles", "show_cmd", False),
    "render": ("profiles", "render_cmd", False), "schema": ("profiles", "schema_cmd", False),
    "up": ("env", "up_cmd", True), "down": ("env", "down_cmd", True), "status": ("env", "status_cmd", True),
    "ls": ("env", "ls_cmd", True), "logs": ("env", "logs_cmd", True), "exec": ("env", "exec_cmd", True),
    "shell": ("env", "shell_cmd", True),
    "snapshot": ("data", "snapshot_group", True),
    "fingerprint": ("parity", "fingerprint_cmd", True), "drift": ("parity", "drift_cmd", True),
    "verify": ("parity", "verify_cmd", True),
    "publish": ("catalogue", "publish_cmd", True), "catalogue": ("catalogue", "catalogue_cmd", True),
    "pull": ("catalogue", "pull_cmd", True),
    "dataset": ("dataset", "dataset_group", True),
    "init": ("project", "init_cmd", False), "recipes": ("project", "recipes_cmd", False),
    "cache": ("project", "cache_group", True), "watch": ("project", "watch_cmd", True),
    "devcontainer": ("editor", "devcontainer_cmd", True), "completion": ("editor", "completion_cmd", False),
    "dash": ("editor", "dash_cmd", True),
    "try": ("trying", "try_cmd", True),
}


def load_command(name: str) -> click.Command | None:
    """The command called ``name``, its module imported now (with --engine where it applies)."""
    entry = LAZY_COMMANDS.get(name)
    if entry is None:
        return None
    module, attribute, on_engine = entry
    gc.disable()
    try:
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    finally:
        gc.enable()
    if on_engine:
        add_engine_option(command)   # idempotent
    return command


def all_commands() -> dict[str, click.Command]:
    """Every top-level command by name (all their modules imported): for help and tests."""
    return {name: load_command(name) for name in sorted(LAZY_COMMANDS)}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devenv")
@click.option("--profiles-dir", type=click.Path(file_okay=False), envvar="DEVENV_PROFILES_DIR",
              help="Directory of profile YAML files [env DEVENV_PROFILES_DIR; default ./profiles, "
                   "else the reference profiles].")
@click.option("--project", "project_dir", metavar="DIR", envvar="DEVENV_PROJECT",
              help="The project directory [env DEVENV_PROJECT; default: the directory with a devenv.yaml "
                   "from here upward, else devenv's reference project].")
@click.option("--engine", "engine_url", metavar="URL", callback=check_engine_url, help=ENGINE_HELP)
@click.option("--debug", is_flag=True, envvar="DEVENV_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, profiles_dir: str | None, project_dir: str | None, engine_url: str | None,
        debug: bool) -> None:
    """devenv: a production-identical copy of the site on your machine.

    Profiles (YAML) declare the production stack and the data size; devenv renders
    them into images and runs them on the local Docker Engine.
    """
    ctx.obj = Context(profiles_dir, debug, project_dir, engine_url)


def known_error(exc: BaseException) -> DevenvError | None:
    """The typed error for an exception the core should have translated but did not.

    The last line of defence: an SDK or filesystem error that escaped its call site
    still gets a paragraph naming what failed (and exit 2 or 1), not exit 70.
    """
    if type(exc).__module__.startswith("docker"):
        from ..engine.runtime import known_engine_error
        found = known_engine_error(exc)
        if found is not None:
            return found
    if isinstance(exc, OSError) and exc.filename and not isinstance(exc, (BrokenPipeError, ConnectionError)):
        where = exc.filename if not exc.filename2 else f"{exc.filename} -> {exc.filename2}"
        return DevenvError(f"{where}: {exc.strerror or exc}")
    return None


def _usage_error(exc: click.exceptions.UsageError) -> str:
    """A click usage error as one paragraph: the problem, then the usage line."""
    text = f"devenv: error: {exc.format_message()}"
    if exc.ctx is not None:
        text += f"\n{exc.ctx.get_usage()} ({exc.ctx.command_path} -h for help)"
    return text


def main(argv: list[str] | None = None) -> None:
    """Entry point: the one place that maps errors to messages and exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get("DEVENV_DEBUG") == "1"

    def report(error: DevenvError) -> None:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"devenv: error: {error.render()}", err=True)
        sys.exit(error.exit_code)

    take_sigint()   # Ctrl-C is deferred out of the HTTP pool's lock (devenv/interrupts.py)
    try:
        _run(argv, report, debug)
    finally:
        if argv is None:
            # the process ends here: its last collection would walk every object once more,
            # for nothing (about 0.1 s; frozen objects are left to the exit)
            gc.freeze()


def _run(argv: list[str] | None, report, debug: bool) -> None:
    try:
        cli.main(args=argv, prog_name="devenv", standalone_mode=False)
    except DevenvError as exc:
        report(exc)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("devenv: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.UsageError as exc:
        click.echo(_usage_error(exc), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        click.echo(f"devenv: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        mapped = known_error(exc)
        if mapped is not None:
            report(mapped)
        if debug:
            raise
        import traceback
        last = traceback.format_exc().strip().splitlines()[-1]
        click.echo(f"devenv: internal error: {last}\nRe-run with --debug for the traceback, "
                   "and please report it.", err=True)
        sys.exit(70)
