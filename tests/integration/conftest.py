"""Integration tests: the real Docker Engine, the real CLI.

Everything these tests create carries the label dev.devenv.test=<session id>
(through $DEVENV_LABELS) and is removed by label at the end, whatever happened.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import FIXTURES, REPO

# one value per test session, so two sessions on one machine never clean up each other's objects
TEST_LABEL = f"dev.devenv.test={uuid.uuid4().hex[:12]}"


LOCK = Path(os.environ.get("TMPDIR", "/tmp")) / "devenv-integration-tests.lock"


@pytest.fixture(scope="session", autouse=True)
def one_session_at_a_time():
    """The tests use fixed profile names (t-stack, t-site, ...), hence fixed container
    names and ports: two test sessions on one engine take turns instead of colliding."""
    with open(LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"\nwaiting for another devenv test session to finish ({LOCK})", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def engine(one_session_at_a_time):
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
    for v in client.volumes.list(filters={"label": TEST_LABEL}):
        v.remove(force=True)


class Devenv:
    """Runs the devenv CLI as a user would, in a project directory."""

    def __init__(self, project: Path, cache: Path | None = None):
        self.project = project
        self.cache = cache  # DEVENV_CACHE: datasets, image sets, snapshots

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


@pytest.fixture
def tiny(tmp_path, engine):
    """A project with the tiny integration profiles; torn down after the test."""
    shutil.copytree(FIXTURES / "itest" / "profiles", tmp_path / "profiles")
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    # the project keeps the name the test assertions use (devenv-t-stack-store, ...)
    (tmp_path / "devenv.yaml").write_text("name: devenv\n")
    yield Devenv(tmp_path, cache=tmp_path / "cache")
    cleanup(engine)


@pytest.fixture
def reference(engine):
    """The devenv checkout itself: reference profiles and images."""
    yield Devenv(REPO)
