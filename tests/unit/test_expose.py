"""`up --expose ADDR`: the address an instance's host ports are bound on, remembered with
the instance, read by the settings hash, the container spec and the compose output alike,
and named by the URLs (against the fake SDK of tests/fake_engine.py)."""

import json
import socket

import pytest

from devenv import instances, names
from devenv.compose import compose_document
from devenv.engine import lifecycle
from devenv.engine.client import Engine
from devenv.engine.plan import Action, plan_up
from devenv.engine.remote import remote_port_free, url_host
from devenv.errors import ExposeError, PortConflictsError
from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.spec import container_spec
from devenv.ui import SilentReporter
from tests.conftest import write
from tests.fake_engine import FakeEngine

PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  app:
    recipe: tiny
    ports: ["%(port)d:80"]
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  helper:
    recipe: tiny
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def stack(project):
    write(project / "profiles/ex.yaml", PROFILE % {"port": free_port()})
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir).render(store.load("ex"))


def fake_for(stack, url=None):
    f = FakeEngine()
    if url:
        f.engine = Engine(f.engine.client, url=url)
    f.images[stack.base.tag] = "sha256:base"
    for sp in stack.services.values():
        f.images[sp.image.tag] = "sha256:" + sp.image.hash
    return f


def bound(fake, service_container):
    c = fake.by_name(service_container)
    return c["create_kwargs"]["host_config"]["port_bindings"]


# -- the address itself --------------------------------------------------------------

@pytest.mark.parametrize("given, normal", [("0.0.0.0", "0.0.0.0"), ("127.0.0.2", "127.0.0.2"), ("::", "::"),
                                           ("0:0::1", "::1"), ("[::1]", "::1"), ("::ffff:10.1.2.3", "10.1.2.3")])
def test_an_address_is_an_ip_literal_in_its_normal_form(given, normal):
    assert instances.expose_address(given) == normal


@pytest.mark.parametrize("given, why", [("nonsense", "not an IP address"), ("localhost", "not an IP address"),
                                        ("staging.example.com", "not an IP address"), ("", "not an IP address"),
                                        ("1.2.3.4:80", "not an IP address"), ("239.1.1.1", "multicast")])
def test_anything_else_is_refused_naming_the_flag(given, why):
    with pytest.raises(ExposeError) as err:
        instances.expose_address(given)
    assert why in err.value.why
    assert err.value.message.startswith(f"--expose {given}:")
    assert "not a host name" in err.value.hint


def test_an_address_this_machine_lacks_is_refused_for_a_local_engine(stack):
    fake = fake_for(stack)
    with pytest.raises(ExposeError, match=r"--expose 192\.0\.2\.1: not an address of this machine"):
        lifecycle.instance_stack(fake.engine, stack, "192.0.2.1")
    assert not (instances._state_file(stack.scope)).exists()     # nothing remembered


def test_a_remote_engines_address_is_not_checked_here(stack):
    fake = fake_for(stack, "tcp://staging:2375")
    s = lifecycle.instance_stack(fake.engine, stack, "192.0.2.1")
    assert {p.host_ip for sp in s.services.values() for p in sp.service.ports} == {"192.0.2.1"}


# -- one field: hash, spec, compose ----------------------------------------------------

def test_the_address_is_the_ports_host_ip_that_hash_spec_and_compose_read(stack):
    exposed = instances.with_instance_ports(stack, expose="0.0.0.0")
    app, before = exposed.services["app"], stack.services["app"]
    assert [p.host_ip for p in app.service.ports] == ["0.0.0.0"]
    assert [p.host for p in app.service.ports] == [p.host for p in before.service.ports]   # numbers as declared
    assert app.config_hash != before.config_hash
    assert exposed.services["helper"].config_hash == stack.services["helper"].config_hash   # publishes nothing
    assert [p.host_ip for p in container_spec(exposed, app).ports] == ["0.0.0.0"]
    port = before.service.ports[0]
    assert compose_document(exposed)["services"]["app"]["ports"] == [f"0.0.0.0:{port.host}:80/tcp"]
    v6 = instances.with_instance_ports(stack, expose="::1")
    assert compose_document(v6)["services"]["app"]["ports"] == [f"[::1]:{port.host}:80/tcp"]


def test_the_address_is_remembered_until_loopback_is_asked_for(stack, cache):
    instances.with_instance_ports(stack, expose="127.0.0.2")
    state = json.loads(instances._state_file(stack.scope).read_text())
    assert state["expose"] == "127.0.0.2"
    again = instances.with_instance_ports(stack)                  # a later `up` without --expose
    assert [p.host_ip for p in again.services["app"].service.ports] == ["127.0.0.2"]
    back = instances.with_instance_ports(stack, expose="127.0.0.1")
    assert [p.host_ip for p in back.services["app"].service.ports] == ["127.0.0.1"]
    assert back.services["app"].config_hash == stack.services["app"].config_hash
    assert [p.host_ip for p in instances.with_instance_ports(stack).services["app"].service.ports] == ["127.0.0.1"]


def test_a_dry_run_remembers_nothing(stack):
    s = instances.with_instance_ports(stack, expose="0.0.0.0", remember=False)
    assert [p.host_ip for p in s.services["app"].service.ports] == ["0.0.0.0"]
    assert not instances._state_file(stack.scope).exists()
    assert instances.with_instance_ports(stack).services["app"].config_hash == stack.services["app"].config_hash


def test_a_named_instance_checks_its_fallback_ports_on_the_address(stack):
    other = stack.for_instance("hx1")
    declared = stack.services["app"].service.ports[0].host
    asked = []

    def is_free(p):
        asked.append((p.host_ip, p.host))
        return p.host != declared       # the declared port is taken on the address

    s = instances.with_instance_ports(other, is_free=is_free, expose="127.0.0.2")
    port = s.services["app"].service.ports[0]
    assert port.host_ip == "127.0.0.2" and port.host != declared
    assert asked and all(ip == "127.0.0.2" for ip, _ in asked)
    state = json.loads(instances._state_file(other.scope).read_text())
    assert state == {"ports": {"app/80/tcp": port.host}, "expose": "127.0.0.2"}
    # kept by the next `up`, without the flag
    kept = instances.with_instance_ports(other, is_free=lambda p: True).services["app"].service.ports[0]
    assert (kept.host_ip, kept.host) == ("127.0.0.2", port.host)


def test_a_remote_address_gets_a_fallback_number_though_this_machine_lacks_it(stack):
    other = stack.for_instance("hx2")
    declared = stack.services["app"].service.ports[0].host
    s = instances.with_instance_ports(other, is_free=lambda p: p.host != declared, expose="192.0.2.7")
    port = s.services["app"].service.ports[0]
    assert port.host_ip == "192.0.2.7" and port.host not in (declared, 0)


# -- up: binding, keeping, recreating ----------------------------------------------------

def test_up_binds_the_address_keeps_it_and_a_change_recreates(stack):
    fake = fake_for(stack)
    app = names.container_name(stack.scope, "app")
    lifecycle.up(fake.engine, stack, SilentReporter(), expose="127.0.0.2")
    port = stack.services["app"].service.ports[0].host
    assert bound(fake, app) == {"80/tcp": ("127.0.0.2", port)}
    for c in fake.containers.values():       # what the engine then lists
        c["State"] = "running"
        if c["Names"][0] == f"/{app}":
            c["Ports"] = [{"IP": "127.0.0.2", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}]
    plan = plan_up(fake.engine, lifecycle.instance_stack(fake.engine, stack))
    assert not plan.changes                                   # no flag: the address is kept
    plan = plan_up(fake.engine, lifecycle.instance_stack(fake.engine, stack, "127.0.0.1"))
    assert {s.service: s.action for s in plan.steps()} == {"app": Action.RECREATE, "helper": Action.KEEP}


def test_moving_to_all_interfaces_is_no_conflict_with_its_own_container(stack):
    fake = fake_for(stack, "tcp://staging:2375")
    port = stack.services["app"].service.ports[0].host
    lifecycle.up(fake.engine, stack, SilentReporter())
    app = fake.by_name(names.container_name(stack.scope, "app"))
    app.update(State="running", Ports=[{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}])
    lifecycle.up(fake.engine, stack, SilentReporter(), expose="0.0.0.0")   # its own container is replaced
    assert bound(fake, names.container_name(stack.scope, "app")) == {"80/tcp": ("0.0.0.0", port)}


def test_all_interfaces_collide_with_another_containers_loopback_port(stack):
    fake = fake_for(stack, "tcp://staging:2375")
    port = stack.services["app"].service.ports[0].host
    fake.add_container("hx-someone-else", {}, ports=[{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port}])
    with pytest.raises(PortConflictsError, match=rf"port 0\.0\.0\.0:{port} is already taken by container "
                                                 r"hx-someone-else"):
        lifecycle.up(fake.engine, stack, SilentReporter(), expose="0.0.0.0")
    free = remote_port_free(fake.engine)
    p = stack.services["app"].service.ports[0]
    assert not free(p.__class__(80, port, "0.0.0.0")) and not free(p)
    assert free(p.__class__(80, port, "127.0.0.2"))          # another loopback address


def test_a_named_instance_keeps_its_port_when_its_own_container_moves_address(stack):
    fake = fake_for(stack, "tcp://staging:2375")
    other = stack.for_instance("hx3")
    lifecycle.up(fake.engine, other, SilentReporter())
    name = names.container_name(other.scope, "app")
    port = bound(fake, name)["80/tcp"][1]
    fake.by_name(name).update(State="running", Ports=[{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port}])
    lifecycle.up(fake.engine, other, SilentReporter(), expose="0.0.0.0")
    assert bound(fake, name) == {"80/tcp": ("0.0.0.0", port)}


# -- URLs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("url, ip, host", [
    ("unix:///var/run/docker.sock", "127.0.0.1", "127.0.0.1"),
    ("unix:///var/run/docker.sock", "127.0.0.2", "127.0.0.2"),
    ("unix:///var/run/docker.sock", "0.0.0.0", "127.0.0.1"),
    ("unix:///var/run/docker.sock", "::", "127.0.0.1"),
    ("unix:///var/run/docker.sock", "::1", "[::1]"),
    ("unix:///var/run/docker.sock", "192.168.1.5", "192.168.1.5"),
    ("tcp://staging:2376", "127.0.0.1", "staging"),        # its loopback: through that host (ssh -L)
    ("tcp://staging:2376", "0.0.0.0", "staging"),          # all its interfaces: its name
    ("ssh://me@staging", "::", "staging"),
    ("tcp://staging:2376", "10.1.2.3", "10.1.2.3"),        # --expose 10.1.2.3: that address
    ("tcp://staging:2376", "fd00::5", "[fd00::5]"),
    ("tcp://[fd00::9]:2376", "0.0.0.0", "[fd00::9]"),
])
def test_urls_name_the_address_or_the_engines_host(url, ip, host):
    assert url_host(Engine(None, url=url), ip) == host


def test_status_and_ls_name_the_address(stack):
    fake = fake_for(stack, "tcp://staging:2375")
    labels = names.service_labels(stack.scope, "app", "h") | {names.MANAGED: "true"}
    fake.add_container(names.container_name(stack.scope, "app"), labels,
                       ports=[{"IP": "10.9.8.7", "PrivatePort": 80, "PublicPort": 18510},
                              {"IP": "fd00::7", "PrivatePort": 80, "PublicPort": 18510}])
    fake.api.df.return_value = {"Volumes": []}
    [row] = lifecycle.status(fake.engine, stack.scope)
    assert row.urls == ["http://10.9.8.7:18510/", "http://[fd00::7]:18510/"]
    [inst] = lifecycle.instances(fake.engine)
    assert inst.ports == ["10.9.8.7:18510", "[fd00::7]:18510"]


def test_an_address_the_remote_host_lacks_fails_at_start_with_the_way_out(stack):
    import docker.errors
    fake = fake_for(stack, "tcp://staging:2375")
    fake.api.start.side_effect = docker.errors.APIError(
        "500", explanation="driver failed programming external connectivity on endpoint x: Error starting userland "
                           "proxy: listen tcp4 192.0.2.1:18510: bind: cannot assign requested address")
    with pytest.raises(lifecycle.DevenvError) as err:
        lifecycle.up(fake.engine, stack, SilentReporter(), expose="192.0.2.1")
    assert "cannot assign requested address" in err.value.message
    assert "--expose 127.0.0.1" in err.value.hint and "not one of the engine host's" in err.value.hint
