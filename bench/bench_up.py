#!/usr/bin/env python3
"""Benchmark `devenv up` against docker-compose 1.29 on the same rendered stack.

Measures, in one run on this machine:
  1. cold `devenv up` (no base image, no service images, no volumes), split by step;
  2. warm start (images built, volumes present, environment down) to all services
     healthy: devenv vs `docker-compose -p NAME up -d` + polling until the same
     services are healthy; the median of --rounds rounds each, interleaved;
  3. no-op `devenv up` on a running, unchanged environment vs no-op `docker-compose up -d`.

Usage: .venv/bin/python bench/bench_up.py [--profile small-db] [--rounds 3] [--no-cold]
Prints a Markdown section for bench/RESULTS.md. Needs a running engine and
docker-compose (apt-get install docker-compose). Never run it next to an
environment you care about: it removes the profile's containers and, for the
cold run, its volumes and images.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEVENV = [sys.executable, "-m", "devenv"]


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, **kw)


def timed(cmd) -> tuple[float, str]:
    start = time.perf_counter()
    r = sh(cmd)
    return time.perf_counter() - start, r.stdout + r.stderr


def compose_file(profile: str, out: Path) -> Path:
    """Render: the compose file runs with docker-compose 1.29 as is."""
    sh(DEVENV + ["render", profile, "-o", str(out)])
    return out / "compose.yaml"


def wait_compose_healthy(project: str, services: list[str], timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = sh(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]).stdout.split()
        if len(ids) == len(services):
            info = json.loads(sh(["docker", "inspect", *ids]).stdout)
            if all((c["State"].get("Health") or {}).get("Status", "healthy") == "healthy" and c["State"]["Running"]
                   for c in info):
                return
        time.sleep(0.2)
    raise SystemExit("compose stack did not become healthy")


def compose(path: Path, project: str, *args):
    return ["docker-compose", "-p", project, "-f", str(path), *args]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="small-db")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-cold", action="store_true")
    args = ap.parse_args()
    profile = args.profile
    project = f"bench-{profile}"
    out = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
    lines = [f"### `devenv up` ({profile}), {time.strftime('%Y-%m-%d')}", ""]

    sh(DEVENV + ["down", profile])
    if not args.no_cold:
        sh(DEVENV + ["down", profile, "--volumes"])
        sh(DEVENV + ["render", profile, "-o", str(out / "cold")])
        plan = json.loads((out / "cold" / "plan.json").read_text())
        tags = [i["tag"] for i in plan["images"].values()] + [plan["base_image"]["tag"]]
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)
        subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
        from devenv.paths import cache_dir  # generated data too: nothing cached
        for kind in ("datasets", "imagesets"):
            shutil.rmtree(cache_dir() / kind, ignore_errors=True)
        total, log = timed(DEVENV + ["up", profile])
        steps = re.findall(r"^    (.+): done in ([0-9.]+)s$", log, re.M)
        lines += ["Cold `devenv up` (no images, no build cache, no generated data, no volumes):", "",
                  "| step | seconds |", "|---|---|"]
        lines += [f"| {name} | {secs} |" for name, secs in steps]
        lines += [f"| **total** | **{total:.1f}** |", ""]

    path = compose_file(profile, out / "render")
    services = list(yaml.safe_load(path.read_text())["services"])
    sh(DEVENV + ["up", profile])  # make sure images and seeded volumes exist
    devenv_t, compose_t = [], []
    for _ in range(args.rounds):
        sh(DEVENV + ["down", profile])
        t, _log = timed(DEVENV + ["up", profile])
        devenv_t.append(t)
        sh(DEVENV + ["down", profile])
        start = time.perf_counter()
        sh(compose(path, project, "up", "-d"))
        wait_compose_healthy(project, services)
        compose_t.append(time.perf_counter() - start)
        sh(compose(path, project, "down"))  # keeps volumes
    d, c = statistics.median(devenv_t), statistics.median(compose_t)
    lines += ["Warm start (images built, volumes present, environment down) to all services healthy, "
              f"median of {args.rounds}:", "",
              "| tool | seconds | runs |", "|---|---|---|",
              f"| devenv up | {d:.2f} | {', '.join(f'{x:.2f}' for x in devenv_t)} |",
              f"| docker-compose 1.29 up -d + health polling | {c:.2f} | {', '.join(f'{x:.2f}' for x in compose_t)} |",
              f"| **ratio devenv / compose** | **{d / c:.2f}x** | |", ""]

    sh(DEVENV + ["up", profile])
    noop = []
    for _ in range(5):
        t, log = timed(DEVENV + ["up", profile])
        assert "nothing to do" in log, log
        noop.append(t)
    sh(DEVENV + ["down", profile])
    sh(compose(path, project, "up", "-d"))
    wait_compose_healthy(project, services)
    cnoop = []
    for _ in range(5):
        t, _log = timed(compose(path, project, "up", "-d"))
        cnoop.append(t)
    sh(compose(path, project, "down"))
    n, cn = statistics.median(noop), statistics.median(cnoop)
    lines += ["No-op `up` on a running, unchanged environment (median of 5, whole process wall time):", "",
              "| tool | seconds |", "|---|---|",
              f"| devenv up | {n:.3f} |", f"| docker-compose 1.29 up -d | {cn:.3f} |",
              f"| **ratio devenv / compose** | **{n / cn:.2f}x** |", ""]
    sh(DEVENV + ["up", profile])
    shutil.rmtree(out, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
