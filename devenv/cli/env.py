"""``devenv up``, ``down``, ``status``, ``logs``, ``exec`` and ``shell``: the running environment."""

from __future__ import annotations

import json
import os
import sys

import click

from ..errors import Interrupted, NotFoundError
from ..ui import reporter_for
from .common import Context, complete_services, instance_option, json_option, pass_ctx, profile_argument, profile_name, \
    profile_option, record_and_collect, table, target_option, watch_running


def _check_expose(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None
    from ..errors import ExposeError
    from ..instances import expose_address
    try:
        return expose_address(value)
    except ExposeError as exc:
        raise click.BadParameter(f"`{value}` is {exc.why}. {exc.hint}", ctx=ctx, param=param) from None


@click.command("up")
@profile_argument
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds each health wait may take (before a wave, for the dependencies it waits for; at the end, for all services).")
@click.option("--dry-run", is_flag=True, help="Print what `up` would do, and do nothing.")
@click.option("--watch", is_flag=True, help="Then keep the stack in step with the project's files, as `devenv watch` "
                                            "does (Ctrl-C stops watching; the stack keeps running).")
@click.option("--expose", metavar="ADDR", callback=_check_expose,
              help="Bind the instance's published ports on ADDR, an IP address of the engine's host (0.0.0.0: all "
                   "of its interfaces), instead of 127.0.0.1; remembered by later `up`s, `--expose 127.0.0.1` "
                   "returns to loopback.")
@instance_option
@target_option
@pass_ctx
def up_cmd(ctx: Context, profile: str | None, timeout: float, dry_run: bool, watch: bool, expose: str | None,
           instance: str | None, target: str) -> None:
    """Build what is missing and start PROFILE's stack (default: small-db).

    Idempotent: on a running, unchanged environment nothing changes; after a
    profile change only the services whose image or settings changed are recreated.
    The address of --expose is kept with the instance, like its ports: a later `up`
    without it keeps it, and a change recreates the containers that publish ports.
    """
    if watch and dry_run:
        raise click.UsageError("--watch and --dry-run exclude each other: a dry run changes nothing, so there is "
                               "nothing to keep in step")
    if watch and target == "kubernetes":
        raise click.UsageError("--watch works with --target docker only (the Kubernetes target has no watch)")
    if expose is not None and target == "kubernetes":
        raise click.UsageError("--expose works with --target docker only (the Kubernetes target publishes no "
                               "host ports: its Services are reached through the cluster)")
    if target == "kubernetes":
        return _kube_up(ctx, profile_name(profile), timeout, dry_run, instance)
    from ..engine import lifecycle
    stack = ctx.stack(profile_name(profile), instance)
    name = str(stack.scope)
    engine = ctx.engine()
    reporter = reporter_for()
    # a dry run remembers no address (nor ports): it changes nothing
    plan = lifecycle.plan_up(engine, lifecycle.instance_stack(engine, stack, expose, remember=not dry_run))
    if dry_run:
        click.echo(f"{name}: " + ("up to date, nothing to do" if not plan.changes else "up would:"))
        for line in plan.describe() if plan.changes else []:
            click.echo(f"  {line}")
        return
    try:
        result = lifecycle.execute(engine, plan, reporter, timeout=timeout)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {name} is partly up. Nothing is lost: volumes are kept, "
                          f"and `devenv up {name}` resumes where this one stopped.") from None
    if not result.changed:
        click.echo(f"{name}: up to date, nothing to do")
    else:
        parts = [f"{label}: {', '.join(items)}" for label, items in
                 (("built", result.built), ("created", result.created), ("started", result.started),
                  ("removed", result.removed), ("restored snapshot", result.restored),
                  ("cloned snapshot", result.cloned),
                  ("seeding dataset", result.seeded), ("copied image set", result.images_copied)) if items]
        click.echo(f"{name}: " + "; ".join(parts))
    record_and_collect(engine, stack)
    for service, url in lifecycle.service_urls(engine, stack.scope):
        click.echo(f"  {service:<8} {url}")
    for warning in result.warnings:
        click.echo(f"devenv: warning: {warning}", err=True)
    if watch:
        watch_running(ctx, profile_name(profile), instance, engine, stack, timeout)


def _kube_up(ctx: Context, name: str, timeout: float, dry_run: bool, instance: str | None = None) -> None:
    from ..kube import deploy, render
    stack = render.kube_stack(ctx.renderer(), ctx.store.load(name), instance)   # --name: its own Namespace
    clients = deploy.connect()
    result = deploy.up(clients, stack, reporter_for(), timeout, dry_run=dry_run)
    if dry_run:
        click.echo(f"{name}: up --target kubernetes would, in context {clients.context}:")
        for action in result.actions:
            click.echo(f"  {action.describe()}")
        return
    click.echo(f"{name}: {len(result.changed)} objects created or patched in namespace {result.namespace} "
               f"(context {clients.context}); every service is ready")
    for line in result.forwards:
        click.echo(f"  {line}")


@click.command("down")
@profile_argument
@click.option("--volumes", is_flag=True, help="Also remove the named volumes (the database!).")
@click.option("--force", is_flag=True, help="Remove an instance another owner started (a shared one).")
@instance_option
@target_option
@pass_ctx
def down_cmd(ctx: Context, profile: str | None, volumes: bool, force: bool, instance: str | None,
             target: str) -> None:
    """Stop and remove PROFILE's containers and network. Volumes are kept unless --volumes."""
    scope = ctx.scope(profile_name(profile), instance)
    name = str(scope)
    if target == "kubernetes":
        from ..kube import deploy
        from ..kube.naming import namespace_of
        done = deploy.down(deploy.connect(), namespace_of(scope), volumes, reporter_for(), force=force,
                           instance=name)
        click.echo(f"{name}: " + (f"deleted {len(done.deleted)} objects" if done.deleted else "nothing to remove"))
        if done.kept_claims:
            click.echo(f"kept claims: {', '.join(done.kept_claims)} (remove them with --volumes)")
        return
    from ..engine import lifecycle
    engine = ctx.engine()
    if not scope.is_default and not lifecycle.exists(engine, scope):
        raise NotFoundError(f"no instance `{scope.instance}` of profile {scope.profile}",
                            "`devenv ls` lists the instances on this engine.")
    result = lifecycle.down(engine, scope, volumes=volumes, force=force)
    if not (result.removed_containers or result.removed_networks or result.removed_volumes):
        click.echo(f"{name}: nothing to remove")
    else:
        click.echo(f"{name}: removed {len(result.removed_containers)} containers, "
                   f"{len(result.removed_networks)} networks, {len(result.removed_volumes)} volumes")
    if result.kept_volumes:
        click.echo(f"kept volumes: {', '.join(result.kept_volumes)} (remove them with --volumes)")


@click.command("status")
@profile_argument
@json_option
@instance_option
@target_option
@pass_ctx
def status_cmd(ctx: Context, profile: str | None, as_json: bool, instance: str | None, target: str) -> None:
    """Each service of PROFILE: state, health, image tag, URLs."""
    from ..engine import lifecycle
    scope = ctx.scope(profile_name(profile), instance)
    name = str(scope)
    if target == "kubernetes":
        from ..kube import deploy
        from ..kube.naming import namespace_of
        namespace = namespace_of(scope)
        kube_rows = deploy.status(deploy.connect(), namespace)
        if as_json:
            click.echo(json.dumps({"profile": name, "services": [r.as_dict() for r in kube_rows]}, indent=2))
        elif not kube_rows:
            click.echo(f"{name}: not running (no namespace {namespace})")
        else:
            table(["SERVICE", "KIND", "READY", "IMAGE"], [[r.service, r.kind, r.ready, r.image] for r in kube_rows])
        return
    rows = lifecycle.status(ctx.engine(), scope)
    if as_json:
        click.echo(json.dumps({"profile": name, "services": [r.as_dict() for r in rows]}, indent=2))
        return
    if not rows:
        click.echo(f"{name}: not running (no containers)")
        return
    table(["SERVICE", "STATE", "HEALTH", "IMAGE", "URLS"],
          [[r.service, r.state, r.health, r.image, " ".join(r.urls)] for r in rows])


@click.command("logs")
@click.argument("service", shell_complete=complete_services)
@profile_option
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--tail", type=click.IntRange(min=0), default=None, help="Only the last N lines.")
@instance_option
@target_option
@pass_ctx
def logs_cmd(ctx: Context, service: str, profile: str | None, follow: bool, tail: int | None,
             instance: str | None, target: str) -> None:
    """Print the logs of SERVICE."""
    from ..engine import lifecycle
    name = ctx.scope(profile_name(profile), instance)
    if target == "kubernetes":
        from ..kube import session
        clients, pod = _kube_pod(name, service, "any")
        return session.stream_logs(clients, pod, sys.stdout.buffer, follow=follow, tail=tail)
    engine = ctx.engine()
    container = lifecycle.container_of(engine, name, service, running=False)
    out = sys.stdout.buffer
    for chunk in engine.logs(container, follow=follow, tail=tail):
        out.write(chunk)
        out.flush()


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("service", shell_complete=complete_services)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@profile_option
@instance_option
@target_option
@pass_ctx
def exec_cmd(ctx: Context, service: str, command: tuple[str, ...], profile: str | None,
             instance: str | None, target: str) -> None:
    """Run COMMAND in SERVICE's container; its exit code is devenv's.

    Example: devenv exec db -- mariadb -e 'SELECT 1'
    """
    from ..engine import lifecycle
    from ..engine.exec import run
    name = ctx.scope(profile_name(profile), instance)
    if target == "kubernetes":
        from ..kube import session
        clients, pod = _kube_pod(name, service, "running")
        sys.exit(session.exec_in(clients, pod, list(command), sys.stdout.buffer, sys.stderr.buffer))
    engine = ctx.engine()
    container = lifecycle.container_of(engine, name, service)
    sys.exit(run(engine, container, list(command), sys.stdout.buffer, sys.stderr.buffer))


def _kube_pod(scope, service: str, fallback: str):
    """The service's pod on the Kubernetes target (several ready replicas: said on stderr)."""
    from ..kube import session
    from ..kube.naming import namespace_of
    clients, pod = session.open_pod(namespace_of(scope), str(scope), service, fallback)
    if pod.note:
        click.echo(f"devenv: note: {service}: {pod.note}", err=True)
    return clients, pod


@click.command("shell")
@click.argument("service", shell_complete=complete_services)
@profile_option
@instance_option
@pass_ctx
def shell_cmd(ctx: Context, service: str, profile: str | None, instance: str | None) -> None:
    """Open an interactive shell (bash, else sh) in SERVICE's container."""
    from ..engine import lifecycle
    name = ctx.scope(profile_name(profile), instance)
    engine = ctx.engine()
    container = lifecycle.container_of(engine, name, service)
    # An interactive TTY is the docker CLI's job; devenv only finds the container.
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    os.execvp("docker", ["docker", "exec", *tty, container, "sh", "-c",
                         "command -v bash >/dev/null && exec bash || exec sh"])


@click.command("ls")
@json_option
@pass_ctx
def ls_cmd(ctx: Context, as_json: bool) -> None:
    """Every instance of every project on the engine: state, ports, disk use, owner."""
    from ..engine import lifecycle
    rows = lifecycle.instances(ctx.engine())
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no devenv environments on this engine")
        return
    table(["PROJECT", "PROFILE", "INSTANCE", "STATE", "PORTS", "DISK", "OWNER", "ROOT"],
          [[r.project, r.profile, r.instance, r.state, " ".join(r.ports) or "-",
            "-" if r.disk_bytes is None else f"{r.disk_bytes / 1e6:,.1f} MB", r.owner or "-", r.root or "-"]
           for r in rows])
