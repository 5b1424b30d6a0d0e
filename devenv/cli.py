"""The ``devenv`` command line. Thin commands over the library; this module alone
prints and chooses exit codes (see ``main``)."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click
import yaml

from . import __version__
from .errors import DevenvError, Interrupted
from .profile import ProfileStore, default_profile_name
from .profile.schema import profile_schema
from .render import Renderer
from .ui import reporter_for


class Context:
    """What the global options decided, shared by every command."""

    def __init__(self, profiles_dir: str | None, debug: bool):
        self.profiles_dir = profiles_dir
        self.debug = debug
        self._store: ProfileStore | None = None

    @property
    def store(self) -> ProfileStore:
        if self._store is None:
            self._store = ProfileStore.locate(self.profiles_dir)
        return self._store

    def stack(self, name: str):
        profile = self.store.load(name)
        return Renderer(self.store.images_dir).render(profile)

    def engine(self):
        from .engine import connect
        return connect()


pass_ctx = click.make_pass_decorator(Context)


# -- shared options ---------------------------------------------------------------

def profile_argument(f):
    """Optional PROFILE argument; defaults to $DEVENV_PROFILE or small-db."""
    return click.argument("profile", required=False, metavar="[PROFILE]")(f)


def profile_option(f):
    return click.option("-p", "--profile", "profile", metavar="PROFILE",
                        help="Profile of the environment (default: $DEVENV_PROFILE or small-db).")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def _profile_name(name: str | None) -> str:
    return name or default_profile_name()


# -- the group ----------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devenv")
@click.option("--profiles-dir", type=click.Path(file_okay=False), envvar="DEVENV_PROFILES_DIR",
              help="Directory of profile YAML files [env DEVENV_PROFILES_DIR; default ./profiles, "
                   "else the reference profiles].")
@click.option("--debug", is_flag=True, envvar="DEVENV_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, profiles_dir: str | None, debug: bool) -> None:
    """devenv: a production-identical copy of the site on your machine.

    Profiles (YAML) declare the production stack and the data size; devenv renders
    them into images and runs them on the local Docker Engine.
    """
    ctx.obj = Context(profiles_dir, debug)


@cli.command("profiles")
@json_option
@pass_ctx
def profiles_cmd(ctx: Context, as_json: bool) -> None:
    """List the profiles: name, description, parent, data sizes."""
    rows = []
    for name in ctx.store.names():
        p = ctx.store.load(name)
        rows.append({"name": name, "description": p.description, "parent": p.parent,
                     "database": p.dataset.size if p.dataset else None,
                     "images": p.imageset.count if p.imageset else None,
                     "default": name == default_profile_name()})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(["NAME", "PARENT", "DATABASE", "IMAGES", "DESCRIPTION"],
           [[r["name"] + (" *" if r["default"] else ""), r["parent"] or "-", r["database"] or "-",
             "-" if r["images"] is None else str(r["images"]), r["description"]] for r in rows])


@cli.command("show")
@profile_argument
@pass_ctx
def show_cmd(ctx: Context, profile: str | None) -> None:
    """Print the fully resolved PROFILE (after `extends`) as YAML."""
    p = ctx.store.load(_profile_name(profile))
    click.echo(f"# profile {p.name}, merged from: {' <- '.join(p.chain)}")
    click.echo(yaml.safe_dump(p.merged, sort_keys=False, default_flow_style=False), nl=False)


@cli.command("render")
@profile_argument
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Directory to write compose.yaml, plan.json and the build contexts to.")
@pass_ctx
def render_cmd(ctx: Context, profile: str | None, output: str) -> None:
    """Render PROFILE into a stack: compose.yaml, plan.json and build contexts.

    The output runs with `docker compose` as is; rendering twice gives identical bytes.
    """
    stack = ctx.stack(_profile_name(profile))
    stack.write(Path(output))
    for name, sp in sorted(stack.services.items()):
        click.echo(f"{name:<10} {sp.image.tag}")
    click.echo(f"wrote {output}/compose.yaml and {output}/plan.json")


@cli.command("schema")
def schema_cmd() -> None:
    """Print the profile JSON Schema (for editor completion and validation)."""
    click.echo(json.dumps(profile_schema(), indent=2))


@cli.command("up")
@profile_argument
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds to wait for services to become healthy.")
@pass_ctx
def up_cmd(ctx: Context, profile: str | None, timeout: float) -> None:
    """Build what is missing and start PROFILE's stack (default: small-db).

    Idempotent: on a running, unchanged environment nothing changes; after a
    profile change only the services whose image or settings changed are recreated.
    """
    from .engine import lifecycle
    name = _profile_name(profile)
    stack = ctx.stack(name)
    engine = ctx.engine()
    reporter = reporter_for()
    try:
        result = lifecycle.up(engine, stack, reporter, timeout=timeout)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {name} is partly up. Nothing is lost: volumes are kept, "
                          f"and `devenv up {name}` resumes where this one stopped.") from None
    if not result.changed:
        click.echo(f"{name}: up to date, nothing to do")
    else:
        parts = [f"{label}: {', '.join(items)}" for label, items in
                 (("built", result.built), ("created", result.created), ("started", result.started),
                  ("removed", result.removed), ("restored snapshot", result.restored),
                  ("seeding dataset", result.seeded), ("copied image set", result.images_copied)) if items]
        click.echo(f"{name}: " + "; ".join(parts))
    for row in lifecycle.status(engine, name):
        for url in row.urls:
            click.echo(f"  {row.service:<8} {url}")
    for warning in result.warnings:
        click.echo(f"devenv: warning: {warning}", err=True)


@cli.command("down")
@profile_argument
@click.option("--volumes", is_flag=True, help="Also remove the named volumes (the database!).")
@pass_ctx
def down_cmd(ctx: Context, profile: str | None, volumes: bool) -> None:
    """Stop and remove PROFILE's containers and network. Volumes are kept unless --volumes."""
    from .engine import lifecycle
    name = _profile_name(profile)
    result = lifecycle.down(ctx.engine(), name, volumes=volumes)
    if not (result.removed_containers or result.removed_networks or result.removed_volumes):
        click.echo(f"{name}: nothing to remove")
    else:
        click.echo(f"{name}: removed {len(result.removed_containers)} containers, "
                   f"{len(result.removed_networks)} networks, {len(result.removed_volumes)} volumes")
    if result.kept_volumes:
        click.echo(f"kept volumes: {', '.join(result.kept_volumes)} (remove them with --volumes)")


@cli.command("status")
@profile_argument
@json_option
@pass_ctx
def status_cmd(ctx: Context, profile: str | None, as_json: bool) -> None:
    """Each service of PROFILE: state, health, image tag, URLs."""
    from .engine import lifecycle
    name = _profile_name(profile)
    rows = lifecycle.status(ctx.engine(), name)
    if as_json:
        click.echo(json.dumps({"profile": name, "services": [r.as_dict() for r in rows]}, indent=2))
        return
    if not rows:
        click.echo(f"{name}: not running (no containers)")
        return
    _table(["SERVICE", "STATE", "HEALTH", "IMAGE", "URLS"],
           [[r.service, r.state, r.health, r.image, " ".join(r.urls)] for r in rows])


@cli.command("logs")
@click.argument("service")
@profile_option
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--tail", type=click.IntRange(min=0), default=None, help="Only the last N lines.")
@pass_ctx
def logs_cmd(ctx: Context, service: str, profile: str | None, follow: bool, tail: int | None) -> None:
    """Print the logs of SERVICE."""
    from .engine import lifecycle
    engine = ctx.engine()
    container = lifecycle.container_of(engine, _profile_name(profile), service, running=False)
    out = sys.stdout.buffer
    for chunk in engine.api.logs(container, stream=True, follow=follow, tail="all" if tail is None else tail):
        out.write(chunk)
        out.flush()


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@profile_option
@pass_ctx
def exec_cmd(ctx: Context, service: str, command: tuple[str, ...], profile: str | None) -> None:
    """Run COMMAND in SERVICE's container; its exit code is devenv's.

    Example: devenv exec db -- mariadb -e 'SELECT 1'
    """
    from .engine import lifecycle
    from .engine.exec import run
    engine = ctx.engine()
    container = lifecycle.container_of(engine, _profile_name(profile), service)
    sys.exit(run(engine, container, list(command), sys.stdout.buffer, sys.stderr.buffer))


@cli.command("shell")
@click.argument("service")
@profile_option
@pass_ctx
def shell_cmd(ctx: Context, service: str, profile: str | None) -> None:
    """Open an interactive shell (bash, else sh) in SERVICE's container."""
    from .engine import lifecycle
    engine = ctx.engine()
    container = lifecycle.container_of(engine, _profile_name(profile), service)
    # An interactive TTY is the docker CLI's job; devenv only finds the container.
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    os.execvp("docker", ["docker", "exec", *tty, container, "sh", "-c",
                         "command -v bash >/dev/null && exec bash || exec sh"])


@cli.group("snapshot")
def snapshot_group() -> None:
    """Physical database snapshots: save, restore, list, rm.

    A snapshot is the database service's datadir, copied while the server is
    stopped, zstd-compressed, with the sha256 of every file. `devenv up` restores a
    matching one (same dataset, same server image) instead of seeding a new volume.
    """


@snapshot_group.command("save")
@profile_argument
@click.argument("name", required=False, default="latest")
@pass_ctx
def snapshot_save_cmd(ctx: Context, profile: str | None, name: str) -> None:
    """Save PROFILE's database as snapshot NAME (default: latest). The db is stopped meanwhile."""
    from .engine.datadir import save_snapshot
    snap = save_snapshot(ctx.engine(), ctx.stack(_profile_name(profile)), name, reporter_for())
    m = snap.manifest
    click.echo(f"saved {m.profile}/{m.name}: datadir {m.datadir_bytes / 1e6:,.1f} MB -> "
               f"{m.archive_bytes / 1e6:,.1f} MB ({len(m.files)} files) in {snap.path}")


@snapshot_group.command("restore")
@profile_argument
@click.argument("name", required=False, default="latest")
@pass_ctx
def snapshot_restore_cmd(ctx: Context, profile: str | None, name: str) -> None:
    """Replace PROFILE's database with snapshot NAME, after verifying every checksum."""
    from .engine.datadir import restore_snapshot
    snap = restore_snapshot(ctx.engine(), ctx.stack(_profile_name(profile)), name, reporter_for())
    click.echo(f"restored {snap.manifest.profile}/{snap.manifest.name}")


@snapshot_group.command("list")
@click.option("-p", "--profile", "profile", metavar="PROFILE", help="Only this profile's snapshots.")
@json_option
def snapshot_list_cmd(profile: str | None, as_json: bool) -> None:
    """List snapshots: profile, name, dataset, sizes, date."""
    from .engine.datadir import snapshot_store
    snaps = snapshot_store().list(profile)
    rows = [{"profile": s.manifest.profile, "name": s.manifest.name, "dataset": s.manifest.dataset,
             "server_image": s.manifest.server_image, "datadir_bytes": s.manifest.datadir_bytes,
             "archive_bytes": s.manifest.archive_bytes, "created": s.manifest.created, "path": str(s.path)}
            for s in snaps]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no snapshots")
        return
    _table(["PROFILE", "NAME", "DATASET", "DATADIR", "ARCHIVE", "CREATED"],
           [[r["profile"], r["name"], r["dataset"] or "-", f"{r['datadir_bytes'] / 1e6:,.1f} MB",
             f"{r['archive_bytes'] / 1e6:,.1f} MB", r["created"]] for r in rows])


@snapshot_group.command("rm")
@click.argument("name")
@profile_option
def snapshot_rm_cmd(name: str, profile: str | None) -> None:
    """Delete snapshot NAME of PROFILE."""
    from .engine.datadir import snapshot_store
    snapshot_store().remove(_profile_name(profile), name)
    click.echo(f"removed snapshot {_profile_name(profile)}/{name}")




def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> None:
    """Entry point: the one place that maps errors to messages and exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get("DEVENV_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name="devenv", standalone_mode=False)
    except DevenvError as exc:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"devenv: error: {exc.render()}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("devenv: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception:
        if debug:
            raise
        import traceback
        last = traceback.format_exc().strip().splitlines()[-1]
        click.echo(f"devenv: internal error: {last}\nRe-run with --debug for the traceback, "
                   "and please report it.", err=True)
        sys.exit(70)


# Commands that live with their own packages register themselves here.
from . import cli_catalogue, cli_dataset, cli_parity  # noqa: E402

cli_parity.register(cli)      # fingerprint, drift, verify
cli_dataset.register(cli)     # dataset subset
cli_catalogue.register(cli)   # publish, catalogue, pull
