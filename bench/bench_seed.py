#!/usr/bin/env python3
"""Benchmark dataset generation and the bulk loads into MariaDB and PostgreSQL.

MariaDB, for each size (default: small and large) of the lamp project's shop dataset:
  1. generation into a fresh cache directory (time, rows, CSV bytes);
  2. the first start of the db image on a fresh volume with the dataset mounted at
     /var/lib/devenv-seed: time to seed_state = 'done', the load time and rows/s
     the entrypoint recorded, the CPU the container used (what bounds the load on a
     shared machine), InnoDB data/index size (information_schema after ANALYZE
     TABLE) and the schema's size on disk.
Plus the generation of a product image set (--images N, 0 to skip).

What "the bulk load" figure (issue 11's rows/s) measures: the load of the dataset's
CSV files when they are already generated. Generated CSVs are cached by dataset id
(`<cache>/datasets/<id>/`, equal ids mean equal bytes, the sha256 of every file in the
manifest), so a reseed of the same dataset (a new instance, `down --volumes`) never
generates again: the load is what it waits for. Generation is reported beside it, as its
own figure. The load figure is the entrypoint's own clock (seed_state.load_seconds: from
the first LOAD DATA to the last row-count check, the keys rebuilt after the rows
included); "load + shutdown" adds the init server's shutdown after it (the dirty pages
still in the buffer pool written: "to durable"), so that an init option that postpones the
flush is not counted as a faster load; "init to ready" adds install-db, the schema, the server starts and the
shutdown. The db container's CPU-seconds (rows per CPU-second) are less sensitive to the
other processes on a shared machine than wall-clock rows/s: compare runs by them, with
the load average printed beside.

PostgreSQL restore vs reseed: two ratios, labelled. The **data step** (what the issue's
figure is written down as): generating + loading the dataset, or restoring / cloning a
snapshot, plus the wait for the db service's health (the load runs inside it; a restored
datadir's server starts inside it), taken from `up`'s own step timings; the restore is
the *next* one, with the snapshot's base already unpacked (the first clone of a snapshot
on an engine unpacks it once; that first restore is printed too). And the whole `up`,
end to end (interpreter, plan, every service's start and health), which `up`'s fixed
costs dominate at pg-large's size.

PostgreSQL (--pg-profile, default pg-large of `devenv init --template python-postgres`,
through the devenv CLI, instance "seedbench"): the entrypoint's COPY load (rows/s from
its seed state) against a plain `psql \\copy` of the same CSVs into the running server,
same run; then `up` reseeding (dataset cached) against `up` restoring a snapshot.

Usage: .venv/bin/python bench/bench_seed.py [--sizes small,large] [--images 10000]
                                            [--cache DIR] [--init-opts '...'] [--repeat N]
                                            [--ab-init-opts '...']
                                            [--no-postgres] [--pg-profile pg-large]
Run it under `flock /tmp/devenv-bench.lock`. Prints a Markdown section for
bench/RESULTS.md, with `uptime` at the start and the end. Needs a running engine;
builds the db images through devenv when missing. Large needs ~3 GB of disk (CSV +
volume) and a few minutes. Everything it creates is named devenv-bench-seed-* or
labelled dev.devenv.bench=seed and removed at the end (the cache too, unless --cache
is given; with --cache the load script is rewritten by this code).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "devenv" / "library" / "templates" / "lamp"
sys.path.insert(0, str(REPO))

import docker  # noqa: E402
from docker.types import Mount  # noqa: E402

from devenv import names  # noqa: E402
from devenv.data.dataset_dir import load_tables  # noqa: E402
from devenv.data.datasets import SEED_MOUNT, materialize  # noqa: E402
from devenv.db import engine_named  # noqa: E402
from devenv.data.generators.shop import TABLES as SHOP_TABLES  # noqa: E402
from devenv.data.imagesets import materialize as materialize_images  # noqa: E402
from devenv.engine import cowstore  # noqa: E402
from devenv.engine.client import Engine  # noqa: E402
from devenv.engine.images import ensure_service_image  # noqa: E402
from devenv.profile.model import Dataset, ImageSet  # noqa: E402
from devenv.ui import PlainReporter, SilentReporter  # noqa: E402

ENV = {"DEVENV_DB_NAME": "shop", "DEVENV_DB_USER": "shop", "DEVENV_DB_PASSWORD": "devenv"}
LABELS = {"dev.devenv.bench": "seed"}


def db_image(client) -> str:
    return ensure_service_image(Engine(client), REFERENCE / "profiles", "base", "db", PlainReporter())


def sql(container, query: str) -> list[list[str]]:
    code, out = container.exec_run(["mariadb", "-uroot", "-N", "-B", "-e", query], demux=True)
    if code != 0:
        raise RuntimeError(f"{query}: {out[1]!r}")
    return [line.split("\t") for line in (out[0] or b"").decode().splitlines()]


def load_to_durable(log: str) -> float:
    """Seconds from the entrypoint's "loaded" line to its "initialisation done" (the init
    server shut down: every dirty page written), by the engine's timestamps of the lines.

    The load figure stops at the last check; pages InnoDB still holds dirty are written by
    the shutdown after it. Counting that shutdown keeps init options that only postpone the
    flush from looking faster than they are."""
    stamps = {}
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        for key, marker in (("loaded", "rows/s)"), ("done", "initialisation done")):
            if marker in text and key not in stamps:
                # RFC 3339 with nanoseconds: keep microseconds for fromisoformat
                whole, _, frac = stamp.rstrip("Z").partition(".")
                stamps[key] = datetime.datetime.fromisoformat(f"{whole}.{(frac + '000000')[:6]}").timestamp()
    if len(stamps) != 2:
        raise RuntimeError("the db log lacks the loaded / initialisation done lines:\n" + log[-3000:])
    return stamps["done"] - stamps["loaded"]


def load(client, image: str, seed_dir: Path, init_opts: str | None, timeout: float = 1800) -> dict:
    name = f"devenv-bench-seed-{uuid.uuid4().hex[:8]}"
    client.volumes.create(name, labels=LABELS)
    env = dict(ENV)
    if init_opts is not None:
        env["DEVENV_DB_INIT_OPTS"] = init_opts
    container = None
    try:
        start = time.monotonic()
        container = client.containers.run(
            image, detach=True, name=name, labels=LABELS, environment=env,
            mounts=[Mount("/var/lib/mysql", name, type="volume"),
                    Mount(SEED_MOUNT, str(seed_dir), type="bind", read_only=True)])
        while True:
            if time.monotonic() - start > timeout:
                raise RuntimeError("load timed out")
            container.reload()
            if container.status == "exited":
                raise RuntimeError("db exited:\n" + container.logs().decode()[-3000:])
            # an exec costs the engine a runc start (a few % of a core each time): ask the
            # database only once the entrypoint has logged the end of its load
            if b"rows/s)" not in container.logs(stdout=False, stderr=True, tail=50):
                time.sleep(0.5)
                continue
            code, out = container.exec_run(
                ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT state FROM devenv_meta.seed_state"])
            if code == 0 and out.decode().strip() == "done":
                break
            time.sleep(0.5)
        ready = time.monotonic() - start
        durable = load_to_durable(container.logs(stdout=False, stderr=True, timestamps=True).decode())
        # CPU the container used to get ready (install-db, load, shutdown flush): what
        # bounds the load on a shared 2-core machine, independent of the others' load
        cpu = container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
        [[rows, secs]] = sql(container, "SELECT rows_loaded, load_seconds FROM devenv_meta.seed_state")
        tables = ", ".join(f"shop.{t.name}" for t in SHOP_TABLES)
        sql(container, f"ANALYZE TABLE {tables}")
        sizes = {t: (int(d), int(i)) for t, d, i in sql(
            container, "SELECT TABLE_NAME, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = 'shop'")}
        code, out = container.exec_run(["du", "-sb", "/var/lib/mysql/shop"])
        disk = int(out.decode().split()[0])
        return {"ready_s": ready, "rows": int(rows), "load_s": float(secs), "durable_s": float(secs) + durable,
                "sizes": sizes, "disk": disk, "cpu_s": cpu}
    finally:
        if container is not None:
            container.remove(force=True)
        client.volumes.get(name).remove(force=True)


def size_text(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def calibration() -> float:
    """CPU-seconds of a fixed Python loop: on a shared VM even CPU-seconds stretch with the
    machine's load (0.65 s at load 4.6, 1.0-1.2 s at load 10 on 2026-12-01), so a figure
    in CPU-seconds is compared with another at a similar calibration."""
    t = time.process_time()
    sum(i * i for i in range(10 ** 7))
    return time.process_time() - t


# -- PostgreSQL: the python-postgres template's pg-large, through the devenv CLI -------

PG_INSTANCE = "seedbench"


def devenv(project: Path, env: dict, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "devenv", *args], cwd=project, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(f"devenv {' '.join(args)} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return took, r.stdout + r.stderr


def pg_container(client, profile: str):
    """The running db container of the bench instance (found by its labels)."""
    want = {names.SERVICE: "db", names.INSTANCE: PG_INSTANCE, names.PROFILE: profile}
    for c in client.containers.list(filters={"label": [f"{k}={v}" for k, v in want.items()]}):
        return c
    raise RuntimeError("the db container of the bench instance is not running")


def psql(container, db: str, *args: str) -> str:
    code, out = container.exec_run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql",
                                    "-U", "postgres", "-d", db, "-tA", *args], demux=True)
    if code != 0:
        raise RuntimeError(f"psql {args}: {(out[1] or b'').decode()[-2000:]}")
    return (out[0] or b"").decode()


def plain_copy(container, manifest: dict, schema_sql: str, constraints_sql: str) -> dict:
    """What a user would do by hand on the running server (its own, durable config):
    a fresh database with the template's schema, one ``psql \\copy`` per CSV (client-side,
    like the entrypoint's files read by the server), then the keys and indexes."""
    psql(container, "postgres", "-c", "DROP DATABASE IF EXISTS plain_copy", "-c", "CREATE DATABASE plain_copy")
    psql(container, "plain_copy", "-c", schema_sql)
    cmds = []
    for name in manifest["order"]:
        t = manifest["tables"][name]
        cols = ", ".join(t["columns"])
        cmds += ["-c", f"\\copy {name} ({cols}) FROM '{SEED_MOUNT}/{t['file']}' WITH (FORMAT csv, HEADER true)"]
    t0 = time.perf_counter()
    psql(container, "plain_copy", *cmds)
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    psql(container, "plain_copy", "-c", constraints_sql)
    keys_s = time.perf_counter() - t0
    psql(container, "postgres", "-c", "DROP DATABASE plain_copy")
    return {"copy_s": copy_s, "keys_s": keys_s}


def steps(log: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"^ +(.+): done in ([0-9.]+)s$", log, re.M)}


def db_path(log: str) -> float:
    """The database's part of an `up`: every step but image builds and the waits for the
    services after the db (the app and web start the same way on either path)."""
    return sum(v for k, v in steps(log).items() if not k.startswith(("build", "wait for app", "wait for web")))


DATA_STEPS = ("generate dataset", "copy dataset", "restore snapshot", "switch ", "seal base", "clone ")


def data_step(log: str, service: str = "db") -> float:
    """The data step of an `up`: what makes the database's data (generate the dataset,
    restore / switch / seal a snapshot's base, clone it) plus the health wait that
    includes the db service (where the entrypoint's load runs, or the server starts on a
    restored datadir). With the templates' `service_started` dependencies that is the
    one wait for every service at the end: the app's and web's boot overlap the db's."""
    total = 0.0
    for k, v in steps(log).items():
        if k.startswith(DATA_STEPS):
            total += v
        elif k.startswith("wait for ") and service in k[len("wait for "):].split(", "):
            total += v
    return total


def postgres_figures(client, profile: str) -> list[str]:
    """COPY load of pg-large vs plain psql \\copy of the same CSVs; reseed vs snapshot restore."""
    work = Path(tempfile.mkdtemp(prefix="devenv-bench-pg-"))
    project = work / f"catalog-bench-{uuid.uuid4().hex[:6]}"   # the project's name: its own
    env = dict(os.environ, DEVENV_CACHE=str(work / "cache"), DEVENV_LABELS="dev.devenv.bench=seed")
    try:
        devenv(work, env, "init", "--template", "python-postgres", str(project))
        print("== pg-large: first up (generate + load)", file=sys.stderr, flush=True)
        cold, log = devenv(project, env, "up", profile, "--name", PG_INSTANCE)
        cold_data = data_step(log)
        gen = next((float(v) for k, v in re.findall(r"^ *(generate dataset \S+): done in ([0-9.]+)s$", log, re.M)), 0.0)
        db = pg_container(client, profile)
        rows, load_s = psql(db, "devenv_meta", "-c", "SELECT rows_loaded, load_seconds FROM seed_state").strip().split("|")
        rows, load_s = int(rows), float(load_s)
        ds_dir = next((work / "cache" / "datasets").glob("datagen-*"))
        manifest = json.loads((ds_dir / "manifest.json").read_text())
        initdb = project / "db" / "initdb.d"
        print("== pg-large: plain psql \\copy of the same CSVs", file=sys.stderr, flush=True)
        plain = plain_copy(db, manifest, (initdb / "01-schema.sql").read_text(),
                           (initdb / "03-constraints.sql").read_text())
        print("== pg-large: reseed (dataset cached)", file=sys.stderr, flush=True)
        devenv(project, env, "down", profile, "--name", PG_INSTANCE, "--volumes")
        reseed, log = devenv(project, env, "up", profile, "--name", PG_INSTANCE)
        reseed_db, reseed_data = db_path(log), data_step(log)
        print("== pg-large: snapshot save, restore", file=sys.stderr, flush=True)
        save_s, _ = devenv(project, env, "snapshot", "save", profile, "bench", "--name", PG_INSTANCE)
        devenv(project, env, "down", profile, "--name", PG_INSTANCE, "--volumes")
        restore, log = devenv(project, env, "up", profile, "--name", PG_INSTANCE)
        if not re.search(r"(restored|cloned) snapshot", log):
            raise RuntimeError("up did not restore the snapshot:\n" + log[-3000:])
        restore_steps = steps(log)
        restore_db = db_path(log)
        restore_data = data_step(log)
        restore_kind = "a copy-on-write clone" if "cloned snapshot" in log else "a copying restore"
        devenv(project, env, "down", profile, "--name", PG_INSTANCE, "--volumes")
        # the next new volume: a clone's base is unpacked once per snapshot and engine, so
        # every restore after the first is this one (the steady state)
        again, log = devenv(project, env, "up", profile, "--name", PG_INSTANCE)
        again_steps, again_db, again_data = steps(log), db_path(log), data_step(log)
        devenv(project, env, "down", profile, "--name", PG_INSTANCE, "--volumes")
        copied = copied_db = None
        if restore_kind != "a copying restore":   # the copying restore too, as where no clone can be made
            copied, log = devenv(project, dict(env, DEVENV_CLONES="0"), "up", profile, "--name", PG_INSTANCE)
            copied_db = db_path(log)
            devenv(project, env, "down", profile, "--name", PG_INSTANCE, "--volumes")
    finally:
        subprocess.run([sys.executable, "-m", "devenv", "down", profile, "--name", PG_INSTANCE, "--volumes"],
                       cwd=project, env=env, capture_output=True)
        # what outlives `down --volumes` (the snapshot's base volumes of copy-on-write clones)
        for v in client.volumes.list(filters={"label": f"{names.PROJECT_ROOT}={project}"}):
            labels = v.attrs.get("Labels") or {}
            v.remove(force=True)
            cowstore.release(labels)   # a base's data in the btrfs store
        shutil.rmtree(work, ignore_errors=True)
    return [
        f"### PostgreSQL {profile} (python-postgres template), same run", "",
        f"{rows:,} rows, {manifest['total_bytes'] / 1e6:,.1f} MB of CSV ({manifest['id']}); generated in {gen:.1f} s.", "",
        "| load | seconds | rows/s | vs plain `psql \\copy` |", "|---|---:|---:|---:|",
        f"| devenv COPY (entrypoint's init server: one transaction, FREEZE, wal_level=minimal, fsync off) "
        f"| {load_s:.2f} | {rows / load_s:,.0f} | **{plain['copy_s'] / load_s:.2f}x** |",
        f"| plain `psql \\copy` per CSV into the running server (its durable config) "
        f"| {plain['copy_s']:.2f} | {rows / plain['copy_s']:,.0f} | 1.00x |",
        f"| plain: keys, foreign keys, indexes after the copy (03-constraints.sql) | {plain['keys_s']:.2f} | | |", "",
        "| path to a ready pg-large database (whole `devenv up`) | seconds |", "|---|---:|",
        f"| reseed, dataset generated first | {cold:.1f} |",
        f"| reseed, dataset already generated (bulk load, keys, ANALYZE) | {reseed:.1f} |",
        f"| snapshot restore (auto-restore on up: {restore_kind}) | {restore:.1f} |",
        f"| restore vs reseed (load only), whole `up` | {reseed / restore:.1f}x |",
        f"| restore vs reseed (generate + load), whole `up` | {cold / restore:.1f}x |",
        *([f"| copying restore (DEVENV_CLONES=0) | {copied:.1f} |",
           f"| copying restore vs reseed (load only), whole `up` | {reseed / copied:.1f}x |"] if copied else []), "",
        "| the database's steps of `up` (no builds, no app/web waits) | seconds |", "|---|---:|",
        f"| reseed, dataset already generated | {reseed_db:.1f} |",
        f"| snapshot restore ({restore_kind}) | {restore_db:.1f} |",
        f"| **restore vs reseed (load only)** | **{reseed_db / restore_db:.1f}x** |",
        *([f"| copying restore (DEVENV_CLONES=0) | {copied_db:.1f} |",
           f"| **copying restore vs reseed (load only)** | **{reseed_db / copied_db:.1f}x** |"] if copied else []), "",
        "| **the data step** (generate / load, or restore / clone, plus the db's health wait) | seconds |", "|---|---:|",
        f"| reseed: generate + load | {cold_data:.1f} |",
        f"| reseed: load (dataset already generated) | {reseed_data:.1f} |",
        f"| first restore of the snapshot ({restore_kind}, its base unpacked first) | {restore_data:.1f} |",
        f"| next restores (the base already unpacked) | {again_data:.1f} |",
        f"| **data step: next restore vs generate + load** | **{cold_data / again_data:.1f}x** |",
        f"| data step: next restore vs load | {reseed_data / again_data:.1f}x |",
        f"| data step: first restore vs generate + load | {cold_data / restore_data:.1f}x |",
        f"| data step: first restore vs load | {reseed_data / restore_data:.1f}x |", "",
        "| whole `devenv up` (end to end) | seconds | reseed (generate + load) vs it | reseed (load) vs it |",
        "|---|---:|---:|---:|",
        f"| first restore | {restore:.1f} | {cold / restore:.1f}x | {reseed / restore:.1f}x |",
        f"| next restore | {again:.1f} | {cold / again:.1f}x | {reseed / again:.1f}x |",
        "",
        f"Snapshot save: {save_s:.1f} s. First restore's steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in restore_steps.items()),
        "", "Next restore's steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in again_steps.items()),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--images", type=int, default=10_000, help="image set size to time (0: skip)")
    ap.add_argument("--cache", help="cache directory to use and keep (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=1, help="MariaDB: loads of each size (median reported)")
    ap.add_argument("--ab-init-opts", default=None,
                    help="MariaDB: after each load, one with these init-server options instead (labelled B)")
    ap.add_argument("--init-opts", default=None,
                    help="DEVENV_DB_INIT_OPTS for the init server (default: the entrypoint's)")
    ap.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True,
                    help="also the PostgreSQL figures (python-postgres template)")
    ap.add_argument("--pg-profile", default="pg-large", help="the template's profile for them")
    args = ap.parse_args()

    client = docker.from_env(timeout=600)
    image = db_image(client)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="devenv-bench-seed-"))
    lines = [f"### Dataset generation and bulk load ({time.strftime('%Y-%m-%d %H:%M')} UTC)", "",
             f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, db image {image}, "
             f"MariaDB init options: {args.init_opts if args.init_opts is not None else 'entrypoint default'}. "
             f"At the start: `{uptime()}`, calibration loop {calibration():.2f} CPU-s.", "",
             "| size | rows | CSV | generate | rows/s (gen) | load | rows/s (load) | load + shutdown "
             "| rows/s (to durable) | init to ready "
             "| db container CPU | rows per CPU-second | InnoDB data | InnoDB index | on disk |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    details = []
    try:
        for size in [s for s in args.sizes.split(",") if s]:
            print(f"== {size}: generating", file=sys.stderr, flush=True)
            ds = Dataset("shop", size, seed=1)
            t0 = time.monotonic()
            files = materialize(ds, ImageSet(count=100), cache, SilentReporter())
            gen = time.monotonic() - t0
            # a kept cache may hold the load script of older code (same dataset id): measure this code's
            (files.path / "load.sql").write_text(engine_named("mariadb").load_script(files.id, load_tables(files.manifest)))
            print(f"== {size}: {files.total_rows:,} rows in {gen:.1f}s; loading", file=sys.stderr, flush=True)
            # this machine's speed drifts by up to 2x between minutes (the calibration loop):
            # --repeat runs the load several times, --ab-init-opts interleaves a run with other
            # init-server options after each, so that both see the same machine
            variants = [("", args.init_opts)] + ([(" B", args.ab_init_opts)] if args.ab_init_opts is not None else [])
            runs: dict[str, list[dict]] = {label: [] for label, _ in variants}
            for i in range(args.repeat):
                for label, opts in variants:
                    calib = calibration()
                    r = load(client, image, files.path, opts)
                    runs[label].append(r)
                    data = sum(d for d, _ in r["sizes"].values())
                    index = sum(ix for _, ix in r["sizes"].values())
                    name = size + label + (f" #{i + 1} (calibration {calib:.2f})" if args.repeat > 1 or label else "")
                    lines.append(
                        f"| {name} | {files.total_rows:,} | {size_text(files.manifest['total_bytes'])} | {gen:.1f} s "
                        f"| {files.total_rows / gen:,.0f} | {r['load_s']:.2f} s | {r['rows'] / r['load_s']:,.0f} "
                        f"| {r['durable_s']:.2f} s | {r['rows'] / r['durable_s']:,.0f} "
                        f"| {r['ready_s']:.1f} s | {r['cpu_s']:.1f} s | {r['rows'] / r['cpu_s']:,.0f} "
                        f"| {size_text(data)} | {size_text(index)} | {size_text(r['disk'])} |")
            for label, opts in variants:
                if len(runs[label]) > 1:
                    secs = statistics.median(x["load_s"] for x in runs[label])
                    durable = statistics.median(x["durable_s"] for x in runs[label])
                    cpu = statistics.median(x["cpu_s"] for x in runs[label])
                    details.append(f"- {size}{label} ({opts if opts is not None else 'entrypoint default'}): median load "
                                   f"of {len(runs[label])} runs {secs:.2f} s = **{files.total_rows / secs:,.0f} rows/s**; "
                                   f"load + the init server's shutdown {durable:.2f} s = "
                                   f"**{files.total_rows / durable:,.0f} rows/s to durable**, "
                                   f"median container CPU {cpu:.1f} s")
            details.append(f"- {size} ({files.id}): " + ", ".join(
                f"{t} {files.manifest['tables'][t]['rows']:,} rows / {r['sizes'][t][0] / 1e6:,.1f} MB"
                for t in files.manifest["tables"]))
            details.append(f"  after the load: `{uptime()}`, calibration loop {calibration():.2f} CPU-s")
            if not args.cache:
                shutil.rmtree(files.path)
        if args.images:
            print(f"== image set: {args.images} images", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            imgs = materialize_images(ImageSet(count=args.images), cache, SilentReporter())
            took = time.monotonic() - t0
            details.append(f"- image set {imgs.id}: {imgs.count:,} JPEGs, {imgs.bytes / 1e6:,.1f} MB in "
                           f"{took:.1f} s ({imgs.count / took:,.0f} images/s)")
    finally:
        if not args.cache:
            shutil.rmtree(cache, ignore_errors=True)
    out = lines + [""] + details
    if args.postgres:
        out += ["", *postgres_figures(client, args.pg_profile), "", f"At the end: `{uptime()}`, calibration loop {calibration():.2f} CPU-s."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
