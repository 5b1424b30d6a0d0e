#!/usr/bin/env python3
"""Time to a ready `large-db`: copy-on-write clone of a snapshot vs the logical path (generate + load).

In one run, for each scale of the large dataset (default: 1 and 4), in a throwaway project
made with `devenv init --template lamp` and its own DEVENV_CACHE (nothing of yours is touched):

  1. logical: no volume, no cached dataset -> `devenv up PROFILE --name logical` (generate CSV,
     bulk load; all services healthy);
  2. `devenv snapshot save PROFILE bench --name logical`;
  3. the first clone (`up --name c0`): the snapshot is unpacked into its base once, sealed, cloned;
     then `sync`: the kernel's write-back of that base belongs to the first clone (timed, reported);
  4. ready from the snapshot: `up --name c1..c3` (the base exists: no data is copied), whole
     command wall time, median;
  5. disk: what each of the 4 clones holds of its own right after they are ready (a btrfs
     snapshot's exclusive bytes; an overlay clone's upper layer, du), against one copy of the
     datadir (du of the base). Clones are btrfs snapshots where the store exists
     (scripts/cow-store.sh), overlays otherwise (DEVENV_COW_STORE=off);
  6. writes on clone c1 and, for comparison, on the plain (seeded) volume of `logical`: the
     first write to the largest table (`listings`: overlay copies the whole file up at the
     first open for writing) and a full-table UPDATE;
  7. scale 1 only: the copying restore (DEVENV_CLONES=0), as before clones.

Scale: the profile `large-db-xN` extends `large-db` with `data.dataset.scale` set to N times the
row counts of the `large` size (users, shops, listings, orders). That is the generator's own knob
(any profile can set it); the bench only writes such a profile (`large-db-x1` has large-db's
dataset). Each also gives the db a start period of 7200 s: the healthcheck must not give up
during a long bulk load on a busy machine (the timing is what is measured, not the budget).

Usage: flock /tmp/devenv-bench.lock .venv/bin/python bench/bench_snapshot.py [--scales 1,4] [--work DIR]
Prints a Markdown section for bench/RESULTS.md (with the load average). The work directory
(default /var/tmp/devenv-bench-snapshot) is removed first and, with everything the bench made
on the engine, at the end (--keep leaves it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from devenv.data.generators.shop import COUNT_KEYS, SIZES  # noqa: E402
from devenv.engine import cowstore  # noqa: E402

DEVENV = [sys.executable, "-m", "devenv"]
PROJECT = "benchsnap"
LABEL = "dev.devenv.bench=snapshot"


def compile_devenv() -> None:
    """devenv's bytecode compiled, as an installed wheel (and scripts/setup) has it: an editable
    install in a shell with PYTHONDONTWRITEBYTECODE=1 compiles every module on every command."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "devenv")], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})


class Bench:
    """A bench's own project and cache under ``work``; what it makes on the engine carries ``label``."""

    def __init__(self, work: Path, project: str = PROJECT, label: str = LABEL):
        self.work, self.root, self.cache = work, work / "project", work / "cache"
        self.project, self.label = project, label
        self.env = {**os.environ, "DEVENV_CACHE": str(self.cache), "DEVENV_LABELS": label}
        for k in ("DEVENV_PROFILES_DIR", "DEVENV_PROJECT", "DEVENV_CLONES"):
            self.env.pop(k, None)

    def run(self, *args, env=None) -> tuple[float, str]:
        if args[0] == "up":   # a loaded machine loads the large datasets slowly: no time limit but this
            args = (*args, "--timeout", "7200")
        start = time.perf_counter()
        r = subprocess.run(DEVENV + list(args), cwd=self.root if self.root.exists() else self.work,
                           env={**self.env, **(env or {})}, capture_output=True, text=True)
        took = time.perf_counter() - start
        print(f"{time.strftime('%H:%M:%S')} {took:7.2f}s devenv {' '.join(args)}", file=sys.stderr, flush=True)
        if r.returncode != 0:
            raise SystemExit(f"devenv {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
        return took, r.stdout + r.stderr

    def sh(self, *cmd: str) -> str:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    def container(self, profile: str, instance: str, service: str) -> str:
        return f"{self.project}-{profile}--{instance}-{service}"

    def volume(self, profile: str, instance: str, short: str = "db-data") -> str:
        return f"{self.project}-{profile}--{instance}-{short}"

    def sql_seconds(self, profile: str, instance: str, query: str) -> float:
        """Wall time of one query inside the db container (no CLI or exec start in the figure)."""
        script = ('s=$(date +%s%N); mariadb -uroot shop -e "$1" >/dev/null; e=$(date +%s%N); '
                  'echo $(( (e - s) / 1000000 ))')
        out = self.sh("docker", "exec", self.container(profile, instance, "db"), "sh", "-c", script, "q", query)
        return int(out) / 1000

    def du(self, volume: str) -> int:
        """Allocated bytes of a volume's data: du of its directory on the host (in the btrfs store
        when it is bound there)."""
        v = json.loads(self.sh("docker", "volume", "inspect", volume))[0]
        path = (v.get("Labels") or {}).get(cowstore.COW_PATH) or v["Mountpoint"]
        return int(self.sh("du", "-s", "--block-size=1", path).split()[0])

    def own_bytes(self, profile: str, instance: str) -> int:
        """What a clone holds of its own: a btrfs snapshot's exclusive bytes (blocks no other
        subvolume shares), or an overlay's upper layer (du)."""
        v = json.loads(self.sh("docker", "volume", "inspect", self.volume(profile, instance)))[0]
        path = (v.get("Labels") or {}).get(cowstore.COW_PATH)
        if path:
            self.sh("btrfs", "filesystem", "sync", path)
            return cowstore.exclusive_bytes([Path(path)])[path]
        return self.du(self.volume(profile, instance, "db-data-upper"))

    def clone_kind(self, profile: str, instance: str) -> str:
        v = json.loads(self.sh("docker", "volume", "inspect", self.volume(profile, instance)))[0]
        return "btrfs snapshot" if cowstore.COW_PATH in (v.get("Labels") or {}) else "overlay"

    def fresh(self) -> None:
        """Nothing of an earlier run left (engine objects, files), then a new project from `devenv init`."""
        self.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.run("init", str(self.root), "--name", self.project)

    def cleanup(self):
        """Everything the bench made on the engine (by its label): containers, then networks and volumes."""
        for ls, rm in ((["container", "ls", "-aq"], ["rm", "-f"]), (["network", "ls", "-q"], ["network", "rm"]),
                       (["volume", "ls", "-q"], ["volume", "rm", "-f"])):
            ids = self.sh("docker", *ls, "--filter", f"label={self.label}").split()
            labels = [json.loads(self.sh("docker", "volume", "inspect", i))[0].get("Labels") or {}
                      for i in ids] if ls[0] == "volume" else []
            if ids:
                subprocess.run(["docker", *rm, *ids], capture_output=True)
            for lab in labels:
                cowstore.release(lab)   # the data of the btrfs store's volumes


def step_times(log: str) -> dict[str, float]:
    return {name: float(s) for name, s in re.findall(r"^\s+(.+): done in ([0-9.]+)s$", log, re.M)}


def scaled_profile(b: Bench, scale: int, profile: str, size: str) -> str:
    """``PROFILE-xN``: PROFILE with the dataset at N times its row counts (none for N = 1), and a
    database start period long enough for a bulk load on a loaded machine (the base profile's
    300 s ran out on 2 busy cores: the logical path failed instead of being timed)."""
    name = f"{profile}-x{scale}"
    counts = {k: SIZES[size][k] * scale for k in COUNT_KEYS}
    body = ", ".join(f"{k}: {v}" for k, v in counts.items())
    dataset = f"  dataset: {{size: {size}, scale: {{{body}}}}}\n" if scale != 1 else f"  dataset: {{size: {size}}}\n"
    (b.root / "profiles" / f"{name}.yaml").write_text(
        f"# bench only (bench/bench_snapshot.py): the {size} dataset at {scale}x its row counts\n"
        f"extends: {profile}\ndescription: {profile} at scale {scale}\n"
        f"data:\n{dataset}"
        f"services:\n  db:\n    healthcheck: {{start_period: 7200s}}\n")
    return name


def measure(b: Bench, scale: int, profile: str, size: str) -> dict:
    p = scaled_profile(b, scale, profile, size)
    r: dict = {"scale": scale, "profile": p}
    r["logical"], log = b.run("up", p, "--name", "logical")
    steps = step_times(log)
    r["generate"] = next((v for k, v in steps.items() if k.startswith("generate dataset")), 0.0)
    rows = re.search(r"([0-9,]+) rows, ([0-9,.]+) MB", log)
    r["rows"], r["csv_mb"] = (rows.group(1), rows.group(2)) if rows else ("?", "?")
    r["save"], _ = b.run("snapshot", "save", p, "bench", "--name", "logical")
    b.run("down", p, "--name", "logical")       # keeps its plain volume for the write comparison
    r["first_clone"], log = b.run("up", p, "--name", "c0")
    assert "cloned snapshot" in log, log
    r["first_clone_steps"] = step_times(log)
    # the base the first clone unpacked (1.4 / 5.2 GB) is still being written back by the host's
    # kernel for a while after it: that flush is the first clone's cost, done once per snapshot;
    # wait for it (and say how long it took) so the ready runs measure the steady state
    t0 = time.monotonic()
    os.sync()
    r["writeback"] = time.monotonic() - t0
    ready, logs = [], []
    for i in (1, 2, 3):
        t, log = b.run("up", p, "--name", f"c{i}")
        assert "cloned snapshot" in log, log
        ready.append(t)
        logs.append(step_times(log))
    r["ready"], r["ready_all"], r["ready_steps"] = statistics.median(ready), ready, logs[ready.index(statistics.median(ready))]
    r["floor"] = fixed_costs(b, p, "c1")
    base = json.loads(b.sh("docker", "volume", "inspect", b.volume(p, "c1")))[0]["Labels"]["dev.devenv.base"]
    r["base_bytes"] = b.du(base)
    r["kind"] = b.clone_kind(p, "c1")
    r["uppers"] = [b.own_bytes(p, f"c{i}") for i in range(4)]
    for i in (0, 2, 3):
        b.run("down", p, "--name", f"c{i}", "--volumes")
    b.run("up", p, "--name", "logical")
    one = "UPDATE listings SET quantity = quantity + 1 WHERE id = 1"
    full = "UPDATE listings SET quantity = quantity + 1"
    before = b.own_bytes(p, "c1")
    r["clone_first_write"] = b.sql_seconds(p, "c1", one)
    r["clone_second_write"] = b.sql_seconds(p, "c1", "UPDATE listings SET quantity = quantity + 1 WHERE id = 2")
    r["copy_up_bytes"] = b.own_bytes(p, "c1") - before
    r["plain_first_write"] = b.sql_seconds(p, "logical", one)
    r["clone_full_update"] = b.sql_seconds(p, "c1", full)
    r["plain_full_update"] = b.sql_seconds(p, "logical", full)
    for inst in ("c1", "logical"):
        b.run("down", p, "--name", inst, "--volumes")
    if scale == 1:   # the copying restore of the same snapshot, as before clones
        r["copy_restore"], log = b.run("up", p, "--name", "copy", env={"DEVENV_CLONES": "0"})
        assert "restored snapshot" in log, log
        b.run("down", p, "--name", "copy", "--volumes")
    subprocess.run(DEVENV + ["snapshot", "rm", "bench", "-p", p], cwd=b.root, env=b.env, capture_output=True)
    for d in (b.cache / "datasets").glob("*"):   # the next scale is generated cold too; the disk is freed
        shutil.rmtree(d, ignore_errors=True)
    return r


def fixed_costs(b: Bench, profile: str, instance: str) -> dict:
    """What bounds "ready", measured beside it: the parts of an `up` that no clone can make faster.

    - imports: a Python process that imports what `devenv up` imports, and exits;
    - no-op up: `devenv up` of the running, unchanged instance (start, render, plan, nothing to do);
    - engine starts: the instance's 4 containers stopped, then started by the Docker SDK in
      `up`'s order (cache and db side by side, then php, then web: lamp's service_started
      dependencies, each once the one before has returned, as compose does), no health wait;
      and the same 4 started all at once (no order): the engine's own floor for this stack.
    """
    import docker
    from concurrent.futures import ThreadPoolExecutor
    out = {}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import devenv.cli.env, devenv.engine.lifecycle"], check=True,
                   cwd=b.root, env=b.env)
    out["imports"] = time.perf_counter() - start
    out["noop_up"], log = b.run("up", profile, "--name", instance)
    assert "nothing to do" in log, log
    api = docker.from_env().api
    names = {s: b.container(profile, instance, s) for s in ("web", "php", "db", "cache")}
    for s in ("web", "php", "db", "cache"):
        api.stop(names[s], timeout=30)
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(api.start, [names["cache"], names["db"]]))
    api.start(names["php"])
    api.start(names["web"])
    out["engine_starts"] = time.perf_counter() - start
    for s in ("web", "php", "db", "cache"):
        api.stop(names[s], timeout=30)
    start = time.perf_counter()     # the bound of any order: all four at once
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(api.start, [names[s] for s in ("cache", "db", "php", "web")]))
    out["engine_starts_at_once"] = time.perf_counter() - start
    b.run("up", profile, "--name", instance)     # healthy again before the write measurements
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def report(results: list[dict], load: str) -> str:
    out = [f"### Clones ({time.strftime('%Y-%m-%d %H:%M')} UTC), `uptime` load average before: {load}", "",
           "Ready = the whole `devenv up PROFILE --name I` command (render, plan, clone, create and start "
           "web, php, db, cache, all healthy), wall time.", "",
           "| | " + " | ".join(f"scale {r['scale']} (`{r['profile']}`)" for r in results) + " |",
           "|---|" + "---:|" * len(results)]

    def row(label, f):
        out.append(f"| {label} | " + " | ".join(f(r) for r in results) + " |")
    row("dataset", lambda r: f"{r['rows']} rows, {r['csv_mb']} MB CSV")
    row("datadir (one copy: du of the base)", lambda r: mb(r["base_bytes"]))
    row("logical: generate + bulk load, whole `up`", lambda r: f"{r['logical']:.1f} s (generate {r['generate']:.1f} s)")
    row("snapshot save", lambda r: f"{r['save']:.1f} s")
    row("first clone of a snapshot (base unpacked + sealed once), whole `up`", lambda r: f"{r['first_clone']:.1f} s")
    row("then the host's write-back of that base (`sync`, before the ready runs)", lambda r: f"{r['writeback']:.1f} s")
    row("**ready from the snapshot (clone), whole `up`, median of 3**",
        lambda r: f"**{r['ready']:.2f} s** ({', '.join(f'{t:.2f}' for t in r['ready_all'])})")
    row("**speed-up vs generate + load**", lambda r: f"**{r['logical'] / r['ready']:.0f}x**")
    row("what bounds it: Python start + the imports of `up` / a no-op `up` of the running instance / "
        "the engine's starts of its 4 containers, each after its dependencies' calls returned / all 4 at once "
        "(SDK, no health wait)",
        lambda r: f"{r['floor']['imports']:.2f} s / {r['floor']['noop_up']:.2f} s / {r['floor']['engine_starts']:.2f} s"
                  f" / {r['floor']['engine_starts_at_once']:.2f} s")
    row("kind of clone", lambda r: r["kind"])
    row("bytes of their own of 4 clones, ready, before writes (btrfs exclusive bytes / overlay upper du)",
        lambda r: f"{mb(sum(r['uppers']))} ({', '.join(mb(u) for u in r['uppers'])})")
    row("**extra disk of 4 clones / one copy**", lambda r: f"**{100 * sum(r['uppers']) / r['base_bytes']:.1f} %**")
    row("first write to `listings` (1 row) on a clone: copy-up", lambda r: f"{r['clone_first_write']:.2f} s "
        f"(+{mb(r['copy_up_bytes'])} of its own)")
    row("second 1-row write on the clone", lambda r: f"{r['clone_second_write']:.3f} s")
    row("first 1-row write on a plain (seeded) volume", lambda r: f"{r['plain_first_write']:.3f} s")
    row("full-table UPDATE of `listings`: clone / plain volume",
        lambda r: f"{r['clone_full_update']:.1f} s / {r['plain_full_update']:.1f} s")
    copy = [r for r in results if "copy_restore" in r]
    if copy:
        out += ["", f"Copying restore (DEVENV_CLONES=0, scale 1), whole `up`: {copy[0]['copy_restore']:.1f} s."]
    out += ["", "<!-- steps: " + json.dumps({r["scale"]: {"ready": r["ready_steps"],
                                                         "first_clone": r["first_clone_steps"]}
                                                     for r in results}) + " -->"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="1,4")
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/devenv-bench-snapshot"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--profile", default="large-db", help="a lamp profile (small-db: a quick trial of the bench)")
    args = ap.parse_args()
    compile_devenv()
    b = Bench(args.work)
    b.fresh()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()
    results = []
    try:
        for s in (int(x) for x in args.scales.split(",")):
            results.append(measure(b, s, args.profile, "small" if args.profile == "small-db" else "large"))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            print(f"<!-- scales so far: {[r['scale'] for r in results]} -->\n" + report(results, load) + "\n",
                  flush=True)   # a run cut short keeps the figures of the scales it finished
    finally:
        if not args.keep:
            b.cleanup()
            shutil.rmtree(args.work, ignore_errors=True)
    after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1]
    print(report(results, load) + f"\n\nLoad average after: {after.strip()}.")


if __name__ == "__main__":
    main()
