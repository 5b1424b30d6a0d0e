"""Dataset generation: determinism, referential integrity, manifest, atomicity, errors."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from devenv.data import datasets
from devenv.data.datasets import (DatasetScaleError, UnknownDatasetError, dataset_id, materialize, registry,
                                  resolve_params)
from devenv.data.generators.csvout import q
from devenv.data.generators import shop
from devenv.data.hook import HookGenerator
from devenv.errors import DevenvError
from devenv.profile.model import Dataset, ImageSet
from devenv.ui import SilentReporter

SMALL = Dataset(name="shop", size="small", seed=1)
IMAGES = ImageSet(count=100)
TABLES = [t.name for t in shop.TABLES]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return materialize(SMALL, IMAGES, tmp_path_factory.mktemp("cache"), SilentReporter())


@pytest.fixture(scope="module")
def rows(small):
    return {t: read(small.path / f"{t}.csv") for t in TABLES}


# -- determinism ------------------------------------------------------------------

def test_same_seed_same_bytes(small, tmp_path):
    again = materialize(SMALL, IMAGES, tmp_path, SilentReporter())
    assert again.id == small.id
    assert again.path != small.path
    names = sorted(p.name for p in small.path.iterdir())
    assert names == sorted(p.name for p in again.path.iterdir())
    for name in names:
        assert sha(small.path / name) == sha(again.path / name), name


def test_parallel_generation_gives_the_same_bytes(small, tmp_path):
    par = materialize(SMALL, IMAGES, tmp_path, SilentReporter(), workers=2)
    for t in TABLES:
        assert sha(par.path / f"{t}.csv") == sha(small.path / f"{t}.csv"), t


def test_generation_does_not_depend_on_hash_seed_or_locale(small, tmp_path):
    """A fresh interpreter with another PYTHONHASHSEED and locale writes the same bytes."""
    import subprocess
    import sys
    code = ("import sys; from pathlib import Path; from devenv.data.datasets import materialize; "
            "from devenv.profile.model import Dataset, ImageSet; from devenv.ui import SilentReporter; "
            "print(materialize(Dataset('shop', 'small', 1), ImageSet(count=100), Path(sys.argv[1]), "
            "SilentReporter()).path)")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "LC_ALL": "C", "TZ": "Pacific/Kiritimati"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    for t in TABLES:
        assert sha(Path(out) / f"{t}.csv") == sha(small.path / f"{t}.csv"), t


def test_manifest_sha256_matches_files(small):
    m = small.manifest
    for t in TABLES:
        entry = m["tables"][t]
        path = small.path / entry["file"]
        assert entry["sha256"] == sha(path)
        assert entry["bytes"] == path.stat().st_size


def test_other_seed_other_data(small, tmp_path):
    other = materialize(Dataset("shop", "small", seed=2), IMAGES, tmp_path, SilentReporter())
    assert other.id != small.id
    assert sha(other.path / "listings.csv") != sha(small.path / "listings.csv")


# -- ids ----------------------------------------------------------------------------

def test_id_names_generator_size_seed_and_content():
    ds_id = dataset_id(SMALL, IMAGES)
    assert re.fullmatch(r"shop-small-1-[0-9a-f]{12}", ds_id)
    assert dataset_id(SMALL, IMAGES) == ds_id
    assert dataset_id(Dataset("shop", "small", 7), IMAGES).startswith("shop-small-7-")
    assert dataset_id(Dataset("shop", "small", 1, scale=(("users", 10),)), IMAGES) != ds_id
    assert dataset_id(SMALL, ImageSet(count=10_000)) != ds_id
    assert dataset_id(SMALL, None) != ds_id
    # the image set's seed changes pixels, not paths: same dataset
    assert dataset_id(SMALL, ImageSet(count=100, seed=9)) == ds_id
    # a scale override equal to the default is the same dataset; 2 == 2.0
    assert dataset_id(Dataset("shop", "small", 1, scale=(("users", 1000.0),)), IMAGES) == ds_id


def test_dataset_id_file_and_manifest(small):
    assert (small.path / "DATASET_ID").read_text() == small.id + "\n"
    m = json.loads((small.path / "manifest.json").read_text())
    assert m == small.manifest
    assert m["id"] == small.id and m["generator"] == "shop" and m["generator_version"] == shop.VERSION
    assert m["params"]["seed"] == 1 and m["size"] == "small"
    assert m["imageset"] == {"count": 100, "width": 320, "height": 240}


# -- row counts -----------------------------------------------------------------------

def test_small_row_counts_match_manifest(small, rows):
    m = small.manifest
    for t in TABLES:
        assert len(rows[t]) == m["tables"][t]["rows"], t
    assert m["total_rows"] == sum(len(r) for r in rows.values())
    p = m["params"]
    for t in ("users", "shops", "listings", "orders"):
        assert len(rows[t]) == p[t]
    assert 10_000 <= m["total_rows"] < 100_000  # "order of 10^4"


def test_large_is_at_least_100x_small():
    def expected(size):
        _, p = resolve_params(Dataset("shop", size))
        return (p["users"] + p["shops"] + p["listings"] * (1 + p["images_per_listing"])
                + p["orders"] * (1 + p["items_per_order"]))
    assert expected("large") >= 100 * expected("small")
    assert expected("large") >= 1_000_000


def test_scale_overrides_counts(tmp_path):
    ds = Dataset("shop", "small", 3, scale=(("users", 40), ("shops", 5), ("listings", 60), ("orders", 30),
                                            ("images_per_listing", 1), ("items_per_order", 3)))
    f = materialize(ds, ImageSet(count=7), tmp_path, SilentReporter())
    t = f.manifest["tables"]
    assert (t["users"]["rows"], t["shops"]["rows"], t["listings"]["rows"], t["orders"]["rows"]) == (40, 5, 60, 30)
    imgs = read(f.path / "listing_images.csv")
    assert {r["path"] for r in imgs} <= {f"media/{i:05d}.jpg" for i in range(7)}
    _check_integrity({name: read(f.path / f"{name}.csv") for name in TABLES})


def test_no_imageset_means_no_listing_images(tmp_path):
    f = materialize(SMALL, None, tmp_path, SilentReporter())
    assert f.manifest["tables"]["listing_images"]["rows"] == 0
    assert (f.path / "listing_images.csv").read_text() == "id,listing_id,position,path,width,height\n"
    assert f.manifest["imageset"] is None


# -- integrity --------------------------------------------------------------------------

def _check_integrity(rows: dict[str, list[dict[str, str]]]) -> None:
    ids = {t: {r["id"] for r in rows[t]} for t in rows}
    for t in shop.TABLES:
        assert len(ids[t.name]) == len(rows[t.name]), f"{t.name}: duplicate ids"
        for fk in t.references:
            orphans = [r for r in rows[t.name] if r[fk.column] not in ids[fk.parent]]
            assert not orphans, f"{t.name}.{fk.column} -> {fk.parent}: {len(orphans)} orphans, e.g. {orphans[0]}"
    # unique keys of the schema (utf8mb4_general_ci: case-insensitive)
    assert len({r["email"].lower() for r in rows["users"]}) == len(rows["users"])
    assert len({r["slug"].lower() for r in rows["shops"]}) == len(rows["shops"])
    assert len({(r["listing_id"], r["position"]) for r in rows["listing_images"]}) == len(rows["listing_images"])
    assert len({(r["order_id"], r["listing_id"]) for r in rows["order_items"]}) == len(rows["order_items"])
    # realism that the app relies on
    users = {r["id"]: r for r in rows["users"]}
    shops = {r["id"]: r for r in rows["shops"]}
    listings = {r["id"]: r for r in rows["listings"]}
    for s in rows["shops"]:
        assert s["created_at"] >= users[s["owner_user_id"]]["created_at"]
    for lst in rows["listings"]:
        assert lst["created_at"] >= shops[lst["shop_id"]]["created_at"]
        assert lst["updated_at"] >= lst["created_at"]
        assert lst["state"] in ("active", "sold_out", "draft", "removed")
    totals: dict[str, int] = {}
    orders = {r["id"]: r for r in rows["orders"]}
    for it in rows["order_items"]:
        o, lst = orders[it["order_id"]], listings[it["listing_id"]]
        assert lst["shop_id"] == o["shop_id"], "an order's items come from its shop"
        assert lst["created_at"] <= o["created_at"]
        assert it["unit_price_cents"] == lst["price_cents"]
        totals[o["id"]] = totals.get(o["id"], 0) + int(it["quantity"]) * int(it["unit_price_cents"])
    for o in rows["orders"]:
        assert int(o["total_cents"]) == totals.get(o["id"], 0)
        assert o["id"] in totals, "every order has at least one item"
        assert users[o["buyer_user_id"]]["created_at"] <= o["created_at"]


def test_referential_integrity(rows):
    _check_integrity(rows)


def test_text_is_realistic_and_escaped(rows):
    titles = [r["title"] for r in rows["listings"]]
    descriptions = [r["description"] for r in rows["listings"]]
    assert any("&" in t or "<" in t or '"' in t for t in titles)
    assert any('"' in d for d in descriptions) and any("\n\n" in d for d in descriptions)
    assert any(ord(c) > 127 for r in rows["users"] for c in r["display_name"])
    assert 500 < sum(map(len, descriptions)) / len(descriptions) < 1500  # ~1 KB
    assert sum(r["state"] == "active" for r in rows["listings"]) > len(rows["listings"]) // 2


def test_csv_quoting_round_trips():
    text = 'a "quoted", multi\nline – ü <b>&amp;'
    line = f"1,{q(text)}\n"
    assert next(csv.reader([line])) == ["1", text]


def test_image_paths_point_into_the_image_set(rows):
    paths = {r["path"] for r in rows["listing_images"]}
    assert paths and all(re.fullmatch(r"media/\d{5}\.jpg", p) for p in paths)
    assert max(int(p[6:11]) for p in paths) < IMAGES.count
    assert {(r["width"], r["height"]) for r in rows["listing_images"]} == {("320", "240")}


# -- load.sql ---------------------------------------------------------------------------

def test_load_sql_loads_every_table_once_in_streams_parents_first(small):
    text = (small.path / "load.sql").read_text()
    head, *streams = text.split("-- devenv-load-stream: ")
    assert len(streams) == 2 and "-- devenv-load-streams-end" in streams[-1]
    loads = []
    for stream in streams:
        found = re.findall(r"LOAD DATA LOCAL INFILE '/var/lib/devenv-seed/(\w+)\.csv' INTO TABLE `(\w+)`", stream)
        assert all(f == t for f, t in found)
        assert [t for t, _ in found] == sorted((t for t, _ in found), key=TABLES.index)   # parents first
        loads += [t for t, _ in found]
    assert sorted(loads) == sorted(TABLES)
    assert "SET SESSION foreign_key_checks = 0" in head   # every stream's session setup
    assert "foreign_key_checks = 0" in text and "unique_checks = 0" in text and "sql_log_bin = 0" in text
    assert f"-- devenv-total-rows: {small.manifest['total_rows']}\n" in text
    for t in TABLES:
        assert f"IF @devenv_rows <> {small.manifest['tables'][t]['rows']} THEN" in text
        assert f"{t} does not have {small.manifest['tables'][t]['rows']} rows" in text


def test_files_are_world_readable(small):
    assert small.path.stat().st_mode & 0o755 == 0o755
    for p in small.path.iterdir():
        assert p.stat().st_mode & 0o444 == 0o444, p


# -- errors -----------------------------------------------------------------------------

def test_unknown_generator_is_a_typed_error(tmp_path):
    with pytest.raises(UnknownDatasetError) as exc:
        materialize(Dataset("nosuch", "small"), None, tmp_path, SilentReporter())
    assert isinstance(exc.value, DevenvError) and exc.value.exit_code == 2
    text = str(exc.value)
    assert "nosuch" in text and "shop" in text
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())


def test_unknown_size_and_scale_key():
    with pytest.raises(UnknownDatasetError, match="huge") as exc:
        resolve_params(Dataset("shop", "huge"))
    assert "large" in str(exc.value) and "small" in str(exc.value)
    with pytest.raises(DatasetScaleError, match="userz") as exc:
        resolve_params(Dataset("shop", "small", scale=(("userz", 5),)))
    assert "users" in str(exc.value) and exc.value.exit_code == 2
    with pytest.raises(DatasetScaleError, match="whole number"):
        resolve_params(Dataset("shop", "small", scale=(("users", 2.5),)))
    with pytest.raises(DatasetScaleError, match="listings need shops"):
        resolve_params(Dataset("shop", "small", scale=(("shops", 0),)))


def test_registry_lists_shop():
    assert "shop" in registry()
    assert datasets.available()["shop"] == ["large", "small"]


# -- atomicity and caching --------------------------------------------------------------

class Boom(Exception):
    pass


def test_failed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    real = HookGenerator.generate

    def failing(self, out, params, imageset, workers=1, progress=lambda t: None):
        real(self, out, params, imageset, workers=workers, progress=progress)
        assert (out / "listings.csv").stat().st_size > 0  # half a dataset exists...
        raise Boom("disk full")

    monkeypatch.setattr(HookGenerator, "generate", failing)
    with pytest.raises(Boom):
        materialize(SMALL, IMAGES, tmp_path, SilentReporter())
    assert list((tmp_path / "datasets").iterdir()) == []  # ...and is gone, final name never existed


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def interrupted(self, out, params, imageset, workers=1, progress=lambda t: None):
        (out / "users.csv").write_text("id\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(HookGenerator, "generate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        materialize(SMALL, IMAGES, tmp_path, SilentReporter())
    assert list((tmp_path / "datasets").iterdir()) == []


def test_existing_dataset_is_reused(small, monkeypatch):
    def never(*a, **k):
        raise AssertionError("regenerated a dataset that exists")

    monkeypatch.setattr(HookGenerator, "generate", never)
    again = materialize(SMALL, IMAGES, small.path.parent.parent, SilentReporter())
    assert again == small


def test_damaged_dataset_is_regenerated(tmp_path):
    first = materialize(SMALL, None, tmp_path, SilentReporter())
    (first.path / "manifest.json").unlink()
    again = materialize(SMALL, None, tmp_path, SilentReporter())
    assert again.path == first.path and (again.path / "manifest.json").is_file()


def test_a_truncated_csv_in_the_cache_is_regenerated(tmp_path):
    first = materialize(SMALL, None, tmp_path, SilentReporter())
    listings = first.path / "listings.csv"
    whole = listings.read_bytes()
    listings.write_bytes(whole[: len(whole) // 2])
    again = materialize(SMALL, None, tmp_path, SilentReporter())
    assert again.path == first.path and listings.read_bytes() == whole


def test_stale_temp_dirs_of_dead_processes_are_removed(tmp_path):
    ds_id = dataset_id(SMALL, None)
    stale = tmp_path / "datasets" / f".{ds_id}.tmp-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "users.csv").write_text("half")
    f = materialize(SMALL, None, tmp_path, SilentReporter())
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == [f.id]
