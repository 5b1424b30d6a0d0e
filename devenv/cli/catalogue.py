"""``devenv publish``, ``devenv catalogue`` and ``devenv pull``: thin commands over ``devenv.catalogue``.

Registry problems (down, no credentials, unknown profile) exit 2 through
``devenv.cli.main`` like every other ``DevenvError``; a blob that does not match its
digest exits 1.
"""

from __future__ import annotations

import json
import re

import click

from ..ui import reporter_for
from .common import Context, json_option, pass_ctx, profile_argument, profile_name, table

_SIZE_RE = re.compile(r"^\s*([0-9]+)\s*([KMG]?)(?:i?B)?\s*$", re.I)


def parse_size(text: str) -> int:
    """``64M``, ``64MiB``, ``256K``, ``1G`` or bytes -> bytes (binary units)."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise click.BadParameter(f"`{text}` is not a size (e.g. 64M, 256K, 1G)")
    n = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    if n < 4096:
        raise click.BadParameter("chunks must be at least 4K")
    return n


def registry_options(f):
    f = click.option("--insecure", is_flag=True,
                     help="Plain HTTP to a registry that is not on this machine (loopback registries "
                          "always use it). The Docker Engine must list it in insecure-registries too.")(f)
    f = click.option("--registry", "registry", metavar="HOST[:PORT][/NAMESPACE]", envvar="DEVENV_REGISTRY",
                     help="The OCI registry holding the catalogue [env DEVENV_REGISTRY]. Credentials come "
                          "from the Docker config (docker login).")(f)
    return f


def transfers_option(f):
    return click.option("--transfers", type=click.IntRange(1, 16), default=3, show_default=True, hidden=True,
                        help="Parallel blob transfers.")(f)


@click.command("publish")
@profile_argument
@registry_options
@click.option("--tag", metavar="TAG", help="Publish as PROFILE-TAG instead of PROFILE (e.g. a date or release).")
@click.option("--snapshot", "snapshot_name", metavar="NAME",
              help="The snapshot to publish (default: the newest one matching the profile's server image "
                   "and dataset).")
@click.option("--chunk-size", default="64M", show_default=True, metavar="SIZE",
              help="Size of the snapshot's and image set's chunks (64M, 256K, ...).")
@transfers_option
@json_option
@pass_ctx
def publish_cmd(ctx: Context, profile: str | None, registry: str | None, insecure: bool, tag: str | None,
                snapshot_name: str | None, chunk_size: str, transfers: int, as_json: bool) -> None:
    """Publish PROFILE to the catalogue in an OCI registry.

    Pushes the service images, the database snapshot (OCI artifact in chunks,
    each with its digest) and the image set, then a catalogue entry naming all
    of them by digest. Needs the profile's images built and a snapshot of its
    database: `devenv up PROFILE && devenv snapshot save PROFILE`.
    Blobs the registry already has are not sent again.
    """
    from ..catalogue import RegistryRef, publish
    from ..catalogue.progress import human_bytes
    from ..catalogue.reference import catalogue_tag
    from ..engine.datadir import snapshot_store
    ref = RegistryRef.parse(registry, insecure)
    size = parse_size(chunk_size)
    name = profile_name(profile)
    catalogue_tag(name, tag)  # bad input is refused before the engine and the registry are asked
    if snapshot_name is not None:
        snapshot_store(ctx.project.name).dir_of(name, snapshot_name)
    stack = ctx.stack(name)
    result = publish(ctx.engine(), stack, ref, reporter_for(), tag=tag, snapshot_name=snapshot_name,
                     chunk_size=size, workers=transfers)
    e = result.entry
    if as_json:
        click.echo(json.dumps({"registry": result.registry, "entry": e.catalogue_tag,
                               "download_bytes": e.download_bytes, "uploaded_bytes": result.uploaded,
                               "already_there_bytes": result.already_there,
                               "data_seconds": round(result.data_seconds, 3),
                               "images_seconds": round(result.images_seconds, 3),
                               "total_seconds": round(result.total_seconds, 3),
                               "blobs": e.blobs()}, indent=2))
        return
    parts = [f"{len(e.images)} image" + ("s" if len(e.images) != 1 else "")]
    if e.snapshot:
        parts.append(f"snapshot {e.snapshot.profile}/{e.snapshot.name} ({len(e.snapshot.chunks)} chunks)")
    if e.imageset:
        parts.append(f"image set {e.imageset.id}")
    click.echo(f"published {e.catalogue_tag} to {result.registry}: {', '.join(parts)}; "
               f"{human_bytes(e.download_bytes)} to download")
    if result.data_seconds > 0 and result.uploaded:
        click.echo(f"  uploaded {human_bytes(result.uploaded)} of data in {result.data_seconds:.1f}s "
                   f"({result.uploaded / 1e6 / result.data_seconds:,.0f} MB/s)"
                   + (f"; {human_bytes(result.already_there)} were there already" if result.already_there else ""))
    click.echo(f"  pull it with: devenv pull {name} --registry {result.registry}" + (f" --tag {tag}" if tag else ""))

@click.command("catalogue")
@registry_options
@json_option
@pass_ctx
def catalogue_cmd(ctx: Context, registry: str | None, insecure: bool, as_json: bool) -> None:
    """List the environments in the catalogue: sizes, dates, and whether they are here already.

    LOCAL is `yes` when every image and the snapshot (and image set) are present
    on this machine, `partial` when some are, `?` when the Docker Engine does not answer.
    """
    from ..catalogue import RegistryRef, list_catalogue
    from ..catalogue.progress import human_bytes
    from ..errors import EngineUnreachableError
    ref = RegistryRef.parse(registry, insecure)
    try:
        engine = ctx.engine()
    except EngineUnreachableError:
        engine = None
    rows = list_catalogue(ref, engine, project=ctx.project.name)
    if as_json:
        out = []
        for r in rows:
            e = r.entry
            out.append({"entry": r.tag, "error": r.error} if e is None else {
                "entry": r.tag, "profile": e.profile, "tag": e.tag, "description": e.description,
                "parent": e.parent, "data": e.data, "dataset_id": e.dataset_id,
                "datadir_bytes": e.snapshot.datadir_bytes if e.snapshot else None,
                "download_bytes": e.download_bytes, "published": e.published,
                "devenv_version": e.devenv_version, "present": r.present, "local": r.local})
        click.echo(json.dumps({"registry": str(ref), "entries": out}, indent=2))
        return
    if not rows:
        click.echo(f"the catalogue at {ref} is empty")
        return
    table = []
    for r in rows:
        e = r.entry
        if e is None:
            table.append([r.tag, "-", "-", "-", "-", "-", f"unreadable: {r.error}"])
            continue
        ds = (e.data or {}).get("dataset")
        db = "-" if not ds else ds.get("size", "?")
        if e.snapshot:
            db += f" ({human_bytes(e.snapshot.datadir_bytes)})"
        table.append([r.tag, db, human_bytes(e.download_bytes), e.published.replace("T", " ").rstrip("Z"),
                      r.present, e.parent or "-", e.description])
    table(["ENTRY", "DATABASE", "DOWNLOAD", "PUBLISHED (UTC)", "LOCAL", "PARENT", "DESCRIPTION"], table)

@click.command("pull")
@profile_argument
@registry_options
@click.option("--tag", metavar="TAG", help="Pull the entry PROFILE-TAG instead of PROFILE.")
@click.option("--force", is_flag=True,
              help="Download even when your profile renders other images than the published one, and "
                   "replace a local snapshot of the same name.")
@transfers_option
@json_option
@pass_ctx
def pull_cmd(ctx: Context, profile: str | None, registry: str | None, insecure: bool, tag: str | None,
             force: bool, transfers: int, as_json: bool) -> None:
    """Download PROFILE from the catalogue: its images, database snapshot and image set.

    Every blob is checked against its digest; an interrupted pull resumes (only
    what is missing is fetched again). Then `devenv up PROFILE` starts without
    building images or seeding the database.
    """
    from ..catalogue import RegistryRef, pull
    from ..catalogue.progress import human_bytes
    from ..errors import DevenvError, ProfileNotFoundError
    from ..catalogue.reference import catalogue_tag
    ref = RegistryRef.parse(registry, insecure)
    name = profile_name(profile)
    catalogue_tag(name, tag)  # bad input is refused before the engine and the registry are asked
    try:
        stack = ctx.stack(name)
    except ProfileNotFoundError as exc:
        if not force:
            raise DevenvError(exc.message, (exc.hint + "\n" if exc.hint else "") +
                              "`devenv up` needs the profile; pass --force to download it anyway.") from None
        stack = None
    result = pull(ctx.engine(), ref, name, reporter_for(), tag=tag, stack=stack, force=force, workers=transfers,
                  project=ctx.project.name)
    e = result.entry
    if as_json:
        click.echo(json.dumps({"registry": str(ref), "entry": e.catalogue_tag,
                               "images_pulled": result.images_pulled, "images_present": result.images_present,
                               "snapshot": result.snapshot, "imageset": result.imageset,
                               "downloaded_bytes": result.downloaded, "data_bytes": result.data_bytes,
                               "data_seconds": round(result.data_seconds, 3),
                               "total_seconds": round(result.total_seconds, 3)}, indent=2))
        return
    parts = []
    if result.images_pulled:
        parts.append(f"pulled {len(result.images_pulled)} image(s)")
    if result.images_present:
        parts.append(f"{len(result.images_present)} image(s) already here")
    if e.snapshot:
        parts.append(f"snapshot {e.snapshot.profile}/{e.snapshot.name} {result.snapshot}")
    if e.imageset:
        parts.append(f"image set {result.imageset}")
    click.echo(f"{e.catalogue_tag}: " + "; ".join(parts))
    click.echo(f"  downloaded {human_bytes(result.downloaded)} in {result.total_seconds:.1f}s"
               + (f" (data {result.data_bytes / 1e6 / result.data_seconds:,.0f} MB/s)"
                  if result.data_bytes and result.data_seconds else ""))
    click.echo(f"  start it with: devenv up {name}")
