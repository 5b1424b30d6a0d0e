"""What is set only for the bulk load stays with the entrypoint's private init server:
after the init, the running server has the recipe's config (production parity: that is
what verify checks), for MariaDB and PostgreSQL. And MariaDB's streamed (parallel) load
gives the same tables as the same script run serially.

Runs the db images directly (built through devenv: the lamp reference for MariaDB, the
python-postgres template for PostgreSQL) on fresh labelled volumes.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid

import docker.errors
import pytest
from docker.types import Mount

from devenv.db.mariadb import STREAM_MARKER
from devenv.engine.client import Engine
from devenv.engine.images import ensure_service_image
from devenv.ui import SilentReporter
from tests.conftest import REPO
# the small shop dataset loaded by the entrypoint (its streams in parallel): test_seed's fixtures
from tests.integration.test_seed import LABELS, TABLES, Db, dataset, db_image, loaded  # noqa: F401

pytestmark = [pytest.mark.integration]

MARIADB_ENTRYPOINT = REPO / "devenv/library/recipes/mariadb/bin/devenv-mariadb-entrypoint"
PG_TEMPLATE = REPO / "devenv/library/templates/python-postgres"


def init_only_options(entrypoint, var: str = "DEFAULT_INIT_OPTS") -> list[str]:
    """The option names of the entrypoint's default init-server options."""
    m = re.search(rf'^{var}="([^"]*)"', entrypoint.read_text(), re.M)
    assert m, f"{var} not found in {entrypoint}"
    return m.group(1).split()


def size_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip(), re.I)
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]


def test_mariadb_running_server_has_the_recipes_config_not_the_loads(loaded):
    code, out = loaded.container.exec_run(["my_print_defaults", "--mysqld"])
    assert code == 0
    config = {}
    for line in out.decode().splitlines():
        k, _, v = line.lstrip("-").partition("=")
        config[k.replace("-", "_")] = v
    # every option the init server gets must be checked here: name -> value when running
    expected = {
        "innodb_buffer_pool_size": size_bytes(config["innodb_buffer_pool_size"]),
        "innodb_log_file_size": size_bytes(config["innodb_log_file_size"]),
        "innodb_flush_log_at_trx_commit": int(config["innodb_flush_log_at_trx_commit"]),
        "innodb_doublewrite": 1,      # the server default; the recipe does not turn it off
        # the server defaults (the recipe sets none of them): no early flushing, 200 / 2000 pages/s
        "innodb_max_dirty_pages_pct_lwm": 0,
        "innodb_io_capacity": 200,
        "innodb_io_capacity_max": 2000,
        "log_bin": 1 if "log_bin" in config else 0,
    }
    for opt in init_only_options(MARIADB_ENTRYPOINT):
        name = opt.lstrip("-").split("=", 1)[0].replace("-", "_")
        name = "log_bin" if name == "skip_log_bin" else name
        assert name in expected, f"init-only option {opt} is not checked against the running server"
    names = list(expected)
    [row] = loaded.sql("SELECT " + ", ".join(f"@@{n}" for n in names))
    assert dict(zip(names, (int(float(v)) for v in row))) == expected  # the lwm reads "0.000000"
    assert expected["innodb_flush_log_at_trx_commit"] == 2 and expected["innodb_buffer_pool_size"] == 256 << 20
    # the load did run on the init server with its own settings (in the log, not in the config)
    logs = loaded.logs()
    assert "rows/s" in logs and "ERROR" not in logs


def test_mariadb_streams_load_what_a_serial_run_of_the_script_loads(engine, db_image, dataset, loaded, tmp_path):
    text = (dataset.path / "load.sql").read_text()
    assert text.count(STREAM_MARKER) == 2
    serial_dir = tmp_path / "serial"
    shutil.copytree(dataset.path, serial_dir)
    # the same statements without the markers: the entrypoint runs the file as it is
    (serial_dir / "load.sql").write_text("\n".join(line for line in text.splitlines()
                                                   if not line.startswith(STREAM_MARKER)) + "\n")
    serial = Db(engine, db_image, serial_dir)
    try:
        serial.wait_done()
        assert serial.checksums() == loaded.checksums()
        assert serial.counts() == loaded.counts() == {t: dataset.manifest["tables"][t]["rows"] for t in TABLES}
    finally:
        serial.close()


# -- PostgreSQL ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg(engine):
    image = ensure_service_image(Engine(engine), PG_TEMPLATE / "profiles", "base", "db", SilentReporter())
    volume = f"devenv-test-loadcfg-{uuid.uuid4().hex[:10]}"
    engine.volumes.create(volume, labels=LABELS)
    container = engine.containers.run(
        image, detach=True, name=volume, labels=LABELS,
        environment={"DEVENV_DB_NAME": "catalog", "DEVENV_DB_USER": "catalog", "DEVENV_DB_PASSWORD": "devenv"},
        mounts=[Mount("/var/lib/postgresql/data", volume, type="volume")])
    try:
        deadline = time.monotonic() + 180
        while True:
            container.reload()
            assert container.status != "exited", container.logs().decode()[-3000:]
            r = container.exec_run(["psql", "-X", "-h", "/run/postgresql", "-U", "postgres", "-d", "devenv_meta",
                                    "-tAc", "SELECT state FROM seed_state WHERE id = 1"])
            if r.exit_code == 0 and r.output.decode().strip() == "done":
                break
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.5)
        yield container
    finally:
        container.remove(force=True)
        try:
            engine.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass


def pg_settings(container, names: list[str]) -> dict[str, tuple[str, str]]:
    in_list = ", ".join(f"'{n}'" for n in names)
    r = container.exec_run(["psql", "-X", "-h", "/run/postgresql", "-U", "postgres", "-d", "postgres", "-tA",
                            "-F", "|", "-c", f"SELECT name, setting, unit, source FROM pg_settings WHERE name IN ({in_list})"])
    assert r.exit_code == 0, r.output
    rows = [line.split("|") for line in r.output.decode().splitlines() if line]
    return {name: (setting + (unit or ""), source) for name, setting, unit, source in rows}


def test_postgresql_running_server_has_the_recipes_config_not_the_loads(pg):
    opts = init_only_options(PG_TEMPLATE.parents[1] / "recipes/postgresql/bin/devenv-postgresql-entrypoint")
    names = [o.split("=", 1)[0] for o in opts if o != "-c"]
    assert {"fsync", "synchronous_commit", "full_page_writes", "wal_level"} <= set(names)
    settings = pg_settings(pg, names)
    assert set(settings) == set(names)
    # none of them comes from the init server's command line: the config file or the default
    assert {n: src for n, (_, src) in settings.items() if src not in ("configuration file", "default")} == {}
    r = pg.exec_run(["cat", "/etc/postgresql/devenv/postgresql.conf"])
    conf = dict(re.findall(r"^(\w+)\s*=\s*'?([^'#\n]*?)'?\s*(?:#.*)?$", r.output.decode(), re.M))
    for n, (_, src) in settings.items():
        assert (src == "configuration file") == (n in conf), n
    values = {n: v for n, (v, _) in settings.items()}
    assert values["fsync"] == "on" and values["synchronous_commit"] == "on"
    assert values["full_page_writes"] == "on" and values["wal_level"] == "replica" and values["autovacuum"] == "on"
