"""Overlay copy-on-write clones on the real engine (devenv/engine/clones.py), with real MariaDB data
checked by CHECKSUM TABLE: clones isolated from each other and from their base, the base
reference-counted, branching from an instance's snapshot, the copying fallback, and
interrupted clones."""

from __future__ import annotations

import uuid

import pytest

from devenv import names
from devenv.engine import clones
from tests.integration.conftest import TEST_LABEL, cleanup
from tests.integration.restore_project import PROFILE, SIGNALS, TABLES, Project, make_project

pytestmark = pytest.mark.integration
UPDATE = "UPDATE users SET display_name = 'written by a clone' WHERE id = 1"


class Clones(Project):
    def sql_in(self, instance: str, query: str) -> str:
        return self("exec", "db", "-p", PROFILE, "--name", instance, "--", "mariadb", "-uroot", "-N", "-B", "shop",
                    "-e", query).stdout.strip()

    def checksums_of(self, instance: str) -> str:
        return self.sql_in(instance, "CHECKSUM TABLE " + ", ".join(TABLES))

    def scope(self, instance: str) -> names.Scope:
        return names.Scope(self.name, PROFILE, instance)

    def datadir(self, instance: str) -> str:
        return names.volume_name(self.scope(instance), "db-data")


@pytest.fixture(scope="module")
def p(engine, tmp_path_factory):
    name = f"cl-{uuid.uuid4().hex[:8]}"
    proj = Clones(make_project(tmp_path_factory.mktemp("clones"), name), TEST_LABEL)
    proj.name = name
    proj.env["DEVENV_COW_STORE"] = "off"   # overlay clones here; the btrfs store's: test_cow_clones.py
    proj("up", PROFILE)
    proj.seeded = proj.checksums()
    proj("snapshot", "save", PROFILE)
    proj("down", PROFILE, "--volumes")
    yield proj
    cleanup(engine)


def volume_labels(engine, name):
    return engine.volumes.get(name).attrs["Labels"] or {}


def seal_now(engine, base, image):
    """The base's seal as it is now, computed like devenv does (SEAL_SCRIPT, read-only mount)."""
    out = engine.containers.run(image, ["sh", "-c", clones.SEAL_SCRIPT], entrypoint=[], user="0", remove=True,
                                labels={TEST_LABEL.split("=")[0]: TEST_LABEL.split("=")[1]},
                                volumes={base: {"bind": clones.BASE_MOUNT, "mode": "ro"}})
    return out.decode().strip()


def test_clones_are_isolated_and_the_base_is_reference_counted(p, engine):
    r = p("up", PROFILE, "--name", "a")
    assert "cloned snapshot: t-snapdb/latest" in r.stdout, r.stdout + r.stderr
    p("up", PROFILE, "--name", "b")
    base = volume_labels(engine, p.datadir("a"))[clones.BASE]
    assert volume_labels(engine, p.datadir("b"))[clones.BASE] == base
    opts = engine.volumes.get(p.datadir("a")).attrs["Options"]
    assert opts["type"] == "overlay" and "lowerdir=" in opts["o"]
    sealed = volume_labels(engine, clones.sealed_name(base))[clones.SEAL]
    image = engine.containers.get(names.container_name(p.scope("a"), "db")).image.id

    assert p.checksums_of("a") == p.seeded == p.checksums_of("b")
    p.sql_in("a", UPDATE)
    p.sql_in("a", "DELETE FROM order_items WHERE id % 3 = 0")
    written = p.checksums_of("a")
    assert written != p.seeded
    assert p.checksums_of("b") == p.seeded           # nothing reached the other clone
    p("down", PROFILE, "--name", "a")                  # the server flushes everything to its upper layer
    assert seal_now(engine, base, image) == sealed     # nor the base
    p("up", PROFILE, "--name", "a")
    assert p.checksums_of("a") == written              # the clone's own writes are kept across down/up

    r = p("snapshot", "rm", "latest", "-p", PROFILE, check=False)
    assert r.returncode == 2, r.stderr
    assert "t-snapdb --name a" in r.stderr and "t-snapdb --name b" in r.stderr and "not removed" in r.stderr
    assert (p.root / "cache" / "snapshots" / p.name / PROFILE / "latest" / "manifest.json").is_file()

    r = p("down", PROFILE, "--name", "a", "--volumes")
    assert "2 volumes" in r.stdout                     # the overlay and its upper layer, not the base
    assert not engine.volumes.list(filters={"name": p.datadir("a")})
    assert engine.volumes.get(base) and engine.volumes.get(clones.sealed_name(base))
    assert p.checksums_of("b") == p.seeded
    assert seal_now(engine, base, image) == sealed

    p("down", PROFILE, "--name", "b", "--volumes")
    r = p("snapshot", "rm", "latest", "-p", PROFILE)
    assert f"and its base {base}" in r.stdout
    assert not engine.volumes.list(filters={"label": f"{clones.BASE}={base}"})


def test_tampered_base_is_refused(p, engine):
    p("up", PROFILE, "--name", "t0")
    p("snapshot", "save", PROFILE, "--name", "t0")
    p("down", PROFILE, "--name", "t0", "--volumes")
    p("up", PROFILE, "--name", "t1")
    base = volume_labels(engine, p.datadir("t1"))[clones.BASE]
    p("down", PROFILE, "--name", "t1")
    image = engine.images.list(name="devenv/db")[0].id
    engine.containers.run(image, ["sh", "-c", f"echo x >> {clones.BASE_MOUNT}/shop/users.frm"], entrypoint=[],
                          user="0", remove=True, labels={TEST_LABEL.split("=")[0]: TEST_LABEL.split("=")[1]},
                          volumes={base: {"bind": clones.BASE_MOUNT, "mode": "rw"}})
    for instance in ("t1", "t2"):    # neither started on it nor cloned from it
        r = p("up", PROFILE, "--name", instance, check=False)
        assert r.returncode != 0 and "was changed after it was sealed" in r.stderr, r.stdout + r.stderr
    p("down", PROFILE, "--name", "t1", "--volumes")
    assert not engine.volumes.list(filters={"label": p.scope("t2").filters()})   # the refused clone left nothing
    engine.volumes.get(clones.sealed_name(base)).remove()
    engine.volumes.get(base).remove()


def test_branching_from_an_instance(p, engine):
    p("up", PROFILE, "--name", "main")
    p.sql_in("main", UPDATE)
    branched = p.checksums_of("main")
    assert branched != p.seeded
    p("snapshot", "save", PROFILE, "feature", "--name", "main")   # main's data as a new base
    r = p("up", PROFILE, "--name", "feature-1")
    assert "cloned snapshot: t-snapdb/feature" in r.stdout
    p("up", PROFILE, "--name", "feature-2")
    assert p.checksums_of("feature-1") == branched == p.checksums_of("feature-2")
    p.sql_in("feature-1", "DELETE FROM listing_images WHERE id % 2 = 0")
    assert p.checksums_of("feature-2") == branched and p.checksums_of("main") == branched
    assert volume_labels(engine, p.datadir("feature-1"))[clones.BASE] != \
        (volume_labels(engine, p.datadir("main")).get(clones.BASE))
    for instance in ("main", "feature-1", "feature-2"):
        p("down", PROFILE, "--name", instance, "--volumes")
    p("snapshot", "rm", "feature", "-p", PROFILE)


def test_fallback_restores_the_same_data_by_copying(p, engine):
    p("up", PROFILE, "--name", "src")
    expected = p.checksums_of("src")
    p("snapshot", "save", PROFILE, "--name", "src")
    p("down", PROFILE, "--name", "src", "--volumes")
    p.env["DEVENV_CLONES"] = "0"
    try:
        r = p("up", PROFILE, "--name", "copy")
    finally:
        del p.env["DEVENV_CLONES"]
    assert "restored snapshot: t-snapdb/latest" in r.stdout
    assert r.stderr.count("copy-on-write clones are not available (DEVENV_CLONES is off)") == 1, r.stderr
    assert clones.BASE not in volume_labels(engine, p.datadir("copy"))
    assert p.checksums_of("copy") == expected
    p("down", PROFILE, "--name", "copy", "--volumes")


@pytest.mark.parametrize("marker", ["==> clone ", "==> restore snapshot", "==> seal base"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_interrupted_clone_leaves_nothing_a_later_up_trusts(p, engine, sig, marker):
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
    labels = volume_labels(engine, p.datadir("cut"))
    base = labels[clones.BASE]
    assert clones.SEAL in volume_labels(engine, clones.sealed_name(base))
    ours = sorted(v.name for v in engine.volumes.list(filters={"label": p.scope("cut").filters()}))
    assert ours == sorted([p.datadir("cut"), clones.upper_name(p.datadir("cut"))])
    p("down", PROFILE, "--name", "cut", "--volumes")


def bases_of_project(engine, p) -> set[str]:
    return {v.name for v in engine.volumes.list(filters={"label": [f"{names.PROJECT}={p.name}",
                                                                   f"{names.KIND}=base"]})}


def test_cache_prune_removes_bases_no_clone_uses_once_their_snapshot_is_superseded_or_gone(p, engine):
    p("up", PROFILE, "--name", "pa")
    used = volume_labels(engine, p.datadir("pa"))[clones.BASE]
    p("snapshot", "save", PROFILE, "newer", "--name", "pa")      # `used` is now older than `newer`
    r = p("cache", "prune")
    assert used not in r.stdout and used in bases_of_project(engine, p)   # pa's clone uses it: kept
    stale = bases_of_project(engine, p) - {used}                  # earlier tests' bases, unused

    p("down", PROFILE, "--name", "pa", "--volumes")
    r = p("cache", "prune", "--dry-run")
    assert f"would free clone base {used} of {p.name}" in r.stdout and "newer" in r.stdout, r.stdout
    assert used in bases_of_project(engine, p)
    r = p("cache", "prune")
    assert f"freed clone base {used} of {p.name}" in r.stdout, r.stdout
    assert not (bases_of_project(engine, p) & (stale | {used}))
    assert not engine.volumes.list(filters={"name": clones.sealed_name(used)})

    p("up", PROFILE, "--name", "pc")                              # clones `newer`: a base of its own
    current = volume_labels(engine, p.datadir("pc"))[clones.BASE]
    p("down", PROFILE, "--name", "pc", "--volumes")
    assert f"clone base {current}" not in p("cache", "prune").stdout   # unused, but the newest snapshot's
    import shutil
    shutil.rmtree(p.root / "cache" / "snapshots" / p.name / PROFILE / "newer")   # gone behind devenv's back
    r = p("cache", "prune")
    assert f"freed clone base {current} of {p.name}" in r.stdout and "is gone" in r.stdout, r.stdout
    assert current not in bases_of_project(engine, p)


def test_overlay_refused_at_the_database_start_falls_back_to_copying(p, engine, monkeypatch, capsys):
    """The trial mount runs only until one overlay mounted on the engine (a marker); a refusal at
    the database's first start then replaces the new clone by a copying restore, said once."""
    from devenv.cli import main
    from devenv.engine import connect
    p("up", PROFILE, "--name", "m0")                # a clone that mounts: the engine's marker is set
    expected = p.checksums_of("m0")
    p("down", PROFILE, "--name", "m0", "--volumes")
    for k, v in p.env.items():
        if k.startswith("DEVENV_"):
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(p.root)
    assert clones._mounted_marker(connect()).exists()
    real = clones.overlay_options
    monkeypatch.setattr(clones, "overlay_options",     # a lower layer the kernel cannot find
                        lambda lower, upper: real(lower + "-missing", upper))
    try:
        main(["up", PROFILE, "--name", "mf"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert err.count("copy-on-write clones are not available (the engine refused the overlay mount") == 1, err
    assert "restored snapshot: t-snapdb/" in out and "cloned snapshot" not in out, out
    assert clones.BASE not in volume_labels(engine, p.datadir("mf"))
    assert not engine.volumes.list(filters={"name": clones.upper_name(p.datadir("mf"))})
    assert p.checksums_of("mf") == expected
    p("down", PROFILE, "--name", "mf", "--volumes")
