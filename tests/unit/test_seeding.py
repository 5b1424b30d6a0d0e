"""engine.seeding.plan_seed and engine.datadir against a fake SDK (tests/fake_engine.py):
what the database service needs before it is created, decided by the datadir's state."""

from types import SimpleNamespace

import docker.errors
import pytest

from devenv import names
from devenv.engine import datadir, seeding
from devenv.engine.datadir_state import DatadirState
from devenv.errors import DevenvError
from devenv.profile import ProfileStore
from devenv.project import reference_project
from devenv.render import Renderer
from devenv.ui import SilentReporter
from tests.fake_engine import FakeEngine


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    p = reference_project()
    store = ProfileStore(p.profiles_dir, p.recipes_dir, p.root)
    return Renderer(store.images_dir, p.root, project=p.name).render(store.load("small-db"))


@pytest.fixture
def fake(stack, monkeypatch):
    f = FakeEngine()
    f.images[stack.services["db"].image.tag] = "sha256:db"
    calls = {"restore": [], "wipe": [], "materialize": []}
    monkeypatch.setattr("devenv.engine.identity.server_identity", lambda *a, **k: None)
    monkeypatch.setattr("devenv.engine.restore.restore_into_volume",
                        lambda engine, snap, **kw: calls["restore"].append((snap, kw)))
    monkeypatch.setattr(seeding, "wipe", lambda *a: calls["wipe"].append(a))

    def materialize(dataset, imageset, cache, reporter, engine=None):
        calls["materialize"].append(dataset)
        return SimpleNamespace(path=cache / "datasets" / "ds", id="ds-id")

    monkeypatch.setattr("devenv.data.datasets.materialize", materialize)
    f.calls = calls
    return f


def volume(stack):
    return names.volume_name(stack.scope, "db-data")


def test_services_without_the_dataset_need_nothing(stack, fake):
    plan = seeding.plan_seed(fake.engine, stack, stack.services["web"], set(), SilentReporter())
    assert plan == seeding.SeedPlan({})
    assert fake.api.create_container.call_count == 0


def test_a_new_volume_without_a_snapshot_gets_the_dataset_mounted(stack, fake):
    plan = seeding.plan_seed(fake.engine, stack, stack.services["db"], {volume(stack)}, SilentReporter())
    (source, bind), = plan.binds.items()
    assert bind == {"bind": "/var/lib/devenv-seed", "mode": "ro"} and source.endswith("/datasets/ds")
    assert plan.dataset == "ds-id" and plan.restored is None
    assert fake.calls["materialize"] and not fake.calls["restore"] and not fake.calls["wipe"]
    assert fake.api.create_container.call_count == 0     # a new volume is not even probed


@pytest.mark.parametrize("state, wiped", [(DatadirState.COMPLETE, False), (DatadirState.SEED_INTERRUPTED, True)])
def test_an_existing_volume_is_decided_by_its_state(stack, fake, monkeypatch, state, wiped):
    seen = []
    monkeypatch.setattr(seeding, "prepare_datadir", lambda engine, image, vol, scope, reporter, **kw:
                        seen.append((vol, scope)) or state)
    plan = seeding.plan_seed(fake.engine, stack, stack.services["db"], set(), SilentReporter())
    assert seen == [(volume(stack), stack.scope)]
    assert bool(fake.calls["wipe"]) is wiped
    assert (plan == seeding.SeedPlan({})) is (state is DatadirState.COMPLETE)


def test_a_matching_snapshot_is_restored_instead_of_seeding(stack, fake, monkeypatch):
    snap = SimpleNamespace(manifest=SimpleNamespace(profile="small-db", name="latest"))
    monkeypatch.setattr(datadir.SnapshotStore, "matching", lambda self, *a, **k: snap)
    plan = seeding.plan_seed(fake.engine, stack, stack.services["db"], {volume(stack)}, SilentReporter())
    assert plan.restored == "small-db/latest" and plan.binds == {}
    (restored, kw), = fake.calls["restore"]
    assert restored is snap and kw["volume"] == volume(stack) and kw["profile"] == stack.scope
    assert not fake.calls["materialize"]


def test_data_volume_and_its_errors(stack, fake):
    dv = datadir.data_volume(stack)
    assert (dv.service, dv.volume, dv.target) == ("db", volume(stack), "/var/lib/mysql")
    assert dv.container == names.container_name(stack.scope, "db")
    fake.api.inspect_volume.side_effect = docker.errors.NotFound("no such volume")
    assert datadir.prepare_data_volume(fake.engine, stack, SilentReporter()) is DatadirState.EMPTY
    fake.api.inspect_container.side_effect = docker.errors.NotFound("no container")
    with pytest.raises(DevenvError, match="has no db container to snapshot"):
        datadir.save_snapshot(fake.engine, stack, "latest", SilentReporter())


def test_snapshot_store_is_per_project(stack, tmp_path):
    assert datadir.snapshot_store(stack.scope).root == tmp_path / "cache" / "snapshots" / "devenv"
    assert datadir.snapshot_store("other").root == tmp_path / "cache" / "snapshots" / "other"
