"""`devenv dataset subset` and `devenv dataset import` on PostgreSQL, on the real engine:
a running pg-small instance of the python-postgres template is the source, by URL and
as pg_dump files (plain SQL and custom format, made inside its db container); the
subsets keep every foreign key (checked by SQL after they are seeded into PostgreSQL,
whose post-load files add the foreign keys over the full tables) and no original
e-mail; an import seeds an identical database; bad input exits 2 naming the file."""

import csv
import json
import shutil
import time
import uuid

import pytest

from tests.integration.conftest import TEST_LABEL, Devenv, cleanup
from tests.integration.test_postgresql import TABLES, psql, table_md5s
from tests.ports import free_port

pytestmark = pytest.mark.integration

KEY_ENV = {"DEVENV_SUBSET_KEY_EMAIL": "integration-test-key-0123456789abcdef"}
ORDERS = 300


def rows(directory, table) -> list[dict]:
    with open(directory / f"{table}.csv", newline="") as f:
        return list(csv.DictReader(f))


def dataset_profile(root, name: str, path: str) -> None:
    """A profile seeded from a dataset directory, publishing no host port."""
    (root / "profiles" / f"{name}.yaml").write_text(
        "extends: base\n"
        f"description: seeded from {path}\n"
        f"data:\n  dataset: {{path: ../{path}, generator: null, size: null}}\n"
        "services:\n  db: {ports: null}\n  web: {ports: null}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory, engine):
    base = tmp_path_factory.mktemp("pgsub")
    name = f"pgsub{uuid.uuid4().hex[:6]}"
    root = base / name
    cache = base / "cache"
    Devenv(base, cache=cache)("init", str(root), "--template", "python-postgres", "--name", name)
    db_port, web_port = free_port(), free_port()
    prof = root / "profiles/base.yaml"
    text = prof.read_text().replace('"8081:80"', f'"127.0.0.1:{web_port}:80"')
    # the source's db answers on the host, like a production replica through a tunnel
    text = text.replace("    recipe: postgresql\n", f'    recipe: postgresql\n    ports: ["127.0.0.1:{db_port}:5432"]\n', 1)
    prof.write_text(text)
    dv = Devenv(root, cache=cache)
    dv("up", "pg-small")
    db = f"{name}-pg-small-db"
    url = f"postgresql://catalog:devenv@127.0.0.1:{db_port}/catalog"
    yield dv, root, db, url
    for profile in ("pg-small", "pg-url", "pg-imp"):
        dv("down", profile, "--volumes", check=False)
    cleanup(engine)


@pytest.fixture(scope="module")
def dumps(project, engine, tmp_path_factory):
    """pg_dump of the source inside its db container, plain SQL and custom format."""
    _, _, db, _ = project
    out = tmp_path_factory.mktemp("dumps")
    files = {}
    for fmt, args, suffix in (("plain", [], "sql"), ("custom", ["-Fc"], "dump")):
        r = engine.containers.get(db).exec_run(["pg_dump", "-h", "/run/postgresql", "-U", "postgres", *args,
                                                "catalog"], demux=True)
        assert r.exit_code == 0, r.output[1]
        files[fmt] = out / f"catalog.{suffix}"
        files[fmt].write_bytes(r.output[0])
    assert files["custom"].read_bytes()[:5] == b"PGDMP"
    return files


def source_emails(engine, db) -> set[str]:
    return set(psql(engine, db, "SELECT email FROM customers").splitlines())


def check_subset(directory, original_emails: set[str]) -> dict:
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["load"] == "load.pgsql"
    assert (directory / "load.pgsql").is_file() and not (directory / "load.sql").exists()
    assert "CREATE TABLE" in (directory / "schema.sql").read_text()
    data = {t: rows(directory, t) for t in TABLES}
    assert len(data["orders"]) == ORDERS
    # every foreign key holds inside the subset
    ids = {t: {r["id"] for r in data[t]} for t in TABLES}
    assert {r["customer_id"] for r in data["orders"]} <= ids["customers"]
    assert {r["order_id"] for r in data["order_lines"]} <= ids["orders"]
    assert {r["product_id"] for r in data["order_lines"]} <= ids["products"]
    # no original e-mail survives (hashed with the key), the other personal columns are fake
    assert data["customers"] and not {r["email"] for r in data["customers"]} & original_emails
    assert all("@" in r["email"] for r in data["customers"])
    return manifest


def test_subset_from_url_keeps_foreign_keys_and_no_email(project, engine):
    dv, root, db, url = project
    r = dv("dataset", "subset", "--from", url, "--rows", f"orders={ORDERS}", "-p", "pg-small",
           "-o", str(root / "datasets/url"), env=KEY_ENV)
    assert "wrote dataset subset-rows-s1-" in r.stdout
    manifest = check_subset(root / "datasets/url", source_emails(engine, db))
    assert manifest["source"]["kind"] == "url" and manifest["source"]["engine"] == "postgresql"
    assert "devenv" not in json.dumps(manifest["source"])  # the password is not recorded
    # an order keeps all its lines (ON DELETE CASCADE: a follow edge)
    picked = rows(root / "datasets/url", "orders")
    lines = int(psql(engine, db, "SELECT count(*) FROM order_lines WHERE order_id IN ("
                                 + ", ".join(o["id"] for o in picked) + ")"))
    assert manifest["tables"]["order_lines"]["rows"] == lines


@pytest.mark.parametrize("fmt", ["plain", "custom"])
def test_subset_from_pg_dump_matches_the_url_subset(project, dumps, engine, fmt):
    dv, root, db, url = project
    out = root / f"datasets/dump-{fmt}"
    r = dv("dataset", "subset", "--from", str(dumps[fmt]), "--rows", f"orders={ORDERS}", "-p", "pg-small",
           "-o", str(out), env=KEY_ENV)
    assert "throwaway PostgreSQL server" in r.stderr, r.stderr
    manifest = check_subset(out, source_emails(engine, db))
    assert manifest["source"]["kind"] == "dump" and manifest["source"]["format"] == fmt
    if (root / "datasets/url/manifest.json").is_file():
        # the same rows, the same anonymised values: the same dataset as from the URL
        by_url = json.loads((root / "datasets/url/manifest.json").read_text())
        assert {t: e["sha256"] for t, e in manifest["tables"].items()} == \
            {t: e["sha256"] for t, e in by_url["tables"].items()}
        assert manifest["id"] == by_url["id"]
    # the throwaway server is gone
    assert not engine.containers.list(all=True, filters={"label": [TEST_LABEL, "dev.devenv.kind=subset-dump"]})


def test_subset_seeds_into_postgresql_with_every_foreign_key(project, engine):
    dv, root, db, url = project
    if not (root / "datasets/url/manifest.json").is_file():
        dv("dataset", "subset", "--from", url, "--rows", f"orders={ORDERS}", "-p", "pg-small",
           "-o", str(root / "datasets/url"), env=KEY_ENV)
    manifest = json.loads((root / "datasets/url/manifest.json").read_text())
    dataset_profile(root, "pg-url", "datasets/url")
    dv("up", "pg-url")
    target = f"{root.name}-pg-url-db"
    assert psql(engine, target, "SELECT dataset FROM seed_state", db="devenv_meta") == manifest["id"]
    for t in TABLES:
        assert int(psql(engine, target, f"SELECT count(*) FROM {t}")) == manifest["tables"][t]["rows"]
    # the post-load file added (and so validated) the three foreign keys over the loaded rows
    assert psql(engine, target, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                "AND convalidated") == "3"
    for child, col, parent in (("orders", "customer_id", "customers"), ("order_lines", "order_id", "orders"),
                               ("order_lines", "product_id", "products")):
        assert psql(engine, target, f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{col} "
                                    "WHERE p.id IS NULL") == "0"
    loaded = set(psql(engine, target, "SELECT email FROM customers").splitlines())
    assert loaded and not loaded & source_emails(engine, db)
    dv("down", "pg-url", "--volumes")


def test_import_round_trip(project, dumps, engine):
    dv, root, db, url = project
    full = root / "datasets/full"
    r = dv("dataset", "import", "--from", url, "-o", str(full))
    manifest = json.loads((full / "manifest.json").read_text())
    assert manifest["generator"] == "import" and manifest["id"].startswith("import-catalog-")
    assert f"wrote dataset {manifest['id']}" in r.stdout
    for t in TABLES:
        assert manifest["tables"][t]["rows"] == int(psql(engine, db, f"SELECT count(*) FROM {t}"))
    schema = (full / "schema.sql").read_text()
    assert "CREATE TABLE \"customers\"" in schema and "FOREIGN KEY" in schema
    # the custom dump imports to the same files
    dv("dataset", "import", "--from", str(dumps["custom"]), "-p", "pg-small", "-o", str(root / "datasets/full-dump"))
    again = json.loads((root / "datasets/full-dump/manifest.json").read_text())
    assert again["id"] == manifest["id"]
    # seeded into PostgreSQL, it is the source database, row for row
    dataset_profile(root, "pg-imp", "datasets/full")
    dv("up", "pg-imp")
    assert table_md5s(engine, f"{root.name}-pg-imp-db") == table_md5s(engine, db)
    dv("down", "pg-imp", "--volumes")


def test_a_dump_of_the_other_engine_is_refused_before_anything_starts(project, engine, tmp_path):
    dv, root, db, url = project
    dump = tmp_path / "shop.sql"
    dump.write_text("-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n"
                    "/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `t` (`id` int PRIMARY KEY);\n")
    ours = {"label": [TEST_LABEL, "dev.devenv.kind=subset-dump"]}
    since = int(time.time())
    for cmd in (("subset", "--rows", "orders=5"), ("import",)):
        r = dv("dataset", cmd[0], "--from", str(dump), *cmd[1:], "-p", "pg-small", "-o", str(tmp_path / "o"),
               check=False, env=KEY_ENV)
        assert r.returncode == 2, r.stderr
        assert str(dump) in r.stderr and "MariaDB/MySQL dump" in r.stderr and "runs PostgreSQL" in r.stderr
        assert "Traceback" not in r.stderr
    assert not engine.containers.list(all=True, filters=ours)
    # no throwaway server was even created (the engine's events of the test's own label since the start)
    created = list(engine.events(since=since, until=int(time.time()) + 1, decode=True,
                                 filters={"type": "container", "event": "create", "label": ours["label"]}))
    assert not created
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage, needle", [
    ("missing", "missing orders.csv (table orders)"),
    ("columns", "products.csv (table products): its header has columns"),
])
def test_a_damaged_dataset_directory_is_refused_naming_file_and_table(project, engine, damage, needle):
    dv, root, db, url = project
    full = root / "datasets/full"
    if not (full / "manifest.json").is_file():
        dv("dataset", "import", "--from", url, "-o", str(full))
    bad = root / f"datasets/bad-{damage}"
    shutil.copytree(full, bad)
    if damage == "missing":
        (bad / "orders.csv").unlink()
    else:
        lines = (bad / "products.csv").read_text().split("\n", 1)
        (bad / "products.csv").write_text(lines[0].replace("price_cents", "price") + "\n" + lines[1])
    name = f"pg-bad-{damage}"
    dataset_profile(root, name, f"datasets/bad-{damage}")
    r = dv("up", name, check=False)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and str(bad) in r.stderr and "Traceback" not in r.stderr
    # nothing was loaded: no container, no volume of that profile
    assert not engine.containers.list(all=True, filters={"label": f"dev.devenv.profile={name}"})
    assert not engine.volumes.list(filters={"label": f"dev.devenv.profile={name}"})
