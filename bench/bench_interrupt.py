"""Issue 16 figures on the real engine:

  interrupted restores: N trials of `devenv snapshot restore` of profile t-snapdb
  (reference MariaDB, small dataset), SIGINT and SIGKILL alternating, sent when
  "==> restore snapshot" (the extraction step) appears; then what `up` does before it
  starts the database (prepare_data_volume), `devenv up`, and CHECKSUM TABLE: the
  volume must hold the data before the restore or the snapshot's, never another.

  save Ctrl-C: M trials of `devenv snapshot save` of t-snap with 600 MB in the
  datadir, SIGINT at "==> save snapshot": seconds from the signal to the exit.

Usage: .venv/bin/python bench/bench_interrupt.py [--restores 20] [--saves 10]
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker  # noqa: E402

from tests.conftest import FIXTURES  # noqa: E402
from tests.integration.restore_project import PROFILE, Project, make_project  # noqa: E402

UPDATE = "UPDATE users SET display_name = 'changed by the bench' WHERE id = 1"


def cleanup(label: str) -> None:
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": label}):
        c.remove(force=True)
    for n in client.networks.list(filters={"label": label}):
        n.remove()
    for v in client.volumes.list(filters={"label": label}):
        v.remove(force=True)


def restores(root: Path, label: str, n: int) -> tuple[int, int, dict]:
    p = Project(make_project(root / "snapdb"), label)
    p("down", PROFILE, "--volumes")  # start from the dataset, not from an older run's volume
    p("up", PROFILE)
    a = p.checksums()
    p("snapshot", "save", PROFILE)
    p.sql(UPDATE)
    b = p.checksums()
    ok, outcomes = 0, {"original": 0, "snapshot": 0}
    for i in range(n):
        if p.checksums() == a:
            p.sql(UPDATE)
        sig = signal.SIGINT if i % 2 == 0 else signal.SIGKILL
        code, err, _ = p.interrupt(["snapshot", "restore", PROFILE], "==> restore snapshot", sig)
        p.prepare()
        p("up", PROFILE)
        now = p.checksums()
        outcome = "snapshot" if now == a else "original" if now == b else "ANOTHER DATASET"
        ok += outcome != "ANOTHER DATASET"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        print(f"restore trial {i + 1:2}: {sig.name:7} exit {code:4} -> {outcome}", flush=True)
    return ok, n, outcomes


def saves(root: Path, label: str, m: int) -> list[float]:
    project = root / "tiny"
    shutil.copytree(FIXTURES / "itest" / "profiles", project / "profiles")
    shutil.copytree(FIXTURES / "images", project / "images")
    p = Project(project, label)
    p("up", "t-snap")
    p("exec", "db", "-p", "t-snap", "--", "sh", "-c", "head -c 600000000 /dev/urandom > /var/lib/tiny/big")
    took = []
    for i in range(m):
        code, err, seconds = p.interrupt(["snapshot", "save", "t-snap"], "==> save snapshot", signal.SIGINT)
        partials = list((project / "cache" / "snapshots" / "t-snap").glob(".*partial*"))
        running = docker.from_env().containers.get("devenv-t-snap-db").status == "running"
        print(f"save trial {i + 1:2}: exit {code}, {seconds:.2f} s to the prompt, "
              f"partials left: {len(partials)}, db running: {running}", flush=True)
        assert code == 130 and not partials and running, err
        took.append(seconds)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--restores", type=int, default=20)
    ap.add_argument("--saves", type=int, default=10)
    args = ap.parse_args()
    label = f"dev.devenv.test=bench-{uuid.uuid4().hex[:8]}"
    lock = open(Path(tempfile.gettempdir()) / "devenv-integration-tests.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # the integration tests' lock: fixed profile names
    root = Path(tempfile.mkdtemp(prefix="bench-interrupt-"))
    try:
        if args.restores:
            ok, n, outcomes = restores(root, label, args.restores)
            print(f"interrupted restores recovered with the original or the snapshot's data: {ok}/{n} {outcomes}")
        if args.saves:
            took = saves(root, label, args.saves)
            print(f"snapshot save Ctrl-C to prompt: max {max(took):.2f} s over {len(took)} trials "
                  f"(median {sorted(took)[len(took) // 2]:.2f} s)")
    finally:
        cleanup(label)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
