"""``devenv snapshot save|restore|list|rm``: physical snapshots of the database."""

from __future__ import annotations

import json

import click

from ..ui import reporter_for
from .common import Context, check_profile_name, instance_option, json_option, pass_ctx, profile_argument, profile_name, \
    profile_option, table


@click.group("snapshot")
def snapshot_group() -> None:
    """Physical database snapshots: save, restore, list, rm.

    A snapshot is the database service's datadir, copied while the server is
    stopped, zstd-compressed, with the sha256 of every file. `devenv up` restores a
    matching one (same dataset, same server image) instead of seeding a new volume.
    """


def _checked(ctx: Context, profile: str | None, name: str) -> str:
    """The profile's name, once it and snapshot NAME are checked: bad input is refused
    before the engine is asked (and the database stopped)."""
    from ..engine.datadir import snapshot_store
    name_of_profile = profile_name(profile)
    snapshot_store(ctx.project.name).dir_of(name_of_profile, name)
    return name_of_profile


@snapshot_group.command("save")
@profile_argument
@click.argument("name", required=False, default="latest")
@instance_option
@pass_ctx
def snapshot_save_cmd(ctx: Context, profile: str | None, name: str, instance: str | None) -> None:
    """Save PROFILE's database as snapshot NAME (default: latest). The db is stopped meanwhile.

    With --name, the database of that instance: other instances can then start from it.
    """
    from ..engine.datadir import save_snapshot
    stack = ctx.stack(_checked(ctx, profile, name), instance)
    snap = save_snapshot(ctx.engine(), stack, name, reporter_for())
    m = snap.manifest
    click.echo(f"saved {m.profile}/{m.name}: datadir {m.datadir_bytes / 1e6:,.1f} MB -> "
               f"{m.archive_bytes / 1e6:,.1f} MB ({len(m.files)} files) in {snap.path}")


@snapshot_group.command("restore")
@profile_argument
@click.argument("name", required=False, default="latest")
@instance_option
@pass_ctx
def snapshot_restore_cmd(ctx: Context, profile: str | None, name: str, instance: str | None) -> None:
    """Replace PROFILE's database with snapshot NAME, after verifying every checksum."""
    from ..engine.datadir import restore_snapshot
    stack = ctx.stack(_checked(ctx, profile, name), instance)
    snap = restore_snapshot(ctx.engine(), stack, name, reporter_for())
    click.echo(f"restored {snap.manifest.profile}/{snap.manifest.name}")


@snapshot_group.command("list")
@click.option("-p", "--profile", "profile", metavar="PROFILE", help="Only this profile's snapshots.")
@json_option
@pass_ctx
def snapshot_list_cmd(ctx: Context, profile: str | None, as_json: bool) -> None:
    """List the project's snapshots: profile, name, dataset, sizes, date."""
    from ..engine.datadir import snapshot_store
    if profile is not None:
        check_profile_name(profile)
    snaps = snapshot_store(ctx.project.name).list(profile)
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
    table(["PROFILE", "NAME", "DATASET", "DATADIR", "ARCHIVE", "CREATED"],
          [[r["profile"], r["name"], r["dataset"] or "-", f"{r['datadir_bytes'] / 1e6:,.1f} MB",
            f"{r['archive_bytes'] / 1e6:,.1f} MB", r["created"]] for r in rows])


@snapshot_group.command("rm")
@click.argument("name")
@profile_option
@pass_ctx
def snapshot_rm_cmd(ctx: Context, name: str, profile: str | None) -> None:
    """Delete snapshot NAME of PROFILE, and its copy-on-write base; refused while a clone uses it."""
    from ..engine.clones import remove_bases
    from ..engine.datadir import snapshot_store
    name_of_profile = profile_name(profile)
    store = snapshot_store(ctx.project.name)
    removed: list[str] = []
    store.remove(name_of_profile, name,
                 before=lambda snap: removed.extend(remove_bases(ctx.engine(), ctx.project.name, snap, store)))
    click.echo(f"removed snapshot {name_of_profile}/{name}" + (f" and its base {', '.join(removed)}" if removed else ""))
