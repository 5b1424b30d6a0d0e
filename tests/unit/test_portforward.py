"""The port forward through the engine's API (devenv/engine/portforward.py): its relay scripts
run for real here (perl, and bash's /dev/tcp) against a real TCP server; the forwarder against
a fake SDK whose exec stream is a real socket speaking the engine's multiplexed framing."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
from unittest import mock

import docker
import pytest

from devenv.engine.client import Engine
from devenv.engine.portforward import GO, PortForward, relay_command
from devenv.errors import DevenvError


def server(reply_first: bytes = b"HELLO\n"):
    """A TCP server on 127.0.0.1 that speaks first, then echoes upper-cased until the client's EOF,
    then says BYE and closes. Returns its port."""
    srv = socket.create_server(("127.0.0.1", 0))

    def run():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(reply_first)
                while data := conn.recv(65536):
                    conn.sendall(data.upper())
                conn.sendall(b"BYE\n")
    threading.Thread(target=run, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.mark.parametrize("which", ["sh", "perl", "bash"])
def test_the_relay_waits_for_go_then_copies_both_ways_binary_safe(which):
    srv, port = server()
    cmd = relay_command(port)
    run = {"sh": cmd, "perl": ["perl", "-e", cmd[3], cmd[4]], "bash": ["bash", "-c", cmd[5], "_", cmd[4]]}[which]
    payload = bytes(range(256)) * 64 + b"tail"
    p = subprocess.Popen(run, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(GO + payload.lower())
        p.stdin.flush()
        expected = b"HELLO\n" + payload.lower().upper()
        got = b""
        while len(got) < len(expected) and (data := p.stdout.read1(65536)):
            got += data
        assert got == expected
        p.stdin.close()                     # our side ends
        rest = p.stdout.read()
        assert p.wait(timeout=20) == 0, p.stderr.read()
    finally:
        p.kill()
        srv.close()
    # perl half-closes to the server, which still answers; bash's /dev/tcp closes it whole
    assert rest == (b"" if which == "bash" else b"BYE\n")


def test_the_relay_says_why_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # bound, not listening: refused
        p = subprocess.run(relay_command(port), input=GO, capture_output=True, timeout=20)
    assert p.returncode != 0 and b"cannot connect to 127.0.0.1:%d" % port in p.stderr


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


class FakeExecEngine:
    """exec_start(socket=True) hands back one end of a socket pair; the other end plays the
    engine: waits for GO, then answers in frames cut at odd places."""

    def __init__(self):
        self.api = mock.create_autospec(docker.APIClient, instance=True)
        self.api.exec_create.side_effect = lambda container, cmd, **kw: {"Id": f"e{len(self.created)}"} \
            if not self.created.append((container, cmd, kw)) else None
        self.api.exec_start.side_effect = self._start
        self.created: list = []
        self.got: list[bytes] = []

    def _start(self, exec_id, socket=False, tty=False, **kw):
        assert socket and not tty
        ours, theirs = _socketpair()
        threading.Thread(target=self._engine, args=(theirs,), daemon=True).start()
        return ours

    def _engine(self, s):
        assert s.recv(1) == GO
        self._send_cut(s, frame(1, b"HELLO\n") + frame(2, b"relay: a warning\n"))   # the server speaks first
        got = b""
        while data := s.recv(7):
            got += data
        self.got.append(got)
        self._send_cut(s, frame(1, got.upper()) + frame(1, b"BYE\n"))
        s.close()

    @staticmethod
    def _send_cut(s, out: bytes) -> None:
        for i in range(0, len(out), 5):        # frames split across reads, headers too
            s.sendall(out[i:i + 5])


def _socketpair():
    return socket.socketpair()


def test_each_connection_is_an_exec_relay_and_its_frames_are_demultiplexed():
    fake = FakeExecEngine()
    pf = PortForward(fake.api, "hx-db", 3306)
    try:
        for _ in range(2):
            with socket.create_connection(pf.address, timeout=10) as c:
                f = c.makefile("rb")
                assert f.readline() == b"HELLO\n"
                c.sendall(b"select 1;\x00\xff")
                c.shutdown(socket.SHUT_WR)            # half-close: the relay's stdin ends, answers go on
                assert f.read() == b"SELECT 1;\x00\xffBYE\n"
    finally:
        pf.close()
    assert fake.got == [b"select 1;\x00\xff"] * 2
    assert [(c, cmd, kw["stdin"], kw["tty"]) for c, cmd, kw in fake.created] == \
        [("hx-db", relay_command(3306), True, False)] * 2
    assert pf.errors == ["relay: a warning"] * 2
    with pytest.raises(OSError):
        socket.create_connection(pf.address, timeout=2).close()     # closed with the context


def test_a_refused_exec_closes_the_connection_and_is_kept_as_an_error():
    fake = FakeExecEngine()
    fake.api.exec_create.side_effect = docker.errors.APIError("container hx-db is not running")
    engine = Engine(mock.Mock(api=fake.api), "tcp://staging:2375")
    with pytest.raises(DevenvError) as err:
        with engine.port_forward("hx-db", 5432) as (host, port):
            assert host == "127.0.0.1"
            with socket.create_connection((host, port), timeout=10) as c:
                assert c.recv(10) == b""
            raise DevenvError("cannot connect to postgresql://127.0.0.1", "Check the URL.")   # the client's error
    # explained by what the forward saw
    assert err.value.hint.startswith("Check the URL.\nThe port forward to hx-db:5432 (an exec in the container) said: "
                                     "exec in hx-db failed:") and "is not running" in err.value.hint
