"""depends_on conditions (compose's long form): service_started orders the starts only,
service_healthy (and the short form) waits; `up` ends when every service is healthy."""

import pytest

from devenv import names
from devenv.compose import compose_document
from devenv.engine import lifecycle
from devenv.engine.health import Health, Observation
from devenv.errors import ProfileError
from devenv.profile import ProfileStore
from devenv.profile.model import HEALTHY, STARTED, Dependency
from devenv.render import Renderer
from devenv.ui import SilentReporter
from tests.conftest import write
from tests.unit.test_lifecycle import fake  # noqa: F401 - the fake engine with this module's stack's images

HC = "    healthcheck: {test: [CMD, 'true'], interval: 1s}\n"
PROFILE = f"""\
os: {{distribution: debian, release: bookworm}}
services:
  booting:
    recipe: tiny
{HC}  gate:
    recipe: tiny
{HC}  app:
    recipe: tiny
{HC}    depends_on:
      booting: {{condition: service_started}}
      gate: {{condition: service_healthy}}
  front:
    recipe: tiny
    depends_on: [app]
"""


@pytest.fixture
def stack(project):
    write(project / "profiles/cond.yaml", PROFILE)
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir).render(store.load("cond"))


def test_both_forms_parse_into_dependencies(stack):
    services = stack.profile.services
    assert services["app"].depends_on == (Dependency("booting", STARTED), Dependency("gate", HEALTHY))
    assert services["front"].depends_on == (Dependency("app", HEALTHY),)


def test_a_started_dependency_is_not_waited_for_before_its_dependents_start(stack, fake, monkeypatch):
    seen = []

    def wait_ready(engine, containers, deadline, on_ready=None):
        # app and front are created early, in threads: a container not made yet is not started either
        states = {s: (fake.by_name(names.container_name(stack.scope, s)) or {}).get("State") == "running"
                  for s in ("app", "front")}
        seen.append((list(containers), states))
        return {s: Health.HEALTHY for s in containers}

    monkeypatch.setattr(lifecycle, "wait_ready", wait_ready)
    monkeypatch.setattr(lifecycle, "observe", lambda engine, c: Observation(Health.STARTING))
    result = lifecycle.up(fake.engine, stack, SilentReporter())
    assert seen == [
        (["gate"], {"app": False, "front": False}),     # app waits for gate only (nothing started)
        (["app"], {"app": True, "front": False}),       # front waits for app (short form)
        (["booting", "front"], {"app": True, "front": True}),   # the rest at the end
    ]
    assert set(result.health) == {"booting", "gate", "app", "front"}


def test_compose_output_keeps_the_conditions(stack):
    doc = compose_document(stack)
    assert doc["services"]["app"]["depends_on"] == {"booting": {"condition": "service_started"},
                                                    "gate": {"condition": "service_healthy"}}
    # the short form: healthy where the dependency has a healthcheck
    assert doc["services"]["front"]["depends_on"] == {"app": {"condition": "service_healthy"}}


@pytest.mark.parametrize("entry, message", [
    ("gate: {condition: service_startd}", "`service_startd` is not one of service_started, service_healthy"),
    ("gate: {conditon: service_started}", "unknown key `conditon`"),
    ("plain: {condition: service_healthy}", "waits for plain to be healthy, but plain has no healthcheck"),
    ("nobody: {condition: service_started}", "depends on unknown service `nobody`"),
])
def test_bad_conditions_are_named_at_their_line(project, entry, message):
    write(project / "profiles/bad.yaml", f"""\
os: {{distribution: debian, release: bookworm}}
services:
  gate:
    recipe: tiny
{HC}  plain:
    recipe: tiny
  app:
    recipe: tiny
    depends_on:
      {entry}
""")
    with pytest.raises(ProfileError) as err:
        ProfileStore.locate(project / "profiles").load("bad")
    text = err.value.render()
    assert message in text and "bad.yaml:11:" in text, text
