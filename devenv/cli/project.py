"""``devenv init``, ``devenv recipes``, ``devenv cache`` and ``devenv watch``: the project's own commands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import Context, OutputPath, instance_option, json_option, pass_ctx, profile_argument, profile_name, table, \
    watch_running


@click.command("init")
@click.argument("directory", required=False, default=".", type=OutputPath(directory=True))
@click.option("-t", "--template", default="lamp", show_default=True, metavar="NAME",
              help="The template of the built-in library to start from.")
@click.option("--name", metavar="NAME", help="The project's name (default: the directory's name).")
@click.option("--recipe", "recipes", multiple=True, metavar="RECIPE",
              help="Copy this library recipe into the project's images/ to change it (repeatable).")
def init_cmd(directory: str, template: str, name: str | None, recipes: tuple[str, ...]) -> None:
    """Scaffold a ready project in DIRECTORY (new or empty; default: here).

    Writes devenv.yaml, profiles/, the app source and .gitignore. Recipes the
    project does not have come from devenv's built-in library; --recipe copies
    one in for you to change.
    """
    from ..project import NAME_RE, ProjectError
    from ..scaffold import init_project
    if name is not None and not NAME_RE.match(name):
        raise ProjectError(f"--name `{name}` is not a project name",
                           "lower-case letters, digits, - and _, at most 40, starting with a letter or digit")
    result = init_project(Path(directory), template, name, recipes)
    click.echo(f"created project {result.name} in {result.root} from template {result.template} "
               f"({len(result.files)} files" + (f"; recipes copied: {', '.join(result.recipes)}" if result.recipes else "")
               + ")")
    click.echo(f"next: cd {result.root} && devenv up")


@click.command("recipes")
@json_option
@pass_ctx
def recipes_cmd(ctx: Context, as_json: bool) -> None:
    """List the recipes this project can use, and where each comes from."""
    renderer = ctx.renderer()
    own = ctx.store.images_dir.resolve()
    rows = [{"recipe": name, "source": "project" if src.resolve() == own else "library", "path": str(src / name)}
            for name, src in renderer.recipe_sources()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(["RECIPE", "FROM", "PATH"], [[r["recipe"], r["source"], r["path"]] for r in rows])


@click.group("cache")
def cache_group() -> None:
    """Datasets, image sets and snapshots on this machine, by project, with sizes."""


@cache_group.command("ls")
@json_option
def cache_ls_cmd(as_json: bool) -> None:
    """Every cache entry: kind, id, size, the projects that use it."""
    from ..housekeeping import cache_entries
    from ..paths import cache_dir
    entries = cache_entries(cache_dir())
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"the cache {cache_dir()} is empty")
        return
    table(["KIND", "ID", "SIZE", "USED BY"],
          [[e.kind, e.id, f"{e.bytes / 1e6:,.1f} MB", ", ".join(e.used_by) or "-"] for e in entries])
    click.echo(f"total {sum(e.bytes for e in entries) / 1e6:,.1f} MB in {cache_dir()}")


@cache_group.command("prune")
@click.option("--snapshots-of", metavar="PROJECT", help="Also delete the snapshots of PROJECT (they cannot be regenerated).")
@click.option("--dry-run", is_flag=True, help="Only say what would be freed.")
def cache_prune_cmd(snapshots_of: str | None, dry_run: bool) -> None:
    """Free datasets and image sets no project uses (they are regenerated when needed), and the
    engine's clone bases no instance uses whose snapshot is gone or superseded."""
    from ..housekeeping import prune_cache
    from ..paths import cache_dir
    from ..project import NAME_RE, ProjectError
    if snapshots_of is not None and not NAME_RE.match(snapshots_of):
        raise ProjectError(f"--snapshots-of `{snapshots_of}` is not a project name")
    removed = prune_cache(cache_dir(), snapshots_of, dry_run)
    verb = "would free" if dry_run else "freed"
    for e in removed:
        click.echo(f"{verb} {e.kind} {e.id} ({e.bytes / 1e6:,.1f} MB)")
    bases = _prune_bases(cache_dir(), dry_run)
    for b in bases:
        size = f"{b.bytes / 1e6:,.1f} MB" if b.bytes is not None else "size unknown"
        click.echo(f"{verb} clone base {b.volume} of {b.project} ({size}): {b.reason}")
    total = sum(e.bytes for e in removed) + sum(b.bytes or 0 for b in bases)
    click.echo(f"{verb} {total / 1e6:,.1f} MB in {len(removed) + len(bases)} entries")


def _prune_bases(cache: Path, dry_run: bool) -> list:
    """The engine's clone bases of this cache's snapshots that are stale (engine/clones.py); none
    when no engine answers (said on stderr)."""
    from ..engine import connect
    from ..engine.clones import prune_bases
    from ..errors import EngineUnreachableError
    try:
        engine = connect()
    except EngineUnreachableError as exc:
        click.echo(f"clone bases not checked: {exc}", err=True)
        return []
    return prune_bases(engine, cache / "snapshots", dry_run)


@click.command("watch")
@profile_argument
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds to wait for recreated services to become healthy.")
@instance_option
@pass_ctx
def watch_cmd(ctx: Context, profile: str | None, timeout: float, instance: str | None) -> None:
    """Keep PROFILE's running stack in step with the project's files (Ctrl-C stops).

    A template, recipe, profile or copied file that changes re-renders the profile;
    only images whose content changed are rebuilt and only those services recreated.
    Mounted source needs nothing: the container sees the working tree.
    """
    from ..engine import lifecycle
    from ..ui import reporter_for
    name = profile_name(profile)
    stack = ctx.stack(name, instance)
    engine = ctx.engine()
    lifecycle.up(engine, stack, reporter_for(), timeout=timeout)
    watch_running(ctx, name, instance, engine, stack, timeout)
