"""MariaDB behind the seam: LOAD DATA LOCAL INFILE, the ``mysql/`` system schema,
``devenv_meta.seed_state``, InnoDB's page size (recipe ``mariadb``)."""

from __future__ import annotations

from .base import ROWS_MARKER, SEED_MOUNT, DatabaseEngine, LoadTable


# The entrypoint's contract: the lines before the first STREAM_MARKER are every
# stream's session setup, each "STREAM_MARKER N" starts a stream run by its own client
# (concurrently), the lines after STREAMS_END run once all streams have finished.
STREAM_MARKER = "-- devenv-load-stream:"
STREAMS_END = "-- devenv-load-streams-end"
# Two cores here (and on most laptops' share of Docker): a LOAD DATA is one thread
# (parse + insert), so two streams keep both busy; more would only contend.
LOAD_STREAMS = 2


def load_streams(tables: list[LoadTable], n: int) -> list[list[LoadTable]]:
    """``tables`` in at most ``n`` streams of about equal work (CSV bytes, else rows),
    largest first onto the lightest stream; each stream keeps the load order."""
    order = {t.name: i for i, t in enumerate(tables)}
    streams: list[list[LoadTable]] = [[] for _ in range(max(1, min(n, len(tables))))]
    work = [0] * len(streams)
    for t in sorted(tables, key=lambda t: (-(t.bytes or t.rows), order[t.name])):
        i = work.index(min(work))
        streams[i].append(t)
        work[i] += t.bytes or t.rows
    return [sorted(s, key=lambda t: order[t.name]) for s in streams if s]


def row_count_check(dataset_id: str, table: str, rows: int) -> list[str]:
    """The lines that follow a table's LOAD DATA: fail the init unless it stored every row
    (LOAD DATA LOCAL turns bad rows into warnings and goes on). ROW_COUNT() of the load
    itself, in its own session: a COUNT(*) of every table after the load cost the large
    dataset 0.8 s on one core with the other idle."""
    msg = f"devenv dataset {dataset_id}: {table} does not have {rows} rows: LOAD DATA stored "
    return ["SET @devenv_rows = ROW_COUNT();",
            "DELIMITER //",
            f"BEGIN NOT ATOMIC DECLARE m VARCHAR(1024) DEFAULT CONCAT('{msg}', @devenv_rows,"
            " ' (see its warnings)'); IF @devenv_rows <> " + str(rows) +
            " THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = m; END IF; END //",
            "DELIMITER ;"]


def load_sql_tail() -> list[str]:
    """The end of every MariaDB load script: the checks back on."""
    return ["SET SESSION foreign_key_checks = 1, unique_checks = 1;", ""]


class MariaDB(DatabaseEngine):
    name = "mariadb"
    recipes = ("mariadb",)
    load_file = "load.sql"
    complete_entry = "mysql"          # the system schema: written by mariadb-install-db, saved last
    url_schemes = ("mysql", "mariadb")
    runtime = "mariadb"
    version_command = "mariadb --version"

    def load_script(self, dataset_id: str, tables: list[LoadTable], mount: str = SEED_MOUNT) -> str:
        """Session settings, one LOAD DATA per table in ``LOAD_STREAMS`` streams, each
        followed by its row-count check. Run as one file it loads the streams one after the other
        (every marker is a comment); the entrypoint runs each stream in its own client
        (``STREAM_MARKER``), all at once, then the part after ``STREAMS_END``."""
        out = [
            f"-- devenv dataset {dataset_id}: bulk load, run by devenv-mariadb-entrypoint",
            "-- (mariadb --local-infile=1, application database selected) on the first start",
            "-- of an empty volume, with the dataset directory mounted at " + mount + ".",
            f"{ROWS_MARKER} {sum(t.rows for t in tables)}",
            "SET NAMES utf8mb4;",
            "-- bulk-loader settings: no per-row FK/unique checks (the generator guarantees",
            "-- both; tests check them), no binlog. With the FK checks off the tables are",
            "-- independent: the streams load them side by side. The entrypoint drops the",
            "-- secondary keys and foreign keys of the empty tables first and rebuilds them",
            "-- after each stream's loads (one ALTER per table: less CPU than InnoDB's bulk",
            "-- mode with the keys present), and reads UTF-8 as bytes into all-utf8mb4 tables.",
            "SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_log_bin = 0;",
        ]
        for i, stream in enumerate(load_streams(tables, LOAD_STREAMS), 1):
            out.append(f"{STREAM_MARKER} {i}")
            for t in stream:
                out.append(
                    f"LOAD DATA LOCAL INFILE '{mount}/{t.file}' INTO TABLE `{t.name}` CHARACTER SET utf8mb4"
                    " FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''"
                    " LINES TERMINATED BY '\\n' IGNORE 1 LINES"
                    f" ({', '.join(f'`{c}`' for c in t.columns)});")
                out += row_count_check(dataset_id, t.name, t.rows)
        out.append(STREAMS_END)
        out += load_sql_tail()
        return "\n".join(out)

    def held_dataset_command(self) -> list[str]:
        return ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT dataset FROM devenv_meta.seed_state WHERE id = 1"]

    def clean_shutdown_script(self, datadir: str) -> str:
        # InnoDB keeps no "shut down" flag a shell can read (the redo log's checkpoint is
        # binary); the server's own exit status is the check (mariadbd exits 0 only after
        # InnoDB's clean shutdown; the caller refuses any other status). What the datadir
        # shows: a crash-recovery leftover of an InnoDB that died mid-write.
        return f"""cd {datadir} || exit 1
if [ -e ib_logfile101 ]; then echo "InnoDB was resizing its redo log (ib_logfile101): not shut down cleanly" >&2; exit 3; fi
exit 0
"""

    def identity_script(self) -> str:
        return r"""v=$(mariadbd --version 2>/dev/null | sed -n 's/.*Ver \([0-9]*\.[0-9]*\).*/\1/p')
p=$(my_print_defaults --mysqld 2>/dev/null | sed -n 's/^--innodb[-_]page[-_]size=//p' | tail -n 1)
case "$p" in *[kK]) p=$(( ${p%[kK]} * 1024 )) ;; '') p=16384 ;; esac
echo "version=$v"; echo "page_size=$p"
"""
