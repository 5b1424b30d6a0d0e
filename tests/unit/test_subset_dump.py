"""`dataset subset --from DUMPFILE`'s throwaway server at the SDK boundary: the dump reaches
the container through the engine's archive API (a remote engine has no such path), never a
bind mount; the container is removed whatever happened. The real server and dumps:
tests/integration/test_subset*.py."""

from __future__ import annotations

import io
import socket
import tarfile
import time

import pytest

from devenv.db.sources import DumpServer
from devenv.engine.portforward import relay_command
from devenv.subset.dump import DUMP_DIR, dump_database
from devenv.subset.errors import SourceError
from devenv.ui import SilentReporter
from tests.fake_engine import FakeEngine


class FakeSourceEngine:
    label = "MariaDB"
    display_scheme = "mysql"

    def __init__(self):
        self.target = None

    def dump_server(self, database, user, password, target, fmt, path=None):
        self.target = target
        return DumpServer(port="3306/tcp", environment={"DEVENV_DB_PASSWORD": password}, ready=["ready"],
                          prepare=[["prepare"]], load=f"cat {target} | load", find_database=["find"])


def engine_with_server(load_exit: int = 0):
    """A fake engine whose containers publish 3306/tcp on 49153 and answer the dump server's commands."""
    fake = FakeEngine()
    fake.images["devenv/db:1"] = "sha256:1"
    inspect = fake.api.inspect_container.side_effect

    def inspect_with_ports(ref):
        return inspect(ref) | {"NetworkSettings": {"Ports": {"3306/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}]}}}
    fake.api.inspect_container.side_effect = inspect_with_ports
    answers = {"ready": (0, b"done\n"), "prepare": (0, b""), "find": (0, b"devenv_dump\t3\n")}
    execs = []

    def exec_create(container, cmd, **kw):
        execs.append(cmd)
        return {"Id": str(len(execs) - 1)}
    fake.api.exec_create.side_effect = exec_create
    result = {}

    def exec_start(exec_id, stream=False, socket=False, **kw):
        cmd = execs[int(exec_id)]
        if socket:                  # a relay's stream (the port forward): ends at once
            import socket as sockets
            ours, theirs = sockets.socketpair()
            theirs.close()
            return ours
        code, out = answers.get(cmd[0], (load_exit, b"loaded"))
        result[exec_id] = code
        return iter([out])
    fake.api.exec_start.side_effect = exec_start
    fake.api.exec_inspect.side_effect = lambda exec_id: {"ExitCode": result[exec_id]}
    sent = {}

    def put_archive(container, path, data):
        sent[(container, path)] = b"".join(data)
        return True
    fake.api.put_archive.side_effect = put_archive
    return fake, execs, sent


def test_the_dump_is_sent_through_the_archive_api_not_bind_mounted(tmp_path):
    fake, execs, sent = engine_with_server()
    dump = tmp_path / "shop.sql"
    dump.write_bytes(b"CREATE TABLE t (id INT);\n" * 1000)
    source = FakeSourceEngine()
    with dump_database(fake.engine, "devenv/db:1", dump, source, "sql", SilentReporter()) as url:
        assert (url.host, url.port, url.database) == ("127.0.0.1", 49153, "devenv_dump")
        (cid,) = fake.containers
        kw = fake.containers[cid]["create_kwargs"]
        assert "mounts" not in kw and "binds" not in kw["host_config"] and "mounts" not in kw["host_config"]
        assert kw["host_config"]["port_bindings"] == {"3306/tcp": ("127.0.0.1",)}
        ((where, tar_bytes),) = sent.items()
        assert where == (cid, "/")
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            assert tar.extractfile(source.target.lstrip("/")).read() == dump.read_bytes()
        assert source.target == f"{DUMP_DIR}/shop.sql"
        # sent before it is loaded, loaded from where it was put
        assert execs.index(["bash", "-o", "pipefail", "-c", f"cat {source.target} | load"]) > execs.index(["prepare"])
    assert fake.containers == {}   # removed afterwards


def test_a_dump_that_does_not_load_is_an_error_and_the_server_goes(tmp_path):
    fake, _, _ = engine_with_server(load_exit=1)
    dump = tmp_path / "bad.sql"
    dump.write_bytes(b"not sql")
    with pytest.raises(SourceError, match="loading .*bad.sql failed \\(exit 1\\)"):
        with dump_database(fake.engine, "devenv/db:1", dump, FakeSourceEngine(), "sql", SilentReporter()):
            pass
    assert fake.containers == {}


def test_a_remote_engine_publishes_nothing_and_the_server_is_reached_by_a_port_forward(tmp_path):
    from devenv.engine.client import Engine
    fake, execs, _ = engine_with_server()
    remote = Engine(fake.engine.client, "tcp://staging:2376", "--engine")
    dump = tmp_path / "shop.sql"
    dump.write_bytes(b"x")
    with dump_database(remote, "devenv/db:1", dump, FakeSourceEngine(), "sql", SilentReporter()) as url:
        (cid,) = fake.containers
        assert "port_bindings" not in fake.containers[cid]["create_kwargs"]["host_config"]   # nothing published
        assert url.host == "127.0.0.1" and url.port != 49153
        with socket.create_connection((url.host, url.port), timeout=10):   # the forward's listener
            pass
        deadline = time.monotonic() + 10
        while not any(cmd == relay_command(3306) for cmd in execs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay_command(3306) in execs      # the connection became an exec relay to 3306 in the container
    assert fake.containers == {}
    with pytest.raises(OSError):
        socket.create_connection((url.host, url.port), timeout=2).close()   # the forward went with it
