"""A dump file as the source: loaded into a throwaway server of the profile's own db image.

The container runs the profile's db image (the same server production runs), with
no initdb files (so no schema or seed of its own) and a random password. On an engine
on this machine the server's port is published on 127.0.0.1 only; on a remote engine
nothing is published (its 127.0.0.1 is another machine's): the subset reaches the
server through a port forward over the engine's API (``Runtime.port_forward``: a
listener on this machine's loopback, an exec relay in the container per connection).
The dump file goes into the container
through the engine's archive API (a tar stream read from the file as it is sent),
never a bind mount, so a remote engine, whose filesystem is not this machine's,
gets it too. It is loaded by the engine's own client inside the container
(``DumpServer`` of the profile's engine behind the seam, one per dump format the
engine knows). Then the subset reads it like a URL source. The container (its
datadir and the dump's copy live in the container, no volume) is removed
afterwards, whatever happened.

The caller checks first that the dump is of the profile's engine
(``devenv.db.sources.check_dump``): a dump of the other engine starts nothing.
"""

from __future__ import annotations

import os
import secrets
import tarfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from .. import names
from ..db.sources import SourceEngine, SourceURL, url_hint
from ..engine.runtime import Runtime
from ..errors import EngineError
from ..ui import Reporter
from .errors import SourceError

DUMP_DB = "devenv_dump"
DUMP_USER = "devenv_subset"
DUMP_DIR = "/devenv-dump"
KIND_LABEL = "subset-dump"
CHUNK = 1 << 20


def _exec(runtime: Runtime, container: str, cmd: list[str]) -> tuple[int, str]:
    code, out = runtime.exec_output(container, cmd)
    return code, out.decode(errors="replace")


def _run(runtime: Runtime, container: str, cmd: list[str], what: str) -> str:
    code, out = _exec(runtime, container, cmd)
    if code != 0:
        raise SourceError(f"dump database: {what} failed: {out.strip()[-500:]}")
    return out


def tar_of_file(path: Path, directory: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """A tar stream of ``directory/`` holding ``path`` (readable by every user), read as it is sent.

    The file's size is taken first and exactly that many bytes are sent: a file that
    changes meanwhile is an error, not a cut-off archive."""
    size = os.path.getsize(path)
    root = tarfile.TarInfo(directory.strip("/"))
    root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
    yield root.tobuf(format=tarfile.PAX_FORMAT)
    info = tarfile.TarInfo(f"{directory.strip('/')}/{path.name}")
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    left = size
    with open(path, "rb") as f:
        while left:
            data = f.read(min(chunk, left))
            if not data:
                raise SourceError(f"{path}: the file shrank while it was being sent")
            left -= len(data)
            yield data
    yield b"\0" * ((-size) % tarfile.BLOCKSIZE) + b"\0" * (2 * tarfile.BLOCKSIZE)


@contextmanager
def dump_database(runtime: Runtime, image: str, dump: Path, engine: SourceEngine, fmt: str, reporter: Reporter,
                  timeout: float = 180) -> Iterator[SourceURL]:
    """Start a container of ``image`` (an ``engine`` server) on ``runtime``, load ``dump``
    (format ``fmt``) into it, yield its URL; remove it at the end."""
    dump = Path(dump).absolute()
    if not dump.is_file():
        raise SourceError(f"source {dump}: no such file", url_hint())
    password = secrets.token_hex(16)
    name = f"devenv-subset-dump-{uuid.uuid4().hex[:10]}"
    labels = names.extra_labels() | {names.MANAGED: "true", names.KIND: KIND_LABEL}
    target = f"{DUMP_DIR}/{dump.name}"
    server = engine.dump_server(DUMP_DB, DUMP_USER, password, target, fmt, dump)
    size = os.path.getsize(dump)
    # a remote engine's published port would be on its host's loopback: forward instead
    forwarded = not runtime.is_local
    container = None
    try:
        with reporter.step(f"start a throwaway {engine.label} server ({image}) for {dump.name}"):
            # the engine picks a free host port (asking the kernel first would race other processes)
            container = runtime.create_container(image, name=name, labels=labels, environment=server.environment,
                                                 publish=None if forwarded else {server.port: "127.0.0.1"})
            runtime.start(container)
            deadline = time.monotonic() + timeout
            port = None
            while True:
                state = runtime.container(container)
                if state is None or state.status == "exited":
                    raise SourceError(f"the throwaway {engine.label} server exited:\n"
                                      + b"".join(runtime.logs(container)).decode(errors="replace")[-2000:])
                port = port or state.ports.get(server.port)
                code, out = _exec(runtime, container, server.ready)
                if code == 0 and out.strip() == "done" and (port or forwarded):
                    break
                if time.monotonic() > deadline:
                    raise SourceError(f"the throwaway {engine.label} server did not start within {timeout:.0f}s")
                time.sleep(0.3)
            for cmd in server.prepare:
                _run(runtime, container, cmd, f"`{cmd[-1][:80]}`")
        with reporter.step(f"send {dump.name} ({size / 1e6:,.1f} MB) to the server's container"):
            try:
                runtime.put_archive(container, "/", tar_of_file(dump, DUMP_DIR))
            except (EngineError, OSError) as exc:
                raise SourceError(f"sending {dump} to the throwaway server failed: {exc}") from None
        with reporter.step(f"load {dump.name} ({size / 1e6:,.1f} MB, {fmt}) into it"):
            code, out = _exec(runtime, container, ["bash", "-o", "pipefail", "-c", server.load])
            if code != 0:
                raise SourceError(f"loading {dump} failed (exit {code}):\n{out.strip()[-2000:]}",
                                  f"The file must be a {engine.label} dump the server can load.")
        counts = {}
        for line in _run(runtime, container, server.find_database, "listing the databases").splitlines():
            db, _, n = line.partition("\t")
            if db and n.strip().isdigit():
                counts[db] = int(n)
        if counts.get(DUMP_DB):
            database = DUMP_DB
        else:
            others = sorted(d for d, n in counts.items() if n and d != DUMP_DB)
            if len(others) != 1:
                raise SourceError(f"{dump.name}: expected the tables of one database, found "
                                  f"{', '.join(others) or 'none'}", "Dump one database (one file per database).")
            database = others[0]
            if server.grant:
                _run(runtime, container, server.grant(database), f"granting {DUMP_USER} access to {database}")
        with _reachable(runtime, container, server.port, port, forwarded) as (host, local_port):
            yield SourceURL(scheme=engine.display_scheme, user=DUMP_USER, password=password, host=host,
                            port=local_port, database=database)
    finally:
        if container is not None:
            try:
                runtime.remove_container(container, volumes=True)
            except Exception:  # noqa: BLE001 - best effort; it is labelled for cleanup
                pass


def _reachable(runtime: Runtime, container: str, server_port: str, published: int | None, forwarded: bool):
    """Where this machine reaches the server: its published port on 127.0.0.1 (a local
    engine), or a port forward through the engine's API (a remote one)."""
    if not forwarded:
        return nullcontext(("127.0.0.1", published))
    number, _, protocol = server_port.partition("/")
    if protocol not in ("", "tcp"):
        raise SourceError(f"the throwaway server listens on {server_port}: only a TCP port can be forwarded")
    return runtime.port_forward(container, int(number))
