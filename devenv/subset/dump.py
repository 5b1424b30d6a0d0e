"""A SQL dump file as the source: loaded into a throwaway MariaDB container.

The container runs the profile's own db image (the same server production
runs), with no initdb files (so no schema or seed of its own), a random
password and a port published on 127.0.0.1 only; the dump file is bind-mounted
read-only and piped into the ``mariadb`` client inside the container. Then the
subset reads it like any ``mysql://`` source. The container (its datadir lives
in the container, no volume) is removed afterwards, whatever happened.

Accepted: a dump of one database as ``mariadb-dump``/``mysqldump`` write it
(``.sql``, or ``.sql.gz``), with or without ``CREATE DATABASE``/``USE``
(``--databases``): the database that ends up holding tables is the source.
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
from ..ui import Reporter
from .errors import SourceError
from .source import SourceURL

DUMP_DB = "devenv_dump"
DUMP_USER = "devenv_subset"
MOUNT_DIR = "/devenv-dump"
SYSTEM_DBS = ("mysql", "information_schema", "performance_schema", "sys", "devenv_meta")
KIND_LABEL = "subset-dump"


def _exec(container, cmd: list[str]) -> tuple[int, str]:
    code, out = container.exec_run(cmd, demux=False)
    return code, (out or b"").decode(errors="replace")


def _root_sql(container, sql: str) -> list[list[str]]:
    code, out = _exec(container, ["mariadb", "-uroot", "-N", "-B", "-e", sql])
    if code != 0:
        raise SourceError(f"dump database: `{sql[:80]}` failed: {out.strip()[-500:]}")
    return [line.split("\t") for line in out.splitlines() if line]


@contextmanager
def dump_database(client, image: str, dump: Path, reporter: Reporter, timeout: float = 180) -> Iterator[SourceURL]:
    """Start a container of ``image``, load ``dump`` into it, yield its URL; remove it at the end."""
    dump = Path(dump).absolute()
    if not dump.is_file():
        raise SourceError(f"source {dump}: no such file",
                          "SOURCE is a mysql://user:pass@host:port/db URL or a SQL dump file (.sql, .sql.gz).")
    password = secrets.token_hex(16)
    name = f"devenv-subset-dump-{uuid.uuid4().hex[:10]}"
    labels = names.extra_labels() | {names.MANAGED: "true", names.KIND: KIND_LABEL}
    target = f"{MOUNT_DIR}/{dump.name}"
    container = None
    try:
        with reporter.step(f"start a throwaway MariaDB ({image}) for {dump.name}"):
            from docker.types import Mount
            container = client.containers.run(
                image, detach=True, name=name, labels=labels,
                environment={"DEVENV_DB_NAME": DUMP_DB, "DEVENV_DB_USER": DUMP_USER, "DEVENV_DB_PASSWORD": password,
                             "DEVENV_DB_INITDB_DIR": "/nonexistent"},
                mounts=[Mount(target, str(dump), type="bind", read_only=True)],
                # the engine picks a free host port (asking the kernel first would race other processes)
                ports={"3306/tcp": ("127.0.0.1",)})
            deadline = time.monotonic() + timeout
            port = None
            while True:
                container.reload()
                port = port or _published_port(container, "3306/tcp")
                if container.status == "exited":
                    raise SourceError("the throwaway MariaDB exited:\n"
                                      + container.logs().decode(errors="replace")[-2000:])
                code, out = _exec(container, ["mariadb", "-uroot", "-N", "-B", "-e",
                                              "SELECT state FROM devenv_meta.seed_state WHERE id = 1"])
                if code == 0 and out.strip() == "done" and port:
                    break
                if time.monotonic() > deadline:
                    raise SourceError(f"the throwaway MariaDB did not start within {timeout:.0f}s")
                time.sleep(0.3)
        size = os.path.getsize(dump)
        with reporter.step(f"load {dump.name} ({size / 1e6:,.1f} MB) into it"):
            _root_sql(container, "SET GLOBAL innodb_flush_log_at_trx_commit = 0")
            reader = f"gzip -dc {_sh(target)}" if dump.name.endswith(".gz") else f"cat {_sh(target)}"
            code, out = _exec(container, ["bash", "-o", "pipefail", "-c",
                                          f"{reader} | mariadb -uroot --max-allowed-packet=1G {DUMP_DB}"])
            if code != 0:
                raise SourceError(f"loading {dump} failed (exit {code}):\n{out.strip()[-2000:]}",
                                  "The file must be a SQL dump (mariadb-dump/mysqldump) the server can run.")
        counts = {row[0]: int(row[1]) for row in _root_sql(
            container, "SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ("
                       + ", ".join(f"'{d}'" for d in SYSTEM_DBS) + ") GROUP BY TABLE_SCHEMA")}
        if counts.get(DUMP_DB):
            database = DUMP_DB
        else:
            others = sorted(d for d, n in counts.items() if n and d != DUMP_DB)
            if len(others) != 1:
                raise SourceError(f"{dump.name}: expected the tables of one database, found "
                                  f"{', '.join(others) or 'none'}",
                                  "Dump one database (mariadb-dump DB > file.sql).")
            database = others[0]
            _root_sql(container, f"GRANT SELECT, SHOW VIEW ON `{database}`.* TO '{DUMP_USER}'@'%'")
        yield SourceURL(user=DUMP_USER, password=password, host="127.0.0.1", port=port, database=database)
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


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
