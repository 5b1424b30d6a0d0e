"""healthcheck start_interval (the Compose Specification's): parsed once, hashed only when
declared, given to an Engine that knows it (API 1.44+), a startupProbe's period on Kubernetes,
left out of the compose file (docker-compose 1.29's schema refuses it)."""

import pytest

from devenv.kube import render as kube
from devenv.compose import compose_document
from devenv.engine.lifecycle import engine_healthcheck
from devenv.errors import ProfileError
from devenv.profile import ProfileStore
from devenv.profile.model import Healthcheck
from devenv.render import Renderer
from devenv.settings import healthcheck_value
from tests.conftest import write

PROFILE = """\
os: {{distribution: debian, release: bookworm}}
services:
  app:
    recipe: tiny
    healthcheck: {{test: [CMD, 'true'], interval: 10s{extra}, start_period: 30s}}
"""


def load(project, extra: str):
    write(project / "profiles/si.yaml", PROFILE.format(extra=extra))
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir).render(store.load("si"))


def test_declared_start_interval_is_parsed_and_hashed(project):
    declared = load(project, ", start_interval: 500ms")
    hc = declared.profile.services["app"].healthcheck
    assert hc.start_interval == 0.5 and hc.starting_every == 0.5
    plain = load(project, "")
    assert plain.profile.services["app"].healthcheck.start_interval is None
    assert plain.profile.services["app"].healthcheck.starting_every == 10.0
    # a change of start_interval recreates the container; a profile without one hashes as before
    assert declared.services["app"].config_hash != plain.services["app"].config_hash
    assert healthcheck_value(Healthcheck(("CMD", "true"))) == [["CMD", "true"], 1.0, 5.0, 30, 0.0]


def test_a_bad_start_interval_names_its_line(project):
    with pytest.raises(ProfileError) as err:
        load(project, ", start_interval: soon")
    assert "si.yaml:5:" in str(err.value) and "start_interval" in str(err.value)


def test_only_an_engine_with_api_1_44_gets_it():
    hc = Healthcheck(("CMD", "true"), interval=10.0, timeout=3.0, retries=3, start_period=30.0, start_interval=1.0)
    new = engine_healthcheck(hc, "1.44")
    assert new["StartInterval"] == 1_000_000_000 and new["Interval"] == 10_000_000_000
    assert new["StartPeriod"] == 30_000_000_000 and new["Retries"] == 3 and new["Test"] == ["CMD", "true"]
    old = engine_healthcheck(hc, "1.41")
    assert "StartInterval" not in old and old["Interval"] == 10_000_000_000
    assert "StartInterval" not in engine_healthcheck(Healthcheck(("CMD", "true")), "1.45")


def test_kubernetes_startup_probe_checks_every_start_interval():
    hc = Healthcheck(("CMD", "true"), interval=10.0, timeout=3.0, retries=3, start_period=30.0, start_interval=1.0)
    probes = kube.probes(hc)
    assert probes["readinessProbe"]["periodSeconds"] == 10
    assert probes["startupProbe"]["periodSeconds"] == 1 and probes["startupProbe"]["failureThreshold"] == 30 + 3


def test_compose_file_leaves_it_out(project):
    doc = compose_document(load(project, ", start_interval: 1s"))
    assert doc["services"]["app"]["healthcheck"]["interval"] == "10s"
    assert "start_interval" not in doc["services"]["app"]["healthcheck"]
