"""Issue 16.1/16.2/16.4 on the real engine with real InnoDB files (profile t-snapdb):
a restore never leaves another dataset in place, whatever stops it.

The data is judged by CHECKSUM TABLE: after every fault the volume holds the data
it held before (B) or the snapshot's (A), never anything else (e.g. the image's
built-in seed)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile

import docker
import pytest
import zstandard

from tests.integration.conftest import TEST_LABEL, cleanup
from tests.integration.restore_project import PROFILE, SIGNALS, Project, make_project

pytestmark = pytest.mark.integration
UPDATE = "UPDATE users SET display_name = 'changed by the test' WHERE id = 1"


@pytest.fixture(scope="module")
def db(engine, tmp_path_factory):
    p = Project(make_project(tmp_path_factory.mktemp("snapdb")), TEST_LABEL)
    OURS["name"] = p.name
    p("down", PROFILE, "--volumes")  # a volume left by an aborted run would hold other data
    p("up", PROFILE)
    p.a = p.checksums()           # the snapshot's data
    p("snapshot", "save", PROFILE)
    p.sql(UPDATE)
    p.b = p.checksums()           # the data before each restore
    assert p.a != p.b
    yield p
    cleanup(engine)


def to_b(p: Project) -> None:
    if p.checksums() == p.a:
        p.sql(UPDATE)
    assert p.checksums() == p.b


def ls_datadir(p: Project) -> list[str]:
    return p("exec", "db", "-p", PROFILE, "--", "ls", "-A", "/var/lib/mysql").stdout.split()


OURS: dict[str, str] = {}   # the module project's name (its helpers are told apart by it from other workers')


def helpers_of(engine, kind=None):
    return [c for c in engine.containers.list(all=True, filters={"label": [
        f"dev.devenv.profile={PROFILE}", f"dev.devenv.project={OURS['name']}"]})
            if c.labels.get("dev.devenv.kind") in ({kind} if kind else {"probe", "restore", "switch", "clean", "wipe"})]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_restore_interrupted_at_extraction_leaves_old_or_snapshot(db, engine, sig):
    outcomes = []
    for _ in range(3):
        to_b(db)
        code, err, _took = db.interrupt(["snapshot", "restore", PROFILE], "==> restore snapshot", SIGNALS[sig])
        assert code != 0, err
        if sig == "SIGINT":
            assert "Traceback" not in err
        db.prepare()               # what `up` does before it starts the database
        left = helpers_of(engine)
        assert not left, [(c.name, c.status, c.labels) for c in left]
        db("up", PROFILE)
        now = db.checksums()
        assert now in (db.a, db.b), err
        assert ".devenv-restore" not in ls_datadir(db) and ".devenv-switching" not in ls_datadir(db)
        outcomes.append("snapshot" if now == db.a else "original")
    print(sig, outcomes)


def _rewrite_snapshot(db, name: str, change) -> None:
    """Copy snapshot `latest` to `name` with its tar changed by ``change(bytes) -> bytes``
    and the archive's sha256 recomputed in the manifest (a careful tamperer)."""
    src = db.root / "cache" / "snapshots" / db.name / PROFILE / "latest"
    dst = src.parent / name
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    raw = zstandard.ZstdDecompressor().stream_reader((src / "datadir.tar.zst").open("rb")).read()
    archive = change(raw)
    (dst / "datadir.tar.zst").write_bytes(archive)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["name"] = name
    manifest["archive_sha256"] = hashlib.sha256(archive).hexdigest()
    (dst / "manifest.json").write_text(json.dumps(manifest))


def _one_byte_changed(raw: bytes) -> bytes:
    tar = tarfile.open(fileobj=io.BytesIO(raw))
    target = next(m for m in tar.getmembers() if m.isreg() and m.name.endswith("users.ibd"))
    pos = target.offset_data + 100
    changed = bytearray(raw)
    changed[pos] ^= 0x01
    return zstandard.ZstdCompressor().compress(bytes(changed))


def test_tampered_member_is_refused_and_old_data_intact(db, engine):
    to_b(db)
    _rewrite_snapshot(db, "tampered", _one_byte_changed)
    r = db("snapshot", "restore", PROFILE, "tampered", check=False)
    assert r.returncode == 2, r.stderr
    assert "corrupt or tampered" in r.stderr and "users.ibd does not match the sha256" in r.stderr
    assert "Traceback" not in r.stderr
    assert db.checksums() == db.b
    assert ".devenv-restore" not in ls_datadir(db)
    assert not helpers_of(engine)


def test_truncated_archive_is_refused_and_old_data_intact(db, engine):
    to_b(db)
    _rewrite_snapshot(db, "truncated", lambda raw: zstandard.ZstdCompressor().compress(raw[:len(raw) // 2]))
    r = db("snapshot", "restore", PROFILE, "truncated", check=False)
    assert r.returncode == 2, r.stderr
    assert "cut off" in r.stderr or "lacks" in r.stderr, r.stderr
    assert db.checksums() == db.b
    assert ".devenv-restore" not in ls_datadir(db)
    assert not helpers_of(engine)


@pytest.mark.parametrize("phase,step", [("remove", 'rm -rf -- "$e"'), ("move", 'mv -- "$e" .')])
def test_interrupted_switch_is_rolled_forward(db, engine, monkeypatch, phase, step):
    """The switch helper is SIGKILLed after its first step of a phase: the next
    prepare (every `up`) finishes it, and the volume holds the snapshot."""
    from devenv.data.snapshots import SnapshotStore
    from devenv.engine import connect, datadir_state, restore
    from devenv.engine.helpers import HelperError
    from devenv.ui import SilentReporter

    to_b(db)
    db("down", PROFILE)  # keeps the volume
    monkeypatch.setenv("DEVENV_LABELS", TEST_LABEL)
    real = datadir_state.switch_script()
    assert step in real
    killed = real.replace(step, step + "; exit 137", 1)  # as dead as SIGKILL: the script has no traps (PID 1 ignores kill -9)
    monkeypatch.setattr(restore, "switch", lambda e, i, v, p: datadir_state.run_in_volume(
        e, i, v, p, "switch", killed))
    eng = connect()
    stack = db.stack()
    image = stack.services["db"].image.tag
    snap = SnapshotStore(db.root / "cache" / "snapshots" / db.name).get(PROFILE, "latest")
    with pytest.raises(HelperError, match="exit 137"):
        restore.restore_into_volume(eng, snap, image_id=eng.api.inspect_image(image)["Id"], image=image,
                                    volume=db.volume(), profile=PROFILE, reporter=SilentReporter())
    assert datadir_state.datadir_state(eng, image, db.volume(), PROFILE) \
        is datadir_state.DatadirState.SWITCH_PENDING
    assert db.prepare() is datadir_state.DatadirState.COMPLETE
    db("up", PROFILE)
    assert db.checksums() == db.a
    assert not helpers_of(engine)


def test_killed_restore_leaves_only_labelled_helpers(db, engine):
    """16.4: a SIGKILL mid-restore leaves its holder labelled for the profile; the
    stack's cleanup removes it, and `down --volumes` is not blocked by it."""
    from devenv.engine import connect
    from devenv.engine.helpers import remove_stale_helpers
    from devenv.names import Scope

    to_b(db)
    code, err, _ = db.interrupt(["snapshot", "restore", PROFILE], "==> restore snapshot", SIGNALS["SIGKILL"])
    left = helpers_of(engine)
    for c in left:
        assert c.labels["dev.devenv.managed"] == "true" and c.labels["dev.devenv.profile"] == PROFILE
        assert TEST_LABEL.split("=")[0] in c.labels
    removed = remove_stale_helpers(connect(), Scope(db.name, PROFILE))
    assert len(removed) == len(left)
    assert not helpers_of(engine)
    assert engine.containers.get(f"{db.name}-{PROFILE}-db")  # the service container is no helper
    db.prepare()
    db("up", PROFILE)
    assert db.checksums() in (db.a, db.b)
