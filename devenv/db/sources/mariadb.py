"""MariaDB/MySQL sources (``mysql://``, ``mariadb://``) over PyMySQL.

Everything is read in one ``REPEATABLE READ`` transaction started ``WITH
CONSISTENT SNAPSHOT``, so a replica that keeps changing still yields rows whose
foreign keys hold. Values come back as the server's text (no Python conversions:
``conv={}``), which is exactly what the CSV files hold; binary columns as bytes.
Big results stream (``SSCursor``). The subset's load script is LOAD DATA LOCAL
INFILE (binary columns through ``UNHEX``, BIT through ``CAST``); NULL is ``NULL``
unquoted. Dumps: ``mariadb-dump``/``mysqldump`` files, loaded with the ``mariadb`` client.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

from ..base import ROWS_MARKER
from ..mariadb import MariaDB, load_sql_tail, row_count_check
from .base import BINARY, BIT, Catalog, DumpServer, SourceEngine, SourceURL, SqlSource
from .errors import SourceError, SourceUnreachableError

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
SYSTEM_DBS = ("mysql", "information_schema", "performance_schema", "sys", "devenv_meta")

_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH,
       COLLATION_NAME, CHARACTER_SET_NAME, EXTRA
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION"""
_TABLES = ("SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
           "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'")
_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND NON_UNIQUE = 0 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"""
_FKS = """
SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
       k.REFERENCED_COLUMN_NAME, r.DELETE_RULE
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"""


def qi(name: str) -> str:
    """A quoted MariaDB identifier."""
    return "`" + name.replace("`", "``") + "`"


def _text(v):
    return v.decode() if isinstance(v, (bytes, bytearray)) else v


class MariaDBSource(SqlSource):
    """One PyMySQL connection, one consistent snapshot."""

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

    def _exec(self, sql: str, params=None) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def qi(self, name: str) -> str:
        return qi(name)

    def hash_order(self, salt: str, key: Sequence[str]) -> str:
        k = ", ".join(qi(c) for c in key)
        return f"MD5(CONCAT_WS(CHAR(31), {self.literal(salt)}, {k})), {k}"

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

    def catalog(self) -> Catalog:
        db = (self.url.database,)
        return Catalog(namespace=self.url.database, tables=self.query(_TABLES, db), columns=self.query(_COLUMNS, db),
                       uniques=self.query(_INDEXES, db), foreign_keys=self.query(_FKS, db))

    def create_statements(self, order: Sequence[str]) -> list[str]:
        out = []
        for name in order:
            ddl = _text(self.query(f"SHOW CREATE TABLE {qi(name)}")[0][1])
            out.append(re.sub(r" AUTO_INCREMENT=\d+", "", ddl) + ";")
        return out

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


def load_statement(table, mount: str) -> str:
    """One LOAD DATA, as ``devenv.db.mariadb`` writes it; binary and BIT columns go
    through a user variable and a SET clause."""
    targets, sets = [], []
    for i, c in enumerate(table.columns):
        if c.kind in (BINARY, BIT):
            var = f"@c{i}"
            targets.append(var)
            sets.append(f"`{c.name}` = " + (f"UNHEX({var})" if c.kind == BINARY else f"CAST({var} AS UNSIGNED)"))
        else:
            targets.append(f"`{c.name}`")
    sql = (f"LOAD DATA LOCAL INFILE '{mount}/{table.file}' INTO TABLE `{table.name}` CHARACTER SET utf8mb4"
           " FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''"
           " LINES TERMINATED BY '\\n' IGNORE 1 LINES"
           f" ({', '.join(targets)})")
    if sets:
        sql += " SET " + ", ".join(sets)
    return sql + ";"


def load_script(dataset_id: str, tables: list, rows: dict[str, int], mount: str) -> str:
    """load.sql: the structure of the MariaDB engine's load script (same session
    settings, parents first, the row-count check that fails the init), plus UTC."""
    out = [
        f"-- devenv dataset {dataset_id}: bulk load, run by devenv-mariadb-entrypoint",
        "-- (mariadb --local-infile=1, application database selected) on the first start",
        "-- of an empty volume, with the dataset directory mounted at " + mount + ".",
        "-- Made by `devenv dataset subset` or `import` (see manifest.json).",
        f"{ROWS_MARKER} {sum(rows.values())}",
        "SET NAMES utf8mb4;",
        "-- values were read in UTC; TIMESTAMP columns are loaded in UTC too",
        "SET SESSION time_zone = '+00:00';",
        "-- bulk-loader settings: no per-row FK/unique checks (the subset keeps every",
        "-- foreign key and the source's unique keys; tests check both), no binlog.",
        "-- With both checks off rows of a foreign-key cycle load in any order.",
        "SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_log_bin = 0;",
    ]
    for t in tables:
        out.append(load_statement(t, mount))
        out += row_count_check(dataset_id, t.name, rows[t.name])
    out += load_sql_tail()
    return "\n".join(out)


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class MariaDBSourceEngine(SourceEngine):
    name = "mariadb"
    label = "MariaDB/MySQL"
    schemes = MariaDB.url_schemes          # the seam's list (devenv.db.engine_for_url)
    display_scheme = MariaDB.url_schemes[0]
    default_port = 3306
    password_env = "MYSQL_PWD"
    load_file = MariaDB.load_file
    null = "NULL"

    def connect(self, url: SourceURL) -> MariaDBSource:
        src = MariaDBSource(url)
        src.engine = self
        return src

    def recognise(self, head: bytes) -> str | None:
        text = head[:4096].decode(errors="replace")
        if re.search(r"^-- (MariaDB|MySQL) dump", text, re.M) or "/*!40101 SET" in text or "/*M!999999" in text:
            return "plain"
        return None

    def subset_load_script(self, dataset_id: str, tables: list, rows: dict[str, int], mount: str) -> str:
        return load_script(dataset_id, tables, rows, mount)

    def dump_server(self, database: str, user: str, password: str, target: str, fmt: str, path=None) -> DumpServer:
        root = ["mariadb", "-uroot", "-N", "-B", "-e"]
        reader = f"gzip -dc {_sh(target)}" if target.endswith(".gz") else f"cat {_sh(target)}"
        return DumpServer(
            port="3306/tcp",
            environment={"DEVENV_DB_NAME": database, "DEVENV_DB_USER": user, "DEVENV_DB_PASSWORD": password,
                         "DEVENV_DB_INITDB_DIR": "/nonexistent"},
            ready=root + ["SELECT state FROM devenv_meta.seed_state WHERE id = 1"],
            prepare=[root + ["SET GLOBAL innodb_flush_log_at_trx_commit = 0"]],
            load=f"{reader} | mariadb -uroot --max-allowed-packet=1G {database}",
            find_database=root + ["SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA "
                                  "NOT IN (" + ", ".join(f"'{d}'" for d in SYSTEM_DBS) + ") GROUP BY TABLE_SCHEMA"],
            grant=lambda db: root + [f"GRANT SELECT, SHOW VIEW ON {qi(db)}.* TO '{user}'@'%'"])
