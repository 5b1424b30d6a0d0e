#!/usr/bin/env python3
"""Time to a ready database: from a snapshot vs the logical path (generate + bulk load).

In one run, for one profile (default large-db):
  1. logical: no volume, no cached dataset -> `devenv up PROFILE` (generate CSV, bulk load);
     also with the dataset already generated (bulk load only);
  2. `devenv snapshot save PROFILE bench` (zstd throughput, snapshot vs datadir size);
  3. snapshot: no volume -> `devenv up PROFILE` restores the snapshot;
  4. `devenv snapshot restore PROFILE bench` on a running environment (restore throughput).

Usage: .venv/bin/python bench/bench_snapshot.py [--profile large-db]
Prints a Markdown section for bench/RESULTS.md. It removes PROFILE's volumes and
its cached dataset, and stops any environment publishing the same port.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from devenv.paths import cache_dir  # noqa: E402

DEVENV = [sys.executable, "-m", "devenv"]


def run(*args) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run(DEVENV + list(args), cwd=REPO, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"devenv {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return took, r.stdout + r.stderr


def step_times(log: str) -> dict[str, float]:
    return {name: float(s) for name, s in re.findall(r"^    (.+): done in ([0-9.]+)s$", log, re.M)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="large-db")
    args = ap.parse_args()
    p = args.profile
    for other in ("small-db", "large-db", "large-images"):
        run("down", other)
    run("down", p, "--volumes")
    run("up", p)  # images built, dataset id known
    run("down", p, "--volumes")
    for snap in json.loads(subprocess.run(DEVENV + ["snapshot", "list", "--json", "-p", p], cwd=REPO,
                                          capture_output=True, text=True).stdout or "[]"):
        run("snapshot", "rm", snap["name"], "-p", p)

    # 1. logical path, dataset not cached
    for d in (cache_dir() / "datasets").glob("*"):
        if d.is_dir():
            shutil.rmtree(d)
    logical_cold, log = run("up", p)
    steps = step_times(log)
    gen = next((v for k, v in steps.items() if k.startswith("generate dataset")), 0.0)
    rows = re.search(r"([0-9,]+) rows, ([0-9,.]+) MB", log)
    run("down", p, "--volumes")
    logical_warm, log = run("up", p)   # dataset cached: bulk load only

    # 2. save
    save_t, log = run("snapshot", "save", p, "bench")
    m = re.search(r"datadir ([0-9,.]+) MB -> ([0-9,.]+) MB", log)
    datadir_mb, archive_mb = (float(x.replace(",", "")) for x in m.groups())
    save_step = step_times(log).get(f"save snapshot {p}/bench", save_t)

    # 3. up from snapshot
    run("down", p, "--volumes")
    snap_up, log = run("up", p)
    assert "restored snapshot" in log, log
    restore_steps = step_times(log)

    # 4. restore on a running environment
    restore_t, log = run("snapshot", "restore", p, "bench")
    rs = step_times(log)
    verify_s = sum(v for k, v in rs.items() if k.startswith(("check snapshot", "scan snapshot", "verify snapshot")))
    write_s = next((v for k, v in rs.items() if k.startswith("restore snapshot")), 0.0)

    lines = [f"### Snapshots ({p}), {time.strftime('%Y-%m-%d')}", "",
             f"Dataset: {rows.group(1) if rows else '?'} rows, {rows.group(2) if rows else '?'} MB of CSV; "
             f"datadir {datadir_mb:,.0f} MB.", "",
             "| path to a ready database | seconds |", "|---|---|",
             f"| logical: generate ({gen:.1f} s) + bulk load, whole `devenv up` | {logical_cold:.1f} |",
             f"| logical, dataset already generated: bulk load, whole `devenv up` | {logical_warm:.1f} |",
             f"| snapshot restore, whole `devenv up` | {snap_up:.1f} |",
             f"| **speed-up snapshot vs logical (generate + load)** | **{logical_cold / snap_up:.1f}x** |",
             f"| **speed-up snapshot vs logical (load only)** | **{logical_warm / snap_up:.1f}x** |", "",
             "| snapshot figure | value |", "|---|---|",
             f"| save (server stopped, tar, sha256, zstd -3) | {save_step:.1f} s, {datadir_mb / save_step:,.0f} MB/s of datadir |",
             f"| snapshot size vs datadir | {archive_mb:,.0f} MB / {datadir_mb:,.0f} MB = {archive_mb / datadir_mb:.2f} |",
             f"| restore: checks before writing (archive sha256, member scan) | {verify_s:.1f} s |",
             f"| restore: write pass (decompress into the volume) | {write_s:.1f} s, {datadir_mb / max(write_s, 1e-3):,.0f} MB/s |",
             f"| `devenv snapshot restore` on a running env, total | {restore_t:.1f} s |", ""]
    print("\n".join(lines))
    print("<!-- up-from-snapshot steps: " + json.dumps(restore_steps) + " -->")


if __name__ == "__main__":
    main()
