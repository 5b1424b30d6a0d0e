"""devenv.engine.health against a fake at the SDK boundary: an autospec'd
``docker.APIClient`` (every call must exist on the real client, with its signature)
inside a real ``Engine``. The fake answers inspect_container from a script of states."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from unittest.mock import create_autospec

import docker
import docker.errors
import pytest

from devenv.engine import health
from devenv.engine.client import Engine
from devenv.engine.health import Health, Observation, observe, wait_ready
from devenv.errors import HealthCheckFailed, HealthTimeout


def stamp(seconds_ago: float) -> str:
    """An Engine timestamp (nanoseconds, Z) ``seconds_ago`` in the past."""
    t = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def running(health_status: str | None = None, log=None, started: float = 60.0) -> dict:
    state = {"Status": "running", "Running": True, "ExitCode": 0, "StartedAt": stamp(started)}
    if health_status is not None:
        state["Health"] = {"Status": health_status, "Log": log or []}
    return {"State": state, "Config": {"Healthcheck": {"Test": ["CMD", "true"]}} if health_status else {}}


EXITED = {"State": {"Status": "exited", "Running": False, "ExitCode": 137, "StartedAt": stamp(5)}}
CREATED = {"State": {"Status": "created", "Running": False, "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z"}}
PROBE_FAILED = [{"ExitCode": 1, "Output": "checking\nnot ready: no /data/ready\n"}]


def fake_engine(states: dict[str, list], probe_exit: int = 1, logs: bytes = b"line 1\nline 2\n"):
    """An Engine whose API client is an autospec of docker.APIClient. ``states``:
    container -> the inspect results it returns one after another (the last repeats);
    an exception instance in the list is raised. Exec (the own probe) exits ``probe_exit``."""
    api = create_autospec(docker.APIClient, instance=True)
    seen: dict[str, int] = {}

    def inspect(container):
        script = states[container]
        i = seen.get(container, 0)
        seen[container] = i + 1
        answer = script[min(i, len(script) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    api.inspect_container.side_effect = inspect
    api.exec_create.return_value = {"Id": "exec1"}
    api.exec_start.return_value = b""
    api.exec_inspect.return_value = {"ExitCode": probe_exit}
    api.logs.return_value = logs
    client = create_autospec(docker.DockerClient, instance=True)
    client.api = api
    return Engine(client), api


# -- observe: every state ------------------------------------------------------------------

@pytest.mark.parametrize("info, expected", [
    (running("healthy"), Observation(Health.HEALTHY)),
    (running("unhealthy", PROBE_FAILED), Observation(Health.UNHEALTHY, "last probe exit 1: not ready: no /data/ready")),
    (running("starting"), Observation(Health.STARTING, "")),
    (running("starting", PROBE_FAILED), Observation(Health.STARTING, "last probe exit 1: not ready: no /data/ready")),
    (running(None, started=60), Observation(Health.NO_HEALTHCHECK)),
    (lambda: running(None, started=0.1), Observation(Health.STARTING, "just started, no healthcheck")),
    (EXITED, Observation(Health.EXITED, "exited with code 137")),
    ({"State": {"Status": "dead", "Running": False, "ExitCode": 1}}, Observation(Health.EXITED, "exited with code 1")),
    (CREATED, Observation(Health.STARTING, "created, not started")),
])
def test_observe_reads_each_state(info, expected):
    if callable(info):   # the start time is relative to now, not to when the tests were collected
        info = info()
    engine, api = fake_engine({"c": [info]})
    assert observe(engine, "c") == expected
    api.inspect_container.assert_called_once_with("c")


def test_observe_a_missing_container():
    engine, _ = fake_engine({"c": [docker.errors.NotFound("no such container")]})
    assert observe(engine, "c") == Observation(Health.MISSING, "container is gone")


# -- wait_ready --------------------------------------------------------------------------------

def test_wait_ready_returns_when_every_container_is_healthy_or_has_no_healthcheck():
    engine, _ = fake_engine({"p-db": [running("starting")] * 3 + [running("healthy")],
                             "p-web": [running(None, started=60)]})
    ready_calls = []
    got = wait_ready(engine, {"db": "p-db", "web": "p-web"}, time.monotonic() + 10,
                     on_ready=lambda s, h: ready_calls.append((s, h)))
    assert got == {"db": Health.HEALTHY, "web": Health.NO_HEALTHCHECK}
    assert sorted(ready_calls) == [("db", Health.HEALTHY), ("web", Health.NO_HEALTHCHECK)]


def test_wait_ready_sees_the_own_probe_pass_before_the_engine_does():
    engine, api = fake_engine({"db": [running("starting")]}, probe_exit=0)
    assert wait_ready(engine, {"db": "db"}, time.monotonic() + 10) == {"db": Health.HEALTHY}
    api.exec_create.assert_called_with("db", ["true"], stdout=True, stderr=True)


def test_wait_ready_fails_at_once_on_unhealthy_with_the_probe_and_the_log_tail():
    engine, api = fake_engine({"p-db": [running("starting"), running("unhealthy", PROBE_FAILED)]})
    start = time.monotonic()
    with pytest.raises(HealthCheckFailed) as err:
        wait_ready(engine, {"db": "p-db"}, start + 30)
    assert time.monotonic() - start < 5
    text = str(err.value)
    assert "service db (p-db) failed its healthcheck (last probe exit 1: not ready: no /data/ready)" in text
    assert err.value.log_tail == ["line 1", "line 2"]
    api.logs.assert_called_with("p-db", tail=health.LOG_TAIL, stdout=True, stderr=True)


def test_wait_ready_fails_on_an_exited_container_with_its_exit_code():
    engine, _ = fake_engine({"db": [running("starting"), EXITED]})
    with pytest.raises(HealthCheckFailed, match=r"service db \(db\) exited with code 137"):
        wait_ready(engine, {"db": "db"}, time.monotonic() + 30)


def test_wait_ready_fails_when_the_container_disappears():
    engine, _ = fake_engine({"db": [running("starting"), docker.errors.NotFound("gone")]})
    with pytest.raises(HealthCheckFailed, match=r"service db \(db\) disappeared"):
        wait_ready(engine, {"db": "db"}, time.monotonic() + 30)


def test_wait_ready_times_out_naming_what_is_still_starting():
    engine, _ = fake_engine({"db": [running("starting", PROBE_FAILED)], "web": [running("healthy")]})
    start = time.monotonic()
    with pytest.raises(HealthTimeout) as err:
        wait_ready(engine, {"db": "db", "web": "web"}, start + 0.5)
    assert 0.5 <= time.monotonic() - start < 5
    text = str(err.value)
    assert "still starting when the timeout ran out: db (last probe exit 1: not ready: no /data/ready)" in text
    assert "web" not in text.split("\n")[0]                  # web was ready
    assert "last log lines of db:\n    line 1\n    line 2" in text
