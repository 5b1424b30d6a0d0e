"""depends_on conditions on the real engine: a `service_started` dependency is not waited
for before its dependent starts; `up` still ends with every service healthy."""

from tests.conftest import write

PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  waiter:
    recipe: tiny
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    # healthy only once its dependent runs (the name resolves): a wait for this service's
    # health before the dependent starts could never end
    healthcheck: {test: ["CMD", "getent", "hosts", "later"], interval: 500ms, retries: 3, start_period: 10m}
  later:
    recipe: tiny
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    healthcheck: {test: ["CMD", "true"], interval: 500ms, retries: 3}
    depends_on:
      waiter: {condition: %s}
"""


def test_a_started_dependency_lets_its_dependent_start_while_it_is_not_healthy(tiny):
    write(tiny.project / "profiles/t-cond.yaml", PROFILE % "service_started")
    r = tiny("up", "t-cond", "--timeout", "60")
    assert "==> wait for waiter, later" in r.stderr, r.stderr
    status = tiny("status", "t-cond").stdout
    assert status.count("healthy") >= 2, status


def test_service_healthy_waits_before_the_dependent_starts(tiny, engine):
    # the same stack with the dependency waited for: it cannot become healthy, up times out
    write(tiny.project / "profiles/t-cond.yaml", PROFILE % "service_healthy")
    r = tiny("up", "t-cond", "--timeout", "3", check=False)
    assert r.returncode != 0 and "waiter" in r.stderr, r.stderr
    assert engine.containers.get(tiny.container("t-cond", "waiter")).status == "running"
    assert engine.containers.get(tiny.container("t-cond", "later")).status != "running"   # never started
