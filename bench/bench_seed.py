#!/usr/bin/env python3
"""Benchmark dataset generation and the bulk load into MariaDB.

For each size (default: small and large):
  1. generation into a fresh cache directory (time, rows, CSV bytes);
  2. the first start of the db image on a fresh volume with the dataset mounted at
     /var/lib/devenv-seed: time to seed_state = 'done', the load time and rows/s
     the entrypoint recorded, InnoDB data/index size (information_schema after
     ANALYZE TABLE) and the schema's size on disk.
Plus the generation of a product image set (--images N, 0 to skip).

Usage: .venv/bin/python bench/bench_seed.py [--sizes small,large] [--images 10000]
                                            [--cache DIR] [--init-opts '...']
Prints a Markdown section for bench/RESULTS.md. Needs a running engine; builds the
reference db image through devenv when missing. Large needs ~3 GB of disk (CSV +
volume) and a few minutes. Everything it creates is named devenv-bench-seed-*
and removed at the end (the cache too, unless --cache is given).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
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

from devenv.data.datasets import SEED_MOUNT, materialize  # noqa: E402
from devenv.data.generators.shop import ShopGenerator  # noqa: E402
from devenv.data.imagesets import materialize as materialize_images  # noqa: E402
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
            code, out = container.exec_run(
                ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT state FROM devenv_meta.seed_state"])
            if code == 0 and out.decode().strip() == "done":
                break
            time.sleep(0.5)
        ready = time.monotonic() - start
        [[rows, secs]] = sql(container, "SELECT rows_loaded, load_seconds FROM devenv_meta.seed_state")
        tables = ", ".join(f"shop.{t.name}" for t in ShopGenerator.tables)
        sql(container, f"ANALYZE TABLE {tables}")
        sizes = {t: (int(d), int(i)) for t, d, i in sql(
            container, "SELECT TABLE_NAME, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = 'shop'")}
        code, out = container.exec_run(["du", "-sb", "/var/lib/mysql/shop"])
        disk = int(out.decode().split()[0])
        return {"ready_s": ready, "rows": int(rows), "load_s": float(secs), "sizes": sizes, "disk": disk}
    finally:
        if container is not None:
            container.remove(force=True)
        client.volumes.get(name).remove(force=True)


def size_text(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--images", type=int, default=10_000, help="image set size to time (0: skip)")
    ap.add_argument("--cache", help="cache directory to use and keep (default: a temporary one)")
    ap.add_argument("--init-opts", default=None,
                    help="DEVENV_DB_INIT_OPTS for the init server (default: the entrypoint's)")
    args = ap.parse_args()

    client = docker.from_env(timeout=600)
    image = db_image(client)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="devenv-bench-seed-"))
    lines = [f"## Dataset generation and bulk load ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, db image {image}, "
             f"MariaDB init options: {args.init_opts if args.init_opts is not None else 'entrypoint default'}.", "",
             "| size | rows | CSV | generate | rows/s (gen) | load | rows/s (load) | init to ready "
             "| InnoDB data | InnoDB index | on disk |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    details = []
    try:
        for size in [s for s in args.sizes.split(",") if s]:
            print(f"== {size}: generating", file=sys.stderr, flush=True)
            ds = Dataset("shop", size, seed=1)
            t0 = time.monotonic()
            files = materialize(ds, ImageSet(count=100), cache, SilentReporter())
            gen = time.monotonic() - t0
            print(f"== {size}: {files.total_rows:,} rows in {gen:.1f}s; loading", file=sys.stderr, flush=True)
            r = load(client, image, files.path, args.init_opts)
            data = sum(d for d, _ in r["sizes"].values())
            index = sum(i for _, i in r["sizes"].values())
            lines.append(
                f"| {size} | {files.total_rows:,} | {size_text(files.manifest['total_bytes'])} | {gen:.1f} s "
                f"| {files.total_rows / gen:,.0f} | {r['load_s']:.2f} s | {r['rows'] / r['load_s']:,.0f} "
                f"| {r['ready_s']:.1f} s | {size_text(data)} | {size_text(index)} | {size_text(r['disk'])} |")
            details.append(f"- {size} ({files.id}): " + ", ".join(
                f"{t} {files.manifest['tables'][t]['rows']:,} rows / {r['sizes'][t][0] / 1e6:,.1f} MB"
                for t in files.manifest["tables"]))
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
    print("\n".join(lines + [""] + details))


if __name__ == "__main__":
    main()
