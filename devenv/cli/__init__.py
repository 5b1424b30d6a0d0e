"""The ``devenv`` command line: thin commands over the library.

One module per command group (``profiles``, ``env``, ``data``, ``parity``,
``catalogue``, ``dataset``), each with module-level commands that only import
``common`` and the library; this module builds the group from them and holds
``main``, the one place that prints errors and chooses exit codes.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..interrupts import take_sigint
from ..errors import DevenvError
from . import catalogue, data, dataset, editor, env, parity, profiles, project, trying
from .common import ENGINE_HELP, Context, add_engine_option, check_engine_url


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


COMMANDS = (
    profiles.profiles_cmd, profiles.show_cmd, profiles.render_cmd, profiles.schema_cmd,
    env.up_cmd, env.down_cmd, env.status_cmd, env.ls_cmd, env.logs_cmd, env.exec_cmd, env.shell_cmd,
    data.snapshot_group,
    parity.fingerprint_cmd, parity.drift_cmd, parity.verify_cmd,
    catalogue.publish_cmd, catalogue.catalogue_cmd, catalogue.pull_cmd,
    dataset.dataset_group,
    project.init_cmd, project.recipes_cmd, project.cache_group, project.watch_cmd,
    editor.devcontainer_cmd, editor.completion_cmd, editor.dash_cmd,
    trying.try_cmd,
)
# the commands that act on a Docker Engine also take --engine after their name
ENGINE_COMMANDS = (
    env.up_cmd, env.down_cmd, env.status_cmd, env.ls_cmd, env.logs_cmd, env.exec_cmd, env.shell_cmd,
    data.snapshot_group, parity.fingerprint_cmd, parity.drift_cmd, parity.verify_cmd,
    catalogue.publish_cmd, catalogue.catalogue_cmd, catalogue.pull_cmd, dataset.dataset_group,
    project.cache_group, project.watch_cmd, editor.devcontainer_cmd, editor.dash_cmd, trying.try_cmd,
)
for _command in COMMANDS:
    cli.add_command(_command)
for _command in ENGINE_COMMANDS:
    add_engine_option(_command)


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
