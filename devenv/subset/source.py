"""The production database the subset reads: a MariaDB/MySQL server, over PyMySQL.

Everything is read in one ``REPEATABLE READ`` transaction started ``WITH
CONSISTENT SNAPSHOT``, so a replica that keeps changing still yields rows whose
foreign keys hold. Values come back as the server's text (no Python conversions:
``conv={}``), which is exactly what the CSV files hold; binary columns as bytes.
Big results stream (``SSCursor``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import SourceError, SourceUnreachableError
from .schema import Schema, read_schema

SCHEMES = ("mysql", "mariadb")
BATCH = 5000                  # values per IN (...) list
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class SourceURL:
    user: str
    password: str | None
    host: str
    port: int
    database: str
    socket: str | None = None

    @property
    def display(self) -> str:
        """The URL without its password (safe for logs and manifests)."""
        if self.socket:
            return f"mysql://{self.user}@localhost/{self.database}?socket={self.socket}"
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def looks_like_url(text: str) -> bool:
    return "://" in text


def parse_url(text: str, environ: dict[str, str] | None = None) -> SourceURL:
    """``mysql://user[:password]@host[:port]/database`` (``mariadb://`` too;
    ``?socket=/path`` for a unix socket). No password in the URL: ``$MYSQL_PWD``."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(text)
    hint = "Write it as mysql://user:password@host:port/database (or leave the password out and set $MYSQL_PWD)."
    if parts.scheme not in SCHEMES:
        raise SourceError(f"source `{_redact(text)}`: unknown scheme `{parts.scheme}` (mysql:// or mariadb://)", hint)
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise SourceError(f"source `{_redact(text)}`: name one database in the path", hint)
    query = parse_qs(parts.query)
    socket = query.get("socket", [None])[0]
    try:
        port = parts.port or 3306
    except ValueError:
        raise SourceError(f"source `{_redact(text)}`: invalid port", hint) from None
    if not parts.hostname and not socket:
        raise SourceError(f"source `{_redact(text)}`: no host", hint)
    password = unquote(parts.password) if parts.password is not None else environ.get("MYSQL_PWD")
    return SourceURL(user=unquote(parts.username or "root"), password=password, host=parts.hostname or "localhost",
                     port=port, database=database, socket=socket)


def _redact(text: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", text)


def qi(name: str) -> str:
    """A quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


class MariaDBSource:
    """One connection, one consistent snapshot, the queries the subset needs."""

    def __init__(self, url: SourceURL, connect_timeout: float = 10):
        import pymysql
        self.url = url
        self._pymysql = pymysql
        self.queries = 0
        try:
            self.conn = pymysql.connect(
                host=url.host, port=url.port, user=url.user, password=url.password or "",
                database=url.database, unix_socket=url.socket, charset="utf8mb4", conv={},
                connect_timeout=connect_timeout, read_timeout=3600, write_timeout=3600, autocommit=True,
                local_infile=False)
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            msg = exc.args[1] if len(exc.args) > 1 else str(exc)
            if code == 1045:
                hint = "Check the user and password (URL, or $MYSQL_PWD when the URL has none)."
            elif code in (1044, 1049):
                hint = f"Check the database name and that {url.user} may read it."
            else:
                hint = ("Is the server running and reachable from here? For a production replica, open a tunnel "
                        "first (e.g. ssh -L 3307:replica:3306 bastion) and use mysql://user@127.0.0.1:3307/db.")
            raise SourceUnreachableError(f"cannot connect to {url.display}: {msg}", hint) from None
        except (OSError, pymysql.err.MySQLError) as exc:
            raise SourceUnreachableError(f"cannot connect to {url.display}: {exc}") from None
        self._exec("SET SESSION time_zone = '+00:00'")
        self._exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self._exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        self.server_version, sql_mode = self.query("SELECT VERSION(), @@SESSION.sql_mode")[0]
        self._no_backslash_escapes = "NO_BACKSLASH_ESCAPES" in (sql_mode or "").upper()

    # -- plumbing ------------------------------------------------------------------

    def _exec(self, sql: str, params=None) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                self.queries += 1
                return list(cur.fetchall())
        except self._pymysql.err.MySQLError as exc:
            raise SourceError(f"{self.url.display}: query failed: {exc.args[-1] if exc.args else exc}\n  {sql[:300]}") from None

    def stream(self, sql: str, chunk: int = 5000) -> Iterator[tuple]:
        cur = self.conn.cursor(self._pymysql.cursors.SSCursor)
        try:
            try:
                cur.execute(sql)
            except self._pymysql.err.MySQLError as exc:
                raise SourceError(f"{self.url.display}: query failed: {exc.args[-1] if exc.args else exc}\n  {sql[:300]}") from None
            self.queries += 1
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    break
                yield from rows
        finally:
            cur.close()

    def literal(self, value) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, (bytes, bytearray)):
            return "X'" + bytes(value).hex() + "'"
        if _NUMBER.fullmatch(value):
            return value
        if self._no_backslash_escapes:
            return "'" + value.replace("'", "''") + "'"
        return "'" + self._pymysql.converters.escape_string(value) + "'"

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def __enter__(self) -> "MariaDBSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what the subset asks --------------------------------------------------------

    def schema(self) -> Schema:
        return read_schema(self.query, self.url.database, self.server_version)

    @staticmethod
    def _where(where: Iterable[str]) -> str:
        conds = [f"({w})" for w in where]
        return (" WHERE " + " AND ".join(conds)) if conds else ""

    def count(self, table: str, where: Iterable[str] = ()) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {qi(table)}{self._where(where)}")[0][0])

    def pick(self, table: str, columns: Sequence[str], pk: Sequence[str], where: Iterable[str], n: int | None,
             salt: str) -> Iterator[tuple]:
        """``n`` rows of ``table`` matching ``where``: those with the smallest MD5 of
        (salt, primary key), ties by key, so the pick is deterministic and does
        not depend on the physical order; ``n`` None: every matching row."""
        cols = ", ".join(qi(c) for c in columns)
        sql = f"SELECT {cols} FROM {qi(table)}{self._where(where)}"
        if n is not None:
            key = ", ".join(qi(c) for c in pk)
            sql += (f" ORDER BY MD5(CONCAT_WS(CHAR(31), {self.literal(salt)}, {key})), {key} LIMIT {int(n)}")
        return self.stream(sql)

    def lookup(self, table: str, columns: Sequence[str], match: Sequence[str], values: list[tuple]) -> Iterator[tuple]:
        """Rows of ``table`` whose ``match`` columns equal one of ``values``, in batches."""
        cols = ", ".join(qi(c) for c in columns)
        for i in range(0, len(values), BATCH):
            chunk = values[i:i + BATCH]
            if len(match) == 1:
                cond = f"{qi(match[0])} IN ({', '.join(self.literal(v[0]) for v in chunk)})"
            else:
                cond = (f"({', '.join(qi(c) for c in match)}) IN ("
                        + ", ".join("(" + ", ".join(self.literal(x) for x in v) + ")" for v in chunk) + ")")
            yield from self.query(f"SELECT {cols} FROM {qi(table)} WHERE {cond}")

    def scan(self, table: str, columns: Sequence[str]) -> Iterator[tuple]:
        cols = ", ".join(qi(c) for c in columns)
        return self.stream(f"SELECT {cols} FROM {qi(table)}")
