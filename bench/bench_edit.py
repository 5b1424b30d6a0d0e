"""Benchmark the edit loop of a project made by `devenv init --template lamp`.

1. Edit of a mounted PHP file -> the change served (10 edits: median, max), against
   the same edit in the production declaration (`base`: the app copied into the
   images), where `devenv up` must rebuild and recreate php and web.
2. Edit of an nginx template under `devenv watch` -> rebuilt, recreated, healthy and
   served, against `docker-compose up -d --build` (Debian's 1.29) doing the same
   change on the rendered compose file, in the same run.

Run as root on a machine with the engine up and the images built once
(`scripts/setup`); it uses its own project, cache and ports and removes them:

    .venv/bin/python bench/bench_edit.py [--only-template]
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.ports import free_port  # noqa: E402

LABEL = f"dev.devenv.bench=edit-{uuid.uuid4().hex[:8]}"
DEVENV = [sys.executable, "-m", "devenv"]


def sh(cmd, cwd, env=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, env={**os.environ, "DEVENV_LABELS": LABEL, **(env or {})},
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def fetch(port: int, path: str = "/") -> tuple[str, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.read().decode(errors="replace"), dict(resp.headers)
    except OSError:
        return "", {}


def wait_until(pred, timeout=120.0, step=0.01) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise SystemExit("timed out")
        time.sleep(step)
    return time.monotonic() - start


def set_port(path: Path, port: int, mounted: bool) -> None:
    text = path.read_text()
    marker = "  web:\n    mounts: {/srv/app: app}\n" if mounted else None
    if mounted:
        text = text.replace(marker, marker + f'    ports: ["127.0.0.1:{port}:80"]\n')
    else:
        text = text.replace('    ports: ["8080:80"]', f'    ports: ["127.0.0.1:{port}:80"]')
    path.write_text(text)


def mounted_edits(root: Path, port: int, n: int = 10) -> list[float]:
    page = root / "app/public/bench.php"
    out = []
    for _ in range(n):
        marker = uuid.uuid4().hex
        page.write_text(f"<?php echo '{marker}';\n")
        out.append(wait_until(lambda: marker in fetch(port, "/bench.php")[0]))
    page.unlink()
    return out


def rebuild_edits(root: Path, port: int, n: int = 3) -> list[float]:
    """The same edit where the app is copied into the images (profile base): up rebuilds."""
    page = root / "app/public/bench.php"
    out = []
    for _ in range(n):
        marker = uuid.uuid4().hex
        page.write_text(f"<?php echo '{marker}';\n")
        start = time.monotonic()
        sh(DEVENV + ["up", "base"], root)
        wait_until(lambda: marker in fetch(port, "/bench.php")[0])
        out.append(time.monotonic() - start)
    page.unlink()
    return out


def template_edit_watch(root: Path, port: int, n: int = 3) -> list[float]:
    site = root / "images/nginx/site.conf.j2"
    original = site.read_text()
    proc = subprocess.Popen(DEVENV + ["watch", "small-db"], cwd=root, env={**os.environ, "DEVENV_LABELS": LABEL,
                            "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while "watching" not in (proc.stdout.readline() or "watching"):
            pass
        out = []
        for _ in range(n):
            marker = uuid.uuid4().hex[:12]
            site.write_text(original.replace("    location = /healthz {",
                                             f'    add_header X-Bench "{marker}";\n    location = /healthz {{', 1))
            out.append(wait_until(lambda: fetch(port)[1].get("X-Bench") == marker))
            proc.stdout.readline()   # the watch's line for this change
        return out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        site.write_text(original)


def template_edit_compose(root: Path, port: int, n: int = 3) -> list[float]:
    site = root / "images/nginx/site.conf.j2"
    original = site.read_text()
    out_dir = root / "out"
    project = f"benchedit{uuid.uuid4().hex[:6]}"
    env = {"COMPOSE_PROJECT_NAME": project}
    try:
        sh(DEVENV + ["render", "small-db", "-o", str(out_dir)], root)
        sh(["docker-compose", "-f", str(out_dir / "compose.yaml"), "up", "-d"], out_dir, env)
        wait_until(lambda: "shop" in fetch(port)[0], timeout=300)
        out = []
        for _ in range(n):
            marker = uuid.uuid4().hex[:12]
            site.write_text(original.replace("    location = /healthz {",
                                             f'    add_header X-Bench "{marker}";\n    location = /healthz {{', 1))
            start = time.monotonic()
            sh(DEVENV + ["render", "small-db", "-o", str(out_dir)], root)
            sh(["docker-compose", "-f", str(out_dir / "compose.yaml"), "up", "-d", "--build"], out_dir, env)
            wait_until(lambda: fetch(port)[1].get("X-Bench") == marker)
            out.append(time.monotonic() - start)
        return out
    finally:
        sh(["docker-compose", "-f", str(out_dir / "compose.yaml"), "down"], out_dir, env, check=False)
        site.write_text(original)


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only-template", action="store_true",
                    help="Only the template edit (watch vs docker-compose), not the mounted and rebuild edits.")
    only_template = ap.parse_args().only_template
    work = Path(tempfile.mkdtemp(prefix="devenv-bench-edit-"))
    root = work / "shop"
    env_cache = {"DEVENV_CACHE": str(work / "cache")}
    os.environ.update(env_cache)
    try:
        sh(DEVENV + ["init", str(root), "--template", "lamp", "--recipe", "nginx"], work)
        port, base_port = free_port(), free_port()
        set_port(root / "profiles/small-db.yaml", port, mounted=True)
        set_port(root / "profiles/base.yaml", base_port, mounted=False)
        sh(DEVENV + ["up", "small-db"], root)
        mounted = [] if only_template else mounted_edits(root, port)
        watch = template_edit_watch(root, port)
        sh(DEVENV + ["down", "small-db"], root)
        compose = template_edit_compose(root, port)
        med = statistics.median
        if not only_template:
            sh(DEVENV + ["up", "base"], root)
            rebuild = rebuild_edits(root, base_port)
            sh(DEVENV + ["down", "base"], root)
            print(f"mounted PHP edit -> served: median {med(mounted) * 1000:.0f} ms, "
                  f"max {max(mounted) * 1000:.0f} ms (10 edits)")
            print(f"same edit with the app copied into the images (devenv up base): median {med(rebuild):.2f} s "
                  f"-> mounted is {med(rebuild) / med(mounted):.0f}x faster")
        print(f"nginx template edit under watch -> served: median {med(watch):.2f} s, max {max(watch):.2f} s")
        print(f"docker-compose up -d --build, same edit: median {med(compose):.2f} s, max {max(compose):.2f} s "
              f"-> watch/compose = {med(watch) / med(compose):.2f}x")
    finally:
        sh(DEVENV + ["down", "small-db", "--volumes"], root, check=False)
        sh(DEVENV + ["down", "base", "--volumes"], root, check=False)
        import docker
        client = docker.from_env()
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            c.remove(force=True)
        for v in client.volumes.list(filters={"label": LABEL}):
            v.remove(force=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
