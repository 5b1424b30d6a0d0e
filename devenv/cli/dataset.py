"""``devenv dataset subset`` and ``import``: thin commands over ``devenv.subset``."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import click

from ..db.sources import SOURCE_ENGINES
from ..ui import reporter_for
from .common import Context, OutputPath, pass_ctx, profile_name


class FractionType(click.ParamType):
    """0.1, or 10%."""

    name = "F"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            f = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            self.fail(f"{value!r} is not a fraction (0.1 or 10%)", param, ctx)
        if not 0 < f <= 1:
            self.fail(f"{value!r}: must be above 0 and at most 1 (or 100%)", param, ctx)
        return f


def parse_rows(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for v in values:
        m = re.fullmatch(r"([A-Za-z0-9_$]+)=([0-9]+)", v.strip())
        if not m:
            raise click.BadParameter(f"{v!r}: write TABLE=N, e.g. orders=5000", param_hint="--rows")
        out[m.group(1)] = int(m.group(2))
    return out


def parse_where(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for v in values:
        table, sep, cond = v.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_$]+", table.strip()) or not cond.strip():
            raise click.BadParameter(f"{v!r}: write TABLE:CONDITION, e.g. \"orders:created_at >= '2025-01-01'\"",
                                     param_hint="--where")
        out.setdefault(table.strip(), []).append(cond.strip())
    return {k: tuple(v) for k, v in out.items()}


@click.group("dataset")
def dataset_group() -> None:
    """Datasets made from production: subset (reduce and anonymise), import (copy whole)."""


SOURCE_HELP = ("A database URL: " + "; ".join(
    f"{' or '.join(s + '://' for s in e.schemes)}user:pass@host:port/db (no password: ${e.password_env})"
    for e in SOURCE_ENGINES.values())
    + "; or a dump file of the profile's engine, loaded into a throwaway server of its db image.")
PROFILE_HELP = ("Profile whose rules (and, for a dump file, whose db image) to use "
                "(default: $DEVENV_PROFILE or the project's default).")


@contextmanager
def opened_source(ctx: Context, source: str, profile: str | None, reporter):
    """(the source, its facts for the manifest) of a URL or a dump file; the throwaway
    server of a dump is removed at the end."""
    from ..db import engine_of
    from ..db.sources import check_dump, looks_like_url, source_engine, url_hint
    from ..digest import sha256_file_sized
    from ..subset.errors import SourceError
    from ..subset.source import open_source, source_info

    if looks_like_url(source):
        src, info = open_source(source)
        with src:
            yield src, info
        return
    from ..engine.images import ensure_images
    from ..subset.dump import dump_database
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"source {source}: neither a database URL nor a file", url_hint())
    name = profile_name(profile)
    stack = ctx.stack(name)
    prof = stack.profile
    service = prof.dataset.service if prof.dataset else "db"
    if service not in stack.services:
        raise SourceError(f"profile {name} has no database service `{service}` to load the dump with")
    engine = source_engine(engine_of(prof).name)
    fmt = check_dump(path, engine, name, service)     # a dump of the other engine: nothing starts
    docker_engine = ctx.engine()       # a remote one: its server is reached by a port forward
    plan = stack.services[service].image
    ensure_images(docker_engine, [plan], stack.base, reporter)
    digest, size = sha256_file_sized(path)
    with dump_database(docker_engine, plan.tag, path, engine, fmt, reporter) as url:
        with engine.connect(url) as src:
            yield src, source_info(src, {"kind": "dump", "file": path.name, "format": fmt, "sha256": digest,
                                         "bytes": size, "display": f"dump {path.name}",
                                         "name": path.name.split(".", 1)[0]})


def print_tables(m: dict, seconds: float, output: str) -> None:
    width = max(len(n) for n in m["order"]) if m["order"] else 5
    for n in m["order"]:
        t = m["tables"][n]
        start = (m.get("start") or {}).get(n)
        note = f"  start: {start['picked']:,} of {start['matching']:,}" if start else ""
        click.echo(f"{n:<{width}}  {t['rows']:>12,} rows  {t['bytes'] / 1e6:>9,.1f} MB{note}")
    click.echo(f"{'total':<{width}}  {m['total_rows']:>12,} rows  {m['total_bytes'] / 1e6:>9,.1f} MB"
               f"  in {seconds:.1f}s")
    click.echo(f"wrote dataset {m['id']} to {output}")


@dataset_group.command("subset")
@click.option("--from", "source", required=True, metavar="SOURCE", help=SOURCE_HELP)
@click.option("-o", "--output", required=True, type=OutputPath(directory=True), metavar="DIR",
              help="Dataset directory to write (a profile names it with data.dataset.path).")
@click.option("--fraction", type=FractionType(), metavar="F",
              help="Share of each start table to keep: 0.1 or 10%.")
@click.option("--rows", "rows", multiple=True, metavar="TABLE=N",
              help="Keep N rows of TABLE (a start table). Repeatable.")
@click.option("--where", "where", multiple=True, metavar="TABLE:CONDITION",
              help="Start rows of TABLE must match this SQL condition. Repeatable (AND).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Decides which rows are picked and the fake values.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Rules file (anonymise: / subset:). Default: the profile's data.anonymise and data.subset.")
@click.option("-p", "--profile", "profile", metavar="PROFILE", help=PROFILE_HELP)
@click.option("--exclude", "exclude", multiple=True, metavar="TABLE", help="Leave TABLE out. Repeatable.")
@click.option("--key-file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="YAML `name: secret` for hash keys not in $DEVENV_SUBSET_KEY_<NAME>.")
@click.option("--force", is_flag=True, help="Replace DIR when it already holds a dataset.")
@pass_ctx
def subset_cmd(ctx: Context, source: str, output: str, fraction: float | None, rows: tuple[str, ...],
               where: tuple[str, ...], seed: int, rules_file: str | None, profile: str | None,
               exclude: tuple[str, ...], key_file: str | None, force: bool) -> None:
    """Reduce a production database to a dataset: start rows, every parent
    they need, children over follow edges, anonymised by the rules.

    \b
    Examples:
      devenv dataset subset --from mysql://ro@127.0.0.1:3307/shop --fraction 10% -o datasets/shop-10pct
      devenv dataset subset --from postgresql://ro@127.0.0.1:5433/catalog --rows orders=500 -o datasets/c
      devenv dataset subset --from prod.sql.gz --rows orders=5000 --seed 2 -o datasets/shop-5k
      devenv dataset subset --from prod.dump -p pg-small --fraction 1% -o datasets/catalog-1pct
      devenv dataset subset --from mysql://ro@127.0.0.1:3307/shop --fraction 0.5% \\
          --where "orders:created_at >= '2025-01-01'" --rules subset-rules.yaml -o datasets/recent

    Personal-looking columns (email, phone, name, address, birth, ip,
    password, token, ...) need a rule. Hash keys come from
    $DEVENV_SUBSET_KEY_<NAME> or --key-file, never from a profile.
    """
    from ..subset import Request, Rules, subset

    reporter = reporter_for()
    request = Request(fraction=fraction, rows=parse_rows(rows), where=parse_where(where), seed=seed,
                      exclude=tuple(exclude))
    if fraction is None and not request.rows and not request.where:
        raise click.UsageError("say how much to keep: --fraction F, --rows TABLE=N or --where TABLE:COND")
    if rules_file:
        rules = Rules.from_file(rules_file)
    else:
        rules = Rules.from_profile(ctx.store.load(profile_name(profile)))
    with opened_source(ctx, source, profile, reporter) as (src, info):
        result = subset(src, output, request, rules, reporter, info, key_file=key_file, force=force)
    print_tables(result.manifest, result.seconds, output)


@dataset_group.command("import")
@click.option("--from", "source", required=True, metavar="SOURCE", help=SOURCE_HELP)
@click.option("-o", "--output", required=True, type=OutputPath(directory=True), metavar="DIR",
              help="Dataset directory to write (a profile names it with data.dataset.path).")
@click.option("-p", "--profile", "profile", metavar="PROFILE",
              help="Profile whose db image loads a dump file (default: $DEVENV_PROFILE or the project's default).")
@click.option("--force", is_flag=True, help="Replace DIR when it already holds a dataset.")
@pass_ctx
def import_cmd(ctx: Context, source: str, output: str, profile: str | None, force: bool) -> None:
    """Copy a whole database (every row of every table, as is) into a dataset
    directory: schema.sql, one CSV per table, the engine's load script, manifest.json.

    \b
    Examples:
      devenv dataset import --from postgresql://dev@127.0.0.1:5432/catalog -o datasets/catalog
      devenv dataset import --from staging.dump -p pg-small -o datasets/staging

    Nothing is anonymised: for production data use `devenv dataset subset
    --fraction 100%`, which applies the profile's anonymisation rules.
    """
    from ..subset.importer import import_source

    reporter = reporter_for()
    if profile is not None:
        profile_name(profile)   # checked even for a URL source
    with opened_source(ctx, source, profile, reporter) as (src, info):
        result = import_source(src, output, reporter, info, force=force)
    print_tables(result.manifest, result.seconds, output)
