#!/usr/bin/env python3
"""Catalogue throughput: publish and pull of a large snapshot through a loopback registry,
against plain `curl` of the same blobs.

In one run:
  1. a docker-registry (Debian's) on 127.0.0.1 with its storage in a temp directory;
  2. a tiny one-service profile (`t-bench`, the test fixtures' `tiny` recipe; its image
     is unique to this run and removed at the end) and a synthetic snapshot of it:
     SIZE MB of incompressible data (what a zstd archive is) in 64 MiB files;
  3. `devenv publish` (64 MiB chunks): upload MB/s of the snapshot chunks;
  4. ROUNDS times, alternating: `devenv pull` of the snapshot (download, sha256 of every
     chunk while streaming, assembly into the snapshot store) and `curl` of the same
     blob URLs, sequentially in one process, range-less, to /dev/null and to files.

Usage: .venv/bin/python bench/bench_pull.py [--size-mb 1536] [--rounds 3]
Prints a Markdown section for bench/RESULTS.md. Everything it creates is labelled
dev.devenv.bench=<run id> and removed at the end; it touches nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.integration.registry import Registry  # noqa: E402

RUN = uuid.uuid4().hex[:10]
LABEL = f"dev.devenv.bench={RUN}"
FILE_MB = 64


class Devenv:
    def __init__(self, project: Path, cache: Path):
        self.project, self.cache = project, cache

    def __call__(self, *args) -> tuple[float, str, str]:
        env = {**os.environ, "DEVENV_CACHE": str(self.cache), "DEVENV_LABELS": LABEL}
        env.pop("DEVENV_PROFILES_DIR", None)
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "devenv", *map(str, args)], cwd=self.project,
                           env=env, capture_output=True, text=True)
        took = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"devenv {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}")
        return took, r.stdout, r.stderr


def synth_snapshot(dv: Devenv, image_tag: str, size_mb: int) -> Path:
    """A snapshot of t-bench whose archive is ~size_mb of incompressible data, valid for verify()."""
    import docker
    image_id = docker.from_env().api.inspect_image(image_tag)["Id"]
    final = dv.cache / "snapshots/t-bench/latest"
    final.mkdir(parents=True)
    files = {}
    raw = 0
    cctx = zstandard.ZstdCompressor(level=1, threads=-1)
    with open(final / "datadir.tar.zst", "wb") as out, cctx.stream_writer(out) as zout, \
            tarfile.open(fileobj=zout, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("tiny")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for i in range(max(1, size_mb // FILE_MB)):
            data = os.urandom(FILE_MB << 20)
            name = f"tiny/ibdata{i:03d}"
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o640
            tar.addfile(info, io.BytesIO(data))
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            raw += len(data)
    h = hashlib.sha256()
    with open(final / "datadir.tar.zst", "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    manifest = {"format": 2, "archive_sha256": h.hexdigest(), "profile": "t-bench", "name": "latest", "service": "db", "volume_target": "/var/lib/tiny",
                "dataset": None, "server_image": image_tag, "server_image_id": image_id,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "datadir_bytes": raw,
                "archive_bytes": (final / "datadir.tar.zst").stat().st_size, "files": files}
    (final / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return final


def curl(urls: list[str], outdir: Path | None, verify: bool = False) -> float:
    args = []
    for i, u in enumerate(urls):
        args += ["-o", str(outdir / f"b{i}") if outdir else "/dev/null", u]
    start = time.perf_counter()
    subprocess.run(["curl", "-sSf", *args], check=True)
    if verify:
        subprocess.run(["sha256sum", *sorted(str(p) for p in outdir.iterdir())], check=True, capture_output=True)
    took = time.perf_counter() - start
    if outdir:
        for p in outdir.iterdir():
            p.unlink()
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1536)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--transfers", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devenv-bench-pull-"))
    shutil.copytree(REPO / "tests/fixtures/images", work / "project/images")
    (work / "project/profiles").mkdir(parents=True)
    (work / "project/profiles/t-bench.yaml").write_text(f"""\
os: {{distribution: debian, release: bookworm}}
vars: {{greeting: "bench {RUN}"}}
services:
  db:
    recipe: tiny
    files: {{/etc/greeting.txt: tiny/greeting.txt.j2}}
    volumes: {{datadir: /var/lib/tiny}}
""")
    dv = Devenv(work / "project", work / "cache")
    reg = Registry(work / "registry").start()
    image_tag = None
    try:
        dv("up", "t-bench")
        from devenv.profile import ProfileStore
        from devenv.render import Renderer
        store = ProfileStore.locate(work / "project/profiles")
        image_tag = Renderer(store.images_dir).render(store.load("t-bench")).services["db"].image.tag
        snap = synth_snapshot(dv, image_tag, args.size_mb)
        archive = (snap / "datadir.tar.zst").stat().st_size
        ns = f"{reg.host}/bench"

        took, out, _ = dv("publish", "t-bench", "--registry", ns, "--json", "--transfers", args.transfers)
        pub = json.loads(out)
        pub_rate = pub["uploaded_bytes"] / 1e6 / pub["data_seconds"]

        manifest = json.loads(subprocess.run(
            ["curl", "-sSf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
             f"{reg.url}/v2/bench/devenv-snapshots/manifests/t-bench"], capture_output=True, check=True).stdout)
        urls = [f"{reg.url}/v2/bench/devenv-snapshots/blobs/{layer['digest']}" for layer in manifest["layers"]]
        blob_bytes = sum(layer["size"] for layer in manifest["layers"])
        files_dir = work / "curl"
        files_dir.mkdir()

        pulls, pull_walls, curl_null, curl_files, curl_sums = [], [], [], [], []
        for _ in range(args.rounds):
            dv("snapshot", "rm", "latest", "-p", "t-bench")
            wall, out, _ = dv("pull", "t-bench", "--registry", ns, "--json", "--transfers", args.transfers)
            res = json.loads(out)
            assert res["snapshot"] == "installed" and res["data_bytes"] == blob_bytes, res
            pulls.append(res["data_seconds"])
            pull_walls.append(wall)
            curl_null.append(curl(urls, None))
            curl_files.append(curl(urls, files_dir))
            curl_sums.append(curl(urls, files_dir, verify=True))

        def mbs(seconds):
            return blob_bytes / 1e6 / statistics.median(seconds)

        pull_rate, wall_rate = mbs(pulls), mbs(pull_walls)
        null_rate, files_rate, sums_rate = mbs(curl_null), mbs(curl_files), mbs(curl_sums)
        cpus = os.cpu_count()
        print(f"""
## bench/bench_pull.py

### Catalogue: publish and pull through a loopback registry, {time.strftime("%Y-%m-%d")}

Synthetic snapshot of {archive / 1e6:,.0f} MB (incompressible, as a zstd archive is) in
{len(urls)} chunks of 64 MiB; Debian's docker-registry 2.8 on 127.0.0.1 (filesystem
storage, blobs in the page cache), {cpus} CPUs; median of {args.rounds} rounds, pulls and
curls alternating. devenv: {args.transfers} parallel transfers, sha256 of every chunk
while it streams, each chunk written at its offset in the archive, which is then
renamed into the snapshot store. curl: one process fetching the same blob URLs one
after the other, range-less.

| what | seconds | MB/s | vs curl → /dev/null | vs curl → files |
|---|---:|---:|---:|---:|
| `devenv publish` (snapshot upload, {pub['uploaded_bytes'] / 1e6:,.0f} MB) | {pub['data_seconds']:.2f} | {pub_rate:,.0f} | | |
| `devenv pull` (download + verify + install) | {statistics.median(pulls):.2f} | {pull_rate:,.0f} | {pull_rate / null_rate:.2f}x | {pull_rate / files_rate:.2f}x |
| `devenv pull`, whole command (process start to exit) | {statistics.median(pull_walls):.2f} | {wall_rate:,.0f} | {wall_rate / null_rate:.2f}x | {wall_rate / files_rate:.2f}x |
| `curl -o /dev/null` of the blobs | {statistics.median(curl_null):.2f} | {null_rate:,.0f} | 1.00x | |
| `curl -o FILE` of the blobs | {statistics.median(curl_files):.2f} | {files_rate:,.0f} | | 1.00x |
| `curl -o FILE`, then `sha256sum` of the files | {statistics.median(curl_sums):.2f} | {sums_rate:,.0f} | | {sums_rate / files_rate:.2f}x |

All rounds (s): pull {', '.join(f'{x:.2f}' for x in pulls)}; curl → /dev/null
{', '.join(f'{x:.2f}' for x in curl_null)}; curl → files {', '.join(f'{x:.2f}' for x in curl_files)};
curl + sha256sum {', '.join(f'{x:.2f}' for x in curl_sums)}.
`devenv publish` as a whole took {took:.1f}s (it verifies the snapshot first).
""")
    finally:
        try:
            dv("down", "t-bench", "--volumes")
        except SystemExit:
            pass
        if image_tag:
            subprocess.run(["docker", "rmi", image_tag], capture_output=True)
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
