"""PostgreSQL sources (``postgresql://``, ``postgres://``) over pg8000 (pure Python).

Everything is read in one ``REPEATABLE READ READ ONLY`` transaction (one snapshot:
foreign keys hold even while production writes). Every value is selected as
``column::text``, the server's own text form (``TimeZone`` UTC, ISO dates), which is
what the CSV files hold and what ``COPY ... FROM`` reads back: ``bytea`` as ``\\x``
hex, booleans as ``true``/``false``. Big results stream through a server-side
cursor (``DECLARE``/``FETCH``). The catalog comes from ``pg_catalog`` (one schema:
``?schema=NAME``, else the user's ``current_schema()``). The subset's load script is
the engine's ``COPY`` load (``devenv.db.postgresql``); NULL is an unquoted empty
field (every text value is quoted, so ``""`` stays the empty string). Dumps:
``pg_dump`` plain SQL (psql) and custom format (``pg_restore``).
"""

from __future__ import annotations

import gzip
import itertools
import re
from typing import Iterator, Sequence

from ..base import LoadTable
from ..postgresql import PostgreSQL, qi, ql
from .base import Catalog, DumpServer, SourceEngine, SourceURL, SqlSource
from .errors import SourceError, SourceUnreachableError

SOCKET = "/run/postgresql"
PSQL_ROOT = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", SOCKET, "-U", "postgres"]

# pg_type.typname -> the neutral data_type of devenv.subset.schema (its CSV kind, integer sort)
TYPE_NAMES = {"int2": "smallint", "int4": "int", "int8": "bigint", "numeric": "decimal", "float4": "float",
              "float8": "double", "bit": "bitstring", "varbit": "bitstring", "bpchar": "char", "timestamp": "datetime",
              "timestamptz": "timestamp", "oid": "bigint"}
# not NUMBER in the CSV: bytea is text (\x...), which COPY reads as bytea input
_RULES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _data_type(typname: str, typcategory: str) -> str:
    if typcategory == "A" or typname.startswith("_"):
        return "array"
    return TYPE_NAMES.get(typname, typname)


class PostgreSQLSource(SqlSource):
    """One pg8000 connection, one snapshot, values as text."""

    _cursors = itertools.count(1)

    def __init__(self, url: SourceURL, connect_timeout: float = 10):
        import pg8000.native
        import pg8000.exceptions
        self.url = url
        self._errors = pg8000.exceptions
        self.queries = 0
        try:
            kw = {"unix_sock": f"{url.socket.rstrip('/')}/.s.PGSQL.{url.port}"} if url.socket else \
                {"host": url.host, "port": url.port}
            self.conn = pg8000.native.Connection(user=url.user, password=url.password, database=url.database,
                                                 timeout=connect_timeout, application_name="devenv-subset", **kw)
        except pg8000.exceptions.DatabaseError as exc:
            info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            code, msg = info.get("C", ""), info.get("M", str(exc))
            if code in ("28P01", "28000"):
                hint = "Check the user and password (URL, or $PGPASSWORD when the URL has none)."
            elif code == "3D000":
                hint = f"Check the database name and that {url.user} may connect to it."
            else:
                hint = None
            raise SourceUnreachableError(f"cannot connect to {url.display}: {msg}", hint) from None
        except (OSError, pg8000.exceptions.InterfaceError) as exc:
            raise SourceUnreachableError(
                f"cannot connect to {url.display}: {exc}",
                "Is the server running and reachable from here? For a production replica, open a tunnel first "
                "(e.g. ssh -L 5433:replica:5432 bastion) and use postgresql://user@127.0.0.1:5433/db.") from None
        self.conn.timeout = 3600
        self.namespace = url.namespace or self.query("SELECT current_schema()")[0][0]
        if self.namespace is None:
            raise SourceError(f"{url.display}: the user's search_path names no existing schema",
                              "Name the schema in the URL: ...?schema=public")
        self._run(f"SET search_path = {qi(self.namespace)}")
        for setting in ("TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'",
                        "extra_float_digits = 3", "bytea_output = 'hex'"):
            self._run(f"SET {setting}")
        self._run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.server_version = self.query("SHOW server_version")[0][0]

    def _run(self, sql: str) -> list:
        try:
            return self.conn.run(sql) or []
        except self._errors.DatabaseError as exc:
            info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            raise SourceError(f"{self.url.display}: query failed: {info.get('M', exc)}\n  {sql[:300]}") from None
        except self._errors.InterfaceError as exc:
            raise SourceUnreachableError(f"{self.url.display}: the connection failed: {exc}") from None

    def qi(self, name: str) -> str:
        return qi(name)

    def literal(self, value) -> str:
        # quoted even for numbers: an untyped literal takes the compared column's type
        return "NULL" if value is None else ql(value.decode() if isinstance(value, bytes) else str(value))

    def select_list(self, columns: Sequence[str]) -> str:
        return ", ".join(f"{qi(c)}::text" for c in columns)

    def hash_order(self, salt: str, key: Sequence[str]) -> str:
        return (f"md5(concat_ws(chr(31), {self.literal(salt)}, {', '.join(f'{qi(c)}::text' for c in key)})), "
                + ", ".join(qi(c) for c in key))

    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        assert not params, "PostgreSQL source queries carry their literals"
        self.queries += 1
        return [tuple(r) for r in self._run(sql)]

    def stream(self, sql: str, chunk: int = 5000) -> Iterator[tuple]:
        cursor = f"devenv_c{next(self._cursors)}"
        self._run(f"DECLARE {cursor} NO SCROLL CURSOR FOR {sql}")
        self.queries += 1
        try:
            while True:
                rows = self._run(f"FETCH {int(chunk)} FROM {cursor}")
                if not rows:
                    break
                for r in rows:
                    yield tuple(r)
        finally:
            try:
                self.conn.run(f"CLOSE {cursor}")
            except Exception:  # noqa: BLE001 - an aborted transaction closes it anyway
                pass

    def catalog(self) -> Catalog:
        ns = ql(self.namespace)
        tables = self.query(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE n.nspname = {ns} AND c.relkind IN ('r', 'p') AND NOT c.relispartition")
        raw = self.query(
            "SELECT c.relname, a.attname, t.typname, t.typcategory::text, format_type(a.atttypid, a.atttypmod), "
            "a.attnotnull, CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 "
            "THEN a.atttypmod - 4 END, CASE WHEN a.attcollation <> 0 AND co.collname <> 'default' "
            "THEN co.collname END, a.attgenerated::text "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation co ON co.oid = a.attcollation "
            f"WHERE n.nspname = {ns} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY c.relname, a.attnum")
        columns = [(t, col, _data_type(typ, cat), ftype, "NO" if notnull else "YES", maxlen, coll, None,
                    "GENERATED" if gen else "")
                   for t, col, typ, cat, ftype, notnull, maxlen, coll, gen in raw]
        uniques = self.query(
            "SELECT c.relname, CASE WHEN x.indisprimary THEN 'PRIMARY' ELSE i.relname END, a.attname "
            "FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            f"WHERE n.nspname = {ns} AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL "
            "ORDER BY c.relname, 2, k.ord")
        fks = self.query(
            "SELECT c.relname, con.conname, a.attname, pn.nspname, pc.relname, pa.attname, con.confdeltype::text "
            "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class pc ON pc.oid = con.confrelid "
            "JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
            "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(att, patt, ord) "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att "
            "JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.patt "
            f"WHERE con.contype = 'f' AND n.nspname = {ns} ORDER BY c.relname, con.conname, k.ord")
        fks = [(t, name, col, pns, pt, pcol, _RULES.get(rule, "NO ACTION")) for t, name, col, pns, pt, pcol, rule in fks]
        return Catalog(namespace=self.namespace, tables=tables, columns=columns, uniques=uniques, foreign_keys=fks)

    def create_statements(self, order: Sequence[str]) -> list[str]:
        """CREATE TABLE with columns, defaults, primary/unique/check constraints; then the
        foreign keys and the other indexes (so the file runs in any order of tables)."""
        out, after = [], []
        for name in order:
            rel = ql(f"{qi(self.namespace)}.{qi(name)}")
            cols = self.query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text "
                "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                f"WHERE a.attrelid = {rel}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")
            lines, sequences = [], []
            for col, ftype, notnull, default, identity, generated in cols:
                # a serial column's sequence: created first (its name as nextval() spells it)
                sequences += re.findall(r"nextval\('((?:[^']|'')+)'::regclass\)", default or "")
                line = f"    {qi(col)} {ftype}"
                if generated:
                    line += f" GENERATED ALWAYS AS ({default}) STORED"
                elif identity:
                    line += " GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY"
                elif default is not None:
                    line += f" DEFAULT {default}"
                if notnull:
                    line += " NOT NULL"
                lines.append(line)
            for cname, cdef, ctype in self.query(
                    "SELECT conname, pg_get_constraintdef(oid), contype::text FROM pg_constraint "
                    f"WHERE conrelid = {rel}::regclass ORDER BY contype, conname"):
                if ctype == "f":
                    after.append(f"ALTER TABLE {qi(name)} ADD CONSTRAINT {qi(cname)} {cdef};")
                elif ctype in ("p", "u", "c", "x"):
                    lines.append(f"    CONSTRAINT {qi(cname)} {cdef}")
            out += [f"CREATE SEQUENCE IF NOT EXISTS {seq.replace(chr(39) * 2, chr(39))};" for seq in sequences]
            out.append(f"CREATE TABLE {qi(name)} (\n" + ",\n".join(lines) + "\n);")
            for (idx,) in self.query(
                    "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indrelid = "
                    f"{rel}::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                    "ORDER BY 1"):
                after.append(idx + ";")
        return out + after

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


# statements start a line in pg_dump's output (a row of a COPY block may hold anything;
# a role wrongly taken from one only costs a NOLOGIN role in the throwaway server)
_ROLE_RE = re.compile(rb"^(?:ALTER [^;]* OWNER TO|GRANT [^;]* TO|ALTER DEFAULT PRIVILEGES FOR ROLE) "
                      rb"([A-Za-z_][A-Za-z0-9_$]*|\"[^\"]+\")")


def roles_in_plain_dump(path) -> list[str]:
    """The roles a plain pg_dump file names (owners, grantees): the throwaway server
    creates them so that the file runs with ON_ERROR_STOP (custom dumps are restored
    --no-owner instead)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    found = set()
    with opener(path, "rb") as f:
        for line in f:
            m = _ROLE_RE.match(line)
            if m:
                found.add(m.group(1).decode(errors="replace").strip('"'))
    return sorted(found - {"postgres", "PUBLIC", "public"})


class PostgreSQLSourceEngine(SourceEngine):
    name = "postgresql"
    label = "PostgreSQL"
    schemes = PostgreSQL.url_schemes       # the seam's list (devenv.db.engine_for_url)
    display_scheme = PostgreSQL.url_schemes[0]
    default_port = 5432
    password_env = "PGPASSWORD"
    default_user = "postgres"
    load_file = PostgreSQL.load_file
    null = ""
    dump_suffixes = (".sql", ".sql.gz", ".dump", ".pgdump")

    def connect(self, url: SourceURL) -> PostgreSQLSource:
        src = PostgreSQLSource(url)
        src.engine = self
        return src

    def recognise(self, head: bytes) -> str | None:
        if head.startswith(b"PGDMP"):
            return "custom"
        if re.search(rb"^-- PostgreSQL database (dump|cluster dump)", head[:4096], re.M):
            return "plain"
        return None

    def subset_load_script(self, dataset_id: str, tables: list, rows: dict[str, int], mount: str) -> str:
        return PostgreSQL().load_script(dataset_id, [LoadTable(t.name, t.file, t.column_names, rows[t.name])
                                                     for t in tables], mount)

    def dump_server(self, database: str, user: str, password: str, target: str, fmt: str, path=None) -> DumpServer:
        def sql(text: str, db: str = "postgres") -> list[str]:
            return PSQL_ROOT + ["-d", db, "-c", text]
        prepare = [sql(f"ALTER ROLE {qi(user)} SET default_transaction_read_only = on"),
                   sql(f"GRANT pg_read_all_data TO {qi(user)}")]
        if fmt == "custom":
            load = (f"pg_restore --no-owner --no-privileges --exit-on-error -h {SOCKET} -U postgres "
                    f"-d {database} {_sh(target)}")
        else:
            for role in roles_in_plain_dump(path) if path else ():
                prepare.append(sql(f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {ql(role)}) "
                                   f"THEN CREATE ROLE {qi(role)} NOLOGIN; END IF; END$$"))
            reader = f"gzip -dc {_sh(target)}" if target.endswith(".gz") else f"cat {_sh(target)}"
            load = f"{reader} | psql -X -q -v ON_ERROR_STOP=1 -h {SOCKET} -U postgres -d {database} >/dev/null"
        # every database of the dump (pg_dump -C creates its own): name and user tables
        find = ("for d in $(psql -X -tA -h " + SOCKET + " -U postgres -d postgres -c \"SELECT datname FROM "
                "pg_database WHERE datallowconn AND datname NOT IN ('postgres', 'template1', 'devenv_meta')\"); do "
                "printf '%s\\t%s\\n' \"$d\" \"$(psql -X -tA -h " + SOCKET + " -U postgres -d \"$d\" -c "
                "\"SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')\")\"; "
                "done")
        return DumpServer(
            port="5432/tcp",
            environment={"DEVENV_DB_NAME": database, "DEVENV_DB_USER": user, "DEVENV_DB_PASSWORD": password,
                         "DEVENV_DB_INITDB_DIR": "/nonexistent"},
            ready=PSQL_ROOT + ["-d", "devenv_meta", "-c", "SELECT state FROM seed_state WHERE id = 1"],
            prepare=prepare, load=load, find_database=["bash", "-c", find], grant=None)


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
