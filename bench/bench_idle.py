"""What idle instances cost: the machine's CPU while N instances of small-db sit idle, and
the `up` of one more instance beside them, for the lamp template's Engine healthcheck
interval (10 s) against the same profile checking every 1 s (the templates' old value).

Each Engine healthcheck is an exec in the container (containerd, runc, the check's own
processes), so the interval sets what an idle instance costs; `up` does not wait for the
Engine's schedule (it probes every 0.25 s itself), so a long interval costs nothing at start.

    .venv/bin/python bench/bench_idle.py [--idle 3] [--rounds 3] [--seconds 20]

Per variant, in one run: N idle instances up; the machine's busy CPU over ``--seconds``
(/proc/stat, every process and the kernel); then ``--rounds`` times an `up` of one more
instance (a new one each time: network, containers, the small dataset seeded) and its
`down --volumes`. Everything is labelled and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_snapshot import Bench, compile_devenv  # noqa: E402

PROJECT = "benchidle"
LABEL = "dev.devenv.bench=idle"
EVERY_SECOND = """\
# bench only (bench/bench_idle.py): small-db with the Engine checking every second
extends: small-db
description: small-db, healthchecks every 1 s
services:
  db: {healthcheck: {interval: 1s}}
  cache: {healthcheck: {interval: 1s}}
  php: {healthcheck: {interval: 1s}}
  web: {healthcheck: {interval: 1s}}
"""


def busy_cores(seconds: float) -> float:
    """Cores kept busy on average over ``seconds`` (user, nice, system, irq, softirq)."""
    def sample():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6]
    ticks = os.sysconf("SC_CLK_TCK")
    a = sample()
    time.sleep(seconds)
    return (sample() - a) / ticks / seconds


def measure(b: Bench, profile: str, idle: int, rounds: int, seconds: float) -> dict:
    for i in range(idle):
        b.run("up", profile, "--name", f"idle{i}")
    time.sleep(5)     # the starts' own work has ended
    cpu = busy_cores(seconds)
    ups = []
    for k in range(rounds):
        ups.append(b.run("up", profile, "--name", f"next{k}")[0])
        b.run("down", profile, "--name", f"next{k}", "--volumes")
        time.sleep(2)
    for i in range(idle):
        b.run("down", profile, "--name", f"idle{i}", "--volumes")
    return {"cpu": cpu, "up": statistics.median(ups), "ups": ups}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/devenv-bench-idle"))
    args = ap.parse_args()
    compile_devenv()
    b = Bench(args.work, project=PROJECT, label=LABEL)
    b.fresh()
    (b.root / "profiles" / "small-db-1s.yaml").write_text(EVERY_SECOND)
    b.run("up", "small-db", "--name", "warm")      # images built, dataset generated: not in the figures
    b.run("down", "small-db", "--name", "warm", "--volumes")
    quiet = busy_cores(args.seconds)
    load = os.getloadavg()
    try:
        ten = measure(b, "small-db", args.idle, args.rounds, args.seconds)
        one = measure(b, "small-db-1s", args.idle, args.rounds, args.seconds)
    finally:
        b.cleanup()
        shutil.rmtree(args.work, ignore_errors=True)
    cores = os.cpu_count()
    print(f"### Idle instances ({time.strftime('%Y-%m-%d %H:%M')} UTC), load average before: "
          f"{', '.join(f'{x:.2f}' for x in load)}\n")
    print(f"{args.idle} idle small-db instances; {cores} cores; nothing running: {quiet:.2f} cores busy.\n")
    print("| Engine healthcheck interval | cores busy, instances idle | `up` of one more instance beside them "
          f"(median of {args.rounds}) |")
    print("|---|---:|---:|")
    for label, r in (("10 s (the templates)", ten), ("1 s (before)", one)):
        print(f"| {label} | {r['cpu']:.2f} ({100 * r['cpu'] / cores:.0f} % of the machine) | {r['up']:.2f} s "
              f"({', '.join(f'{t:.2f}' for t in r['ups'])}) |")
    print(f"\nRatios 10 s / 1 s: CPU of idle instances {ten['cpu'] / one['cpu']:.2f}x, "
          f"`up` beside them {ten['up'] / one['up']:.2f}x.")


if __name__ == "__main__":
    main()
