"""``devenv profiles``, ``show``, ``render`` and ``schema``: profiles and what they render to."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from ..profile.schema import profile_schema
from ..stackfile import write_stack
from .common import Context, OutputPath, json_option, pass_ctx, profile_argument, profile_name, table, writing


@click.command("profiles")
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
                     "default": name == ctx.default_profile()})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(["NAME", "PARENT", "DATABASE", "IMAGES", "DESCRIPTION"],
          [[r["name"] + (" *" if r["default"] else ""), r["parent"] or "-", r["database"] or "-",
            "-" if r["images"] is None else str(r["images"]), r["description"]] for r in rows])


@click.command("show")
@profile_argument
@pass_ctx
def show_cmd(ctx: Context, profile: str | None) -> None:
    """Print the fully resolved PROFILE (after `extends`) as YAML."""
    p = ctx.store.load(profile_name(profile))
    click.echo(f"# profile {p.name}, merged from: {' <- '.join(p.chain)}")
    click.echo(yaml.safe_dump(p.merged, sort_keys=False, default_flow_style=False), nl=False)


@click.command("render")
@profile_argument
@click.option("-o", "--output", type=OutputPath(directory=True), required=True,
              help="Directory to write compose.yaml, plan.json and the build contexts to "
                   "(with --target kubernetes: the manifests and kustomization.yaml).")
@click.option("--target", type=click.Choice(["compose", "kubernetes"]), default="compose", show_default=True,
              help="compose: a Compose project; kubernetes: manifests (docs/kubernetes.md).")
@pass_ctx
def render_cmd(ctx: Context, profile: str | None, output: str, target: str) -> None:
    """Render PROFILE into a stack: compose.yaml, plan.json and build contexts.

    The output runs with `docker compose` as is (--target kubernetes: with
    `kubectl apply -k`); rendering twice gives identical bytes.
    """
    if target == "kubernetes":
        from ..kube import render, restore
        stack = render.kube_stack(ctx.renderer(), ctx.store.load(profile_name(profile)))
        files = render.write_manifests(stack, Path(output))
        for plan in restore.images_of(stack):
            click.echo(f"{plan.service:<12} {plan.tag}")
        click.echo(f"wrote {len(files)} files to {output}/ (kubectl apply -k {output})")
        return
    stack = ctx.stack(profile_name(profile))
    with writing(output):
        write_stack(stack, Path(output))
    for name, sp in sorted(stack.services.items()):
        click.echo(f"{name:<10} {sp.image.tag}")
    click.echo(f"wrote {output}/compose.yaml and {output}/plan.json")


@click.command("schema")
def schema_cmd() -> None:
    """Print the profile JSON Schema (for editor completion and validation)."""
    click.echo(json.dumps(profile_schema(), indent=2))
