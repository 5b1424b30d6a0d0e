#!/usr/bin/env python3
"""Benchmark `devenv try` on the lamp template.

Measures, in one run on this machine, in a fresh `devenv init --template lamp` git
repository whose default instance is up and has a snapshot:
  1. overhead: `devenv try small-db` (patch, worktree, instance up from the snapshot,
     the two parts of the suite, teardown) against the same two phpunit runs by
     `devenv exec` in the already running instance; median of --rounds each; until
     the report is printed and until the process exits (the teardown comes after the report);
  2. --jobs 2 against --jobs 1 on a suite that splits into two parts of about equal
     weight (each part adds a load test that fetches the home page through the stack).

Usage: .venv/bin/python bench/bench_try.py [--rounds 3] [--fetches 400]
Prints a Markdown section for bench/RESULTS.md. Removes what it made at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from devenv.engine import cowstore  # noqa: E402
from tests.ports import free_port  # noqa: E402

DEVENV = [sys.executable, "-m", "devenv"]
LABEL = f"dev.devenv.bench=try-{uuid.uuid4().hex[:8]}"
GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@example.invalid"}
PHPUNIT = "phpunit --configuration {conf} --log-junit /tmp/bench-junit.xml --testsuite {suite}"
LOAD_TEST = """<?php
declare(strict_types=1);
use PHPUnit\\Framework\\TestCase;
final class Load{X}Test extends TestCase
{{
    public function testHomePageUnderLoad(): void
    {{
        for ($i = 0; $i < {n}; $i++) {{
            $this->assertStringContainsString('listings</p>', file_get_contents('http://web/'));
        }}
    }}
}}
"""
BENCH_CONF = """<?xml version="1.0" encoding="UTF-8"?>
<phpunit bootstrap="tests/bootstrap.php" cacheResult="false">
  <testsuites>
    <testsuite name="a"><directory suffix="Test.php">tests/unit</directory><file>tests/bench/LoadATest.php</file></testsuite>
    <testsuite name="b"><directory suffix="Test.php">tests/stack</directory><file>tests/bench/LoadBTest.php</file></testsuite>
  </testsuites>
</phpunit>
"""


def run(cmd, cwd, check=True, env=None):
    full = {**os.environ, **GIT, "DEVENV_LABELS": LABEL, **(env or {})}
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=full)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def timed(cmd, cwd, check=True) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    r = run(cmd, cwd, check)
    return time.perf_counter() - start, r


def project(base: Path, fetches: int) -> Path:
    root = base / f"bench-try-{uuid.uuid4().hex[:6]}"
    run(DEVENV + ["init", str(root), "--template", "lamp"], base)
    prof = root / "profiles/small-db.yaml"
    text = prof.read_text().replace("  web:\n    mounts: {/srv/app: app}\n",
                                    f"  web:\n    mounts: {{/srv/app: app}}\n    ports: [\"127.0.0.1:{free_port()}:80\"]\n")
    # a suite of two parts of about equal weight
    text = text.replace("command: [phpunit, --configuration, phpunit.xml,", "command: [phpunit, --configuration, phpunit-bench.xml,")
    text = text.replace("    - [--testsuite, unit]\n    - [--testsuite, stack]\n", "    - [--testsuite, a]\n    - [--testsuite, b]\n")
    prof.write_text(text)
    (root / "app/phpunit-bench.xml").write_text(BENCH_CONF)
    (root / "app/tests/bench").mkdir()
    for x in "AB":
        (root / f"app/tests/bench/Load{x}Test.php").write_text(LOAD_TEST.format(X=x, n=fetches))
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "start"], root)
    run(DEVENV + ["up"], root)
    run(DEVENV + ["snapshot", "save"], root)
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fetches", type=int, default=400)
    args = ap.parse_args()
    # devenv's bytecode compiled, as an installed wheel (and scripts/setup) has it: an editable
    # install in a shell with PYTHONDONTWRITEBYTECODE=1 compiles every module on every command
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "devenv")], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    base = Path(tempfile.mkdtemp(prefix="bench-try-"))
    cache = base / "cache"
    os.environ["DEVENV_CACHE"] = str(cache)
    try:
        root = project(base, args.fetches)
        in_place, tries, ups, downs, jobs1, jobs2 = [], [], [], [], [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for suite in "ab":
                run(DEVENV + ["exec", "php", "--", "sh", "-c",
                              "cd /srv/app && " + PHPUNIT.format(conf="phpunit-bench.xml", suite=suite)], root)
            in_place.append(time.perf_counter() - start)
            t, r = timed(DEVENV + ["try", "--json"], root)
            out = json.loads(r.stdout)
            assert out["exit_code"] == 0, r.stdout
            tries.append(t)
            ups.append(out["up_seconds"])
            downs.append(out.get("teardown_seconds", 0.0))    # after the report was printed
            jobs1.append(t)
            t2, r2 = timed(DEVENV + ["try", "--json", "--jobs", "2"], root)
            assert json.loads(r2.stdout)["exit_code"] == 0, r2.stdout
            jobs2.append(t2)
        med = statistics.median
        print(f"### devenv try on the lamp template ({time.strftime('%Y-%m-%d')})\n")
        print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}; small-db from its snapshot; suite: "
              f"the template's PHPUnit suite plus a load test per part ({args.fetches} home-page fetches "
              f"through nginx, PHP-FPM and MariaDB); median of {args.rounds} rounds.\n")
        print("| run | wall time |")
        print("|---|---:|")
        print(f"| the two parts by `devenv exec` in the running instance | {med(in_place):.2f} s |")
        report = [t - d for t, d in zip(tries, downs)]
        print(f"| `devenv try` (--jobs 1), until it exits | {med(tries):.2f} s |")
        print(f"| of which: instance up (its database a copy-on-write clone) | {med(ups):.2f} s |")
        print(f"| of which: teardown, after the report is printed | {med(downs):.2f} s |")
        print(f"| `devenv try`, until the report is printed | {med(report):.2f} s |")
        print(f"| **overhead of try**, until the report / until exit | **{med(report) - med(in_place):.2f} s** / "
              f"{med(tries) - med(in_place):.2f} s |")
        print(f"| `devenv try --jobs 2` | {med(jobs2):.2f} s ({med(jobs1) / med(jobs2):.2f}x of --jobs 1) |")
    finally:
        for ls, rm in ((["docker", "ps", "-aq"], ["docker", "rm", "-f"]),
                       (["docker", "volume", "ls", "-q"], ["docker", "volume", "rm", "-f"]),
                       (["docker", "network", "ls", "-q"], ["docker", "network", "rm"])):
            ids = subprocess.run(ls + ["--filter", f"label={LABEL}"], capture_output=True, text=True).stdout.split()
            labels = [json.loads(subprocess.run(["docker", "volume", "inspect", i], capture_output=True,
                                                text=True).stdout or "[{}]")[0].get("Labels") or {}
                      for i in ids] if ls[1] == "volume" else []
            if ids:
                subprocess.run(rm + ids, capture_output=True)
            for lab in labels:
                cowstore.release(lab)   # the data of the btrfs store's volumes (clone bases)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
