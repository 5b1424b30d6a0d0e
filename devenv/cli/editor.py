"""``devenv devcontainer``, ``devenv completion`` and ``devenv dash``: devenv in the editor and the browser."""

from __future__ import annotations

import click

from ..errors import DevenvError, Interrupted
from ..ui import reporter_for
from .common import Context, complete_profiles, complete_services, instance_option, pass_ctx, profile_argument, profile_name

SHELLS = ("bash", "zsh", "fish")


@click.command("devcontainer")
@profile_argument
@click.option("-s", "--service", required=True, metavar="NAME", shell_complete=complete_services,
              help="The service the editor opens: its source mount is the workspace folder.")
@click.option("--up", "bring_up", is_flag=True,
              help="Do what the editor runs first (initializeCommand): `devenv up PROFILE` and make sure the "
                   "service's container is the one the editor attaches to. Writes no files.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="With --up: seconds each health wait of `up` may take.")
@instance_option
@pass_ctx
def devcontainer_cmd(ctx: Context, profile: str | None, service: str, bring_up: bool, timeout: float,
                     instance: str | None) -> None:
    """Write .devcontainer/ so an editor opens the project inside PROFILE's stack.

    devcontainer.json (VS Code, Codespaces, JetBrains, the devcontainer CLI) names
    a compose file of devenv's stack; opening the folder runs `devenv up` and
    attaches to the very containers `devenv status` shows (docs/editor.md). The
    same profile gives the same bytes; `devenv watch` rewrites them on a change.
    """
    from .. import devcontainer
    stack = ctx.stack(profile_name(profile), instance)
    name = str(stack.scope)
    root = ctx.project.root
    files = devcontainer.devcontainer_files(stack, service)
    if bring_up:
        result = devcontainer.ensure_attachable(ctx.engine(), stack, service, reporter_for(), timeout=timeout)
        up = result.up
        done = [f"{label}: {', '.join(items)}" for label, items in
                (("built", up.built), ("created", up.created), ("started", up.started),
                 ("recreated for the editor", result.recreated)) if items]
        click.echo(f"{name}: " + ("; ".join(done) if done else "up to date") + f"; the editor attaches to {service}")
        for warning in up.warnings:
            click.echo(f"devenv: warning: {warning}", err=True)
        stale = devcontainer.stale_files(root, files)
        if stale:
            click.echo(f"devenv: warning: {', '.join(stale)} differ from profile {name}: run "
                       f"`devenv devcontainer {name} --service {service}` and reopen the editor", err=True)
        return
    result = devcontainer.write_files(root, files)
    for rel in result.removed:
        click.echo(f"removed {rel} (another profile's)")
    for rel in result.written:
        click.echo(f"wrote {rel}")
    if not result.written:
        click.echo(f"{', '.join(result.unchanged)}: up to date")
    click.echo(f"open {root} in your editor (\"Reopen in Container\"), or: "
               f"devcontainer up --workspace-folder {root}")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Completes commands, options, and the current project's profile and service
    names. Enable it with `eval "$(devenv completion bash)"` in ~/.bashrc
    (zsh: the same in ~/.zshrc; fish: `devenv completion fish | source`).
    """
    from click.shell_completion import get_completion_class
    root = click.get_current_context().find_root()
    script = get_completion_class(shell)(root.command, {}, "devenv", "_DEVENV_COMPLETE").source()
    click.echo(script)


@click.command("dash")
@click.argument("profiles", nargs=-1, metavar="[PROFILE...]", shell_complete=complete_profiles)
@click.option("--port", type=click.IntRange(0, 65535), default=8790, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@pass_ctx
def dash_cmd(ctx: Context, profiles: tuple[str, ...], port: int) -> None:
    """Serve a live page with the project's running stacks on 127.0.0.1 (Ctrl-C stops).

    Every stack of the project that runs (or only PROFILE...): its services with
    state, health and URLs, data volumes and their sizes, snapshots and the last
    `devenv verify` result; the page refreshes every second.
    """
    import threading

    from ..dash import DashServer, StateSource, collect_state
    from ..engine.datadir import snapshot_store
    for name in profiles:
        ctx.store.path_of(profile_name(name))     # an unknown profile fails now, not in the page
    store = ctx.store
    project = ctx.project

    def describe(name: str) -> dict:
        try:
            p = store.load(name)
        except DevenvError:
            return {}
        return {"dataset": f"{p.dataset.name} {p.dataset.size}" if p.dataset else None,
                "imageset": p.imageset.count if p.imageset else None}

    def snapshots(name: str) -> list[dict]:
        return [{"name": s.manifest.name, "created": s.manifest.created, "dataset": s.manifest.dataset,
                 "datadir_bytes": s.manifest.datadir_bytes, "archive_bytes": s.manifest.archive_bytes}
                for s in snapshot_store().list(name)]

    source = StateSource(ctx.engine(), project.name, store.names, describe, snapshots, tuple(profiles))
    server = DashServer(lambda: collect_state(source), port=port, title=f"devenv: {project.name}")  # binds
    try:
        collect_state(source)                      # an engine that does not answer fails now
    except BaseException:
        server.httpd.server_close()
        raise
    server.start()
    click.echo(f"devenv dash for {project.name} at {server.url} (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        raise Interrupted("stopped the dash; the stacks keep running") from None
    finally:
        server.stop()
