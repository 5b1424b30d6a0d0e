"""`devenv dataset subset` against a real MariaDB playing production.

"Production" is a container of the reference db image on a port of 127.0.0.1,
seeded with a generated shop dataset of its own size (~37,000 rows) plus
``newsletter_subscriptions`` (tests/fixtures/subset/newsletter.sql), a ``cycles``
database (self-reference and a two-table cycle) and a ``nopk`` database.
Subsets at two fractions must keep every foreign key, hit the requested size,
contain no original value of an anonymised column, keep joins on hashed keys and
be deterministic; one subset is loaded through the real entrypoint.

Everything created carries the session's dev.devenv.test label and is removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker.errors
import pytest
from docker.types import Mount

from devenv.data.dataset_dir import SEED_MOUNT
from devenv.data.datasets import materialize
from devenv.engine.client import Engine
from devenv.engine.images import ensure_images
from devenv.profile import ProfileStore
from devenv.profile.model import Dataset, ImageSet
from devenv.render import Renderer
from devenv.subset import Request, Rules, SchemaError, RulesError, open_source, subset
from devenv.subset.closure import salt
from devenv.subset.memory import MemorySource
from devenv.ui import SilentReporter
from tests.conftest import FIXTURES, REFERENCE, REPO
from tests.ports import free_port
from tests.integration.conftest import TEST_LABEL

pytestmark = [pytest.mark.integration]

LABELS = dict([TEST_LABEL.split("=", 1)])
ENV = {"DEVENV_DB_NAME": "shop", "DEVENV_DB_USER": "shop", "DEVENV_DB_PASSWORD": "devenv"}
KEY = "subset-test-key-0123456789"
KEYS_ENV = {"DEVENV_SUBSET_KEY_EMAIL": KEY}
SCALE = (("users", 3000), ("shops", 300), ("listings", 6000), ("orders", 4000))
SUB = FIXTURES / "subset"
SHOP_RULES = Rules.from_file(SUB / "shop-rules.yaml")
OUT_MOUNT = "/srv/subset-out"       # the tests' output directory, seen from the production container
R = SilentReporter()


class Server:
    """A db container of the reference image, removed (with its volume) by ``close``."""

    def __init__(self, engine, image: str, seed_dir: Path | None = None, out_dir: Path | None = None,
                 port: int | None = None):
        self.engine = engine
        self.name = f"devenv-test-subset-{uuid.uuid4().hex[:10]}"
        self.volume = engine.volumes.create(self.name, labels=LABELS)
        mounts = [Mount("/var/lib/mysql", self.name, type="volume")]
        if seed_dir is not None:
            mounts.append(Mount(SEED_MOUNT, str(seed_dir), type="bind", read_only=True))
        if out_dir is not None:
            mounts.append(Mount(OUT_MOUNT, str(out_dir), type="bind"))
        self.port = port
        self.container = engine.containers.run(
            image, detach=True, name=self.name, labels=LABELS, environment=ENV, mounts=mounts,
            ports={"3306/tcp": ("127.0.0.1", port)} if port else None)

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status == "exited":
                raise AssertionError("db exited:\n" + self.container.logs().decode(errors="replace")[-3000:])
            code, out = self.container.exec_run(
                ["mariadb", "-uroot", "-N", "-B", "-e", "SELECT state FROM devenv_meta.seed_state WHERE id = 1"])
            if code == 0 and out.decode().strip() == "done":
                return
            time.sleep(0.3)
        raise AssertionError("db not ready:\n" + self.container.logs().decode(errors="replace")[-3000:])

    def sql(self, query: str, db: str = "shop") -> list[list[str]]:
        code, out = self.container.exec_run(["mariadb", "-uroot", "--default-character-set=utf8mb4", "-N", "-B", db, "-e", query], demux=True)
        if code != 0:
            raise AssertionError(f"{query}: {out[1]!r}")
        return [line.split("\t") for line in (out[0] or b"").decode().splitlines()]

    def run_file(self, path: Path, db: str) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(path), arcname=path.name)
        self.container.put_archive("/tmp", buf.getvalue())
        code, out = self.container.exec_run(["bash", "-c", f"mariadb -uroot {db} < /tmp/{path.name}"], demux=True)
        assert code == 0, out

    def close(self) -> None:
        try:
            self.container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        try:
            self.volume.remove(force=True)
        except docker.errors.NotFound:
            pass


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db_image(engine) -> str:
    store = ProfileStore.locate(REFERENCE / "profiles")
    stack = Renderer(store.images_dir).render(store.load("base"))
    plan = stack.services["db"].image
    ensure_images(Engine(engine), [plan], stack.base, R)
    return plan.tag


@pytest.fixture(scope="module")
def outdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("subset-out")
    os.chmod(d, 0o777)
    return d


@pytest.fixture(scope="module")
def prod(engine, db_image, tmp_path_factory, outdir):
    data = materialize(Dataset("shop", "small", seed=11, scale=SCALE), ImageSet(count=100),
                       tmp_path_factory.mktemp("cache"), R)
    server = Server(engine, db_image, data.path, outdir, port=free_port())
    try:
        server.wait()
        server.run_file(SUB / "newsletter.sql", "shop")
        server.sql("CREATE DATABASE cycles; CREATE DATABASE nopk; CREATE DATABASE cycles_copy; "
                   "GRANT ALL ON cycles.* TO 'shop'@'%'; GRANT ALL ON nopk.* TO 'shop'@'%'")
        server.run_file(SUB / "cycles.sql", "cycles")
        server.run_file(SUB / "nopk.sql", "nopk")
        yield server
    finally:
        server.close()


def url(server: Server, db: str = "shop") -> str:
    return f"mysql://shop:devenv@127.0.0.1:{server.port}/{db}"


def make(server: Server, out: Path, request: Request, rules: Rules = SHOP_RULES, db: str = "shop", force=False):
    src, info = open_source(url(server, db))
    with src:
        return subset(src, out, request, rules, R, info, keys={"email": KEY.encode()}, force=force)


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def table_rows(out: Path) -> dict[str, list[dict]]:
    m = json.loads((out / "manifest.json").read_text())
    return {t: read_csv(out / e["file"]) for t, e in m["tables"].items()}


def fk_orphans(server: Server, rows: dict[str, list[dict]], db: str) -> list[str]:
    fks = server.sql("SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM "
                     f"information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}' "
                     "AND REFERENCED_TABLE_NAME IS NOT NULL", db)
    assert fks
    out = []
    for table, column, parent, pcol in fks:
        if table not in rows or parent not in rows:
            continue
        have = {r[pcol] for r in rows[parent]}
        bad = [r[column] for r in rows[table] if r[column] != "NULL" and r[column] not in have]
        if bad:
            out.append(f"{table}.{column} -> {parent}: {bad[:5]}")
    return out


@pytest.fixture(scope="module")
def production_values(prod):
    users = prod.sql("SELECT id, email, display_name FROM users")
    news = prod.sql("SELECT id, user_id, email, IFNULL(backup_email, ''), ip, phone FROM newsletter_subscriptions")
    return {"users": users, "news": news,
            "emails": {u[1] for u in users} | {n[2] for n in news} | {n[3] for n in news if n[3]},
            "names": {u[2] for u in users}, "ips": {n[4] for n in news}, "phones": {n[5] for n in news}}


def email_occurrences(data: str, emails: set[str]) -> list[str]:
    """Every original address that occurs anywhere in ``data`` (exact substring search,
    anchored at each '@' of the data)."""
    pairs = {tuple(e.split("@", 1)) for e in emails}
    local_lens = sorted({len(a) for a, _ in pairs})
    domain_lens = sorted({len(b) for _, b in pairs})
    found = []
    at = data.find("@")
    while at != -1:
        for ll in local_lens:
            if ll > at:
                break
            local = data[at - ll:at]
            for dl in domain_lens:
                if (local, data[at + 1:at + 1 + dl]) in pairs:
                    found.append(f"{local}@{data[at + 1:at + 1 + dl]}")
        at = data.find("@", at + 1)
    return found


FRACTIONS = (0.05, 0.2)


@pytest.fixture(scope="module")
def subsets(prod, outdir):
    return {f: make(prod, outdir / f"shop-{f}", Request(fraction=f, seed=5)) for f in FRACTIONS}


# -- shop: two fractions ----------------------------------------------------------------------

@pytest.mark.parametrize("fraction", FRACTIONS)
def test_requested_size_is_hit(prod, subsets, fraction):
    m = subsets[fraction].manifest
    [[orders]] = prod.sql("SELECT COUNT(*) FROM orders")
    want = fraction * int(orders)
    got = m["tables"]["orders"]["rows"]
    assert abs(got - want) <= max(1, 0.02 * want), (got, want)
    assert m["start"]["orders"] == {"how": f"fraction {fraction:g}", "matching": int(orders), "picked": got}
    # the whole subset is a comparable share of production, recorded per table
    [[total]] = prod.sql("SELECT SUM(n) FROM (SELECT COUNT(*) n FROM users UNION ALL SELECT COUNT(*) FROM shops "
                         "UNION ALL SELECT COUNT(*) FROM listings UNION ALL SELECT COUNT(*) FROM listing_images "
                         "UNION ALL SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM order_items "
                         "UNION ALL SELECT COUNT(*) FROM newsletter_subscriptions) t")
    assert fraction * 0.8 < m["total_rows"] / int(total) < fraction * 2


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_every_foreign_key_holds(prod, subsets, fraction):
    rows = table_rows(subsets[fraction].path)
    assert fk_orphans(prod, rows, "shop") == []
    # children follow over ON DELETE CASCADE: every kept order has all its items
    ids = ",".join(r["id"] for r in rows["orders"])
    [[items]] = prod.sql(f"SELECT COUNT(*) FROM order_items WHERE order_id IN ({ids})")
    assert len(rows["order_items"]) == int(items)
    lids = ",".join(r["id"] for r in rows["listings"])
    [[images]] = prod.sql(f"SELECT COUNT(*) FROM listing_images WHERE listing_id IN ({lids})")
    assert len(rows["listing_images"]) == int(images)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_no_original_value_of_an_anonymised_column(subsets, production_values, fraction):
    out = subsets[fraction].path
    pv = production_values
    for f in sorted(out.iterdir()):
        assert email_occurrences(f.read_text(encoding="utf-8"), pv["emails"]) == [], f.name
    rows = table_rows(out)
    assert not {u["display_name"] for u in rows["users"]} & pv["names"]
    assert not {n["ip"] for n in rows["newsletter_subscriptions"]} & pv["ips"]
    assert {n["phone"] for n in rows["newsletter_subscriptions"]} == {"+00 000 000"}
    assert {n["note"] for n in rows["newsletter_subscriptions"]} == {"NULL"}
    # the search does find originals when they are there
    sample = sorted(pv["emails"])[:3]
    assert email_occurrences(f"x,\"{sample[0]}\",{sample[1]}\n", pv["emails"]) == sample[:2]


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_joins_on_hashed_keys_hold(subsets, production_values, fraction):
    rows = table_rows(subsets[fraction].path)
    email_of = {u["id"]: u["email"] for u in rows["users"]}
    news = rows["newsletter_subscriptions"]
    assert news, "kept users bring their subscriptions (ON DELETE CASCADE edge)"
    for n in news:
        assert n["email"] == email_of[n["user_id"]]
    original = {u[0]: u[1] for u in production_values["users"]}
    assert all(email_of[i] != original[i] for i in email_of)
    assert len(set(email_of.values())) == len(email_of)


def test_unchanged_columns_are_production_values(prod, subsets):
    out = subsets[FRACTIONS[0]].path
    rows = table_rows(out)
    ids = [r["id"] for r in rows["listings"]]
    prod_rows = prod.sql("SELECT id, shop_id, price_cents, state, created_at, updated_at, MD5(description), title "
                         f"FROM listings WHERE id IN ({','.join(ids)}) ORDER BY id")
    import hashlib
    ours = [[r["id"], r["shop_id"], r["price_cents"], r["state"], r["created_at"], r["updated_at"],
             hashlib.md5(r["description"].encode()).hexdigest(), r["title"]] for r in rows["listings"]]
    assert ours == prod_rows


def test_same_source_rules_seed_same_bytes(prod, subsets, outdir):
    again = make(prod, outdir / "shop-again", Request(fraction=FRACTIONS[0], seed=5))
    first = subsets[FRACTIONS[0]].path
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in again.path.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (again.path / name).read_bytes(), name
    other = make(prod, outdir / "shop-seed6", Request(fraction=FRACTIONS[0], seed=6))
    assert other.id != again.id


def test_pick_order_is_the_documented_one(prod):
    """The server's MD5 pick equals the one computed without a server: deterministic
    and independent of the physical order."""
    ids = [r[0] for r in prod.sql(
        f"SELECT id FROM orders ORDER BY MD5(CONCAT_WS(CHAR(31), '{salt(5, 'orders')}', id)), id LIMIT 50")]
    all_ids = [r[0] for r in prod.sql("SELECT id FROM orders")]
    ours = sorted(all_ids, key=lambda i: (MemorySource.pick_order(salt(5, "orders"), (i,)), int(i)))[:50]
    assert ids == ours


def test_loads_through_the_real_entrypoint(engine, db_image, prod, outdir):
    res = make(prod, outdir / "shop-load", Request(fraction=0.1, seed=2, exclude=("newsletter_subscriptions",)))
    db = Server(engine, db_image, seed_dir=res.path)
    try:
        db.wait()
        m = res.manifest
        counts = {t: int(n) for t, n in db.sql(" UNION ALL ".join(
            f"SELECT '{t}', COUNT(*) FROM `{t}`" for t in m["tables"]))}
        assert counts == {t: e["rows"] for t, e in m["tables"].items()}
        [[ds, loaded]] = db.sql("SELECT dataset, rows_loaded FROM devenv_meta.seed_state WHERE id = 1")
        assert ds == res.id and int(loaded) == m["total_rows"]
        for table, column, parent, pcol in db.sql(
                "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM "
                "information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = 'shop' AND REFERENCED_TABLE_NAME IS NOT NULL"):
            [[orphans]] = db.sql(f"SELECT COUNT(*) FROM `{table}` c LEFT JOIN `{parent}` p ON p.`{pcol}` = c.`{column}` "
                                 f"WHERE c.`{column}` IS NOT NULL AND p.`{pcol}` IS NULL")
            assert orphans == "0", f"{table}.{column}"
        # every value arrived as it was (listings are not anonymised), emails did not
        ids = ",".join(r["id"] for r in read_csv(res.path / "listings.csv"))
        q = (f"SELECT SUM(CRC32(CONCAT_WS('|', id, shop_id, title, description, price_cents, currency, quantity, "
             f"state, created_at, updated_at))) FROM listings WHERE id IN ({ids})")
        assert db.sql(q) == prod.sql(q)
        [[hashed]] = db.sql("SELECT COUNT(*) FROM users WHERE email LIKE '%@example.invalid'")
        assert int(hashed) == m["tables"]["users"]["rows"]
        [[bad_totals]] = db.sql(
            "SELECT COUNT(*) FROM orders o WHERE o.total_cents <> "
            "(SELECT COALESCE(SUM(quantity * unit_price_cents), 0) FROM order_items WHERE order_id = o.id)")
        assert bad_totals == "0", "whole orders: every item came along"
    finally:
        db.close()


# -- cycles -------------------------------------------------------------------------------

CYCLES = Rules.from_file(SUB / "cycles-rules.yaml")
CYCLES_CUT = Rules.from_file(SUB / "cycles-rules-cut.yaml")


def load_into_copy(prod: Server, out: Path) -> None:
    """Run the subset's load.sql (paths pointed at the test's mount) into cycles_copy."""
    prod.sql("DROP DATABASE IF EXISTS cycles_copy; CREATE DATABASE cycles_copy", "mysql")
    prod.run_file(SUB / "cycles.sql", "cycles_copy")
    prod.sql("SET foreign_key_checks = 0; DELETE FROM awards; DELETE FROM memberships; DELETE FROM players; "
             "DELETE FROM teams; DELETE FROM people", "cycles_copy")
    code, output = prod.container.exec_run(
        ["bash", "-o", "pipefail", "-c",
         f"sed 's#{SEED_MOUNT}#{OUT_MOUNT}/{out.name}#' {OUT_MOUNT}/{out.name}/load.sql"
         " | mariadb -uroot --local-infile=1 cycles_copy"], demux=True)
    assert code == 0, output


def copy_orphans(prod: Server) -> list[str]:
    bad = []
    for table, column, parent in (("people", "referred_by", "people"), ("teams", "captain_id", "players"),
                                  ("players", "team_id", "teams"), ("players", "person_id", "people")):
        [[n]] = prod.sql(f"SELECT COUNT(*) FROM {table} c LEFT JOIN {parent} p ON p.id = c.{column} "
                         f"WHERE c.{column} IS NOT NULL AND p.id IS NULL", "cycles_copy")
        if n != "0":
            bad.append(f"{table}.{column}: {n}")
    [[n]] = prod.sql("SELECT COUNT(*) FROM awards a LEFT JOIN memberships m ON m.team_id = a.team_id "
                     "AND m.person_id = a.person_id WHERE m.team_id IS NULL", "cycles_copy")
    if n != "0":
        bad.append(f"awards (team_id, person_id): {n}")
    return bad


def assert_players_arrived_intact(prod: Server) -> None:
    """Binary, BIT, DECIMAL, TIMESTAMP and awkward text survive CSV and LOAD DATA."""
    cols = "id, team_id, IFNULL(person_id, 'N'), IFNULL(HEX(photo), 'N'), flags + 0, IFNULL(rating, 'N'), " \
           "IFNULL(UNIX_TIMESTAMP(joined_at), 'N'), IFNULL(bio, 'N'), bio IS NULL"
    copy = prod.sql(f"SELECT {cols} FROM players ORDER BY id", "cycles_copy")
    ids = ",".join(r[0] for r in copy)
    assert copy and copy == prod.sql(f"SELECT {cols} FROM players WHERE id IN ({ids}) ORDER BY id", "cycles")


def test_self_reference_keeps_every_referrer(prod, outdir):
    res = make(prod, outdir / "cyc-people", Request(rows={"people": 25}, seed=3), CYCLES, db="cycles")
    rows = table_rows(res.path)
    assert fk_orphans(prod, rows, "cycles") == []
    kept = {r["id"] for r in rows["people"]}
    assert len(kept) > 25, "referrers (up to the root of each referral tree) came along"
    assert all(r["referred_by"] in kept for r in rows["people"] if r["referred_by"] != "NULL")
    load_into_copy(prod, res.path)
    assert copy_orphans(prod) == []


def test_cut_self_reference_is_nulled_and_restored(prod, outdir):
    res = make(prod, outdir / "cyc-people-cut", Request(rows={"people": 200}, seed=3), CYCLES_CUT, db="cycles")
    rows = table_rows(res.path)
    kept = {r["id"] for r in rows["people"]}
    assert len(kept) == 200, "a cut edge pulls no parents"
    original = {r[0]: r[1] for r in prod.sql("SELECT id, IFNULL(referred_by, 'NULL') FROM people", "cycles")}
    restored = [r for r in rows["people"] if r["referred_by"] != "NULL"]
    nulled = [r for r in rows["people"] if r["referred_by"] == "NULL" and original[r["id"]] != "NULL"]
    assert restored and nulled
    assert all(r["referred_by"] == original[r["id"]] and r["referred_by"] in kept for r in restored)
    assert all(original[r["id"]] not in kept for r in nulled)
    assert res.manifest["nulled"]["people.referred_by"] == len(nulled)
    load_into_copy(prod, res.path)
    assert copy_orphans(prod) == []


def test_two_table_cycle(prod, outdir):
    res = make(prod, outdir / "cyc-teams", Request(rows={"players": 12}, seed=4), CYCLES, db="cycles")
    rows = table_rows(res.path)
    assert fk_orphans(prod, rows, "cycles") == []
    teams = {r["id"]: r for r in rows["teams"]}
    players = {r["id"] for r in rows["players"]}
    captains = {t["captain_id"] for t in teams.values() if t["captain_id"] != "NULL"}
    assert captains <= players and len(players) > 12, "each kept team's captain came along"
    order = res.manifest["order"]
    assert order.index("teams") < order.index("players"), "the nullable edge teams.captain_id is the cut"
    load_into_copy(prod, res.path)
    assert copy_orphans(prod) == []
    [[cap]] = prod.sql("SELECT COUNT(*) FROM teams WHERE captain_id IS NOT NULL", "cycles_copy")
    assert int(cap) == len(captains)
    assert_players_arrived_intact(prod)
    # a kept team has all its memberships (ON DELETE CASCADE: a follow edge)
    [[members]] = prod.sql(f"SELECT COUNT(*) FROM memberships WHERE team_id IN ({','.join(teams)})", "cycles")
    assert len(rows["memberships"]) == int(members)


def test_composite_keys(prod, outdir):
    res = make(prod, outdir / "cyc-awards", Request(rows={"awards": 5}, seed=1), CYCLES, db="cycles")
    rows = table_rows(res.path)
    assert len(rows["awards"]) == 5
    members = {(m["team_id"], m["person_id"]) for m in rows["memberships"]}
    assert {(a["team_id"], a["person_id"]) for a in rows["awards"]} <= members
    load_into_copy(prod, res.path)
    assert copy_orphans(prod) == []
    assert_players_arrived_intact(prod)


# -- sources and errors ------------------------------------------------------------------------

def cli(*args, env=None):
    full = {**os.environ, **KEYS_ENV, **(env or {})}
    full.pop("DEVENV_PROFILES_DIR", None)
    full["DEVENV_LABELS"] = TEST_LABEL
    return subprocess.run([sys.executable, "-m", "devenv", *args], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=600)


def test_cli_with_rows_and_where(prod, outdir):
    out = outdir / "cli"
    r = cli("dataset", "subset", "--from", url(prod), "--rows", "orders=40", "--where", "orders:status = 'shipped'",
            "--rules", str(SUB / "shop-rules.yaml"), "-o", str(out), "--seed", "9")
    assert r.returncode == 0, r.stderr
    assert "start: 40 of" in r.stdout and "wrote dataset subset-rows-s9-" in r.stdout
    assert "start orders: 40 of" in r.stderr, "progress per table"
    orders = read_csv(out / "orders.csv")
    assert len(orders) == 40 and {o["status"] for o in orders} == {"shipped"}
    again = cli("dataset", "subset", "--from", url(prod), "--rows", "orders=40", "-o", str(out),
                "--rules", str(SUB / "shop-rules.yaml"))
    assert again.returncode == 2 and "--force" in again.stderr


def test_dump_file_source_gives_the_same_dataset(prod, outdir, engine):
    code, err = prod.container.exec_run(
        ["bash", "-o", "pipefail", "-c",
         f"mariadb-dump -uroot --single-transaction cycles | gzip > {OUT_MOUNT}/cycles.sql.gz"], demux=True)
    assert code == 0, err
    via_url = make(prod, outdir / "cyc-url", Request(rows={"players": 12}, seed=4), CYCLES, db="cycles")
    out = outdir / "cyc-dump"
    r = cli("dataset", "subset", "--from", str(outdir / "cycles.sql.gz"), "--rows", "players=12", "--seed", "4",
            "--rules", str(SUB / "cycles-rules.yaml"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["id"] == via_url.id
    assert m["source"]["kind"] == "dump" and m["source"]["file"] == "cycles.sql.gz" and len(m["source"]["sha256"]) == 64
    for name in via_url.manifest["tables"]:
        assert (out / f"{name}.csv").read_bytes() == (via_url.path / f"{name}.csv").read_bytes()
    assert not engine.containers.list(all=True, filters={"label": [TEST_LABEL, "dev.devenv.kind=subset-dump"]}), \
        "the throwaway container is gone"


def test_table_without_primary_key(prod, outdir):
    with pytest.raises(SchemaError) as e:
        make(prod, outdir / "nopk", Request(fraction=0.5), Rules(), db="nopk")
    assert "audit_log" in str(e.value) and "ADD PRIMARY KEY" in str(e.value)


def test_rule_naming_a_missing_column_and_unlisted_personal_columns(prod, outdir):
    rules = Rules.from_mapping({"anonymise": {"users": {"e_mail": "fake:email"}}}, "test rules")
    with pytest.raises(RulesError) as e:
        make(prod, outdir / "bad", Request(fraction=0.1), rules)
    text = str(e.value)
    assert "table users has no column `e_mail` (did you mean `email`?)" in text
    assert "users.email" in text and "users.display_name" in text and "newsletter_subscriptions.ip" in text
    assert not (outdir / "bad").exists()
