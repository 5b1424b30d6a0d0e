"""Subset without a server: load order, defaults, the closure over foreign keys
(self-references, two-table cycles, cut edges, dangling keys), CSV / load.sql
conventions, the dataset directory, determinism."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from devenv.data.datasets import load_sql
from devenv.data.generators import GeneratedTable
from devenv.subset.closure import Closure, Start, picked_count, resolve_starts, salt
from devenv.data.dataset_dir import DatasetDirectoryError, open_dataset_dir
from devenv.subset.errors import (IntegrityError, RulesError, SchemaError, SubsetError)
from devenv.subset.memory import MemorySource
from devenv.subset.rules import Rules
from devenv.subset.run import Request, prepare, subset
from devenv.subset.schema import Column, ForeignKey, Schema, Table, default_follow, default_start, load_order
from devenv.db.sources.mariadb import load_script as _mariadb_load_script, load_statement
from devenv.subset.writer import OutputDir, encoder, sort_key_fn


def load_script(ds_id, tables, rows, mount="/var/lib/devenv-seed"):
    return _mariadb_load_script(ds_id, tables, rows, mount)
from devenv.ui import SilentReporter

R = SilentReporter()
INT = Column("id", "int", "int(10) unsigned")


def icol(name, nullable=False):
    return Column(name, "int", "int(10) unsigned", nullable)


def tcol(name, nullable=False, length=190):
    return Column(name, "varchar", f"varchar({length})", nullable, length, "utf8mb4_general_ci", "utf8mb4")


def fk(table, column, parent, nullable=False, cascade=False):
    return ForeignKey(f"fk_{table}_{column}", table, (column,), parent, ("id",), nullable,
                      "CASCADE" if cascade else "RESTRICT")


def table(name, *cols, fks=(), pk=("id",), uniques=()):
    return Table(name, (INT, *cols) if pk == ("id",) else cols, pk, ((("id",),) if pk else ()) + tuple(uniques),
                 tuple(fks))


def shop() -> Schema:
    return Schema("shop", {t.name: t for t in (
        table("users", tcol("email"), uniques=[("email",)]),
        table("shops", icol("owner_user_id"), tcol("name"), fks=[fk("shops", "owner_user_id", "users")]),
        table("listings", icol("shop_id"), tcol("title"), fks=[fk("listings", "shop_id", "shops")]),
        table("listing_images", icol("listing_id"), fks=[fk("listing_images", "listing_id", "listings", cascade=True)]),
        table("orders", icol("buyer_user_id"), icol("shop_id"),
              fks=[fk("orders", "buyer_user_id", "users"), fk("orders", "shop_id", "shops")]),
        table("order_items", icol("order_id"), icol("listing_id"),
              fks=[fk("order_items", "order_id", "orders", cascade=True), fk("order_items", "listing_id", "listings")]),
    )})


def shop_rows() -> dict[str, list[tuple]]:
    s = lambda i: str(i)  # noqa: E731
    users = [(s(i), f"user{i}@mail.test") for i in range(1, 41)]
    shops = [(s(i), s(i), f"Shop {i}") for i in range(1, 9)]
    listings = [(s(i), s(1 + i % 8), f"Listing {i}") for i in range(1, 61)]
    images = [(s(i), s(1 + i // 2)) for i in range(1, 100)]
    orders = [(s(i), s(1 + (i * 7) % 40), s(1 + i % 8)) for i in range(1, 101)]
    items = [(s(i), s(1 + i // 3), s(1 + (i * 5) % 60)) for i in range(1, 280)]
    return {"users": users, "shops": shops, "listings": listings, "listing_images": images, "orders": orders,
            "order_items": items}


SHOP_RULES = Rules.from_mapping({"anonymise": {"users": {"email": {"hash": "email", "format": "email"}},
                                               "shops": {"name": "keep"}}}, "test")
KEYS = {"email": b"e" * 32}


def cycles() -> Schema:
    """people.referred_by -> people (self-reference, nullable); teams.captain_id -> players
    (nullable) and players.team_id -> teams (NOT NULL): a two-table cycle."""
    return Schema("cyc", {t.name: t for t in (
        table("people", icol("referred_by", nullable=True), fks=[fk("people", "referred_by", "people", nullable=True)]),
        table("teams", icol("captain_id", nullable=True), fks=[fk("teams", "captain_id", "players", nullable=True)]),
        table("players", icol("team_id"), fks=[fk("players", "team_id", "teams")]),
    )})


def cycle_rows() -> dict[str, list[tuple]]:
    # referral chains: person i was referred by i - 1 unless i % 10 == 1 (chain heads)
    people = [(str(i), None if i % 10 == 1 else str(i - 1)) for i in range(1, 51)]
    teams = [(str(t), str(3 * t - 2)) for t in range(1, 11)]               # captain: the team's first player
    players = [(str(p), str(1 + (p - 1) // 3)) for p in range(1, 31)]        # three per team
    return {"people": people, "teams": teams, "players": players}


def closure(schema, rows, starts, follow=None, cut=()):
    src = MemorySource(schema, rows)
    follow = default_follow(schema) if follow is None else follow
    return Closure(src, schema, set(follow), set(cut), 1, R).run(starts), src


def orphans(schema: Schema, sel, rows) -> list[str]:
    """Foreign key values of kept rows that point at no kept row (NULLs written for cut edges excepted)."""
    out = []
    for t in schema.tables.values():
        cols = t.column_names
        by_pk = {tuple(r[cols.index(c)] for c in t.primary_key): r for r in rows[t.name]}
        for pk in sel.kept[t.name]:
            r = by_pk[pk]
            for f in t.foreign_keys:
                v = tuple(r[cols.index(c)] for c in f.columns)
                if None not in v and v not in sel.kept[f.parent] and f.id not in sel.cut:
                    out.append(f"{t.name}{pk}.{f.columns[0]}={v}")
    return out


# -- schema helpers -----------------------------------------------------------------------

def test_load_order_is_parents_first():
    order = load_order(shop())
    for t in shop().tables.values():
        for f in t.foreign_keys:
            assert order.index(f.parent) < order.index(t.name)


def test_load_order_cuts_a_nullable_edge_in_a_cycle():
    order = load_order(cycles())
    assert order.index("teams") < order.index("players")      # teams.captain_id (nullable) is the cut
    assert sorted(order) == ["people", "players", "teams"]


def test_defaults_follow_cascades_and_start_at_the_bottom():
    s = shop()
    assert default_follow(s) == {"listing_images.listing_id", "order_items.order_id"}
    assert default_start(s, default_follow(s)) == ["orders"]
    # without follow edges, the leaves are where it starts
    assert default_start(s, set()) == ["listing_images", "order_items"]
    # a cycle nothing else points at starts as a group
    c = cycles()
    assert default_start(c, set()) == ["people", "players", "teams"]


def test_a_table_without_primary_key_is_an_error_that_says_what_to_do():
    s = Schema("x", {"log": Table("log", (tcol("line"),), ())})
    with pytest.raises(SchemaError) as e:
        s.check_keys()
    assert "log" in str(e.value) and "ADD PRIMARY KEY" in str(e.value) and "--exclude" in str(e.value)


# -- the closure --------------------------------------------------------------------------

def test_picked_count_rounds_half_up_and_keeps_at_least_one():
    assert picked_count(0.1, 150_000) == 15_000
    assert picked_count(0.005, 100) == 1
    assert picked_count(0.005, 1) == 1
    assert picked_count(0.5, 3) == 2
    assert picked_count(0.5, 0) == 0


def test_start_pick_is_deterministic_nested_and_order_independent():
    s, rows = shop(), shop_rows()
    a, _ = closure(s, rows, [Start("orders", fraction=0.1)])
    b, _ = closure(s, {**rows, "orders": list(reversed(rows["orders"]))}, [Start("orders", fraction=0.1)])
    assert a.kept["orders"] == b.kept["orders"] and len(a.kept["orders"]) == 10
    big, _ = closure(s, rows, [Start("orders", fraction=0.3)])
    assert a.kept["orders"] < big.kept["orders"]
    expected = sorted(rows["orders"], key=lambda r: MemorySource.pick_order(salt(1, "orders"), (r[0],)))[:10]
    assert a.kept["orders"] == {(r[0],) for r in expected}


def test_every_parent_is_kept_and_children_follow_only_cascades():
    s, rows = shop(), shop_rows()
    sel, _ = closure(s, rows, [Start("orders", fraction=0.2)])
    assert orphans(s, sel, rows) == []
    kept_orders = {pk[0] for pk in sel.kept["orders"]}
    # all items of every kept order (follow edge), and only those
    assert sel.kept["order_items"] == {(r[0],) for r in rows["order_items"] if r[1] in kept_orders}
    # all images of every kept listing, although images were never asked for
    kept_listings = {pk[0] for pk in sel.kept["listings"]}
    assert sel.kept["listing_images"] == {(r[0],) for r in rows["listing_images"] if r[1] in kept_listings}
    # users only as parents: buyers and shop owners
    needed = {r[1] for r in rows["orders"] if r[0] in kept_orders} | \
        {r[1] for r in rows["shops"] if (r[0],) in sel.kept["shops"]}
    assert {pk[0] for pk in sel.kept["users"]} == needed


def test_no_follow_and_extra_follow_edges():
    s, rows = shop(), shop_rows()
    sel, _ = closure(s, rows, [Start("orders", rows=5)], follow={"order_items.order_id"})
    assert sel.kept["listing_images"] == set() and sel.kept["order_items"]
    # following users -> orders pulls every order of a kept user
    sel2, _ = closure(s, rows, [Start("users", rows=3)], follow={"orders.buyer_user_id"})
    users = {pk[0] for pk in sel2.kept["users"]}
    assert {(r[0],) for r in rows["orders"] if r[1] in users} <= sel2.kept["orders"]


def test_self_reference_fetches_the_whole_referral_chain():
    c, rows = cycles(), cycle_rows()
    sel, _ = closure(c, rows, [Start("people", rows=3)])
    assert orphans(c, sel, rows) == []
    kept = sorted(int(pk[0]) for pk in sel.kept["people"])
    for p in kept:   # the chain up to its head is complete
        if p % 10 != 1:
            assert p - 1 in kept


def test_cut_self_reference_is_not_followed():
    c, rows = cycles(), cycle_rows()
    full, _ = closure(c, rows, [Start("people", rows=3)])
    cut, _ = closure(c, rows, [Start("people", rows=3)], cut={"people.referred_by"})
    assert len(cut.kept["people"]) == 3 < len(full.kept["people"])


def test_two_table_cycle_is_fetched_as_a_unit():
    c, rows = cycles(), cycle_rows()
    sel, _ = closure(c, rows, [Start("teams", rows=2)])
    assert orphans(c, sel, rows) == []
    teams = {pk[0] for pk in sel.kept["teams"]}
    captains = {r[1] for r in rows["teams"] if r[0] in teams}
    assert captains <= {pk[0] for pk in sel.kept["players"]}
    # starting from players: their team, and its captain (another player), and that one's team ...
    sel2, _ = closure(c, rows, [Start("players", rows=4)])
    assert orphans(c, sel2, rows) == []
    assert len(sel2.kept["teams"]) >= 1


def test_dangling_keys():
    c, rows = cycles(), cycle_rows()
    rows = {**rows, "people": rows["people"] + [("99", "98")]}     # 98 does not exist, nullable: fine
    sel, _ = closure(c, rows, [Start("people", where=("int(id) == 99",))])
    assert sel.dangling == {"people.referred_by": 1}
    rows["players"] = rows["players"] + [("31", "77")]               # NOT NULL: an error
    with pytest.raises(IntegrityError) as e:
        closure(c, rows, [Start("players", where=("int(id) == 31",))])
    assert "players(team_id) -> teams(id)" in str(e.value) and "77" in str(e.value)


def test_resolve_starts():
    s = shop()
    d = default_start(s, default_follow(s))
    assert resolve_starts(s, 0.1, {}, {}, (), (), d) == [Start("orders", fraction=0.1)]
    assert resolve_starts(s, 0.1, {"users": 5}, {"orders": ("x",)}, ("shops",), ("users",), d) == \
        [Start("orders", ("x",), fraction=0.1), Start("users")]
    assert resolve_starts(s, None, {}, {"orders": ("x",)}, (), (), d) == [Start("orders", ("x",))]
    with pytest.raises(SubsetError, match="how many rows of start table orders"):
        resolve_starts(s, None, {}, {}, (), (), d)
    with pytest.raises(SubsetError, match="did you mean `orders`"):
        resolve_starts(s, 0.1, {"order": 3}, {}, (), (), d)


# -- CSV and load.sql ---------------------------------------------------------------------

def test_csv_encoding():
    assert encoder("number")("42") == "42" and encoder("number")(None) == "NULL"
    assert encoder("text")('say "hi",\nbye') == '"say ""hi"",\nbye"'
    assert encoder("text")("NULL") == '"NULL"' and encoder("text")(None) == "NULL"
    assert encoder("binary")(b"\x00\xff,") == "00ff2c" and encoder("binary")(b"") == ""
    assert encoder("bit")(b"\x01\x01") == "257"


def test_load_statement_matches_the_generators_for_plain_tables():
    t = shop().tables["orders"]
    ours = load_statement(t, "/var/lib/devenv-seed")
    theirs = [line for line in load_sql("x", (GeneratedTable("orders", t.column_names),), {"orders": 1}).splitlines()
              if line.startswith("LOAD DATA")]
    assert [ours] == theirs


def test_binary_and_bit_columns_go_through_variables():
    t = Table("blobs", (INT, Column("b", "varbinary", "varbinary(10)", True), Column("f", "bit", "bit(3)")), ("id",))
    stmt = load_statement(t, "/var/lib/devenv-seed")
    assert "(`id`, @c1, @c2) SET `b` = UNHEX(@c1), `f` = CAST(@c2 AS UNSIGNED);" in stmt
    script = load_script("d1", [t], {"blobs": 3})
    assert "-- devenv-total-rows: 3" in script and "SET SESSION time_zone = '+00:00';" in script
    assert "blobs does not have 3 rows" in script


def test_rows_are_written_in_primary_key_order():
    k = sort_key_fn(shop().tables["users"])
    assert sorted([("10",), ("9",), ("100",)], key=k) == [("9",), ("10",), ("100",)]


# -- whole runs on the memory source --------------------------------------------------------

def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def run(tmp_path: Path, name: str, request: Request, rules=SHOP_RULES, rows=None, schema=None, force=False):
    src = MemorySource(schema or shop(), rows or shop_rows())
    return subset(src, tmp_path / name, request, rules, R, {"kind": "memory", "database": "shop"},
                  keys=KEYS, force=force)


def test_a_run_writes_a_dataset_directory(tmp_path):
    res = run(tmp_path, "out", Request(fraction=0.2, seed=3))
    out = res.path
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["DATASET_ID", "load.sql", "manifest.json", "schema.sql"] +
                           [f"{t}.csv" for t in shop().tables])
    m = json.loads((out / "manifest.json").read_text())
    assert (out / "DATASET_ID").read_text().strip() == m["id"] == res.id
    assert m["id"].startswith("subset-20pct-s3-")
    assert m["start"]["orders"] == {"how": "fraction 0.2", "matching": 100, "picked": 20}
    assert m["request"]["fraction"] == 0.2 and m["seed"] == 3
    assert m["rules"]["anonymise"]["users"]["email"] == {"hash": "email", "format": "email"}
    assert m["hash_keys"]["email"] and "e" * 8 not in json.dumps(m)
    for t, entry in m["tables"].items():
        data = (out / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        assert len(read_csv(out / entry["file"])) == entry["rows"]
    assert m["total_rows"] == sum(e["rows"] for e in m["tables"].values())
    users = read_csv(out / "users.csv")
    assert all(u["email"].endswith("@example.invalid") for u in users)
    assert [int(u["id"]) for u in users] == sorted(int(u["id"]) for u in users)
    ds = open_dataset_dir(out, verify=True)
    assert ds.id == m["id"] and ds.total_rows == m["total_rows"]


def test_same_input_same_bytes_other_seed_other_rows(tmp_path):
    a = run(tmp_path, "a", Request(fraction=0.2, seed=3)).path
    b = run(tmp_path, "b", Request(fraction=0.2, seed=3)).path
    for p in a.iterdir():
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    c = run(tmp_path, "c", Request(fraction=0.2, seed=4)).path
    assert (a / "orders.csv").read_bytes() != (c / "orders.csv").read_bytes()


def test_cut_edges_are_nulled_unless_the_parent_is_kept(tmp_path):
    rules = Rules.from_mapping({"subset": {"cut": ["people.referred_by"]}}, "t")
    res = run(tmp_path, "cyc", Request(rows={"people": 12}), rules=rules, rows=cycle_rows(), schema=cycles())
    people = read_csv(res.path / "people.csv")
    ids = {p["id"] for p in people}
    assert len(people) == 12
    restored = [p for p in people if p["referred_by"] != "NULL"]
    assert all(p["referred_by"] in ids for p in restored)
    original = dict(cycle_rows()["people"])
    nulled = [p for p in people if p["referred_by"] == "NULL" and original[p["id"]] is not None]
    assert nulled and res.manifest["nulled"] == {"people.referred_by": len(nulled)}
    assert restored, "a referrer that is in the subset anyway keeps its link"


def test_output_directory_is_replaced_only_with_force_and_only_if_it_is_a_dataset(tmp_path):
    run(tmp_path, "out", Request(rows={"orders": 3}))
    with pytest.raises(SubsetError, match="--force"):
        run(tmp_path, "out", Request(rows={"orders": 3}))
    run(tmp_path, "out", Request(rows={"orders": 4}), force=True)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["tables"]["orders"]["rows"] == 4
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SubsetError, match="not a dataset directory"):
        OutputDir(other, force=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp directory left behind"


def test_a_failing_run_leaves_nothing_behind(tmp_path):
    rules = Rules.from_mapping({"anonymise": {"users": {"email": {"hash": "missing"}}, "shops": {"name": "keep"}}},
                               "t")
    with pytest.raises(RulesError):
        subset(MemorySource(shop(), shop_rows()), tmp_path / "out", Request(fraction=0.1), rules, R, {},
               key_file=None)
    assert list(tmp_path.iterdir()) == []


def test_excluded_tables_must_not_be_referenced():
    with pytest.raises(RulesError, match="exclude shops too, or keep users"):
        prepare(shop(), SHOP_RULES, Request(fraction=0.1, exclude=("users",)))
    schema, _, _ = prepare(shop(), SHOP_RULES, Request(fraction=0.1, exclude=("order_items", "listing_images")))
    assert "order_items" not in schema.tables


def test_dataset_directory_checks(tmp_path):
    out = run(tmp_path, "out", Request(rows={"orders": 3})).path
    with open(out / "orders.csv", "a") as f:
        f.write("999,1,1\n")
    with pytest.raises(DatasetDirectoryError, match="orders.csv"):
        open_dataset_dir(out)
    with pytest.raises(DatasetDirectoryError, match="does not exist"):
        open_dataset_dir(tmp_path / "nope")
    (out / "DATASET_ID").write_text("other\n")
    with pytest.raises(DatasetDirectoryError, match="DATASET_ID says"):
        open_dataset_dir(out)
