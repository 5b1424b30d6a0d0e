"""``devenv dataset subset``: a thin command over ``devenv.subset``."""

from __future__ import annotations

import re

import click

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
    """Datasets made from production: subset (reduce and anonymise)."""


@dataset_group.command("subset")
@click.option("--from", "source", required=True, metavar="SOURCE",
              help="mysql://user:pass@host:port/db (or mariadb://; no password: $MYSQL_PWD), "
                   "or a SQL dump file (.sql, .sql.gz), loaded into a throwaway db container.")
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
@click.option("-p", "--profile", "profile", metavar="PROFILE",
              help="Profile whose rules (and, for a dump file, whose db image) to use "
                   "(default: $DEVENV_PROFILE or small-db).")
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
      devenv dataset subset --from prod.sql.gz --rows orders=5000 --seed 2 -o datasets/shop-5k
      devenv dataset subset --from mysql://ro@127.0.0.1:3307/shop --fraction 0.5% \\
          --where "orders:created_at >= '2025-01-01'" --rules subset-rules.yaml -o datasets/recent

    Personal-looking columns (email, phone, name, address, birth, ip,
    password, token, ...) need a rule. Hash keys come from
    $DEVENV_SUBSET_KEY_<NAME> or --key-file, never from a profile.
    """
    from ..subset import Request, Rules, open_source, subset
    from ..digest import sha256_file_sized
    from ..subset.dump import dump_database
    from ..subset.source import looks_like_url
    
    reporter = reporter_for()
    request = Request(fraction=fraction, rows=parse_rows(rows), where=parse_where(where), seed=seed,
                      exclude=tuple(exclude))
    if fraction is None and not request.rows and not request.where:
        raise click.UsageError("say how much to keep: --fraction F, --rows TABLE=N or --where TABLE:COND")
    loaded = None
    if rules_file:
        rules = Rules.from_file(rules_file)
    else:
        loaded = ctx.store.load(profile_name(profile))
        rules = Rules.from_profile(loaded)

    if looks_like_url(source):
        src, info = open_source(source)
        with src:
            result = subset(src, output, request, rules, reporter, info, key_file=key_file, force=force)
    else:
        from pathlib import Path
        from ..engine.images import ensure_images
        from ..subset.errors import SourceError
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"source {source}: neither a mysql:// URL nor a file",
                              "SOURCE is mysql://user:pass@host:port/db or a SQL dump file (.sql, .sql.gz).")
        name = profile_name(profile)
        stack = ctx.stack(name)
        prof = stack.profile
        service = prof.dataset.service if prof.dataset else "db"
        if service not in stack.services:
            raise SourceError(f"profile {name} has no database service `{service}` to load the dump with")
        engine = ctx.engine()
        plan = stack.services[service].image
        ensure_images(engine, [plan], stack.base, reporter)
        digest, size = sha256_file_sized(path)
        with dump_database(engine.client, plan.tag, path, reporter) as url:
            from ..subset.source import MariaDBSource
            with MariaDBSource(url) as src:
                info = {"kind": "dump", "file": path.name, "sha256": digest, "bytes": size,
                        "display": f"dump {path.name}", "database": url.database,
                        "server_version": src.server_version}
                result = subset(src, output, request, rules, reporter, info, key_file=key_file, force=force)
    m = result.manifest
    width = max(len(n) for n in m["order"]) if m["order"] else 5
    for n in m["order"]:
        t = m["tables"][n]
        start = m["start"].get(n)
        note = f"  start: {start['picked']:,} of {start['matching']:,}" if start else ""
        click.echo(f"{n:<{width}}  {t['rows']:>12,} rows  {t['bytes'] / 1e6:>9,.1f} MB{note}")
    click.echo(f"{'total':<{width}}  {m['total_rows']:>12,} rows  {m['total_bytes'] / 1e6:>9,.1f} MB"
               f"  in {result.seconds:.1f}s")
    click.echo(f"wrote dataset {m['id']} to {output}")
