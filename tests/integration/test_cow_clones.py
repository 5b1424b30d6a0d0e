"""Block-level copy-on-write clones in the btrfs store (devenv/engine/cowstore.py) on the real
engine, with real MariaDB data checked by CHECKSUM TABLE: clones isolated from each other and
from their read-only base, reference counting, the disk a clone costs before its writes, a
tampered base refused, interrupted clones, and the store's directories going with their
volumes. The store is made by scripts/engine.sh (scripts/cow-store.sh); tests/integration/
test_clones.py runs the overlay clones with the store switched off."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from devenv.engine import clones, cowstore
from tests.integration.conftest import TEST_LABEL, cleanup
from tests.integration.restore_project import PROFILE, SIGNALS
from tests.integration.test_clones import UPDATE, Clones, make_project, volume_labels

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store():
    found, why = cowstore.find_store()
    assert found is not None, f"the copy-on-write store is missing ({why}): run scripts/cow-store.sh as root"
    return found


@pytest.fixture(scope="module")
def p(engine, store, tmp_path_factory):
    name = f"cow-{uuid.uuid4().hex[:8]}"
    proj = Clones(make_project(tmp_path_factory.mktemp("cow"), name), TEST_LABEL)
    proj.name = name
    proj("up", PROFILE)
    proj.seeded = proj.checksums()
    proj("snapshot", "save", PROFILE)
    proj("down", PROFILE, "--volumes")
    yield proj
    cleanup(engine)


def clone_dirs(store, p) -> list[str]:
    return sorted(d.name for d in (store.root / "clones").iterdir() if d.name.startswith(f"{p.name}-"))


def test_clones_share_blocks_are_isolated_and_the_base_is_read_only(p, engine, store):
    r = p("up", PROFILE, "--name", "a")
    assert "cloned snapshot: t-snapdb/latest" in r.stdout and "btrfs snapshot" in r.stderr, r.stdout + r.stderr
    p("up", PROFILE, "--name", "b")
    la, lb = volume_labels(engine, p.datadir("a")), volume_labels(engine, p.datadir("b"))
    base = la[clones.BASE]
    assert lb[clones.BASE] == base and base.startswith("devenv-cowbase-")
    assert engine.volumes.get(p.datadir("a")).attrs["Options"] == cowstore.bind_options(Path(la[cowstore.COW_PATH]))
    base_dir = store.base_path(base)
    assert cowstore.is_subvolume(base_dir) and cowstore.is_read_only(base_dir)
    with pytest.raises(OSError):                      # the kernel refuses writes into a base
        (base_dir / "written-by-a-test").write_text("x")
    sealed = volume_labels(engine, clones.sealed_name(base))[clones.SEAL]
    assert cowstore.tree_seal(base_dir) == sealed

    # before any write of its own, a clone holds next to nothing of its own
    p("down", PROFILE, "--name", "b")
    own = cowstore.exclusive_bytes([Path(lb[cowstore.COW_PATH])])[lb[cowstore.COW_PATH]]
    total = sum(f.stat().st_size for f in base_dir.rglob("*") if f.is_file())
    assert own < 0.05 * total, (own, total)
    rows = {r["instance"]: r for r in json.loads(p("ls", "--json").stdout) if r["project"] == p.name}
    assert own <= rows["b"]["disk_bytes"] < total   # `ls` counts a clone's own bytes, not the shared ones
    p("up", PROFILE, "--name", "b")

    assert p.checksums_of("a") == p.seeded == p.checksums_of("b")
    p.sql_in("a", UPDATE)
    p.sql_in("a", "DELETE FROM order_items WHERE id % 3 = 0")
    written = p.checksums_of("a")
    assert written != p.seeded
    assert p.checksums_of("b") == p.seeded           # nothing reached the other clone
    p("down", PROFILE, "--name", "a")
    assert cowstore.tree_seal(base_dir) == sealed     # nor the base
    p("up", PROFILE, "--name", "a")
    assert p.checksums_of("a") == written              # the clone's writes are kept across down/up

    r = p("snapshot", "rm", "latest", "-p", PROFILE, check=False)
    assert r.returncode == 2, r.stderr
    assert "t-snapdb --name a" in r.stderr and "t-snapdb --name b" in r.stderr and "not removed" in r.stderr

    r = p("down", PROFILE, "--name", "a", "--volumes")
    assert "1 volume" in r.stdout, r.stdout           # the clone only, not the base
    assert not Path(la[cowstore.COW_PATH]).exists()   # its data went with it
    assert p.checksums_of("b") == p.seeded and cowstore.tree_seal(base_dir) == sealed

    p("down", PROFILE, "--name", "b", "--volumes")
    r = p("snapshot", "rm", "latest", "-p", PROFILE)
    assert f"and its base {base}" in r.stdout
    assert not engine.volumes.list(filters={"label": f"{clones.BASE}={base}"})
    assert not base_dir.exists() and clone_dirs(store, p) == []


def test_tampered_base_is_refused(p, engine, store):
    p("up", PROFILE, "--name", "t0")
    p("snapshot", "save", PROFILE, "--name", "t0")
    p("down", PROFILE, "--name", "t0", "--volumes")
    p("up", PROFILE, "--name", "t1")
    base = volume_labels(engine, p.datadir("t1"))[clones.BASE]
    base_dir = store.base_path(base)
    cowstore._btrfs("property", "set", "-ts", str(base_dir), "ro", "false")   # root can, deliberately
    with open(base_dir / "shop" / "users.frm", "ab") as f:
        f.write(b"x")
    cowstore.set_read_only(base_dir)
    r = p("up", PROFILE, "--name", "t2", check=False)
    assert r.returncode != 0 and "was changed after it was sealed" in r.stderr, r.stdout + r.stderr
    assert not engine.volumes.list(filters={"label": p.scope("t2").filters()})   # the refused clone left nothing
    assert p.datadir("t2") not in clone_dirs(store, p)
    p("down", PROFILE, "--name", "t1", "--volumes")
    engine.volumes.get(clones.sealed_name(base)).remove()
    engine.volumes.get(base).remove()
    cowstore.delete(base_dir)


@pytest.mark.parametrize("marker", ["==> clone ", "==> seal base"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_interrupted_clone_leaves_nothing_a_later_up_trusts(p, engine, store, sig, marker):
    p("up", PROFILE, "--name", "src")
    expected = p.checksums_of("src")
    p("snapshot", "save", PROFILE, "--name", "src")    # a new snapshot: its base is made on the next clone
    p("down", PROFILE, "--name", "src", "--volumes")
    if marker == "==> clone ":                          # the base exists already: only the clone is cut
        p("up", PROFILE, "--name", "warm")
        p("down", PROFILE, "--name", "warm", "--volumes")
    code, log, _ = p.interrupt(["up", PROFILE, "--name", "cut"], marker, SIGNALS[sig])
    assert code != 0, log
    r = p("up", PROFILE, "--name", "cut")
    assert "created: db" in r.stdout, r.stdout
    assert p.checksums_of("cut") == expected
    base = volume_labels(engine, p.datadir("cut"))[clones.BASE]
    assert volume_labels(engine, clones.sealed_name(base))[clones.SEAL] == cowstore.tree_seal(store.base_path(base))
    ours = sorted(v.name for v in engine.volumes.list(filters={"label": p.scope("cut").filters()}))
    assert ours == [p.datadir("cut")]
    assert clone_dirs(store, p) == [p.datadir("cut")]
    p("down", PROFILE, "--name", "cut", "--volumes")
    assert clone_dirs(store, p) == []
