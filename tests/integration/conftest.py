"""Integration tests: the real Docker Engine, the real CLI.

Everything these tests create carries the label dev.devenv.test=<session id>
(through $DEVENV_LABELS) and is removed by label at the end, whatever happened.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from tests.conftest import FIXTURES, REPO
from tests.ports import free_port

# Ctrl-C tests send SIGINT to devenv subprocesses. A process started in the background by a
# shell without job control (or an xdist worker) has SIGINT ignored, and an ignored signal stays
# ignored across exec: the child would never see its Ctrl-C. A Python handler here is reset to
# the default at exec, so every devenv the tests start gets its KeyboardInterrupt again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# one value per test session (per xdist worker: each imports this module), so two sessions on
# one machine never clean up each other's objects
TEST_LABEL = f"dev.devenv.test={uuid.uuid4().hex[:12]}"


def unique(prefix: str = "t") -> str:
    """A name no other test, xdist worker or test session uses (projects, instances, volumes)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def name_project(root: Path, prefix: str = "it") -> str:
    """Give the project in ``root`` a unique ``name:`` in its devenv.yaml (kept or made) and return
    it: containers, volumes and networks are named by project, so tests in parallel workers (and
    other test sessions on the engine) never share one, nor claim one project name from two
    directories."""
    name = unique(prefix)
    conf = root / "devenv.yaml"
    lines = [ln for ln in (conf.read_text().splitlines() if conf.exists() else []) if not ln.startswith("name:")]
    conf.write_text("\n".join([f"name: {name}", *lines]) + "\n")
    return name


@contextmanager
def machine_lock(name: str):
    """A file lock in /tmp shared by every worker and session on this machine, for one-off setup
    that must not run twice at once (e.g. installing a tool into a shared cache)."""
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / f"devenv-tests-{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def engine():
    """The engine, reached once per worker; what this worker made is removed by its label at the
    end. Tests in parallel (pytest -n 2) never share names: each project, instance and host port
    of the fixtures is unique (``name_project``, ``unique``, ``free_port``)."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"integration tests need a Docker Engine (scripts/engine.sh starts one): {exc}")
    yield client
    cleanup(client)


def cleanup(client):
    for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        c.remove(force=True)
    for n in client.networks.list(filters={"label": TEST_LABEL}):
        n.remove()
    from devenv.engine import cowstore
    for v in client.volumes.list(filters={"label": TEST_LABEL}):
        labels = v.attrs.get("Labels") or {}
        v.remove(force=True)
        cowstore.release(labels)   # a clone's or base's data in the btrfs store goes with its volume


class Devenv:
    """Runs the devenv CLI as a user would, in a project directory."""

    def __init__(self, project: Path, cache: Path | None = None, name: str | None = None, port: int | None = None):
        self.project = project
        self.cache = cache  # DEVENV_CACHE: datasets, image sets, snapshots
        self.name = name    # the project's name (names of its containers, volumes, snapshots)
        self.port = port    # the host port of the tiny profiles (t-stack's front, t-conflict)

    def container(self, profile: str, service: str) -> str:
        return f"{self.name}-{profile}-{service}"

    def volume(self, profile: str, volume: str) -> str:
        return f"{self.name}-{profile}-{volume}"

    def __call__(self, *args, check=True, timeout=900, env=None):
        full_env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, **(env or {})}
        if self.cache is not None:
            full_env["DEVENV_CACHE"] = str(self.cache)
        full_env.pop("DEVENV_PROFILES_DIR", None)
        r = subprocess.run([sys.executable, "-m", "devenv", *args], cwd=self.project, env=full_env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"devenv {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r


TINY_PORT = "18081"   # the host port the tiny profiles declare; each test gets a free one instead


@pytest.fixture
def tiny(tmp_path, engine):
    """A project with the tiny integration profiles, of a unique name (``tiny.name``) and a free
    host port (``tiny.port``) in place of the profiles' 18081; torn down after the test."""
    port = free_port()
    (tmp_path / "profiles").mkdir()
    for f in (FIXTURES / "itest" / "profiles").iterdir():
        (tmp_path / "profiles" / f.name).write_text(f.read_text().replace(f"127.0.0.1:{TINY_PORT}:", f"127.0.0.1:{port}:"))
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    name = name_project(tmp_path, "it")
    yield Devenv(tmp_path, cache=tmp_path / "cache", name=name, port=port)
    cleanup(engine)


@pytest.fixture
def reference(engine):
    """The devenv checkout itself: reference profiles and images."""
    yield Devenv(REPO)
