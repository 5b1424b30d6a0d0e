"""``devenv try``: the test suite on the working tree's change, in a fresh instance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import Interrupted
from ..ui import reporter_for
from .common import Context, OutputPath, json_option, pass_ctx, profile_argument, profile_name, writing


def _check_cmd(ctx, param, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("an empty command runs nothing; give the command that runs the suite",
                                 ctx=ctx, param=param)
    return value


def _check_base(ctx, param, value: str | None) -> str | None:
    if value is not None and (not value.strip() or value.startswith("-")):
        raise click.BadParameter(f"`{value}` is not a branch, tag or commit", ctx=ctx, param=param)
    return value


@click.command("try")
@profile_argument
@click.option("--base", metavar="REF", callback=_check_base,
              help="Branch or commit to apply the change to (default: the current branch's upstream, else main).")
@click.option("--cmd", "command", metavar="CMD", callback=_check_cmd,
              help="Run CMD (by sh -c, in the suite's service) instead of the suite's command, for this run.")
@click.option("--jobs", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="Parts of a split suite run at once, each in its own instance.")
@click.option("--keep", is_flag=True, help="Keep the instance (and the worktree it mounts) after the run.")
@click.option("--junit", "junit_file", type=OutputPath(), metavar="FILE", help="Write the merged JUnit report to FILE.")
@json_option
@pass_ctx
def try_cmd(ctx: Context, profile: str | None, base: str | None, command: str | None, jobs: int, keep: bool,
            junit_file: str | None, as_json: bool) -> None:
    """Run PROFILE's test suite (its `try:` section) on your change, in a throwaway instance.

    The change is everything your working tree has over --base: commits, uncommitted
    edits and new files. It is applied to a clean checkout of the base in a temporary
    worktree, whose files the new instance `try-ID` mounts; your tree, index and
    running instances are not touched. Exit 0: all passed, 1: a test failed, 2: try
    could not run (e.g. the change does not apply).
    """
    from ..tryrun import TryOptions, try_suite
    name = profile_name(profile)
    opts = TryOptions(profile=name, base=base, command=command, jobs=jobs, keep=keep)
    engine = ctx.engine()
    profiles_dir = Path(ctx.store.profiles_dir)

    def report(result) -> None:
        """The result as soon as it is known; the instances are torn down after it."""
        if junit_file:
            with writing(junit_file):
                Path(junit_file).write_bytes(result.junit_xml)
        if not as_json:
            _summary(result, junit_file)
            sys.stdout.flush()

    try:
        result = try_suite(engine, ctx.project, profiles_dir, opts, reporter_for(), on_result=report)
    except KeyboardInterrupt:
        raise Interrupted("interrupted: the try instance and its worktree were removed; "
                          "your working tree and instances are as they were") from None
    if as_json:   # after the teardown: with its time
        click.echo(json.dumps(result.as_dict(), indent=2))
    sys.exit(result.exit_code)


def _summary(result, junit_file: str | None) -> None:
    failed_parts = [p for p in result.parts if p.failed]
    tests = sum(len(p.cases) for p in result.parts)
    failing = result.failures
    head = f"try {result.profile} on {result.base} ({result.base_commit[:10]}), {len(result.files)} files changed: "
    if not failed_parts:
        click.echo(head + f"passed: {tests} tests in {len(result.parts)} part(s), {result.seconds:.1f}s")
    else:
        click.echo(head + f"FAILED: {sum(1 for _, c in failing if c)} of {tests} tests failed, "
                   f"{len(failed_parts)} of {len(result.parts)} part(s) failed, {result.seconds:.1f}s")
    for part, case in failing:
        if case is not None:
            click.echo(f"\nFAIL {case.name}  (part {part.index} [{part.label}])")
            text = case.message
        else:
            click.echo(f"\nFAIL part {part.index} [{part.label}]: exited {part.exit_code}")
            text = part.output[-3000:]
        for line in text.rstrip().splitlines():
            click.echo(f"    {line}")
    if junit_file:
        click.echo(f"\nJUnit report: {junit_file}")
    if result.kept:
        click.echo(f"\nkept: " + ", ".join(f"devenv status {result.profile} --name {i}" for i in result.instances))
        click.echo(f"  the instance mounts the worktree {result.worktree}; remove both with "
                   + " && ".join(f"devenv down {result.profile} --name {i} --volumes" for i in result.instances)
                   + f" && git worktree remove --force {result.worktree}")
