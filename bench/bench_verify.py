#!/usr/bin/env python3
"""Benchmark `devenv verify`'s generated checks against a naive testinfra run of the same checks.

Both sides check the same things on the same running environment (default: the
reference stack small-db): per service the OS release, every declared package at
its pinned version, every rendered config file's content, every declared port
listening, plus running/healthy from the Engine API (no container command, the
same code on both sides).

  devenv:  the fact script, ONE command per service (a second only to diff a
           differing file), services one after the other ("sequential") and as
           `devenv verify` runs them ("parallel", a thread per service);
  naive:   one testinfra call per check, as a hand-written testinfra suite does:
           host.system_info.distribution/.codename, host.package(P).is_installed/.version,
           host.file(F).exists/.sha256sum, and `cat /proc/net/tcp*` for ports
           (testinfra's socket module needs ss/netstat, which the images lack).

Reports the median of --rounds rounds, the container commands each side ran, checks
that both sides reach the same verdict on every check, and whether devenv is at
least 5x faster with at most 2 commands per service. Read-only: it only execs
into the running containers.

Usage: .venv/bin/python bench/bench_verify.py [--profile small-db] [--profiles-dir DIR] [--rounds 5]
Needs the environment up (`devenv up small-db`). Prints a Markdown section for
bench/RESULTS.md; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devenv import names  # noqa: E402
from devenv.engine import connect  # noqa: E402
from devenv.engine import lifecycle  # noqa: E402
from devenv.parity.apt import version_matches  # noqa: E402
from devenv.parity.facts import decode_socket  # noqa: E402
from devenv.parity.verify import Expectation, _running, expectations, verify_environment, verify_service  # noqa: E402
from devenv.profile import ProfileStore  # noqa: E402
from devenv.render import Renderer  # noqa: E402

SPEEDUP_TARGET = 5.0
MAX_COMMANDS = 2


@dataclass
class Round:
    seconds: float
    commands: dict[str, int]
    verdicts: dict[tuple[str, str], bool]


def devenv_round(engine, stack) -> Round:
    start = time.perf_counter()
    verdicts, commands = {}, {}
    for service in stack.order():
        sv = verify_service(engine, stack, service)
        commands[service] = sv.commands
        verdicts.update({(service, r.check): r.ok for r in sv.results})
    return Round(time.perf_counter() - start, commands, verdicts)


def devenv_parallel(engine, stack) -> float:
    start = time.perf_counter()
    verify_environment(engine, stack, user_tests=False)
    return time.perf_counter() - start


class Counting:
    """Counts the commands a testinfra host runs."""

    def __init__(self, host):
        self.host, self.count = host, 0
        run = host.backend.run

        def counted(*args, **kwargs):
            self.count += 1
            return run(*args, **kwargs)
        host.backend.run = counted


def naive_check(host, exp: Expectation) -> bool:
    if exp.kind == "os":
        info = host.system_info
        return f"{info.distribution} {info.codename}" == exp.expected
    if exp.kind == "package":
        pkg = host.package(exp.name)
        return pkg.is_installed and version_matches(exp.expected, pkg.version)
    if exp.kind == "file":
        f = host.file(exp.name)
        return f.exists and f.is_file and f.sha256sum == exp.expected
    if exp.kind == "port":
        protocol, _, port = exp.name.partition("/")
        out = host.run(f"cat /proc/net/{protocol} /proc/net/{protocol}6 2>/dev/null").stdout
        for line in out.splitlines()[1:]:
            fields = line.split()
            sock = decode_socket(protocol, fields[1]) if len(fields) > 3 and fields[3] == "0A" else None
            if sock and sock.port == int(port) and sock.scope == "all interfaces":
                return True
        return False
    raise ValueError(exp.kind)


def naive_round(engine, stack) -> Round:
    import testinfra
    start = time.perf_counter()
    verdicts, commands = {}, {}
    for service in stack.order():
        container = names.container_name(stack.name, service)
        host = Counting(testinfra.get_host(f"docker://{container}"))  # fresh: no cached facts between rounds
        results, running = _running(service, container, engine)
        verdicts.update({(service, r.check): r.ok for r in results})
        if running:
            for exp in expectations(stack, service):
                verdicts[(service, exp.check)] = naive_check(host.host, exp)
        commands[service] = host.count
    return Round(time.perf_counter() - start, commands, verdicts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="small-db")
    ap.add_argument("--profiles-dir", default=None)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    store = ProfileStore.locate(args.profiles_dir)
    stack = Renderer(store.images_dir).render(store.load(args.profile))
    engine = connect()
    rows = {r.service: r for r in lifecycle.status(engine, stack.name)}
    down = [s for s in stack.order() if s not in rows or rows[s].state != "running"]
    if down:
        print(f"{stack.name} is not up (not running: {', '.join(down)}): run `devenv up {stack.name}` first",
              file=sys.stderr)
        return 2

    devenv_runs, naive_runs, parallel = [], [], []
    devenv_round(engine, stack)  # warm-up: imports, first docker CLI start
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        devenv_runs.append(devenv_round(engine, stack))
        parallel.append(devenv_parallel(engine, stack))
        naive_runs.append(naive_round(engine, stack))

    d = statistics.median(r.seconds for r in devenv_runs)
    p = statistics.median(parallel)
    n = statistics.median(r.seconds for r in naive_runs)
    checks = len(devenv_runs[0].verdicts)
    same = all(r.verdicts == devenv_runs[0].verdicts for r in devenv_runs + naive_runs)
    max_cmds = max(max(r.commands.values()) for r in devenv_runs)
    failed = sorted(k for k, ok in devenv_runs[0].verdicts.items() if not ok)
    speedup = n / d
    ok = speedup >= SPEEDUP_TARGET and max_cmds <= MAX_COMMANDS and same

    print(f"## devenv verify vs naive testinfra ({stack.name}, {len(stack.services)} services, "
          f"{checks} checks, median of {args.rounds} rounds)\n")
    print("| run | time | container commands per service |")
    print("|---|---:|---|")
    print(f"| devenv verify, services one after another | {d * 1000:.0f} ms | "
          + ", ".join(f"{s} {c}" for s, c in devenv_runs[0].commands.items()) + " |")
    print(f"| devenv verify, services in parallel (as the CLI runs) | {p * 1000:.0f} ms | same |")
    print(f"| naive: one testinfra call per check | {n * 1000:.0f} ms | "
          + ", ".join(f"{s} {c}" for s, c in naive_runs[0].commands.items()) + " |")
    print()
    print(f"speed-up: {speedup:.1f}x sequential, {n / p:.1f}x parallel (target >= {SPEEDUP_TARGET:.0f}x); "
          f"max commands per service: {max_cmds} (target <= {MAX_COMMANDS}); "
          f"same verdict on every check: {'yes' if same else 'NO'}"
          + (f"; failing checks (both sides): {', '.join(f'{s}/{c}' for s, c in failed)}" if failed else ""))
    print(f"\nresult: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
