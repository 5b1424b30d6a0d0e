"""PostgreSQL behind the seam: COPY ... FROM in one transaction with the tables
truncated first (no WAL with ``wal_level=minimal``, rows frozen), sequences moved past
the loaded ids, ``global/`` (pg_control) as the completion entry, the seed state in the
``devenv_meta`` database, ``pg_controldata`` for the clean-shutdown check (recipe
``postgresql``)."""

from __future__ import annotations

from .base import ROWS_MARKER, SEED_MOUNT, DatabaseEngine, LoadTable

# psql / pg_controldata of whatever major the image has (Debian: /usr/lib/postgresql/MAJOR/bin)
PG_BIN = 'PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)'
SOCKET_DIR = "/run/postgresql"


def qi(name: str) -> str:
    """A PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def ql(text: str) -> str:
    """A PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class PostgreSQL(DatabaseEngine):
    name = "postgresql"
    recipes = ("postgresql",)
    load_file = "load.pgsql"
    # pg_control and the shared catalogs: initdb writes them, a snapshot saves them last
    complete_entry = "global"
    url_schemes = ("postgresql", "postgres")
    runtime = "postgres"
    version_command = "/usr/lib/postgresql/*/bin/postgres --version"   # Debian keeps it off PATH

    def load_script(self, dataset_id: str, tables: list[LoadTable], mount: str = SEED_MOUNT) -> str:
        """psql script: one transaction that truncates the tables (so COPY may FREEZE and,
        with the init server's wal_level=minimal, write no WAL), COPYs every CSV, checks
        the row counts and moves serial/identity sequences past the loaded ids. Keys,
        foreign keys and indexes come after (the schema's post-load files)."""
        names = ", ".join(qi(t.name) for t in tables)
        out = [
            f"-- devenv dataset {dataset_id}: bulk load, run by devenv-postgresql-entrypoint",
            "-- (psql as the application role, application database) on the first start of an",
            "-- empty volume, with the dataset directory mounted at " + mount + ".",
            f"{ROWS_MARKER} {sum(t.rows for t in tables)}",
            r"\set ON_ERROR_STOP on",
            "SET client_encoding = 'UTF8';",
            "SET synchronous_commit = off;",
            "BEGIN;",
            f"TRUNCATE {names};",
        ]
        for t in tables:
            cols = ", ".join(qi(c) for c in t.columns)
            out.append(f"COPY {qi(t.name)} ({cols}) FROM {ql(mount + '/' + t.file)}"
                       " WITH (FORMAT csv, HEADER true, FREEZE true, ENCODING 'UTF8');")
        out.append("-- every row arrived")
        out.append("DO $devenv$ BEGIN")
        for t in tables:
            msg = ql(f"devenv dataset {dataset_id}: {t.name} does not have {t.rows} rows")
            out.append(f"  IF (SELECT count(*) FROM {qi(t.name)}) <> {t.rows} THEN RAISE EXCEPTION {msg}; END IF;")
        out.append("END $devenv$;")
        in_list = ", ".join(ql(t.name) for t in tables)
        out += [
            "-- serial and identity columns continue after the loaded ids",
            "DO $devenv$ DECLARE r record; BEGIN",
            "  FOR r IN SELECT c.relname AS t, a.attname AS col,",
            "                  pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS s",
            "           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid",
            "           JOIN pg_namespace n ON n.oid = c.relnamespace",
            f"           WHERE n.nspname = current_schema() AND c.relname IN ({in_list})",
            "             AND a.attnum > 0 AND NOT a.attisdropped LOOP",
            "    IF r.s IS NOT NULL THEN",
            "      EXECUTE format('SELECT setval(%L, COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)', r.s, r.col, r.t);",
            "    END IF;",
            "  END LOOP;",
            "END $devenv$;",
            "COMMIT;",
            "",
        ]
        return "\n".join(out)

    def held_dataset_command(self) -> list[str]:
        return ["sh", "-c", f"{PG_BIN}; exec \"$PGBIN/psql\" -h {SOCKET_DIR} -U postgres -d devenv_meta -tAX "
                "-c 'SELECT dataset FROM seed_state WHERE id = 1'"]

    def clean_shutdown_script(self, datadir: str) -> str:
        return f"""{PG_BIN}
state=$("$PGBIN/pg_controldata" {datadir} 2>&1 | sed -n 's/^Database cluster state: *//p')
case "$state" in
  "shut down"|"shut down in recovery") exit 0 ;;
  "") echo "pg_controldata cannot read {datadir}/global/pg_control" >&2; exit 3 ;;
  *) echo "pg_controldata says the cluster state is \\"$state\\", not \\"shut down\\"" >&2; exit 3 ;;
esac
"""

    def identity_script(self) -> str:
        # The datadir format changes only between major releases (15 -> 16); minor
        # updates (15.20 -> 15.21) read the same files, so the major is the version.
        return f"""{PG_BIN}
v=$("$PGBIN/postgres" --version | sed -n 's/.*(PostgreSQL) \\([0-9]*\\).*/\\1/p')
p=$("$PGBIN/postgres" --describe-config 2>/dev/null | awk -F'\\t' '$1 == "block_size" {{ print $5 }}')
echo "version=$v"; echo "page_size=${{p:-8192}}"
"""
