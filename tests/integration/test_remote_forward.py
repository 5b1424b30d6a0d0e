"""Beyond the engine host's loopback, on an engine that is not on this machine: a Docker-in-Docker
engine (tests/integration/dind.py), reached over tcp:// and ssh://.

- `dataset subset --from DUMPFILE --engine URL`: the dump's throwaway server runs on the remote
  engine with nothing published; the subset reads it through a port forward over the engine's
  API (an exec relay per connection) and writes the same dataset, byte for byte, as on this
  machine's engine.
- `up --expose ADDR --engine URL` with ADDR the DinD container's own address (a host this test
  made): the port answers there from this machine, the inner container binds ADDR, `status`
  names it.

The reference db image reaches the remote engine by `docker save | docker load` (a build there
would take minutes and is tested elsewhere); the tiny image of the expose test is built there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import docker
import pytest

from tests.conftest import FIXTURES, REFERENCE, REPO
from tests.integration import dind as dind_mod
from tests.integration.conftest import TEST_LABEL, Devenv, cleanup, name_project
from tests.integration.test_expose import ECHO, answer
from tests.ports import free_port

pytestmark = pytest.mark.integration

LABELS = dict([TEST_LABEL.split("=", 1)])
SUB = FIXTURES / "subset"
KEYS_ENV = {"DEVENV_SUBSET_KEY_EMAIL": "subset-test-key-0123456789"}


def _db_image(engine) -> tuple[str, str]:
    """(the reference db image's tag, the base image's tag), both on this machine's engine."""
    from devenv.engine.client import Engine
    from devenv.engine.images import ensure_images
    from devenv.profile import ProfileStore
    from devenv.render import Renderer
    from devenv.ui import SilentReporter
    store = ProfileStore.locate(REFERENCE / "profiles")
    stack = Renderer(store.images_dir).render(store.load("base"))
    plan = stack.services["db"].image
    ensure_images(Engine(engine), [plan], stack.base, SilentReporter())
    return plan.tag, stack.base.tag


@pytest.fixture(scope="module")
def remote(tmp_path_factory, engine):
    """(the DinD engine, a client of its inner engine, $HOME with ssh material for it, the db image tag)."""
    db_tag, base_tag = _db_image(engine)
    image = dind_mod.build_image(engine, base_tag, LABELS)
    home = tmp_path_factory.mktemp("hx-home")
    pub = dind_mod.ssh_home(home, None, [])
    d = dind_mod.start(engine, image, f"devenv-test-dind-hx-{uuid.uuid4().hex[:8]}", LABELS, pub.read_text())
    dind_mod.ssh_home(home, d, dind_mod.host_keys(engine, d))
    inner = docker.DockerClient(base_url=d.tcp_url, timeout=600)
    for event in inner.api.load_image(engine.images.get(db_tag).save(chunk_size=1 << 20, named=db_tag)):   # until it is in
        assert "error" not in event, event
    assert inner.images.get(db_tag)
    yield d, inner, home, db_tag
    cleanup(engine)


def cli(*args, env=None, cwd=REPO):
    full = {**os.environ, **KEYS_ENV, **(env or {}), "DEVENV_LABELS": TEST_LABEL}
    full.pop("DEVENV_PROFILES_DIR", None)
    full.pop("DOCKER_HOST", None)
    return subprocess.run([sys.executable, "-m", "devenv", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=900)


def test_a_dump_subset_on_a_remote_engine_equals_the_local_one(remote, engine, tmp_path):
    d, inner, home, _ = remote
    args = ("dataset", "subset", "--from", str(SUB / "cycles.sql"), "-p", "base", "--rows", "players=12",
            "--seed", "4", "--rules", str(SUB / "cycles-rules.yaml"))
    local = cli(*args, "-o", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    outputs = {"local": tmp_path / "local"}
    for how, url, env in (("tcp", d.tcp_url, None), ("ssh", d.ssh_url, {"HOME": str(home)})):
        r = cli(*args, "-o", str(tmp_path / how), "--engine", url, env=env)
        assert r.returncode == 0, f"{how}: {r.stdout}\n{r.stderr}"
        assert "wrote dataset" in r.stdout
        outputs[how] = tmp_path / how
        # the throwaway server ran there (not here) and is gone
        assert not inner.containers.list(all=True, filters={"label": "dev.devenv.kind=subset-dump"})
    assert not engine.containers.list(all=True, filters={"label": [TEST_LABEL, "dev.devenv.kind=subset-dump"]})
    manifests = {how: json.loads((out / "manifest.json").read_text()) for how, out in outputs.items()}
    assert len({m["id"] for m in manifests.values()}) == 1, {h: m["id"] for h, m in manifests.items()}
    tables = manifests["local"]["tables"]
    assert manifests["local"]["start"]["players"]["picked"] == 12 and tables["players"]["rows"] >= 12
    assert len(tables) >= 5 and sum(t["rows"] for t in tables.values()) > tables["players"]["rows"]
    for how in ("tcp", "ssh"):
        for name in tables:
            assert (outputs[how] / f"{name}.csv").read_bytes() == (outputs["local"] / f"{name}.csv").read_bytes(), \
                (how, name)


def test_expose_on_the_remote_engines_own_address(remote, engine, tmp_path):
    d, inner, _, _ = remote
    c = engine.containers.get(d.container)
    addr = c.attrs["NetworkSettings"]["IPAddress"] or next(
        n["IPAddress"] for n in c.attrs["NetworkSettings"]["Networks"].values() if n.get("IPAddress"))
    port = free_port()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "hx-echo.yaml").write_text(ECHO % {"port": port, "tag": "remote"})
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    dv = Devenv(tmp_path, cache=tmp_path / "cache", name=name_project(tmp_path, "hx"))
    try:
        r = dv("up", "hx-echo", "--engine", d.tcp_url)
        assert f"tcp://127.0.0.1:{port}" in r.stdout        # loopback of a remote host: named as the URL gives it
        assert answer(addr, port) is None                   # not reachable from here
        r = dv("up", "hx-echo", "--engine", d.tcp_url, "--expose", addr)
        assert f"tcp://{addr}:{port}" in r.stdout and "created: echo" in r.stdout, r.stdout
        assert answer(addr, port, wait=15) == "hello from remote"
        bindings = inner.containers.get(dv.container("hx-echo", "echo")).attrs["HostConfig"]["PortBindings"]
        assert bindings == {"8000/tcp": [{"HostIp": addr, "HostPort": str(port)}]}
        assert f"tcp://{addr}:{port}" in dv("status", "hx-echo", "--engine", d.tcp_url).stdout
        assert "up to date, nothing to do" in dv("up", "hx-echo", "--engine", d.tcp_url).stdout   # kept
        rows = [r for r in json.loads(dv("ls", "--json", "--engine", d.tcp_url).stdout) if r["project"] == dv.name]
        assert rows[0]["ports"] == [f"{addr}:{port}"]
    finally:
        dv("down", "hx-echo", "--engine", d.tcp_url, "--volumes", check=False)
