"""The btrfs store's pure parts (devenv/engine/cowstore.py): when it is used, the seal of a
base, which directories a label may make devenv delete, orphans. Its btrfs operations run
on the real store in tests/integration/test_cow_clones.py."""

from __future__ import annotations

import os
import time

import pytest

from devenv.engine import cowstore


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(cowstore, "_found", {})


def test_the_store_is_off_missing_or_not_btrfs_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv(cowstore.STORE_ENV, "off")
    assert cowstore.find_store() == (None, f"{cowstore.STORE_ENV} is off")
    monkeypatch.setenv(cowstore.STORE_ENV, str(tmp_path / "nowhere"))
    store, why = cowstore.find_store()
    assert store is None and "no copy-on-write store at" in why and "cow-store.sh" in why
    monkeypatch.setenv(cowstore.STORE_ENV, str(tmp_path))
    monkeypatch.setattr(cowstore.shutil, "which", lambda _: "/usr/bin/btrfs")
    monkeypatch.setattr(cowstore, "_fs_type", lambda _: "ext2/ext3")
    store, why = cowstore.find_store()
    assert store is None and why == f"{tmp_path} is not on a btrfs filesystem"
    monkeypatch.setattr(cowstore, "_found", {})
    monkeypatch.setattr(cowstore, "_fs_type", lambda _: "btrfs")
    store, why = cowstore.find_store()
    assert store == cowstore.CowStore(tmp_path.resolve()) and why == ""
    assert (tmp_path / "bases").is_dir() and (tmp_path / "clones").is_dir() and (tmp_path / cowstore.MARKER).is_file()


def test_the_seal_changes_with_any_write_and_not_without(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "users.ibd").write_bytes(b"\0" * 100)
    (tmp_path / "ibdata1").write_bytes(b"x")
    seal = cowstore.tree_seal(tmp_path)
    assert seal.startswith("tree:") and cowstore.tree_seal(tmp_path) == seal
    st = os.stat(tmp_path / "ibdata1")
    with open(tmp_path / "ibdata1", "r+b") as f:   # same size, mtime set back: the ctime still moved
        f.write(b"y")
    os.utime(tmp_path / "ibdata1", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cowstore.tree_seal(tmp_path) != seal
    seal = cowstore.tree_seal(tmp_path)
    os.chmod(tmp_path, 0o751)
    assert cowstore.tree_seal(tmp_path) != seal


def test_a_label_only_deletes_a_base_or_clone_directory_of_a_marked_store(tmp_path, monkeypatch):
    deleted = []
    monkeypatch.setattr(cowstore, "delete", deleted.append)
    root = tmp_path / "cow"
    (root / "clones").mkdir(parents=True)
    outside = tmp_path / "clones" / "precious"
    for path in (outside, root / "clones" / "v1"):
        cowstore.release({cowstore.COW_PATH: str(path)})
    assert deleted == []                              # no marker: not a store
    (root / cowstore.MARKER).touch()
    for path in (root / "clones" / "v1", root / "bases" / "b1", root / "other" / "x", root / "clones" / "..",
                 root, str(root / "clones" / "v1") + "/../../..", outside):
        cowstore.release({cowstore.COW_PATH: str(path)})
    cowstore.release({})
    cowstore.release(None)
    assert deleted == [root / "clones" / "v1", root / "bases" / "b1"]


def test_orphans_are_the_old_directories_without_a_volume(tmp_path):
    store = cowstore.CowStore(tmp_path)
    for d in ("bases/devenv-cowbase-p-1", "bases/devenv-cowbase-p-2", "clones/p-x-db-data", "clones/p-y-db-data"):
        (tmp_path / d).mkdir(parents=True)
    volumes = {"devenv-cowbase-p-1", "p-x-db-data"}
    assert cowstore.orphans(store, volumes, min_age=60) == []          # just made: maybe a clone in progress
    assert cowstore.orphans(store, volumes, min_age=0) == [tmp_path / "bases/devenv-cowbase-p-2",
                                                            tmp_path / "clones/p-y-db-data"]
    assert time.time() - (tmp_path / "clones").stat().st_ctime < 60
