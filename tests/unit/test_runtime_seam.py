"""The runtime seam: outside devenv/engine/ nothing talks to the Docker SDK.

The rule (docs/architecture.md, "The runtime seam"): no ``import docker`` / ``from
docker ...`` and no ``.api`` / ``.client`` attribute (the engine's docker.APIClient /
docker.DockerClient, also through ``getattr``) in a module of devenv/ outside
devenv/engine/. Everything else calls the ``Runtime`` methods of the Engine it is
handed (devenv/engine/runtime.py). Then the Docker implementation of those methods,
at the SDK boundary (an autospec'd APIClient).
"""

from __future__ import annotations

import ast
import inspect
import io
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

from devenv.engine.runtime import (ContainerState, DockerRuntime, Mount, NoSuchObject, Runtime,
                                   known_engine_error)
from devenv.errors import EngineError
from tests.fake_engine import FakeEngine

DEVENV = Path(__file__).resolve().parents[2] / "devenv"
SDK_ATTRIBUTES = ("api", "client")
# attributes of those names that are not a Docker client, by module and expression
NOT_THE_SDK = {
    "kube/deploy.py": {"self.api",            # KindApi.api: the Kubernetes API group ("core", "apps")
                       "kubernetes.client"},  # the Kubernetes client module
}


def violations(source: str, module: str) -> list[str]:
    """Where ``source`` (module ``module``, relative to devenv/) talks to the Docker SDK."""
    if module.split("/", 1)[0] == "engine":
        return []
    allowed = NOT_THE_SDK.get(module, set())
    found = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found += [f"{module}:{node.lineno}: import {a.name}" for a in node.names
                      if a.name == "docker" or a.name.startswith("docker.")]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and \
                (node.module == "docker" or node.module.startswith("docker.")):
            found.append(f"{module}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in SDK_ATTRIBUTES and ast.unparse(node) not in allowed:
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr") \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in SDK_ATTRIBUTES:
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_outside_devenv_engine_talks_to_the_docker_sdk():
    modules = sorted(DEVENV.rglob("*.py"))
    assert len(modules) > 50 and any(p.parts[-2] == "engine" for p in modules)
    found = [v for p in modules for v in violations(p.read_text(), p.relative_to(DEVENV).as_posix())]
    assert found == [], "call the Runtime methods of the Engine (devenv/engine/runtime.py) instead:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    "import docker",
    "import docker.errors as de",
    "import os, docker.types",
    "from docker.types import Mount",
    "from docker import APIClient",
    "def f(engine):\n    return engine.api.containers()",
    "def f(source):\n    source.engine.api.df()",
    "def f(engine):\n    engine.client.containers.run('img')",
    "def f(engine):\n    return getattr(engine, 'api')",
    "def f(self):\n    return self.api",      # allowed in kube/deploy.py only
])
def test_a_module_that_talks_to_the_sdk_is_a_violation(source):
    assert violations(source, "dash.py")
    assert violations(source, "kube/other.py")
    assert violations(source, "engine/lifecycle.py") == []     # devenv/engine is where the SDK lives


@pytest.mark.parametrize("source", [
    "from .docker_names import x",                # a relative module, not the SDK
    "import dockerfile_parse",
    "def f(engine):\n    return engine.container('c')",
    "def f(ref):\n    return ref.api_host",
    "URL = 'docker://c'",
])
def test_what_is_not_the_sdk_passes(source):
    assert violations(source, "dash.py") == []


def test_the_kubernetes_exceptions_are_named_and_only_there():
    source = "import kubernetes.client\nclass K:\n    def call(self):\n        return kubernetes.client, self.api"
    assert violations(source, "kube/deploy.py") == []
    assert len(violations(source, "kube/render.py")) == 2


# -- the interface and its Docker implementation --------------------------------------------------

def test_the_engine_is_a_runtime_with_every_method_of_the_protocol():
    fake = FakeEngine()
    assert isinstance(fake.engine, Runtime)
    members = [n for n, v in vars(Runtime).items() if callable(v) and not n.startswith("_")]
    assert len(members) >= 20
    for name in members:
        want = list(inspect.signature(getattr(Runtime, name)).parameters)
        have = list(inspect.signature(getattr(DockerRuntime, name)).parameters)
        assert have[:len(want)] == want or "options" in want, (name, want, have)


def test_container_state_is_read_from_the_engines_inspect():
    fake = FakeEngine()
    fake.api.inspect_container.side_effect = lambda ref: {
        "Id": "c1", "Image": "sha256:abc", "Config": {"Image": "devenv/db:1", "Labels": {"k": "v"}},
        "State": {"Status": "exited", "Running": False, "ExitCode": 137},
        "Mounts": [{"Destination": "/srv/app", "Type": "bind", "Source": "/home/u/app", "RW": True}],
        "NetworkSettings": {"Ports": {"3306/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}], "80/tcp": None}}}
    assert fake.engine.container("db") == ContainerState(
        "c1", "exited", False, 137, "sha256:abc", "devenv/db:1", (Mount("/srv/app", "bind", "/home/u/app", True),),
        {"3306/tcp": 49153}, {"k": "v"})
    fake.api.inspect_container.side_effect = docker.errors.NotFound("no such container")
    assert fake.engine.container("db") is None


def test_a_refused_request_is_a_typed_error_and_an_absent_one_no_such_object():
    fake = FakeEngine()
    with pytest.raises(NoSuchObject, match="start container nope"):
        fake.engine.start("nope")
    fake.api.stop.side_effect = docker.errors.APIError("boom", explanation="the engine is busy")
    with pytest.raises(EngineError, match="stop container c: the Docker Engine refused: the engine is busy") as err:
        fake.engine.stop("c", timeout=1)
    assert not isinstance(err.value, NoSuchObject)
    fake.engine.remove_container("nope")        # absent is fine
    assert fake.engine.image("devenv/none:1") is None
    assert isinstance(known_engine_error(docker.errors.APIError("x", explanation="y")), EngineError)
    assert known_engine_error(ValueError("x")) is None


def test_an_idle_container_without_network_and_a_published_port():
    fake = FakeEngine()
    fake.images["img"] = "sha256:1"
    cid = fake.engine.create_container("img", name="idle", labels={"a": "b"}, entrypoint=["sleep"],
                                       command=["infinity"], network=False)
    kw = fake.containers[cid]["create_kwargs"]
    assert kw["network_disabled"] is True and kw["host_config"] == {"network_mode": "none"}
    assert kw["entrypoint"] == ["sleep"] and kw["command"] == ["infinity"]
    cid = fake.engine.create_container("img", name="db", labels={}, publish={"3306/tcp": "127.0.0.1"})
    kw = fake.containers[cid]["create_kwargs"]
    assert kw["ports"] == ["3306/tcp"] and kw["host_config"] == {"port_bindings": {"3306/tcp": ("127.0.0.1",)}}
    assert kw["network_disabled"] is False


def test_exec_output_interleaves_the_streams_and_keeps_the_exit_code():
    fake = FakeEngine()
    fake.api.exec_create.return_value = {"Id": "e1"}
    fake.api.exec_start.return_value = iter([b"out ", b"err\n"])
    fake.api.exec_inspect.return_value = {"ExitCode": 3}
    assert fake.engine.exec_output("c", ["sh", "-c", "x"], workdir="/w", environment={"A": "1"}) == (3, b"out err\n")
    args, kw = fake.api.exec_create.call_args
    assert args == ("c", ["sh", "-c", "x"]) and kw["workdir"] == "/w" and kw["environment"] == {"A": "1"}
    fake.api.exec_start.return_value = iter([])
    fake.api.exec_inspect.return_value = {"ExitCode": None}
    assert fake.engine.exec_output("c", ["x"]) == (126, b"")


def test_put_archive_refused_is_an_error():
    fake = FakeEngine()
    fake.api.put_archive.return_value = False
    with pytest.raises(EngineError, match="did not unpack"):
        fake.engine.put_archive("c", "/", b"")
    fake.api.put_archive.return_value = True
    chunks = iter([b"a", b"b"])
    fake.engine.put_archive("c", "/x", chunks)
    assert fake.api.put_archive.call_args.args == ("c", "/x", chunks)   # streamed, not read into memory


def test_volumes_and_sizes():
    fake = FakeEngine()
    fake.volumes["v1"] = {"Name": "v1", "Labels": {"p": "1"}}
    fake.volumes["v2"] = {"Name": "v2", "Labels": {}}
    assert [(v.name, v.labels) for v in fake.engine.list_volumes(["p=1"])] == [("v1", {"p": "1"})]
    fake.api.df.return_value = {"Volumes": [{"Name": "v1", "UsageData": {"Size": 42}}, {"Name": "v2"}]}
    assert fake.engine.volume_sizes() == {"v1": 42, "v2": -1}


def test_the_subset_dump_travels_as_a_tar_stream(tmp_path):
    from devenv.subset.dump import tar_of_file
    dump = tmp_path / "shop dump.sql.gz"
    data = bytes(range(256)) * 4099    # not a multiple of the tar block or of the chunk
    dump.write_bytes(data)
    chunks = list(tar_of_file(dump, "/devenv-dump", chunk=1000))
    assert max(len(c) for c in chunks) <= 1024 * 8    # streamed in pieces, never the whole file at once
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        members = tar.getmembers()
        assert [(m.name, m.isdir()) for m in members] == [("devenv-dump", True), ("devenv-dump/shop dump.sql.gz", False)]
        assert members[1].mode == 0o644 and tar.extractfile(members[1]).read() == data
    assert len(b"".join(chunks)) % tarfile.BLOCKSIZE == 0


def test_a_dump_that_shrinks_while_it_is_sent_is_an_error(tmp_path):
    from devenv.subset.dump import tar_of_file
    from devenv.subset.errors import SourceError
    dump = tmp_path / "d.sql"
    dump.write_bytes(b"x" * 5000)
    stream = tar_of_file(dump, "/devenv-dump", chunk=1000)
    next(stream), next(stream), next(stream)
    dump.write_bytes(b"x" * 10)
    with pytest.raises(SourceError, match="shrank"):
        list(stream)

