"""Clones' decisions with a fake Docker SDK at its boundary: when clones are tried, who uses a
base, and that `snapshot rm` of a base in use is refused naming the instances."""

from __future__ import annotations

from unittest import mock

import docker
import pytest

from devenv import names
from devenv.engine import clones
from devenv.engine.client import Engine


@pytest.mark.parametrize("env, tried", [
    ({}, True),
    ({"DOCKER_HOST": "tcp://build-box:2375"}, False),
    ({"DOCKER_HOST": "ssh://me@far"}, False),
    ({"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, False),
    ({"DEVENV_CLONES": "0"}, False),
])
def test_clones_are_only_tried_on_a_local_engine(monkeypatch, tmp_path, env, tried):
    sock = tmp_path / "docker.sock"
    sock.write_text("")
    monkeypatch.delenv("DEVENV_CLONES", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reason = clones.unavailable_reason()
    assert (reason is None) is tried
    if not tried:
        assert any(word in reason for word in ("not on this machine", "DEVENV_CLONES"))


def engine_with_volumes(volumes: list[dict]):
    api = mock.create_autospec(docker.APIClient, instance=True)

    def listing(filters):
        wanted = filters["label"]
        def match(v):
            labels = v.get("Labels") or {}
            return all((labels.get(k) == val) if sep else (w in labels)
                       for w in wanted for k, sep, val in [w.partition("=")])
        return {"Volumes": [v for v in volumes if match(v)]}

    api.volumes.side_effect = lambda filters=None: listing(filters)
    client = mock.Mock()
    client.api = api
    return Engine(client), api


def clone_volume(instance: str, base: str) -> dict:
    scope = names.Scope("shop", "large-db", instance)
    return {"Name": names.volume_name(scope, "db-data"),
            "Labels": scope.labels() | {clones.BASE: base, clones.UPPER: "x-upper"}}


def test_snapshot_rm_is_refused_while_clones_use_its_base(tmp_path):
    from devenv.data.snapshots import SnapshotStore
    snap_dir = tmp_path / "large-db" / "latest"
    snap_dir.mkdir(parents=True)
    (snap_dir / "manifest.json").write_text("{}")
    snap = mock.Mock(path=snap_dir)
    snap.manifest.profile, snap.manifest.name = "large-db", "latest"
    base = clones.base_name("shop", snap)
    base_vol = {"Name": base, "Labels": {names.MANAGED: "true", names.PROJECT: "shop", names.KIND: "base",
                                         clones.DIGEST: clones.digest(snap), clones.BASE: base}}
    upper = {"Name": "u", "Labels": {clones.BASE: base}}   # an upper layer is no user of its own
    engine, api = engine_with_volumes([base_vol, clone_volume("a", base), clone_volume("b", base), upper,
                                       clone_volume("c", "devenv-base-shop-other")])
    assert clones.users_of(engine, base) == ["large-db --name a", "large-db --name b"]
    with pytest.raises(clones.CloneError, match="large-db --name a, large-db --name b"):
        clones.remove_bases(engine, "shop", snap, SnapshotStore(tmp_path))
    api.remove_volume.assert_not_called()


def test_snapshot_rm_removes_an_unused_base(tmp_path):
    from devenv.data.snapshots import SnapshotStore
    snap_dir = tmp_path / "large-db" / "latest"
    snap_dir.mkdir(parents=True)
    (snap_dir / "manifest.json").write_text("{}")
    snap = mock.Mock(path=snap_dir)
    base = clones.base_name("shop", snap)
    engine, api = engine_with_volumes([{"Name": base, "Labels": {
        names.MANAGED: "true", names.PROJECT: "shop", names.KIND: "base", clones.DIGEST: clones.digest(snap)}}])
    api.containers.return_value = []
    assert clones.remove_bases(engine, "shop", snap, SnapshotStore(tmp_path)) == [base]
    assert [c.args[0] for c in api.remove_volume.call_args_list] == [clones.sealed_name(base), base]


def test_base_volumes_belong_to_no_instance():
    assert clones.is_base_volume({names.KIND: "base"}) and clones.is_base_volume({names.KIND: "base-sealed"})
    assert not clones.is_base_volume({names.KIND: "clone-upper"})


def test_the_base_lock_excludes_other_threads_and_is_reentered_by_its_own(tmp_path):
    # `devenv try --jobs 2` clones one base from two threads of one process
    import threading
    import time as _time
    from devenv.data.snapshots import SnapshotStore
    from devenv.engine.clones import _base_lock
    store = SnapshotStore(tmp_path / "snapshots")
    inside, overlaps = [0], []

    def user():
        with _base_lock(store, "b"):
            with _base_lock(store, "b"):        # re-entered by the same thread: no deadlock
                inside[0] += 1
                overlaps.append(inside[0])
                _time.sleep(0.05)
                inside[0] -= 1

    threads = [threading.Thread(target=user) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert overlaps == [1, 1, 1]
