"""Overlapped starts on the real engine (devenv/engine/starts.py): a `service_started`
dependent starts once its dependency is on the stack's network, before the dependency's
start call has returned. Its name resolves at the dependent's start, every time; a start
that fails after the network join still fails `up`, naming its container."""

import time

from tests.conftest import write

LOOP = "trap 'exit 0' TERM; while :; do sleep 0.2; done"
PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  dep:
    recipe: tiny
    command: %s
  front:
    recipe: tiny
    # exits at once unless the dependency's name resolves when it starts
    command: ["sh", "-c", "getent hosts dep || exit 7; %s"]
    depends_on:
      dep: {condition: service_started}
"""


def test_a_started_dependency_resolves_when_its_dependent_starts(tiny, engine):
    write(tiny.project / "profiles/t-ovl.yaml", PROFILE % (f'["sh", "-c", "{LOOP}"]', LOOP))
    overlapped = 0
    for i in range(3):    # a fresh network and containers each time
        name = f"o{i}"
        since = int(time.time()) - 1
        r = tiny("up", "t-ovl", "--name", name, "--timeout", "60", check=False)
        assert r.returncode == 0, r.stderr
        dep, front = (engine.containers.get(f"{tiny.name}-t-ovl--{name}-{s}") for s in ("dep", "front"))
        assert front.status == "running" and front.attrs["State"]["ExitCode"] == 0
        joined, started = {}, {}
        for ev in engine.api.events(since=since, until=int(time.time()) + 2, decode=True):
            actor = ev.get("Actor") or {}
            if ev.get("Type") == "network" and ev.get("Action") == "connect":
                joined[actor.get("Attributes", {}).get("container")] = ev["timeNano"]
            elif ev.get("Type") == "container" and ev.get("Action") == "start":
                started[actor.get("ID")] = ev["timeNano"]
        assert joined[dep.id] < joined[front.id], "the dependent joined before its dependency"
        # the overlap: the dependent was on the network before its dependency's start had ended
        overlapped += joined[front.id] < started[dep.id]
        tiny("down", "t-ovl", "--name", name)
    assert overlapped >= 1, "no start overlapped its dependency's"


def test_a_start_that_fails_after_the_network_join_fails_up(tiny):
    write(tiny.project / "profiles/t-ovl.yaml", PROFILE % ('["/no/such/program"]', LOOP))
    r = tiny("up", "t-ovl", "--timeout", "60", check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "service dep: starting container" in r.stderr and tiny.container("t-ovl", "dep") in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
