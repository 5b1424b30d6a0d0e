"""`up` starts a wave's new data-less containers at once, and `down` can kill instead of stop
(devenv try's throwaway instances), against the fake SDK (tests/fake_engine.py)."""

import threading

import pytest

from devenv import names
from devenv.engine import lifecycle
from devenv.engine.health import Health, Observation
from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.ui import SilentReporter
from tests.conftest import write
from tests.unit.test_lifecycle import fake  # noqa: F401 - the fake engine with this module's stack's images

PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  first:
    recipe: tiny
  second:
    recipe: tiny
  last:
    recipe: tiny
    depends_on: [first, second]
"""


@pytest.fixture
def stack(project):
    write(project / "profiles/par.yaml", PROFILE)
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir).render(store.load("par"))


def test_new_containers_of_a_wave_start_at_once_and_keep_the_wave_order(stack, fake, monkeypatch):
    both_starting = threading.Barrier(2, timeout=10)   # broken unless first and second start side by side
    real_start = lifecycle._start
    order = []

    def start(engine, sp, container):
        if sp.service.name in ("first", "second"):
            both_starting.wait()
        order.append(sp.service.name)
        real_start(engine, sp, container)

    monkeypatch.setattr(lifecycle, "_start", start)
    monkeypatch.setattr(lifecycle, "wait_ready", lambda engine, c, deadline, on_ready=None: {})
    result = lifecycle.up(fake.engine, stack, SilentReporter())
    assert result.created == ["first", "second", "last"]          # the plan's order, not the threads'
    assert order[-1] == "last"                                     # the next wave after the whole first one
    for service in ("first", "second", "last"):
        assert fake.by_name(names.container_name(stack.scope, service))["State"] == "running"


def test_a_later_wave_is_created_while_the_first_becomes_healthy_and_started_after_it(stack, fake, monkeypatch):
    seen = []

    def wait_ready(engine, containers, deadline, on_ready=None):
        last = fake.by_name(names.container_name(stack.scope, "last"))
        seen.append((sorted(containers), last and last["State"]))
        return {}

    monkeypatch.setattr(lifecycle, "wait_ready", wait_ready)
    monkeypatch.setattr(lifecycle, "observe", lambda engine, c: Observation(Health.STARTING))
    result = lifecycle.up(fake.engine, stack, SilentReporter())
    assert seen == [(["first", "second"], "created"), (["last"], "running")]
    assert result.created == ["first", "second", "last"]


def test_an_error_of_a_parallel_start_is_raised_once_the_wave_has_ended(stack, fake, monkeypatch):
    real_start = lifecycle._start

    def start(engine, sp, container):
        if sp.service.name == "second":
            raise lifecycle.DevenvError("service second: starting container failed: no")
        real_start(engine, sp, container)

    monkeypatch.setattr(lifecycle, "_start", start)
    monkeypatch.setattr(lifecycle, "wait_ready", lambda engine, c, deadline, on_ready=None: {})
    with pytest.raises(lifecycle.DevenvError, match="second"):
        lifecycle.up(fake.engine, stack, SilentReporter())
    assert fake.by_name(names.container_name(stack.scope, "first"))["State"] == "running"
    # the next wave's container was made early, beside the first wave, but never started
    assert fake.by_name(names.container_name(stack.scope, "last"))["State"] == "created"


@pytest.mark.parametrize("timeout", [0, lifecycle.STOP_TIMEOUT])
def test_down_stops_with_the_given_timeout_and_removes_everything(stack, fake, timeout):
    for service in ("first", "second", "last"):
        fake.add_container(names.container_name(stack.scope, service),
                           names.service_labels(stack.scope, service, stack.services[service].config_hash))
    kwargs = {"stop_timeout": timeout} if timeout == 0 else {}
    result = lifecycle.down(fake.engine, stack.scope, **kwargs)
    assert sorted(result.removed_containers) == sorted(names.container_name(stack.scope, s)
                                                       for s in ("first", "second", "last"))
    assert not fake.containers
    stops = {c.kwargs.get("timeout", c.args[1] if len(c.args) > 1 else None) for c in fake.api.stop.call_args_list}
    # 0: no stop at all, the forced remove kills (one engine call per container)
    assert stops == ({timeout} if timeout else set())
    assert all(c.kwargs.get("force") for c in fake.api.remove_container.call_args_list)
