"""Which engine devenv uses and what a remote one changes: engine.client.resolve (flag,
$DOCKER_HOST, Docker contexts, TLS), the classification of a failed first contact,
the seed volume that replaces the cache's bind mount, and the source-mount refusal."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from devenv import names
from devenv.engine import client, remote, seeding
from devenv.engine.client import Engine, Target
from devenv.errors import EngineConfigError, EngineHostKeyError, EngineTLSError, EngineUnreachableError, \
    RemoteMountError
from devenv.ui import SilentReporter
from tests.fake_engine import FakeEngine
from tests.unit.test_seeding import fake, stack, volume  # noqa: F401  (fixtures)


def write_context(config_dir, name, host, tls_files=(), skip_verify=False):
    key = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / key
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {
        "docker": {"Host": host, "SkipTLSVerify": skip_verify}}}))
    if tls_files:
        tls = config_dir / "contexts" / "tls" / key / "docker"
        tls.mkdir(parents=True)
        for f in tls_files:
            (tls / f).write_text("x")
        return tls
    return None


def test_the_flag_wins_then_docker_host_then_the_context_then_the_socket(tmp_path):
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"currentContext": "staging"}))
    write_context(cfg, "staging", "ssh://me@staging")
    env = {"DOCKER_CONFIG": str(cfg), "DOCKER_HOST": "tcp://dh:2375"}
    assert client.resolve("ssh://u@flag", env) == Target("ssh://u@flag", "--engine")
    assert client.resolve(None, env) == Target("tcp://dh:2375", "$DOCKER_HOST")
    del env["DOCKER_HOST"]
    assert client.resolve(None, env) == Target("ssh://me@staging", "Docker context staging")
    write_context(cfg, "other", "unix:///run/other.sock")
    assert client.resolve(None, env | {"DOCKER_CONTEXT": "other"}).url == "unix:///run/other.sock"
    assert client.resolve(None, env | {"DOCKER_CONTEXT": "default"}) == Target(client.DEFAULT_URL, "the default socket")
    assert client.resolve(None, {"DOCKER_CONFIG": str(tmp_path / "none")}).url == client.DEFAULT_URL


def test_a_missing_context_and_bad_urls_are_named(tmp_path):
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(EngineConfigError, match="the current Docker context `gone` does not exist"):
        client.resolve(None, {"DOCKER_CONFIG": str(cfg)})
    for bad in ("ftp://x", "tcp://host", "tcp://host:port", "ssh://", "unix://", "staging"):
        with pytest.raises(EngineConfigError, match="is not a Docker Engine URL"):
            client.resolve(bad, {})
    with pytest.raises(EngineConfigError, match=r"\$DOCKER_HOST: `nope` is not"):
        client.resolve(None, {"DOCKER_HOST": "nope"})


def test_tls_from_the_environment_and_from_a_context(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    with pytest.raises(EngineTLSError) as err:
        client.resolve("tcp://h:2376", env)
    assert f"{certs}/cert.pem does not exist" in str(err.value) and "tcp://h:2376" in str(err.value)
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (certs / f).write_text("x")
    t = client.resolve("tcp://h:2376", env)
    assert t.tls.verify is True and t.tls.ca_cert == str(certs / "ca.pem") and t.tls.cert == (str(certs / "cert.pem"), str(certs / "key.pem"))
    assert client.resolve("tcp://h:2375", {}).tls is None            # no TLS asked for
    assert client.resolve("ssh://u@h", env).tls is None               # TLS is for tcp:// only

    cfg = tmp_path / "docker"
    tls_dir = write_context(cfg, "prod", "tcp://prod:2376", ("ca.pem", "cert.pem", "key.pem"))
    t = client.resolve(None, {"DOCKER_CONFIG": str(cfg), "DOCKER_CONTEXT": "prod"})
    assert t.tls.ca_cert == str(tls_dir / "ca.pem") and t.cert_path == str(tls_dir)


def test_engine_says_whether_it_is_local_and_names_its_host():
    api = SimpleNamespace()
    assert Engine(api).is_local and Engine(api).host is None
    assert Engine(api, "unix:///tmp/x.sock").is_local
    tcp, ssh = Engine(api, "tcp://build.example:2376"), Engine(api, "ssh://me@staging:2222")
    assert not tcp.is_local and tcp.host == "build.example" and ssh.host == "staging"
    assert remote.url_host(Engine(api), "0.0.0.0") == "127.0.0.1" and remote.url_host(Engine(api), "10.1.2.3") == "10.1.2.3"
    assert remote.url_host(ssh, "127.0.0.1") == "staging"


class BadHostKeyException(Exception):
    """Stands in for paramiko's (classified by name: the chain is all that is seen)."""


def test_failed_contacts_are_classified():
    t = Target("ssh://me@h", "--engine")
    assert isinstance(client._unreachable(t, BadHostKeyException("x")), EngineHostKeyError)
    e = client._unreachable(t, Exception("Server '[h]:22' not found in known_hosts"))
    assert isinstance(e, EngineHostKeyError) and "not in known_hosts" in str(e)
    e = client._unreachable(Target("tcp://h:2376", "$DOCKER_HOST"),
                            Exception("SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number"))
    assert isinstance(e, EngineTLSError) and "WRONG_VERSION_NUMBER" in str(e) and "$DOCKER_HOST" in str(e)
    outer = Exception("Error while fetching server API version")
    outer.__cause__ = ConnectionRefusedError(111, "Connection refused")
    e = client._unreachable(Target("tcp://h:1", "--engine"), outer)
    assert type(e) is EngineUnreachableError and "connection refused" in str(e) and "tcp://h:1 (chosen by --engine)" in str(e)


def tar_of(name: str, text: str):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(text.encode())
        tar.addfile(info, io.BytesIO(text.encode()))
    return [buf.getvalue()], {}


def test_on_a_remote_engine_the_dataset_is_copied_into_a_seed_volume(stack, fake, tmp_path):  # noqa: F811
    ds = tmp_path / "cache" / "datasets" / "ds"
    ds.mkdir(parents=True)
    (ds / "load.sql").write_text("-- load\n")
    (ds / "t.csv").write_text("1,a\n")
    far = Engine(fake.engine.client, "tcp://far:2375", "--engine")
    uploads = []
    fake.api.put_archive.side_effect = lambda c, path, data: uploads.append(
        (path, b"".join(data) if not isinstance(data, bytes) else data)) or True
    import docker.errors
    fake.api.inspect_volume.side_effect = lambda name: fake.volumes.get(name) or (_ for _ in ()).throw(
        docker.errors.NotFound("no volume"))
    plan = seeding.plan_seed(far, stack, stack.services["db"], {volume(stack)}, SilentReporter())
    seed_volume = names.volume_name(stack.scope, "seed")
    assert plan.binds == {seed_volume: {"bind": "/var/lib/devenv-seed", "mode": "ro"}} and plan.dataset == "ds-id"
    assert fake.volumes[seed_volume]["Labels"][names.VOLUME] == "seed"
    (data_path, data), (marker_path, marker) = uploads
    members = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert sorted(members) == ["load.sql", "t.csv"]                       # the dataset's files, then the marker
    assert tarfile.open(fileobj=io.BytesIO(marker)).extractfile(seeding.SEED_MARKER).read() == b"ds-id\n"
    assert not fake.containers                                            # the helpers are gone

    # again with the same dataset in the volume: nothing is copied
    uploads.clear()
    fake.api.get_archive.side_effect = lambda c, path: tar_of(seeding.SEED_MARKER, "ds-id\n")
    assert seeding.plan_seed(far, stack, stack.services["db"], {volume(stack)}, SilentReporter()).binds == plan.binds
    assert uploads == []
    # another dataset (or a copy cut short): copied anew into a fresh volume
    fake.api.get_archive.side_effect = lambda c, path: tar_of(seeding.SEED_MARKER, "other\n")
    seeding.plan_seed(far, stack, stack.services["db"], {volume(stack)}, SilentReporter())
    assert fake.api.remove_volume.call_args.args == (seed_volume,) and len(uploads) == 2


def test_source_mounts_are_refused_on_a_remote_engine_only(stack):  # noqa: F811
    api = SimpleNamespace()
    remote.check_source_mounts(Engine(api), stack)                       # local: mounts are fine
    with pytest.raises(RemoteMountError) as err:
        remote.check_source_mounts(Engine(api, "ssh://me@staging"), stack)
    assert "ssh://me@staging" in str(err.value) and "service php: /srv/app <- app" in str(err.value)


def test_one_connection_pool_per_engine_and_no_proxy_walk_over_a_socket():
    from devenv.engine.client import _one_pool

    class Adapter:
        pools = {}

        def __init__(self):
            self.keys = []

        def get_connection(self, url, proxies=None):
            self.keys.append(url)
            return url

    class Api:
        trust_env = True

        def __init__(self):
            self._custom_adapter = Adapter()

    api = Api()
    _one_pool(api, local_socket=True)
    api._custom_adapter.get_connection("http+docker://localhost/v1.41/containers/a/json")
    api._custom_adapter.get_connection("http+docker://localhost/v1.41/networks?filters=x")
    assert api._custom_adapter.keys == ["http+docker://localhost", "http+docker://localhost"]
    assert api.trust_env is False
    tcp = Api()
    _one_pool(tcp, local_socket=False)    # tcp: proxies from the environment may apply
    assert tcp.trust_env is True
