"""The MariaDB entrypoint's bulk load builds secondary keys and foreign keys after the
rows and reads UTF-8 as bytes only where that is byte for byte the same: a schema of
the test's own (an initdb directory mounted over the recipe's) with a foreign key, a
unique key, a plain key, an all-utf8mb4 table and a table with a latin1 column.

- the tables' definitions after the load are exactly those of the schema's empty tables
  (SHOW CREATE TABLE, AUTO_INCREMENT aside), and the log names the deferred tables;
- a latin1 column still gets the conversion (its bytes are latin1), the utf8mb4 table
  holds the file's UTF-8 bytes;
- the foreign keys hold after the load and are enforced afterwards.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import docker.errors
import pytest
from docker.types import Mount

from devenv.db import LoadTable, engine_named
from devenv.data.datasets import SEED_MOUNT
from tests.integration.test_seed import ENV, LABELS, db_image  # noqa: F401

pytestmark = [pytest.mark.integration]

SCHEMA = """SET NAMES utf8mb4;
CREATE TABLE city (
    id    INT UNSIGNED NOT NULL AUTO_INCREMENT,
    code  VARCHAR(10)  NOT NULL,
    name  VARCHAR(50)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_city_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE shop (
    id       INT UNSIGNED NOT NULL AUTO_INCREMENT,
    city_id  INT UNSIGNED NOT NULL,
    label    VARCHAR(50) CHARACTER SET latin1 NOT NULL,
    note     TEXT NOT NULL,
    PRIMARY KEY (id),
    KEY idx_shop_city_label (city_id, label(10)),
    CONSTRAINT fk_shop_city FOREIGN KEY (city_id) REFERENCES city (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
"""
CITY = [(1, "ZRH", "Zürich"), (2, "KRK", "Kraków"), (3, "TYO", "東京 🗼")]
SHOP = [(i, 1 + i % 3, "Café Ümlaut" if i % 2 else "Crème", f"note {i}, \"quoted\"\nline two") for i in range(1, 201)]


def csv_text(header: list[str], rows) -> str:
    def field(v):
        return str(v) if isinstance(v, int) else '"' + str(v).replace('"', '""') + '"'
    return ",".join(header) + "\n" + "".join(",".join(field(v) for v in r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loadkeys")
    initdb = root / "initdb"
    initdb.mkdir()
    (initdb / "01-schema.sql").write_text(SCHEMA)
    seed = root / "seed"
    seed.mkdir()
    tables = [LoadTable("city", "city.csv", ("id", "code", "name"), len(CITY)),
              LoadTable("shop", "shop.csv", ("id", "city_id", "label", "note"), len(SHOP))]
    (seed / "city.csv").write_text(csv_text(["id", "code", "name"], CITY), encoding="utf-8")
    (seed / "shop.csv").write_text(csv_text(["id", "city_id", "label", "note"], SHOP), encoding="utf-8")
    ds_id = "loadkeys-test-1"
    script = engine_named("mariadb").load_script(ds_id, tables)
    assert script.count("-- devenv-load-stream:") == 2      # streamed: the path that defers keys
    (seed / "load.sql").write_text(script)
    (seed / "DATASET_ID").write_text(ds_id + "\n")
    (seed / "manifest.json").write_text(json.dumps({"id": ds_id, "order": ["city", "shop"], "tables": {
        t.name: {"file": t.file, "columns": list(t.columns), "rows": t.rows} for t in tables}}))
    for p in (initdb, seed, *initdb.iterdir(), *seed.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return initdb, seed


class Server:
    def __init__(self, engine, image, initdb, seed=None):
        self.engine = engine
        self.name = f"devenv-test-loadkeys-{uuid.uuid4().hex[:10]}"
        engine.volumes.create(self.name, labels=LABELS)
        mounts = [Mount("/var/lib/mysql", self.name, type="volume"),
                  Mount("/srv/initdb", str(initdb), type="bind", read_only=True)]
        if seed is not None:
            mounts.append(Mount(SEED_MOUNT, str(seed), type="bind", read_only=True))
        self.container = engine.containers.run(image, detach=True, name=self.name, labels=LABELS,
                                               environment=dict(ENV, DEVENV_DB_INITDB_DIR="/srv/initdb"),
                                               mounts=mounts)
        deadline = time.monotonic() + 120
        while True:
            self.container.reload()
            assert self.container.status != "exited", self.logs()[-3000:]
            code, out = self.container.exec_run(
                ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT state FROM devenv_meta.seed_state WHERE id = 1"])
            if code == 0 and out.decode().strip() == "done":
                return
            assert time.monotonic() < deadline, self.logs()[-3000:]
            time.sleep(0.3)

    def sql(self, query: str) -> list[list[str]]:
        code, out = self.container.exec_run(["mariadb", "-uroot", "--default-character-set=utf8mb4", "-N", "-B", "shop", "-e", query], demux=True)
        assert code == 0, (query, out[1])
        return [line.split("\t") for line in (out[0] or b"").decode().splitlines()]

    def ddl(self, table: str) -> str:
        code, out = self.container.exec_run(["mariadb", "-uroot", "-N", "-B", "--raw", "shop", "-e",
                                             f"SHOW CREATE TABLE `{table}`"], demux=True)
        assert code == 0, out[1]
        return re.sub(r" AUTO_INCREMENT=\d+", "", out[0].decode().split("\t", 1)[1])

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def close(self):
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        self.engine.volumes.get(self.name).remove(force=True)


@pytest.fixture(scope="module")
def servers(engine, db_image, dirs):
    initdb, seed = dirs
    loaded = Server(engine, db_image, initdb, seed)
    try:
        empty = Server(engine, db_image, initdb)   # the schema alone: no dataset, no seed file
        try:
            yield loaded, empty
        finally:
            empty.close()
    finally:
        loaded.close()


def test_definitions_after_the_load_are_the_schemas(servers):
    loaded, empty = servers
    for table in ("city", "shop"):
        assert loaded.ddl(table) == empty.ddl(table)
    assert "CONSTRAINT `fk_shop_city` FOREIGN KEY" in loaded.ddl("shop")
    assert "KEY `idx_shop_city_label` (`city_id`,`label`(10))" in loaded.ddl("shop")
    m = re.search(r"secondary keys built after the load: ([^;]*);", loaded.logs())
    assert m and sorted(m.group(1).split()) == ["city", "shop"], loaded.logs()[-2000:]


def test_utf8_is_read_as_bytes_only_into_all_utf8mb4_tables(servers):
    loaded, _ = servers
    assert re.search(r"UTF-8 read without conversion: city$", loaded.logs(), re.M), loaded.logs()[-2000:]
    got = dict(loaded.sql("SELECT code, HEX(name) FROM city"))
    assert got == {code: name.encode("utf-8").hex().upper() for _, code, name in CITY}
    # the latin1 column got its conversion: latin1 bytes, the same text
    assert loaded.sql("SELECT HEX(label), label FROM shop WHERE id = 1") == \
        [["Café Ümlaut".encode("latin1").hex().upper(), "Café Ümlaut"]]
    assert loaded.sql("SELECT note FROM shop WHERE id = 7") == [["note 7, \"quoted\"\\nline two"]]
    assert loaded.sql("SELECT COUNT(*) FROM shop") == [[str(len(SHOP))]]


def test_foreign_keys_hold_and_are_enforced(servers):
    loaded, _ = servers
    assert loaded.sql("SELECT COUNT(*) FROM shop s LEFT JOIN city c ON c.id = s.city_id WHERE c.id IS NULL") == [["0"]]
    code, out = loaded.container.exec_run(["mariadb", "-uroot", "shop", "-e",
                                           "INSERT INTO shop (city_id, label, note) VALUES (99, 'x', 'y')"])
    assert code != 0 and b"foreign key constraint fails" in out
