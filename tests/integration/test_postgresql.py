"""PostgreSQL on the real engine, through the python-postgres template: seed (COPY,
constraints after the load, seed state), the changed-dataset warning, a physical
snapshot round trip (md5 of every table's ordered COPY ... TO STDOUT), auto-restore on
up, and the refusal of a datadir that was not shut down cleanly."""

import hashlib
import json
import urllib.request
import uuid

import pytest

from devenv import names
from tests.integration.conftest import Devenv, cleanup

pytestmark = pytest.mark.integration

PORT = 18502
TABLES = ("customers", "products", "orders", "order_lines")


def psql(engine, container: str, sql: str, db: str = "catalog") -> str:
    r = engine.containers.get(container).exec_run(
        ["psql", "-X", "-h", "/run/postgresql", "-U", "postgres", "-d", db, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
    assert r.exit_code == 0, r.output
    return r.output.decode().strip()


def table_md5s(engine, container: str) -> dict[str, str]:
    out = {}
    for t in TABLES:
        r = engine.containers.get(container).exec_run(
            ["psql", "-X", "-h", "/run/postgresql", "-U", "postgres", "-d", "catalog", "-v", "ON_ERROR_STOP=1",
             "-c", f"COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT"])
        assert r.exit_code == 0, r.output
        out[t] = hashlib.md5(r.output).hexdigest()
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory, engine):
    base = tmp_path_factory.mktemp("pg")
    root = base / f"catalog-{uuid.uuid4().hex[:6]}"
    cache = base / "cache"
    Devenv(base, cache=cache)("init", str(root), "--template", "python-postgres")
    prof = root / "profiles/base.yaml"
    prof.write_text(prof.read_text().replace('"8081:80"', f'"127.0.0.1:{PORT}:80"'))
    dv = Devenv(root, cache=cache)
    dv("up")
    yield dv, root, f"{root.name}-pg-small-db"
    dv("down", "--volumes", check=False)
    cleanup(engine)


def test_seeded_with_copy_and_constraints_after_the_load(project, engine):
    dv, root, db = project
    manifest_rows = {t: int(psql(engine, db, f"SELECT count(*) FROM {t}")) for t in TABLES}
    assert manifest_rows["customers"] == 2000 and manifest_rows["orders"] == 4000
    state = psql(engine, db, "SELECT state || ' ' || dataset || ' ' || rows_loaded FROM seed_state", db="devenv_meta")
    assert state.startswith("done datagen-small-1-")
    assert int(state.split()[2]) == sum(manifest_rows.values())
    # keys and foreign keys exist (added after the load) and hold
    fks = psql(engine, db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
    assert fks == "3"
    assert psql(engine, db, "SELECT count(*) FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id "
                            "WHERE o.id IS NULL") == "0"
    # durable settings on the real server; the init server's fsync=off is gone
    assert psql(engine, db, "SHOW fsync") == "on" and psql(engine, db, "SHOW synchronous_commit") == "on"
    # the tables belong to the application role; its COPY-from-file right was revoked
    assert psql(engine, db, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'") == "catalog"
    assert psql(engine, db, "SELECT pg_has_role('catalog', 'pg_read_server_files', 'MEMBER')") == "f"
    # the identity column continues after the loaded ids
    psql(engine, db, "INSERT INTO customers (email, full_name, phone, created_at) "
                     "VALUES ('new@example.com', 'N', '1', now())")
    assert psql(engine, db, "SELECT max(id) FROM customers") == "2001"
    psql(engine, db, "DELETE FROM customers WHERE id = 2001")
    page = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=10).read().decode()
    assert "2000 customers" in page


def test_snapshot_round_trip_and_auto_restore(project, engine):
    dv, root, db = project
    before = table_md5s(engine, db)
    out = dv("snapshot", "save")
    assert "saved pg-small/latest" in out.stdout + out.stderr
    manifest = json.loads(next((dv.cache / "snapshots" / root.name / "pg-small" / "latest").glob("manifest.json"))
                          .read_text())
    assert manifest["identity"] == {"engine": "postgresql", "version": "15", "arch": manifest["identity"]["arch"],
                                    "page_size": 8192}
    assert manifest["completion"] == "global"
    # the completion entry is the archive's last: a restore cut short is seen as incomplete
    dv("down", "--volumes")
    up = dv("up")
    # a new volume on a local engine: a copy-on-write clone of the snapshot (devenv.engine.clones)
    assert "cloned snapshot: pg-small/latest" in up.stdout, up.stdout
    assert table_md5s(engine, db) == before
    assert psql(engine, db, "SELECT state FROM seed_state", db="devenv_meta") == "done"


def test_changed_dataset_is_kept_with_a_warning(project, engine):
    dv, root, db = project
    before = table_md5s(engine, db)
    prof = root / "profiles/pg-small.yaml"
    text = prof.read_text()
    try:
        prof.write_text(text.replace("dataset: {size: small}", "dataset: {size: small, seed: 2}"))
        up = dv("up")
        assert "holds dataset datagen-small-1-" in up.stderr + up.stdout
        assert "devenv down pg-small --volumes" in up.stderr + up.stdout
        assert table_md5s(engine, db) == before
    finally:
        prof.write_text(text)
        dv("up")


def test_unclean_shutdown_is_refused(project, engine):
    dv, root, db = project
    c = engine.containers.get(db)
    # SIGQUIT: PostgreSQL's immediate shutdown, no checkpoint; the server exits with status 0,
    # so only the engine's datadir check (pg_controldata) can tell
    c.kill(signal="SIGQUIT")
    c.wait(timeout=60)
    c.reload()
    assert c.attrs["State"]["ExitCode"] == 0, c.attrs["State"]
    r = dv("snapshot", "save", "pg-small", "unclean", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not shut down cleanly" in r.stderr and "in production" in r.stderr, r.stderr
    assert not (dv.cache / "snapshots" / root.name / "pg-small" / "unclean").exists()
    # a killed server (exit 137) is refused by its exit status
    dv("up")
    c = engine.containers.get(db)
    c.kill()
    c.wait(timeout=60)
    r = dv("snapshot", "save", "pg-small", "killed", check=False)
    assert r.returncode == 2 and "exited with status 137" in r.stderr, r.stderr
    dv("up")
    assert psql(engine, db, "SELECT count(*) FROM customers") == "2000"
