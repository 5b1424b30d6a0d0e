"""`up --expose ADDR` on the real engine: the instance's port answers on ADDR (127.0.0.2, a
loopback address of its own on Linux) and not on 127.0.0.1; `status`, `ls` and `up` name it;
a later `up` keeps it, `--expose 127.0.0.1` returns to loopback; a second instance's
fallback port is chosen free on ADDR."""

import json
import shutil
import socket
import time

import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import Devenv, cleanup, name_project, unique
from tests.ports import free_port

# a server of devenv's base image alone (perl-base is in every Debian): one line per connection
ECHO = """\
os: {distribution: debian, release: bookworm}
services:
  echo:
    recipe: tiny
    command: ["perl", "-MIO::Socket::INET", "-e",
              "$s = IO::Socket::INET->new(LocalAddr => '0.0.0.0:8000', Listen => 5, ReuseAddr => 1) or die $!;
               $SIG{TERM} = sub { exit 0 }; while (my $c = $s->accept) { print $c \\"hello from %(tag)s\\\\n\\"; close $c }"]
    ports: ["%(port)d:8000"]
    healthcheck: {test: ["CMD", "perl", "-MIO::Socket::INET", "-e",
                         "IO::Socket::INET->new(PeerAddr => '127.0.0.1:8000') or exit 1"],
                  interval: 500ms, retries: 20}
"""


def _loopback_alias_works(ip: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, 0))
        except OSError:
            return False
    return True


def answer(ip: str, port: int, wait: float = 0) -> str | None:
    """The line the server sends on ip:port, or None when nothing answers there."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((ip, port), timeout=3) as s:
                return s.makefile().readline().strip()
        except OSError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


@pytest.fixture
def echo(tmp_path, engine):
    if not _loopback_alias_works("127.0.0.2"):
        pytest.skip("127.0.0.2 is not a loopback address here (Linux routes all of 127.0.0.0/8)")
    port = free_port()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "hx-echo.yaml").write_text(ECHO % {"port": port, "tag": "echo"})
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    name = name_project(tmp_path, "hx")
    yield Devenv(tmp_path, cache=tmp_path / "cache", name=name, port=port)
    cleanup(engine)


def test_expose_binds_the_address_remembers_it_and_loopback_returns(echo, engine):
    port = echo.port
    r = echo("up", "hx-echo", "--expose", "127.0.0.2")
    assert f"tcp://127.0.0.2:{port}" in r.stdout, r.stdout
    assert answer("127.0.0.2", port, wait=10) == "hello from echo"
    assert answer("127.0.0.1", port) is None          # not on the loopback address it had
    assert f"tcp://127.0.0.2:{port}" in echo("status", "hx-echo").stdout
    rows = [r for r in json.loads(echo("ls", "--json").stdout) if r["project"] == echo.name]
    assert [r["ports"] for r in rows] == [[f"127.0.0.2:{port}"]]
    created = engine.containers.get(echo.container("hx-echo", "echo")).id

    # remembered: an `up` without the flag changes nothing
    r = echo("up", "hx-echo")
    assert "up to date, nothing to do" in r.stdout and f"tcp://127.0.0.2:{port}" in r.stdout
    assert engine.containers.get(echo.container("hx-echo", "echo")).id == created

    # a second instance on the same address: its port is taken there, so it gets a free one on it
    other = unique("hx")
    r = echo("up", "hx-echo", "--name", other, "--expose", "127.0.0.2")
    [url] = [w for w in r.stdout.split() if w.startswith("tcp://127.0.0.2:")]
    second = int(url.rsplit(":", 1)[1])
    assert second != port
    assert answer("127.0.0.2", second, wait=10) == "hello from echo"
    assert answer("127.0.0.1", second) is None
    echo("down", "hx-echo", "--name", other, "--volumes")

    # back to loopback: the container is recreated on 127.0.0.1
    r = echo("up", "hx-echo", "--expose", "127.0.0.1")
    assert f"tcp://127.0.0.1:{port}" in r.stdout and "created: echo" in r.stdout, r.stdout
    assert engine.containers.get(echo.container("hx-echo", "echo")).id != created
    assert answer("127.0.0.1", port, wait=10) == "hello from echo"
    assert answer("127.0.0.2", port) is None
    assert f"tcp://127.0.0.1:{port}" in echo("status", "hx-echo").stdout


def test_a_hostname_or_an_address_of_no_interface_is_refused_before_anything_starts(echo, engine):
    for value, needle in (("localhost", "`localhost` is not an IP address"),
                          ("192.0.2.1", "--expose 192.0.2.1: not an address of this machine")):
        r = echo("up", "hx-echo", "--expose", value, check=False)
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "--expose takes an IP address" in r.stderr
    assert engine.containers.list(all=True, filters={"label": f"dev.devenv.project={echo.name}"}) == []
