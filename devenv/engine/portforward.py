"""A port of a container reached from this machine through the engine's API, publishing nothing
(as ``kubectl port-forward`` does): for an engine whose published ports are on another host.

``forward(api, container, port)`` listens on 127.0.0.1 of this machine (an ephemeral
port). Each connection accepted there gets its own ``docker exec`` in the container: a
relay (``RELAY``: perl-base, in every Debian image, else bash's ``/dev/tcp``, which cannot
half-close) that connects
to ``127.0.0.1:PORT`` inside the container and copies its stdin to the server and the
server's answers to its stdout. The exec's stream is the engine's hijacked HTTP
connection: what is written to it is the relay's stdin, raw; what comes back is
multiplexed (no TTY, which would mangle binary data): frames of an 8-byte header (stream
1 stdout or 2 stderr, 3 zero bytes, big-endian length) and the payload. Stdout frames go
to the local connection; stderr is kept for the error message of a relay that failed.

The relay waits for one byte before it connects: the engine's answer to the exec's
upgrade request is parsed by a buffered HTTP reader, which would swallow server bytes
that arrived with it (a database server speaks first). So nothing comes back until that
byte is sent, after the upgrade is done.

Each connection is one thread running a select loop over both sockets (never a reader
and a writer thread on one TLS socket: an OpenSSL connection is not for two threads at
once). Works over every transport of the engine: unix, tcp, TLS, ssh (a paramiko channel).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from contextlib import contextmanager
from typing import Iterator

import docker.errors

from ..errors import DevenvError, EngineError

CHUNK = 1 << 16
GO = b"\n"

_PERL = r"""
use strict; use IO::Socket::INET; use IO::Select;
sysread(STDIN, my $go, 1) or exit 0;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Proto => "tcp")
  or die "devenv port forward: cannot connect to 127.0.0.1:$ARGV[0] in the container: $!\n";
binmode STDIN; binmode STDOUT; binmode $s;
my $sel = IO::Select->new(\*STDIN, $s);
sub out { my ($fh, $buf) = @_; while (length $buf) { my $n = syswrite($fh, $buf); return 0 unless defined $n && $n; substr($buf, 0, $n) = ""; } 1 }
while ($sel->count) {
  for my $fh ($sel->can_read) {
    my $n = sysread($fh, my $buf, 65536);
    if (!$n) {
      exit 0 if $fh == $s;             # the server closed: so does the relay (and the stream)
      $sel->remove($fh); shutdown($s, 1); next;   # our side closed: half-close to the server
    }
    out($fh == $s ? \*STDOUT : $s, $buf) or exit 0;
  }
}
"""
# bash cannot half-close a /dev/tcp socket: when our side ends, so does the connection
# (what a database client does anyway: it says goodbye and closes)
_BASH = ('IFS= read -r -n 1 _ || exit 0; exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; '
         'cat <&3 & reader=$!; cat >&3; kill $reader 2>/dev/null; exit 0')
# one command for every image: perl-base where there is perl, bash otherwise
RELAY = ["sh", "-c", 'if command -v perl >/dev/null 2>&1; then exec perl -e "$0" "$1"; '
                     'else exec bash -c "$2" _ "$1"; fi']


def relay_command(port: int) -> list[str]:
    """The relay of one connection to ``port`` inside the container (``sh -c`` with its scripts)."""
    return [*RELAY, _PERL, str(port), _BASH]


class PortForward:
    """A listener on 127.0.0.1 whose connections reach ``port`` of ``container`` by exec."""

    def __init__(self, api, container: str, port: int):
        self.api, self.container, self.port = api, container, port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.3)
        self.closed = threading.Event()
        self.errors: list[str] = []          # what relays said on stderr (a refused connection)
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="devenv-port-forward", daemon=True)
        self._accepter.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.getsockname()[:2]

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), name="devenv-port-forward-conn", daemon=True)
            self._threads.append(t)
            t.start()

    def _open_exec(self):
        exec_id = self.api.exec_create(self.container, relay_command(self.port), stdin=True, stdout=True,
                                       stderr=True, tty=False)["Id"]
        sock = self.api.exec_start(exec_id, socket=True, tty=False)
        return getattr(sock, "_sock", sock)     # the socket itself (SocketIO wraps it), or the ssh channel

    def _serve(self, conn: socket.socket) -> None:
        try:
            stream = self._open_exec()
        except (docker.errors.APIError, OSError) as exc:
            self.errors.append(f"exec in {self.container} failed: {exc}")
            conn.close()
            return
        try:
            _send(stream, GO)
            _pump(conn, stream, self.errors, self.closed)
        except OSError as exc:     # either side went away: the connection ends, the forward goes on
            self.errors.append(f"connection to {self.container}:{self.port} ended: {exc}")
        finally:
            for s in (conn, stream):
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - closing a cut-off stream may fail in many ways
                    pass

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        self._accepter.join(timeout=2)
        for t in self._threads:
            t.join(timeout=2)


def _send(stream, data: bytes) -> None:
    stream.sendall(data)


def _half_close(stream) -> None:
    try:
        if hasattr(stream, "shutdown_write"):     # a paramiko channel
            stream.shutdown_write()
        else:
            stream.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _pump(conn: socket.socket, stream, errors: list[str], closed: threading.Event) -> None:
    """Copy ``conn`` to the relay's stdin and the relay's stdout frames to ``conn`` until the
    relay's stream ends (the server closed, or the relay did after our side closed)."""
    pending = b""          # an incomplete frame of the multiplexed stream
    stderr = b""
    reading = writing = True     # conn still sends to us / still takes what the server says
    while not closed.is_set():
        if getattr(stream, "pending", lambda: 0)():     # TLS: decrypted bytes that select cannot see
            readable = [stream]
        else:
            readable = select.select([stream] + ([conn] if reading else []), [], [], 0.5)[0]
        if conn in readable:
            data = conn.recv(CHUNK)
            if data:
                _send(stream, data)
            else:              # its write side closed: so is the relay's stdin (it half-closes to the server)
                reading = False
                _half_close(stream)
        if stream in readable:
            data = stream.recv(CHUNK)
            if not data:
                break
            pending += data
            while len(pending) >= 8:
                kind, size = struct.unpack(">BxxxL", pending[:8])
                if len(pending) < 8 + size:
                    break
                payload, pending = pending[8:8 + size], pending[8 + size:]
                if kind == 2:
                    stderr += payload
                elif writing:
                    try:
                        conn.sendall(payload)
                    except OSError:
                        writing = False
            if not reading and not writing:
                break
    if stderr.strip():
        errors.append(stderr.decode(errors="replace").strip()[-500:])


@contextmanager
def forward(api, container: str, port: int) -> Iterator[tuple[str, int]]:
    """``(host, port)`` on this machine that reaches ``port`` of ``container``, while inside."""
    try:
        pf = PortForward(api, container, port)
    except OSError as exc:
        raise EngineError(f"port forward to {container}:{port}: no local listener: {exc}") from None
    try:
        yield pf.address
    except DevenvError as exc:
        # what failed over the forward (a client that lost its connection) is explained by the
        # relay: it says so on its stderr, or the engine refused the exec
        if pf.errors:
            said = f"The port forward to {container}:{port} (an exec in the container) said: {pf.errors[-1]}"
            exc.hint = f"{exc.hint}\n{said}" if exc.hint else said
        raise
    finally:
        pf.close()


__all__ = ["PortForward", "RELAY", "forward", "relay_command"]
