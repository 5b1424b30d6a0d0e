"""The generated dataset really loads: the db image's entrypoint bulk-loads a dataset
directory bind-mounted at /var/lib/devenv-seed, and an interrupted load is redone.

Runs the reference db image (built through devenv from the reference profiles)
directly, with fresh labelled volumes; a small dataset loads in a few seconds.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import docker.errors
import pytest
from docker.types import Mount

from devenv.data.datasets import SEED_MOUNT, materialize
from devenv.data.generators.shop import TABLES as SHOP_TABLES
from devenv.engine.client import Engine
from devenv.engine.images import ensure_service_image
from devenv.profile.model import Dataset, ImageSet
from devenv.ui import SilentReporter
from tests.conftest import REFERENCE, REPO

pytestmark = [pytest.mark.integration]

# Everything created here carries the test label (removed by the session's cleanup
# too). DEVENV_TEST_LABEL overrides it, e.g. to keep another test run's cleanup
# (which removes everything labelled dev.devenv.test=1) away from this one.
LABELS = dict([os.environ.get("DEVENV_TEST_LABEL", "dev.devenv.test=1").split("=", 1)])
ENV = {"DEVENV_DB_NAME": "shop", "DEVENV_DB_USER": "shop", "DEVENV_DB_PASSWORD": "devenv"}
TABLES = [t.name for t in SHOP_TABLES]
INIT_SOCKET = "/run/mysqld/devenv-init.sock"


@pytest.fixture(scope="module")
def db_image(engine) -> str:
    return ensure_service_image(Engine(engine), REFERENCE / "profiles", "base", "db", SilentReporter())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return materialize(Dataset("shop", "small", seed=1), ImageSet(count=100),
                       tmp_path_factory.mktemp("cache"), SilentReporter())


class Db:
    """One db container on one volume, removed (with its volume) by ``close``."""

    def __init__(self, engine, image: str, seed_dir: Path | None, volume: str | None = None):
        self.engine = engine
        self.volume = volume or f"devenv-test-seed-{uuid.uuid4().hex[:10]}"
        try:
            engine.volumes.get(self.volume)
        except docker.errors.NotFound:
            engine.volumes.create(self.volume, labels=LABELS)
        mounts = [Mount("/var/lib/mysql", self.volume, type="volume")]
        if seed_dir is not None:
            mounts.append(Mount(SEED_MOUNT, str(seed_dir), type="bind", read_only=True))
        self.container = engine.containers.run(
            image, detach=True, name=f"devenv-test-seed-{uuid.uuid4().hex[:10]}", labels=LABELS,
            environment=ENV, mounts=mounts)

    def sql(self, query: str, socket: str | None = None) -> list[list[str]]:
        cmd = ["mariadb", "-uroot", "-N", "-B", "shop", "-e", query]
        if socket:
            cmd.insert(1, f"--socket={socket}")
        code, out = self.container.exec_run(cmd, demux=True)
        if code != 0:
            raise AssertionError(f"{query}: exit {code}: {out[1]!r}")
        return [line.split("\t") for line in (out[0] or b"").decode().splitlines()]

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def wait_done(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status == "exited":
                raise AssertionError(f"db exited during init:\n{self.logs()[-3000:]}")
            code, out = self.container.exec_run(
                ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT state FROM devenv_meta.seed_state WHERE id = 1"])
            if code == 0 and out.decode().strip() == "done":
                return
            time.sleep(0.3)
        raise AssertionError(f"db not seeded within {timeout}s:\n{self.logs()[-3000:]}")

    def counts(self) -> dict[str, int]:
        union = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM `{t}`" for t in TABLES)
        return {name: int(n) for name, n in self.sql(union)}

    def checksums(self) -> dict[str, str]:
        return {name.split(".", 1)[1]: value for name, value in self.sql("CHECKSUM TABLE " + ", ".join(TABLES))}

    def remove_container(self) -> None:
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass

    def close(self) -> None:
        self.remove_container()
        try:
            self.engine.volumes.get(self.volume).remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture(scope="module")
def loaded(engine, db_image, dataset):
    db = Db(engine, db_image, dataset.path)
    db.wait_done()
    yield db
    db.close()


def test_loaded_dataset_has_the_manifests_row_counts(loaded, dataset):
    assert loaded.counts() == {t: dataset.manifest["tables"][t]["rows"] for t in TABLES}
    [[ds, rows]] = loaded.sql("SELECT dataset, rows_loaded FROM devenv_meta.seed_state WHERE id = 1")
    assert ds == dataset.id and int(rows) == dataset.total_rows
    logs = loaded.logs()
    assert f"dataset {dataset.id} loaded: {dataset.total_rows} rows in" in logs and "rows/s" in logs
    assert "skipping /usr/local/share/devenv/initdb.d/02-seed.sql (static seed" in logs


def test_foreign_keys_declared_and_holding(loaded):
    [[declared]] = loaded.sql("SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                              "WHERE CONSTRAINT_SCHEMA = 'shop'")
    fks = [(t.name, fk) for t in SHOP_TABLES for fk in t.references]
    assert int(declared) == len(fks)
    for table, fk in fks:
        [[orphans]] = loaded.sql(
            f"SELECT COUNT(*) FROM `{table}` c LEFT JOIN `{fk.parent}` p ON p.`{fk.parent_column}` = c.`{fk.column}` "
            f"WHERE p.`{fk.parent_column}` IS NULL")
        assert orphans == "0", f"{table}.{fk.column}"
    [[bad_totals]] = loaded.sql(
        "SELECT COUNT(*) FROM orders o WHERE o.total_cents <> "
        "(SELECT COALESCE(SUM(quantity * unit_price_cents), 0) FROM order_items WHERE order_id = o.id)")
    assert bad_totals == "0"
    [[engines]] = loaded.sql("SELECT GROUP_CONCAT(DISTINCT CONCAT(ENGINE, '/', TABLE_COLLATION)) "
                             "FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
    assert engines.startswith("InnoDB/utf8mb4_")


def test_text_survives_the_load(loaded, dataset):
    import csv
    with open(dataset.path / "listings.csv", newline="", encoding="utf-8") as f:
        first = next(csv.DictReader(f))
    [[title, description, created]] = loaded.sql(
        "SELECT HEX(title), HEX(description), created_at FROM listings WHERE id = 1")
    assert bytes.fromhex(title).decode() == first["title"]
    assert bytes.fromhex(description).decode() == first["description"]
    assert created == first["created_at"]


def test_checksum_equal_across_two_loads(engine, db_image, dataset, loaded):
    second = Db(engine, db_image, dataset.path)
    try:
        second.wait_done()
        assert second.checksums() == loaded.checksums()
        assert second.volume != loaded.volume
    finally:
        second.close()


def test_interrupted_seed_is_wiped_and_redone(engine, db_image, dataset, loaded, tmp_path):
    # A copy of the dataset whose load stalls after `listings` (half the tables loaded).
    slow = tmp_path / dataset.id
    shutil.copytree(dataset.path, slow)
    text = (slow / "load.sql").read_text()
    cut = text.index("LOAD DATA LOCAL INFILE '/var/lib/devenv-seed/listing_images.csv'")
    (slow / "load.sql").write_text(text[:cut] + "DO SLEEP(600);\n" + text[cut:])

    first = Db(engine, db_image, slow)
    again = None
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, first.logs()[-3000:]
            try:
                [[n]] = first.sql("SELECT COUNT(*) FROM listings", socket=INIT_SOCKET)
                if int(n) == dataset.manifest["tables"]["listings"]["rows"]:
                    break
            except AssertionError:
                pass  # server or table not there yet
            time.sleep(0.2)
        [[state]] = first.sql("SELECT state FROM devenv_meta.seed_state", socket=INIT_SOCKET)
        assert state == "loading"
        first.container.kill()  # SIGKILL mid-load: nothing gets to clean up
        first.remove_container()

        again = Db(engine, db_image, dataset.path, volume=first.volume)
        again.wait_done()
        assert "an earlier initialisation did not finish: wiping" in again.logs()
        assert again.counts() == {t: dataset.manifest["tables"][t]["rows"] for t in TABLES}
        assert again.checksums() == loaded.checksums()
        [[ds]] = again.sql("SELECT dataset FROM devenv_meta.seed_state WHERE id = 1")
        assert ds == dataset.id
    finally:
        if again is not None:
            again.close()
        first.close()


def test_static_seed_without_a_dataset(engine, db_image):
    db = Db(engine, db_image, None)
    try:
        db.wait_done()
        [[ds, rows]] = db.sql("SELECT dataset, COALESCE(rows_loaded, -1) FROM devenv_meta.seed_state")
        assert (ds, rows) == ("static", "-1")
        assert db.counts()["users"] == 12
        [[path]] = db.sql("SELECT path FROM listing_images ORDER BY id LIMIT 1")
        assert path == "media/00000.jpg"
    finally:
        db.close()


def test_a_short_csv_fails_the_init(engine, db_image, dataset, tmp_path):
    """A dataset that does not load completely stops the init (and the next start
    redoes it) instead of leaving a database with rows missing."""
    broken = tmp_path / dataset.id
    shutil.copytree(dataset.path, broken)
    lines = (broken / "order_items.csv").read_text().splitlines(keepends=True)
    (broken / "order_items.csv").write_text("".join(lines[:-1]))
    db = Db(engine, db_image, broken)
    try:
        result = db.container.wait(timeout=120)
        assert result["StatusCode"] != 0
        expected = dataset.manifest["tables"]["order_items"]["rows"]
        assert f"order_items does not have {expected} rows" in db.logs()
    finally:
        db.close()


@pytest.mark.parametrize("stray,why", [
    ("touch /v/ibdata1 && mkdir /v/shop", "not empty but has no system schema"),
    ("mkdir -p /v/mysql /v/.devenv-restore/mysql", "snapshot restore that did not finish"),
    ("mkdir -p /v/mysql && echo move > /v/.devenv-switching", "snapshot restore that did not finish"),
])
def test_entrypoint_refuses_a_non_empty_incomplete_datadir(engine, db_image, stray, why):
    """16.1: the built-in seed never lands on a volume a restore or a copy was writing:
    the entrypoint exits non-zero with the reason and leaves the datadir as it was."""
    volume = f"devenv-test-seed-{uuid.uuid4().hex[:10]}"
    engine.volumes.create(volume, labels=LABELS)
    try:
        engine.containers.run(db_image, ["sh", "-c", stray], entrypoint=[], user="0", remove=True,
                              labels=LABELS, mounts=[Mount("/v", volume, type="volume")])
        before = engine.containers.run(db_image, ["sh", "-c", "cd /v && find . | sort"], entrypoint=[],
                                       remove=True, labels=LABELS, mounts=[Mount("/v", volume, type="volume")])
        db = Db(engine, db_image, None, volume=volume)
        result = db.container.wait(timeout=60)
        assert result["StatusCode"] != 0
        logs = db.logs()
        assert why in logs and "devenv down PROFILE --volumes" in logs
        assert "initialising" not in logs and "starting mariadbd" not in logs
        db.remove_container()
        after = engine.containers.run(db_image, ["sh", "-c", "cd /v && find . | sort"], entrypoint=[],
                                      remove=True, labels=LABELS, mounts=[Mount("/v", volume, type="volume")])
        assert after == before
    finally:
        try:
            engine.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass
