#!/usr/bin/env python3
"""Benchmark `devenv dataset subset` (subset + anonymise + write) against a full
logical dump (`mariadb-dump`) of the same production, in the same run.

1. "Production": the reference db image on a fresh volume, seeded with a
   generated shop dataset (default scale: ~1.33 million rows, 260 MB of CSV),
   port published on 127.0.0.1 only.
2. `mariadb-dump --single-transaction` of the whole database, inside the
   container via docker exec, to a file in the container (then deleted):
   seconds and rows/s.
3. Subsets at each fraction (default 1 % and 10 % of orders, the default start
   table) with the reference rules (users.email hashed, display_name faked),
   through the library exactly as the CLI runs it: seconds for the schema and the
   closure (key columns only) and for the writing (full rows, anonymisation,
   CSV, load.sql, manifest); rows/s of output, and production rows per second
   of wall time (what a dump is measured in).

Usage: .venv/bin/python bench/bench_subset.py [--fractions 0.01,0.1] [--repeat 2]
                                              [--scale users=50000,shops=5000,listings=250000,orders=150000]
Prints a Markdown section for bench/RESULTS.md. Needs a running engine; builds the
reference db image through devenv when missing. Everything it creates is named
devenv-bench-subset-* (labelled dev.devenv.bench=subset) and removed at the end.
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
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "devenv" / "library" / "templates" / "lamp"
sys.path.insert(0, str(REPO))

import docker  # noqa: E402
from docker.types import Mount  # noqa: E402

from devenv.data.dataset_dir import SEED_MOUNT  # noqa: E402
from devenv.data.datasets import materialize  # noqa: E402
from devenv.engine.client import Engine  # noqa: E402
from devenv.engine.images import ensure_service_image  # noqa: E402
from devenv.profile.model import Dataset, ImageSet  # noqa: E402
from devenv.subset import Request, Rules, open_source, subset  # noqa: E402
from devenv.ui import PlainReporter, Reporter  # noqa: E402
from tests.ports import free_port  # noqa: E402

ENV = {"DEVENV_DB_NAME": "shop", "DEVENV_DB_USER": "shop", "DEVENV_DB_PASSWORD": "devenv"}
LABELS = {"dev.devenv.bench": "subset"}
DEFAULT_SCALE = "users=50000,shops=5000,listings=250000,orders=150000"
RULES = {"anonymise": {"users": {"email": {"hash": "email", "format": "email"}, "display_name": {"fake": "name"}},
                       "shops": {"name": "keep"}}}
KEY = b"bench-subset-key-0123456789abcdef"


class TimingReporter(Reporter):
    """Records how long each step took (by title)."""

    def __init__(self):
        self.steps: dict[str, float] = {}

    @contextmanager
    def step(self, title: str):
        start = time.monotonic()
        try:
            yield self
        finally:
            self.steps[title] = time.monotonic() - start

    def took(self, prefix: str) -> float:
        return sum(v for k, v in self.steps.items() if k.startswith(prefix))


def db_image(client) -> str:
    return ensure_service_image(Engine(client), REFERENCE / "profiles", "base", "db", PlainReporter())


def sh(container, cmd: str) -> str:
    code, out = container.exec_run(["bash", "-c", cmd], demux=True)
    if code != 0:
        raise RuntimeError(f"{cmd}: {out[1]!r}")
    return (out[0] or b"").decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fractions", default="0.01,0.1")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement; the fastest counts")
    ap.add_argument("--scale", default=DEFAULT_SCALE, help="shop generator scale of production")
    args = ap.parse_args()
    scale = tuple(sorted((k, float(v)) for k, v in (kv.split("=") for kv in args.scale.split(","))))

    client = docker.from_env(timeout=600)
    image = db_image(client)
    work = Path(tempfile.mkdtemp(prefix="devenv-bench-subset-"))
    name = f"devenv-bench-subset-{uuid.uuid4().hex[:8]}"
    container = None
    volume = client.volumes.create(name, labels=LABELS)
    try:
        print("== generating production", file=sys.stderr, flush=True)
        data = materialize(Dataset("shop", "large", seed=1, scale=scale), ImageSet(count=100), work / "cache",
                           PlainReporter())
        port = free_port()
        container = client.containers.run(
            image, detach=True, name=name, labels=LABELS, environment=ENV,
            mounts=[Mount("/var/lib/mysql", name, type="volume"),
                    Mount(SEED_MOUNT, str(data.path), type="bind", read_only=True)],
            ports={"3306/tcp": ("127.0.0.1", port)})
        while sh(container, "mariadb -uroot -N -B -e 'SELECT state FROM devenv_meta.seed_state' 2>/dev/null "
                            "|| true").strip() != "done":
            container.reload()
            if container.status == "exited":
                raise RuntimeError(container.logs().decode()[-3000:])
            time.sleep(0.5)
        total = data.total_rows
        print(f"== production: {total:,} rows", file=sys.stderr, flush=True)

        dump_times = []
        dump_bytes = 0
        for _ in range(args.repeat):
            t0 = time.monotonic()
            sh(container, "mariadb-dump -uroot --single-transaction shop > /tmp/dump.sql")
            dump_times.append(time.monotonic() - t0)
            dump_bytes = int(sh(container, "stat -c %s /tmp/dump.sql && rm /tmp/dump.sql").split()[0])
        dump_s = min(dump_times)
        print(f"== mariadb-dump: {dump_s:.2f}s", file=sys.stderr, flush=True)

        rules = Rules.from_mapping(RULES, "bench rules")
        url = f"mysql://shop:devenv@127.0.0.1:{port}/shop"
        rows_out = []
        for fraction in [float(f) for f in args.fractions.split(",") if f]:
            best = None
            for i in range(args.repeat):
                out = work / f"subset-{fraction}-{i}"
                rep = TimingReporter()
                t0 = time.monotonic()
                src, info = open_source(url)
                with src:
                    res = subset(src, out, Request(fraction=fraction, seed=1), rules, rep, info,
                                 keys={"email": KEY})
                wall = time.monotonic() - t0
                run = {"wall": wall, "closure": rep.took("read the schema") + rep.took("pick start rows")
                       + rep.took("follow foreign keys"), "write": rep.took("write "), "manifest": res.manifest}
                shutil.rmtree(out)
                if best is None or wall < best["wall"]:
                    best = run
                print(f"== subset {fraction:g}: {res.total_rows:,} rows in {wall:.2f}s", file=sys.stderr, flush=True)
            best["fraction"] = fraction
            rows_out.append(best)

        lines = [f"## Production subset vs full dump ({time.strftime('%Y-%m-%d')})", "",
                 f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, db image {image}; "
                 f"production: generated shop dataset, {total:,} rows ({data.manifest['total_bytes'] / 1e6:,.0f} MB "
                 f"of CSV; {', '.join(f'{k} {int(v):,}' for k, v in scale)}). Subset = `devenv dataset subset` "
                 "through the library (PyMySQL over 127.0.0.1, one consistent snapshot), rules: users.email "
                 "keyed hash, users.display_name fake name; start table orders (the default). "
                 f"Best of {args.repeat}.", "",
                 "| run | rows out | share of production rows | schema + closure | write (fetch, anonymise, CSV) "
                 "| total | rows/s (out) | production rows/s of wall time |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows_out:
            m = r["manifest"]
            lines.append(
                f"| subset {r['fraction'] * 100:g} % | {m['total_rows']:,} | {m['total_rows'] / total * 100:.1f} % "
                f"| {r['closure']:.2f} s | {r['write']:.2f} s | {r['wall']:.2f} s "
                f"| {m['total_rows'] / r['wall']:,.0f} | {total / r['wall']:,.0f} |")
        lines.append(f"| `mariadb-dump` (whole db, in the container) | {total:,} | 100 % | – | – | {dump_s:.2f} s "
                     f"| {total / dump_s:,.0f} | {total / dump_s:,.0f} |")
        lines += ["", f"Dump size: {dump_bytes / 1e6:,.0f} MB of SQL. Per-table rows of each subset:"]
        for r in rows_out:
            m = r["manifest"]
            lines.append(f"- {r['fraction'] * 100:g} %: " + ", ".join(
                f"{t} {m['tables'][t]['rows']:,}" for t in m["order"]))
        print("\n".join(lines))
    finally:
        if container is not None:
            container.remove(force=True, v=True)
        volume.remove(force=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
