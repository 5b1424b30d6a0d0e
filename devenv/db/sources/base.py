"""What every subset source engine provides, and the SQL they share.

A source engine (``SourceEngine``) is one database engine's side of reading a
production database: its URLs, a connection (``SqlSource``: one consistent
snapshot, values as the server's text), its catalog in one neutral shape
(``Catalog``, turned into a ``devenv.subset.schema.Schema`` above the seam), the
CSV dialect its bulk load reads (the NULL token, binary values), its subset load
script and the throwaway server that loads a dump file of its own kind.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import SourceError

# how a column's values are written to CSV (``devenv.subset.schema.Column.kind``)
NUMBER, TEXT, BINARY, BIT = "number", "text", "binary", "bit"
BATCH = 5000                  # values per IN (...) list


@dataclass(frozen=True)
class SourceURL:
    scheme: str                  # the engine's display scheme (mysql, postgresql)
    user: str
    password: str | None
    host: str
    port: int
    database: str
    socket: str | None = None
    namespace: str | None = None  # PostgreSQL: the schema (?schema=), default the user's current_schema()

    @property
    def display(self) -> str:
        """The URL without its password (safe for logs and manifests)."""
        extra = f"?schema={self.namespace}" if self.namespace else ""
        if self.socket:
            return f"{self.scheme}://{self.user}@localhost/{self.database}?socket={self.socket}"
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.database}{extra}"


def redact(text: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", text)


@dataclass(frozen=True)
class Catalog:
    """A source's tables in the shape of MariaDB's information_schema (which the
    schema builder reads), whatever the engine:

    - ``tables``: (name, row estimate) of the base tables
    - ``columns``: (table, column, data_type, column_type, nullable "YES"/"NO",
      max_length, collation, charset, extra) in column order; ``data_type`` in
      the neutral vocabulary of ``devenv.subset.schema`` (int, bigint, varchar,
      decimal, blob, bit, ...), ``extra`` containing ``GENERATED`` for computed columns
    - ``uniques``: (table, index, column) of every unique index in key order, the
      primary key's index named ``PRIMARY``
    - ``foreign_keys``: (table, constraint, column, parent namespace, parent table,
      parent column, ON DELETE rule) in key order
    - ``namespace``: the namespace the tables are in (MariaDB: the database)
    """

    namespace: str
    tables: list[tuple]
    columns: list[tuple]
    uniques: list[tuple]
    foreign_keys: list[tuple]


class SqlSource:
    """One connection and one consistent snapshot: the queries the subset needs,
    written once over the engine's quoting (``qi``), literals and hash order."""

    queries: int = 0
    url: SourceURL
    server_version: str = ""

    # -- engine parts ------------------------------------------------------------------

    def qi(self, name: str) -> str:
        raise NotImplementedError

    def literal(self, value) -> str:
        raise NotImplementedError

    def select_list(self, columns: Sequence[str]) -> str:
        """The columns as the server's text (``SELECT`` list)."""
        return ", ".join(self.qi(c) for c in columns)

    def hash_order(self, salt: str, key: Sequence[str]) -> str:
        """An ``ORDER BY`` expression: the MD5 of (salt, key columns), then the key."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        raise NotImplementedError

    def stream(self, sql: str, chunk: int = 5000) -> Iterator[tuple]:
        raise NotImplementedError

    def catalog(self) -> Catalog:
        raise NotImplementedError

    def create_statements(self, order: Sequence[str]) -> list[str]:
        """The DDL of the tables in ``order`` (for the directory's schema file)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what the subset asks -------------------------------------------------------------

    @staticmethod
    def _where(where: Iterable[str]) -> str:
        conds = [f"({w})" for w in where]
        return (" WHERE " + " AND ".join(conds)) if conds else ""

    def count(self, table: str, where: Iterable[str] = ()) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {self.qi(table)}{self._where(where)}")[0][0])

    def pick(self, table: str, columns: Sequence[str], pk: Sequence[str], where: Iterable[str], n: int | None,
             salt: str) -> Iterator[tuple]:
        """``n`` rows of ``table`` matching ``where``: those with the smallest MD5 of
        (salt, primary key), ties by key, so the pick is deterministic and does not
        depend on the physical order; ``n`` None: every matching row."""
        sql = f"SELECT {self.select_list(columns)} FROM {self.qi(table)}{self._where(where)}"
        if n is not None:
            sql += f" ORDER BY {self.hash_order(salt, pk)} LIMIT {int(n)}"
        return self.stream(sql)

    def lookup(self, table: str, columns: Sequence[str], match: Sequence[str], values: list[tuple]) -> Iterator[tuple]:
        """Rows of ``table`` whose ``match`` columns equal one of ``values``, in batches."""
        cols = self.select_list(columns)
        for i in range(0, len(values), BATCH):
            chunk = values[i:i + BATCH]
            if len(match) == 1:
                cond = f"{self.qi(match[0])} IN ({', '.join(self.literal(v[0]) for v in chunk)})"
            else:
                cond = (f"({', '.join(self.qi(c) for c in match)}) IN ("
                        + ", ".join("(" + ", ".join(self.literal(x) for x in v) + ")" for v in chunk) + ")")
            yield from self.query(f"SELECT {cols} FROM {self.qi(table)} WHERE {cond}")

    def scan(self, table: str, columns: Sequence[str], order_by: Sequence[str] = ()) -> Iterator[tuple]:
        sql = f"SELECT {self.select_list(columns)} FROM {self.qi(table)}"
        if order_by:
            sql += " ORDER BY " + ", ".join(self.qi(c) for c in order_by)
        return self.stream(sql)


@dataclass(frozen=True)
class DumpServer:
    """How a throwaway server of the engine's own image loads a dump file: the
    container port, its environment (empty initdb directory: no schema or seed of its
    own), the readiness probe, and the commands (run in the container) of each step."""

    port: str                                    # "3306/tcp"
    environment: dict[str, str]
    ready: list[str]                             # prints `done` once the server is ready
    prepare: list[list[str]] = field(default_factory=list)
    load: list[str] = field(default_factory=list)   # one shell command line (bash -o pipefail -c)
    find_database: list[str] = field(default_factory=list)   # prints `database<TAB>tables` lines
    grant: Callable[[str], list[str]] | None = None   # database -> command giving the reader its rights


class SourceEngine:
    """One engine's side of reading a source (see the module doc)."""

    name: str
    label: str                   # how messages name it ("MariaDB/MySQL", "PostgreSQL")
    schemes: tuple[str, ...]     # its DatabaseEngine's url_schemes: one list per engine, in devenv.db
    display_scheme: str          # the first of them
    default_port: int
    password_env: str            # where the password comes from when the URL has none
    load_file: str               # the load script a subset of this engine's source carries
    null: str                    # the CSV token of SQL NULL its bulk load reads
    dump_suffixes: tuple[str, ...] = (".sql", ".sql.gz")

    def parse_url(self, text: str, environ: dict[str, str] | None = None) -> SourceURL:
        """``SCHEME://user[:password]@host[:port]/database`` (``?socket=/path`` for a
        unix socket, ``?schema=NAME`` for a PostgreSQL schema). No password in the URL:
        the engine's environment variable."""
        environ = os.environ if environ is None else environ
        parts = urlsplit(text)
        hint = (f"Write it as {self.display_scheme}://user:password@host:port/database "
                f"(or leave the password out and set ${self.password_env}).")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise SourceError(f"source `{redact(text)}`: name one database in the path", hint)
        query = parse_qs(parts.query)
        socket = query.get("socket", query.get("host", [None]))[0]
        try:
            port = parts.port or self.default_port
        except ValueError:
            raise SourceError(f"source `{redact(text)}`: invalid port", hint) from None
        if not parts.hostname and not socket:
            raise SourceError(f"source `{redact(text)}`: no host", hint)
        password = unquote(parts.password) if parts.password is not None else environ.get(self.password_env)
        return SourceURL(scheme=self.display_scheme, user=unquote(parts.username or self.default_user),
                         password=password, host=parts.hostname or "localhost", port=port, database=database,
                         socket=socket, namespace=query.get("schema", [None])[0])

    default_user = "root"

    def connect(self, url: SourceURL) -> SqlSource:
        raise NotImplementedError

    def recognise(self, head: bytes) -> str | None:
        """The dump format (``plain``, ``custom``) when ``head`` (the first bytes of a
        dump, decompressed) is a dump of this engine, else None."""
        raise NotImplementedError

    def subset_load_script(self, dataset_id: str, tables: list, rows: dict[str, int], mount: str) -> str:
        """The bulk load of a subset's CSV files (``tables``: ``devenv.subset.schema.Table``
        in load order)."""
        raise NotImplementedError

    def dump_server(self, database: str, user: str, password: str, target: str, fmt: str,
                    path=None) -> DumpServer:
        """The throwaway server for dump ``path`` (mounted at ``target``, format ``fmt``)."""
        raise NotImplementedError
