"""``devenv fingerprint``, ``drift`` and ``verify``: thin commands over ``devenv.parity``.

Drift found and failed checks exit 1; errors (bad target, missing file) exit 2
through ``devenv.cli.main`` like every other ``DevenvError``.
"""

from __future__ import annotations

import json
import sys

import click

from ..errors import NotFoundError
from ..ui import reporter_for
from .common import Context, instance_option, OutputPath, json_option, pass_ctx, profile_argument, profile_name, profile_option, \
    target_option, writing


@click.command("fingerprint")
@click.argument("target")
@click.option("--service", metavar="NAME",
              help="The service this host runs: hashes the profile's config files of NAME, and is the "
                   "host's key in --output.")
@profile_option
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="Also hash this file or directory (repeatable).")
@click.option("-o", "--output", type=OutputPath(), metavar="FILE",
              help="Add this host to FILE (created when missing; other hosts in it are kept). "
                   "Default: print the fingerprint as JSON.")
@pass_ctx
def fingerprint_cmd(ctx: Context, target: str, service: str | None, profile: str | None,
                    paths: tuple[str, ...], output: str | None) -> None:
    """Record the facts that make TARGET production's twin, as JSON.

    TARGET is any pytest-testinfra host: docker://CONTAINER, ssh://user@host[:port]
    (testinfra options work: ?ssh_config=FILE&ssh_identity_file=KEY&sudo=true),
    local://, or image://IMAGE (a throwaway container is started and removed).

    Facts: OS release, every package and version, sha256 of config files,
    runtime versions, PHP modules, users; for running hosts also listening
    ports and the users services run as. Build a production file host by host:

    \b
      devenv fingerprint ssh://deploy@web1 --service web -o prod.json
      devenv fingerprint ssh://deploy@db1 --service db -o prod.json
    """
    from ..parity import FingerprintFile, Target, fingerprint
    tgt = Target.parse(target)
    files = list(paths)
    if service:
        stack = ctx.stack(profile_name(profile))
        if service not in stack.services:
            raise NotFoundError(f"profile {stack.name} has no service `{service}`",
                                f"services: {', '.join(sorted(stack.services))}")
        files += [dest for dest, _ in stack.services[service].service.files]
    fp = fingerprint(tgt, files, ctx.engine() if tgt.needs_engine else None)
    name = service or tgt.default_name
    if output:
        with writing(output):
            merged = FingerprintFile.merge_into(output, name, fp)
        click.echo(f"{output}: {name} <- {target}: {len(fp.packages)} packages, {len(fp.files)} files, "
                   f"{len(fp.runtimes)} runtimes, {len(fp.users)} users"
                   + (f", {len(fp.sockets)} listening sockets" if fp.live else "")
                   + f" (hosts in file: {', '.join(sorted(merged.hosts))})")
    else:
        click.echo(FingerprintFile({name: fp}).dumps(), nl=False)


@click.command("drift")
@profile_argument
@click.option("--against", "against", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Production fingerprint file (`devenv fingerprint ... -o FILE`).")
@click.option("--service", "services", multiple=True, metavar="NAME",
              help="Compare only this service (repeatable). Default: every service of the profile.")
@click.option("--running", is_flag=True,
              help="Compare the running containers instead of the images (adds listening ports and service users).")
@click.option("--ignore", "ignore", multiple=True, metavar="PATTERN",
              help="Also ignore facts matching PATTERN, e.g. 'package:openssh-*' (repeatable).")
@json_option
@click.option("--junit", type=OutputPath(), metavar="FILE", help="Also write JUnit XML to FILE.")
@pass_ctx
def drift_cmd(ctx: Context, profile: str | None, against: str, services: tuple[str, ...], running: bool,
              ignore: tuple[str, ...], as_json: bool, junit: str | None) -> None:
    """Compare PROFILE's images with a production fingerprint; exit 1 on drift.

    Builds missing images first. Facts that legitimately differ (hostname,
    machine-id, generated keys, kernels) are ignored; the profile's `drift.ignore`
    and --ignore add patterns.
    """
    from ..parity import FingerprintFile, drift_profile
    from ..parity.drift import check_services
    from ..parity.junit import write_drift
    production = FingerprintFile.read(against)
    stack = ctx.stack(profile_name(profile))
    check_services(stack, production, against, services)  # before the engine builds anything
    report = drift_profile(ctx.engine(), stack, production, against=against, services=services, ignore=ignore,
                           running=running, reporter=reporter_for())
    if junit:
        with writing(junit):
            write_drift(report, junit)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.lines()))
    if report.drifted:
        sys.exit(1)


@click.command("verify")
@profile_argument
@click.option("--junit", type=OutputPath(), metavar="FILE", help="Also write JUnit XML to FILE.")
@click.option("--no-user-tests", is_flag=True, help="Only the generated checks, not the profile's testinfra files.")
@json_option
@instance_option
@target_option
@pass_ctx
def verify_cmd(ctx: Context, profile: str | None, junit: str | None, no_user_tests: bool, as_json: bool,
               instance: str | None, target: str) -> None:
    """Check the running PROFILE against its declaration; exit 1 on any failure.

    Per service: running and healthy, OS release, every declared package at its
    declared version, every rendered config file with the rendered content,
    every declared port listening; then the profile's own testinfra files
    (`verify:` of a service), run against the service's container.
    """
    from ..parity import verify_environment
    from ..parity.junit import write_verify
    if target == "kubernetes":   # not recorded for `devenv dash`, which shows the Docker Engine's instances
        from ..kube import deploy, render, verify
        stack = render.kube_stack(ctx.renderer(), ctx.store.load(profile_name(profile)), instance)
        report = verify.verify_deployed(deploy.connect(), stack, project_dir=ctx.project.root,
                                        user_tests=not no_user_tests, reporter=reporter_for())
    else:
        stack = ctx.stack(profile_name(profile), instance)
        report = verify_environment(ctx.engine(), stack, project_dir=ctx.project.root,
                                    user_tests=not no_user_tests, reporter=reporter_for())
        from ..lastverify import record
        record(ctx.project.name, stack.name, report.to_json())   # `devenv dash` shows the last result
    if junit:
        with writing(junit):
            write_verify(report, junit)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.lines()))
    if not report.ok:
        sys.exit(1)
