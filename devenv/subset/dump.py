"""A dump file as the source: loaded into a throwaway server of the profile's own db image.

The container runs the profile's db image (the same server production runs), with
no initdb files (so no schema or seed of its own), a random password and the
server's port published on 127.0.0.1 only; the dump file is bind-mounted read-only
and loaded by the engine's own client inside the container (``DumpServer`` of the
profile's engine behind the seam, one per dump format the engine knows). Then the subset reads it
like a URL source. The container (its datadir lives in the container, no volume) is
removed afterwards, whatever happened.

The caller checks first that the dump is of the profile's engine
(``devenv.db.sources.check_dump``): a dump of the other engine starts nothing.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .. import names
from ..db.sources import SourceEngine, SourceURL, url_hint
from ..ui import Reporter
from .errors import SourceError

DUMP_DB = "devenv_dump"
DUMP_USER = "devenv_subset"
MOUNT_DIR = "/devenv-dump"
KIND_LABEL = "subset-dump"


def _exec(container, cmd: list[str]) -> tuple[int, str]:
    code, out = container.exec_run(cmd, demux=False)
    return code, (out or b"").decode(errors="replace")


def _run(container, cmd: list[str], what: str) -> str:
    code, out = _exec(container, cmd)
    if code != 0:
        raise SourceError(f"dump database: {what} failed: {out.strip()[-500:]}")
    return out


@contextmanager
def dump_database(client, image: str, dump: Path, engine: SourceEngine, fmt: str, reporter: Reporter,
                  timeout: float = 180) -> Iterator[SourceURL]:
    """Start a container of ``image`` (an ``engine`` server), load ``dump`` (format
    ``fmt``) into it, yield its URL; remove it at the end."""
    dump = Path(dump).absolute()
    if not dump.is_file():
        raise SourceError(f"source {dump}: no such file", url_hint())
    password = secrets.token_hex(16)
    name = f"devenv-subset-dump-{uuid.uuid4().hex[:10]}"
    labels = names.extra_labels() | {names.MANAGED: "true", names.KIND: KIND_LABEL}
    target = f"{MOUNT_DIR}/{dump.name}"
    server = engine.dump_server(DUMP_DB, DUMP_USER, password, target, fmt, dump)
    container = None
    try:
        with reporter.step(f"start a throwaway {engine.label} server ({image}) for {dump.name}"):
            from docker.types import Mount
            container = client.containers.run(
                image, detach=True, name=name, labels=labels, environment=server.environment,
                mounts=[Mount(target, str(dump), type="bind", read_only=True)],
                # the engine picks a free host port (asking the kernel first would race other processes)
                ports={server.port: ("127.0.0.1",)})
            deadline = time.monotonic() + timeout
            port = None
            while True:
                container.reload()
                port = port or _published_port(container, server.port)
                if container.status == "exited":
                    raise SourceError(f"the throwaway {engine.label} server exited:\n"
                                      + container.logs().decode(errors="replace")[-2000:])
                code, out = _exec(container, server.ready)
                if code == 0 and out.strip() == "done" and port:
                    break
                if time.monotonic() > deadline:
                    raise SourceError(f"the throwaway {engine.label} server did not start within {timeout:.0f}s")
                time.sleep(0.3)
            for cmd in server.prepare:
                _run(container, cmd, f"`{cmd[-1][:80]}`")
        size = os.path.getsize(dump)
        with reporter.step(f"load {dump.name} ({size / 1e6:,.1f} MB, {fmt}) into it"):
            code, out = _exec(container, ["bash", "-o", "pipefail", "-c", server.load])
            if code != 0:
                raise SourceError(f"loading {dump} failed (exit {code}):\n{out.strip()[-2000:]}",
                                  f"The file must be a {engine.label} dump the server can load.")
        counts = {}
        for line in _run(container, server.find_database, "listing the databases").splitlines():
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
                _run(container, server.grant(database), f"granting {DUMP_USER} access to {database}")
        yield SourceURL(scheme=engine.display_scheme, user=DUMP_USER, password=password, host="127.0.0.1",
                        port=port, database=database)
    finally:
        if container is not None:
            try:
                container.remove(force=True, v=True)
            except Exception:  # noqa: BLE001 - best effort; it is labelled for cleanup
                pass


def _published_port(container, container_port: str) -> int | None:
    """The host port the engine published ``container_port`` on (None before it is running)."""
    bindings = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(container_port) or []
    return int(bindings[0]["HostPort"]) if bindings and bindings[0].get("HostPort") else None
