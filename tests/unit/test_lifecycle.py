"""Planning and executing `up`, `down` and `status` against a fake SDK (tests/fake_engine.py)."""

import socket

import pytest

from devenv import names
from devenv.engine import lifecycle
from devenv.engine.plan import Action, plan_up
from devenv.errors import DevenvError, PortConflictsError
from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.ui import SilentReporter
from tests.conftest import write
from tests.fake_engine import FakeEngine

PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  app:
    recipe: tiny
    ports: ["%(port)d:80"]
    volumes: {media: /srv/media}
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  helper:
    recipe: tiny
    depends_on: [app]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack(project):
    write(project / "profiles/lc.yaml", PROFILE % {"port": free_port()})
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir).render(store.load("lc"))


@pytest.fixture
def fake(stack):
    f = FakeEngine()
    f.images[stack.base.tag] = "sha256:base"
    for sp in stack.services.values():
        f.images[sp.image.tag] = "sha256:" + sp.image.hash
    return f


def labels(stack, service, config_hash=None):
    return names.service_labels(stack.scope, service, config_hash or stack.services[service].config_hash)


def test_plan_of_a_new_stack_creates_everything_in_waves(stack, fake):
    plan = plan_up(fake.engine, stack)
    assert [[s.service for s in w] for w in plan.waves] == [["app"], ["helper"]]
    assert all(s.action is Action.CREATE for s in plan.steps())
    assert plan.network and plan.volumes == (names.volume_name(stack.scope, "media"),)
    assert plan.build == () and not plan.base_missing
    assert fake.api.create_container.call_count == 0   # planning changes nothing


def test_plan_keeps_running_unchanged_and_describes_nothing_to_do(stack, fake):
    for svc in stack.services:
        fake.add_container(names.container_name(stack.scope, svc), labels(stack, svc))
    fake.api.create_network(names.network_name(stack.scope), labels=names.network_labels(stack.scope))
    fake.api.create_volume(names.volume_name(stack.scope, "media"), labels=names.volume_labels(stack.scope, "media"))
    plan = plan_up(fake.engine, stack)
    assert [s.action for s in plan.steps()] == [Action.KEEP, Action.KEEP]
    assert not plan.changes and plan.describe() == ["nothing to do"]


def test_plan_starts_stopped_recreates_changed_removes_dropped(stack, fake):
    fake.add_container(names.container_name(stack.scope, "app"), labels(stack, "app"), state="exited")
    fake.add_container(names.container_name(stack.scope, "helper"), labels(stack, "helper", "old-hash"))
    fake.add_container(names.container_name(stack.scope, "gone"), labels(stack, "app") | {names.SERVICE: "gone"})
    fake.images.pop(stack.services["helper"].image.tag)
    plan = plan_up(fake.engine, stack)
    by = {s.service: s for s in plan.steps()}
    assert by["app"].action is Action.START and by["helper"].action is Action.RECREATE
    assert [svc for svc, _ in plan.remove] == ["gone"]
    assert plan.build == (stack.services["helper"].image.tag,)
    text = "\n".join(plan.describe())
    assert "start app" in text and "recreate helper" in text and "remove gone" in text


def test_every_taken_port_is_named_before_anything_starts(stack, fake):
    port = stack.services["app"].service.ports[0].host
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(PortConflictsError) as err:
            lifecycle.up(fake.engine, stack, SilentReporter())
    assert f"127.0.0.1:{port}" in str(err.value) and "nothing was started" in str(err.value)
    assert fake.api.create_container.call_count == 0 and fake.api.start.call_count == 0
    assert fake.api.create_network.call_count == 0


def test_a_port_held_by_a_container_being_recreated_is_not_a_conflict(stack, fake):
    port = stack.services["app"].service.ports[0].host
    old = fake.add_container(names.container_name(stack.scope, "app"), labels(stack, "app", "old"),
                             ports=[{"PublicPort": port, "IP": "127.0.0.1", "PrivatePort": 80}])
    fake.add_container(names.container_name(stack.scope, "helper"), labels(stack, "helper"))
    with socket.socket() as holder:   # stands for the old container's docker-proxy
        holder.bind(("127.0.0.1", port))
        plan = plan_up(fake.engine, stack)
        lifecycle.check_ports(fake.engine, plan)   # no error
    assert plan.steps()[0].container_id == old


def test_up_creates_with_the_declared_settings_and_stale_helpers_go(stack, fake, monkeypatch):
    helper = fake.add_container("probe-left-behind", names.helper_labels(stack.scope, "restore"), state="exited")
    monkeypatch.setattr(lifecycle, "wait_ready", lambda engine, c, deadline, on_ready=None: {})
    result = lifecycle.up(fake.engine, stack, SilentReporter())
    assert result.created == ["app", "helper"]
    assert helper not in fake.containers
    app = fake.by_name(names.container_name(stack.scope, "app"))
    assert app["State"] == "running"
    assert app["Labels"][names.CONFIG_HASH] == stack.services["app"].config_hash
    hc = app["create_kwargs"]["host_config"]
    assert hc["mounts"][0]["Source"] == names.volume_name(stack.scope, "media")
    assert hc["port_bindings"] == {"80/tcp": ("127.0.0.1", stack.services["app"].service.ports[0].host)}


def test_down_removes_helpers_and_reports_a_volume_in_use(stack, fake, monkeypatch):
    import docker.errors
    fake.add_container(names.container_name(stack.scope, "app"), labels(stack, "app"))
    fake.add_container("restore-helper", names.helper_labels(stack.scope, "restore"))
    fake.api.create_volume(names.volume_name(stack.scope, "media"), labels=names.volume_labels(stack.scope, "media"))
    fake.api.remove_volume.side_effect = docker.errors.APIError("409", explanation="volume is in use")
    with pytest.raises(DevenvError) as err:
        lifecycle.down(fake.engine, stack.scope, volumes=True)
    assert "volume is in use" in str(err.value)
    assert not fake.containers


def test_status_uses_the_one_definition_of_ready(stack, fake, monkeypatch):
    fake.add_container(names.container_name(stack.scope, "app"), labels(stack, "app"))
    monkeypatch.setattr(lifecycle, "current", lambda engine, cid: __import__(
        "devenv.engine.health", fromlist=["Observation"]).Observation(lifecycle.Health.HEALTHY))
    rows = lifecycle.status(fake.engine, stack.scope)
    assert [(r.service, r.health) for r in rows] == [("app", "healthy")]


def _project_labels(root: str, **extra) -> dict:
    return {names.MANAGED: "true", names.PROJECT: "shop", names.PROJECT_ROOT: root, **extra}


def test_a_project_name_used_from_another_directory_is_refused_but_clone_bases_do_not_claim_it(fake):
    from devenv.engine.clones import BASE_KINDS
    from devenv.engine.plan import ProjectClashError, check_owner
    scope = names.Scope("shop", "small-db", root="/home/me/shop")
    fake.volumes["base"] = {"Name": "base", "Labels": _project_labels("/old/checkout", **{names.KIND: sorted(BASE_KINDS)[0]})}
    check_owner(fake.engine, scope)           # a base the old checkout left: snapshot data, not an owner
    fake.volumes["data"] = {"Name": "data", "Labels": _project_labels("/old/checkout")}
    with pytest.raises(ProjectClashError, match="/old/checkout"):
        check_owner(fake.engine, scope)


def test_down_of_an_instance_another_owner_made_needs_force(stack, fake, monkeypatch):
    monkeypatch.setenv("DEVENV_OWNER", "ann@team")
    lifecycle.up(fake.engine, stack, SilentReporter())
    assert {v["Labels"][names.OWNER] for v in fake.volumes.values()} == {"ann@team"}
    assert [r.owner for r in lifecycle.instances(fake.engine)] == ["ann@team"]
    monkeypatch.setenv("DEVENV_OWNER", "bob@laptop")
    from devenv.engine.plan import NotOwnerError
    with pytest.raises(NotOwnerError, match="belongs to ann@team, not to bob@laptop") as err:
        lifecycle.down(fake.engine, stack.scope, volumes=True)
    assert "--force" in err.value.hint
    assert fake.containers and fake.volumes                      # nothing was removed
    lifecycle.down(fake.engine, stack.scope, volumes=True, force=True)
    assert not fake.containers and not fake.volumes
