"""The owner of an instance (a shared one on a team engine): `ls` shows it, `down` of another
owner's instance needs --force. On the real engine, with the tiny profiles."""

import json

from tests.integration.conftest import unique


def test_down_of_another_owners_instance_is_refused_until_forced(tiny, engine):
    instance = unique("own")
    ann, bob = {"DEVENV_OWNER": "ann@team"}, {"DEVENV_OWNER": "bob@laptop"}
    tiny("up", "t-stack", "--name", instance, env=ann)
    rows = [r for r in json.loads(tiny("ls", "--json").stdout) if r["project"] == tiny.name]
    assert [(r["instance"], r["owner"]) for r in rows] == [(instance, "ann@team")]
    assert "ann@team" in tiny("ls").stdout

    r = tiny("down", "t-stack", "--name", instance, "--volumes", env=bob, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "belongs to ann@team, not to bob@laptop" in r.stderr and "--force" in r.stderr
    assert "Traceback" not in r.stderr
    left = engine.containers.list(all=True, filters={"label": f"dev.devenv.instance={instance}"})
    assert len(left) == 2 and all(c.status == "running" for c in left)      # nothing was touched

    tiny("down", "t-stack", "--name", instance, env=ann)                       # the owner needs no --force
    tiny("up", "t-stack", "--name", instance, env=ann)
    tiny("down", "t-stack", "--name", instance, "--volumes", "--force", env=bob)
    assert engine.containers.list(all=True, filters={"label": f"dev.devenv.instance={instance}"}) == []
    assert engine.volumes.list(filters={"label": f"dev.devenv.instance={instance}"}) == []
