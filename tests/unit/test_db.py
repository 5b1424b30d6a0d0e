"""The database seam: engine choice, load scripts, dataset directories for either engine,
the generator hook, server identities and the snapshot checks that use them."""

import json
from pathlib import Path

import pytest

from devenv.data.dataset_dir import DatasetDirectoryError, ensure_load_script, open_dataset_dir
from devenv.data.datasets import materialize
from devenv.data.hook import GeneratorError, HookGenerator
from devenv.data.snapshots import Manifest, Snapshot, SnapshotError, check_server, server_reads
from devenv.db import ENGINES, LoadTable, ServerIdentity, UnknownEngineError, engine_for_recipe, engine_named, engine_of
from devenv.engine.datadir_state import _probe_script
from devenv.errors import ProfileError
from devenv.profile import ProfileStore
from devenv.profile.model import Dataset
from devenv.ui import PlainReporter
from tests.conftest import write

TEMPLATE = Path(__file__).resolve().parents[2] / "devenv/library/templates/python-postgres"


def test_engine_comes_from_the_recipe_or_the_profile():
    assert engine_for_recipe("postgresql").name == "postgresql"
    assert engine_for_recipe("mariadb").name == "mariadb"
    assert engine_for_recipe("my-db", "postgresql").name == "postgresql"
    assert engine_for_recipe("my-db").name == "mariadb"    # the historical default
    with pytest.raises(UnknownEngineError, match="(?s)unknown database engine `postgres`.*did you mean `postgresql`"):
        engine_named("postgres")


def test_template_profile_runs_postgresql():
    p = ProfileStore.locate(TEMPLATE / "profiles").load("pg-small")
    assert engine_of(p).name == "postgresql"
    assert p.dataset.generator == str(TEMPLATE / "datagen.py")


def test_unknown_engine_in_a_profile_names_file_and_line(tmp_path):
    write(tmp_path / "profiles/x.yaml", "os: {distribution: debian, release: bookworm}\n"
          "data:\n  dataset: {name: shop, size: small, engine: oracle}\n"
          "services:\n  db: {recipe: mariadb}\n")
    with pytest.raises(ProfileError) as err:
        ProfileStore.locate(tmp_path / "profiles").load("x")
    text = str(err.value)
    assert "x.yaml:3" in text and "oracle" in text


def test_postgresql_load_script_copies_in_one_transaction_and_checks_counts():
    s = engine_named("postgresql").load_script("ds-1", [LoadTable("users", "users.csv", ("id", "email"), 3),
                                                        LoadTable("orders", "orders.csv", ("id", "user_id"), 5)])
    assert s.index("BEGIN;") < s.index('TRUNCATE "users", "orders";') < s.index('COPY "users"') < s.index("COMMIT;")
    assert "FROM '/var/lib/devenv-seed/users.csv' WITH (FORMAT csv, HEADER true, FREEZE true" in s
    assert 'IF (SELECT count(*) FROM "orders") <> 5 THEN RAISE EXCEPTION' in s
    assert "-- devenv-total-rows: 8" in s and "setval" in s


def test_completion_entry_is_the_engines():
    assert ENGINES["postgresql"].complete_entry == "global" and ENGINES["mariadb"].complete_entry == "mysql"
    assert "[ -e global ] && echo complete" in _probe_script("global")


def _shop_dir(tmp_path, engine) -> Path:
    ds = Dataset(name="shop", size="small", seed=1)
    return materialize(ds, None, tmp_path / "cache", PlainReporter(), engine=engine).path


def test_one_dataset_directory_serves_both_engines(tmp_path):
    d = _shop_dir(tmp_path, engine_named("postgresql"))
    assert (d / "load.pgsql").is_file() and not (d / "load.sql").exists()
    again = _shop_dir(tmp_path, engine_named("mariadb"))
    assert again == d and (d / "load.sql").is_file()
    assert "LOAD DATA LOCAL INFILE" in (d / "load.sql").read_text()
    assert json.loads((d / "manifest.json").read_text())["order"][0] == "users"


def test_missing_csv_names_file_and_table_and_writes_nothing(tmp_path):
    d = tmp_path / "ds"
    import shutil
    shutil.copytree(_shop_dir(tmp_path, engine_named("mariadb")), d)
    (d / "orders.csv").unlink()
    (d / "load.sql").unlink()
    with pytest.raises(DatasetDirectoryError, match=r"missing orders.csv \(table orders\)") as err:
        open_dataset_dir(d)
    assert err.value.exit_code == 2
    assert not (d / "load.pgsql").exists() and not (d / "load.sql").exists()


def test_column_mismatch_names_file_and_table(tmp_path):
    d = tmp_path / "ds"
    import shutil
    shutil.copytree(_shop_dir(tmp_path, engine_named("mariadb")), d)
    csv = d / "users.csv"
    lines = csv.read_text().split("\n", 1)
    csv.write_text(lines[0].replace("display_name", "name") + "\n" + lines[1])
    with pytest.raises(DatasetDirectoryError, match=r"users.csv \(table users\): its header has columns"):
        open_dataset_dir(d)


def test_generator_hook_is_deterministic_and_checks_foreign_keys(tmp_path):
    gen = HookGenerator(TEMPLATE / "datagen.py")
    params = {**gen.sizes["small"], "seed": 1}
    for d in "abc":
        (tmp_path / d).mkdir()
    a = gen.generate(tmp_path / "a", params, None, 1, lambda _: None)
    b = gen.generate(tmp_path / "b", params, None, 1, lambda _: None)
    assert a == b and a["customers"].rows == 2000
    assert [t.name for t in gen.tables] == ["customers", "products", "orders", "order_lines"]
    c = gen.generate(tmp_path / "c", {**params, "seed": 2}, None, 1, lambda _: None)
    assert c["customers"].sha256 != a["customers"].sha256

    bad = write(tmp_path / "bad.py", "SIZES = {'s': {'n': 2}}\n"
                "def generate(ds):\n"
                "    p = ds.table('p', ['id']); p.row(1)\n"
                "    c = ds.table('c', ['id', 'p_id'], references={'p_id': 'p'}); c.row(1, 1); c.row(2, 7)\n")
    (tmp_path / "d").mkdir()
    with pytest.raises(GeneratorError, match=r"table c row 2: p_id = 7 is not an id of p"):
        HookGenerator(bad).generate(tmp_path / "d", {"n": 2, "seed": 1}, None, 1, lambda _: None)


def _snap(identity, image_id="sha256:aaa") -> Snapshot:
    m = Manifest(format=2, profile="p", name="latest", service="db", volume_target="/var/lib/postgresql/data",
                 dataset="d", server_image="devenv/db:1", server_image_id=image_id, created="now",
                 datadir_bytes=1, archive_bytes=1, identity=identity.to_json() if identity else None)
    return Snapshot(Path("/nonexistent"), m)


def test_snapshot_identity_survives_image_edits_and_refuses_other_servers():
    pg15 = ServerIdentity("postgresql", "15", "amd64", 8192)
    snap = _snap(pg15)
    # another image id (a config edit), the same server: readable
    assert server_reads(snap.manifest, "sha256:bbb", pg15)
    check_server(snap, "sha256:bbb", "devenv/db:2", pg15)
    for other, why in ((ServerIdentity("postgresql", "16", "amd64", 8192), "server version: 15 vs 16"),
                       (ServerIdentity("postgresql", "15", "arm64", 8192), "architecture: amd64 vs arm64"),
                       (ServerIdentity("mariadb", "10.11", "amd64", 16384), "engine: postgresql vs mariadb")):
        assert not server_reads(snap.manifest, "sha256:aaa", other)
        with pytest.raises(SnapshotError, match=why):
            check_server(snap, "sha256:aaa", "devenv/db:2", other)
    # an old snapshot without an identity: the exact image, as before
    old = _snap(None)
    assert server_reads(old.manifest, "sha256:aaa", pg15) and not server_reads(old.manifest, "sha256:bbb", pg15)


def test_identity_scripts_parse():
    pg = engine_named("postgresql")
    assert pg.parse_identity("version=15\npage_size=8192\n", "amd64") == ServerIdentity("postgresql", "15", "amd64", 8192)
    with pytest.raises(Exception, match="cannot tell"):
        pg.parse_identity("nothing", "amd64")
