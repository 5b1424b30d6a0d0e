"""Datadir states, prepare_datadir's actions, helper labels and cleanup, with a fake
Docker SDK at its boundary (create_autospec of the APIClient)."""

from __future__ import annotations

from unittest import mock

import docker
import pytest

from devenv import names
from devenv.engine import datadir_state as ds
from devenv.engine.client import Engine
from devenv.engine.helpers import HELPER_KINDS, remove_stale_helpers
from devenv.ui import SilentReporter


def fake_engine(probe_outputs: list[str]):
    """An engine whose helper containers print the next probe output (other helpers print nothing)."""
    api = mock.create_autospec(docker.APIClient, instance=True)
    scripts = []

    def create_container(**kw):
        scripts.append(kw)
        return {"Id": f"c{len(scripts)}"}

    api.create_container.side_effect = create_container
    api.create_host_config.side_effect = lambda **kw: kw
    api.wait.return_value = {"StatusCode": 0}

    def logs(cid, stdout=True, stderr=False):
        kw = scripts[int(cid[1:]) - 1]
        if stdout and kw["labels"][names.KIND] == "probe":
            return probe_outputs.pop(0).encode()
        return b""

    api.logs.side_effect = logs
    client = mock.Mock()
    client.api = api
    return Engine(client), scripts


@pytest.mark.parametrize("seen,state", [
    (set(), ds.DatadirState.EMPTY),
    ({"data", "complete"}, ds.DatadirState.COMPLETE),
    ({"data", "complete", "init"}, ds.DatadirState.SEED_INTERRUPTED),
    ({"data", "init"}, ds.DatadirState.SEED_INTERRUPTED),
    ({"staged"}, ds.DatadirState.RESTORE_STAGED),
    ({"data", "complete", "staged"}, ds.DatadirState.RESTORE_STAGED),
    ({"switch", "staged", "data"}, ds.DatadirState.SWITCH_PENDING),
    ({"switch"}, ds.DatadirState.SWITCH_PENDING),
    ({"data"}, ds.DatadirState.INCOMPLETE),
])
def test_classify(seen, state):
    assert ds.classify(seen) is state


def test_probe_is_one_read_only_labelled_container(monkeypatch):
    monkeypatch.setenv("DEVENV_LABELS", "ci=1")
    engine, made = fake_engine(["data\ncomplete\n"])
    assert ds.datadir_state(engine, "img", "vol", "p1") is ds.DatadirState.COMPLETE
    [probe] = made
    assert probe["labels"] == {"ci": "1", names.MANAGED: "true", names.PROJECT: "devenv", names.PROFILE: "p1",
                               names.INSTANCE: "default", names.KIND: "probe"}
    assert probe["host_config"]["binds"] == {"vol": {"bind": "/vol", "mode": "ro"}}
    engine.api.remove_container.assert_called_once_with("c1", force=True)


def test_prepare_rolls_a_pending_switch_forward():
    engine, made = fake_engine(["switch\nstaged\ndata\n", "data\ncomplete\n"])
    assert ds.prepare_datadir(engine, "img", "vol", "p1", SilentReporter()) is ds.DatadirState.COMPLETE
    kinds = [m["labels"][names.KIND] for m in made]
    assert kinds == ["probe", "switch", "probe"]
    assert ".devenv-switching" in made[1]["command"][2]


def test_prepare_drops_an_unverified_staging_and_keeps_the_data():
    engine, made = fake_engine(["staged\ndata\ncomplete\n", "data\ncomplete\n"])
    assert ds.prepare_datadir(engine, "img", "vol", "p1", SilentReporter()) is ds.DatadirState.COMPLETE
    assert [m["labels"][names.KIND] for m in made] == ["probe", "clean", "probe"]
    assert "rm -rf -- .devenv-restore" in made[1]["command"][2] and "-e .devenv-switching" in made[1]["command"][2]


def test_prepare_refuses_an_incomplete_datadir_with_the_way_out():
    engine, _ = fake_engine(["data\n"])
    with pytest.raises(ds.IncompleteDatadirError) as err:
        ds.prepare_datadir(engine, "img", "vol", "shop", SilentReporter())
    text = err.value.render()
    assert "vol" in text and "devenv snapshot restore shop" in text and "devenv down shop --volumes" in text
    engine, _ = fake_engine(["data\n"])
    assert ds.prepare_datadir(engine, "img", "vol", "shop", SilentReporter(),
                              refuse_incomplete=False) is ds.DatadirState.INCOMPLETE


@pytest.mark.parametrize("out,state", [("", ds.DatadirState.EMPTY), ("init\ndata\n", ds.DatadirState.SEED_INTERRUPTED)])
def test_prepare_leaves_empty_and_interrupted_seed_to_the_seeding(out, state):
    engine, made = fake_engine([out])
    assert ds.prepare_datadir(engine, "img", "vol", "p1", SilentReporter()) is state
    assert len(made) == 1


def test_remove_stale_helpers_removes_only_helpers_of_the_profile():
    api = mock.create_autospec(docker.APIClient, instance=True)
    api.containers.return_value = [
        # a helper inherits its image's labels, dev.devenv.service among them
        {"Id": "h1", "Names": ["/x"], "Labels": {names.PROFILE: "p1", names.KIND: "restore", names.SERVICE: "db"}},
        {"Id": "h2", "Names": ["/y"], "Labels": {names.PROFILE: "p1", names.KIND: "switch"}},
        # service containers inherit KIND=service from their image: never helpers
        {"Id": "s1", "Names": ["/devenv-p1-db"], "Labels": {names.PROFILE: "p1", names.KIND: "service",
                                                           names.SERVICE: "db", names.CONFIG_HASH: "abc"}},
    ]
    api.inspect_container.side_effect = docker.errors.NotFound("gone")
    client = mock.Mock()
    client.api = api
    assert remove_stale_helpers(Engine(client), "p1") == ["x", "y"]
    assert api.containers.call_args.kwargs["filters"] == {"label": [*names.as_scope("p1").filters(), names.KIND]}
    assert [c.args[0] for c in api.remove_container.call_args_list] == ["h1", "h2"]
    assert "service" not in HELPER_KINDS


def test_switch_script_is_a_valid_shell_script(tmp_path):
    import subprocess
    r = subprocess.run(["sh", "-n", "-c", ds.switch_script()], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _run_switch(vol, script):
    import subprocess
    return subprocess.run(["sh", "-c", script.replace("/vol", str(vol))], capture_output=True, text=True)


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _staged(tmp_path):
    vol = tmp_path / "vol"
    (vol / "old" / "x").mkdir(parents=True)
    (vol / ".hidden").write_text("old")
    staged = vol / ".devenv-restore" / "mysql"
    (staged / "mysql").mkdir(parents=True)
    (staged / "mysql" / "user.MAD").write_text("s")
    (staged / ".dot").write_text("d")
    (staged / "ibdata1").write_text("i")
    (vol / ".devenv-restore" / "VERIFIED").write_text("mysql")
    return vol


def test_switch_script_switches_and_any_cut_rolls_forward(tmp_path):
    """The switch run on a real directory, killed after each possible step, then redone."""
    want = [".dot", "ibdata1", "mysql", "mysql/user.MAD"]
    vol = _staged(tmp_path / "whole")
    assert _run_switch(vol, ds.switch_script()).returncode == 0
    assert _tree(vol) == want
    for step, times in (('rm -rf -- "$e"', 2), ('mv -- "$e" .', 3), ("rm -rf -- .devenv-restore", 1)):
        for nth in range(1, times + 1):
            vol = _staged(tmp_path / f"{abs(hash(step))}-{nth}")
            script = ds.switch_script()
            cut = script.replace(step, f"{step}; n=$((${{n:-0}}+1)); [ $n -lt {nth} ] || kill -9 $$", 1)
            assert _run_switch(vol, cut).returncode != 0
            assert (vol / ".devenv-switching").exists()
            r = _run_switch(vol, ds.switch_script())
            assert r.returncode == 0, r.stderr
            assert _tree(vol) == want, (step, nth)


def test_switch_refuses_an_unverified_staging(tmp_path):
    vol = _staged(tmp_path)
    (vol / ".devenv-restore" / "VERIFIED").unlink()
    r = _run_switch(vol, ds.switch_script())
    assert r.returncode == 3 and "no verified restore" in r.stderr
    assert (vol / "old" / "x").is_dir()
