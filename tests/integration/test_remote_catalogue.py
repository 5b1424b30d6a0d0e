"""The catalogue and fingerprints on an engine that is not on this machine: a Docker-in-Docker
engine (tests/integration/dind.py) reached over tcp://, and the registry on this machine.

The registry (Debian's docker-registry) listens on 127.0.0.1 here. The remote engine
reaches it under the same name, 127.0.0.1:PORT, on its own host: socat in the DinD
container forwards that port to a forwarder on this machine's address on the DinD
container's network, which forwards to the registry. So devenv (here) and the remote
engine name the registry alike, and the engine treats it as a loopback registry
(plain HTTP without insecure-registries), as a real team setup with an ssh tunnel would.

One flow, one DinD engine per module: publish from this machine's engine, `pull
--engine` onto the remote one (its images come from the registry, checked against the
entry's image ids), `up --engine` from what was pulled (no build: no base image on the
remote engine), `fingerprint docker://` and `image://` of the remote engine's
containers and images, and `publish --engine` of the remote engine's images to another
namespace.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import urllib.request
import uuid

import docker
import pytest

from tests.conftest import FIXTURES, write
from tests.integration import dind as dind_mod
from tests.integration.conftest import TEST_LABEL, Devenv, cleanup, name_project
from tests.integration.registry import registry  # noqa: F401  (fixture)
from tests.ports import free_port

pytestmark = pytest.mark.integration

LABELS = dict([TEST_LABEL.split("=", 1)])


class Forwarder:
    """TCP from ``listen`` to ``target``, one thread pair per connection, until ``close``."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)
        self.server.settimeout(0.5)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=30)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(None)
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.server.close()


@pytest.fixture(scope="module")
def remote(tmp_path_factory, engine, registry):  # noqa: F811
    """(Devenv of a tiny project, the DinD engine's tcp URL, a client of the inner engine)."""
    root = tmp_path_factory.mktemp("remote-cat")
    (root / "profiles").mkdir()
    uid = uuid.uuid4().hex[:10]
    write(root / "profiles/t-cat.yaml", f"""\
description: remote catalogue test
os: {{distribution: debian, release: bookworm}}
vars: {{greeting: "{uid}"}}
services:
  db:
    recipe: tiny
    files: {{/etc/greeting.txt: tiny/greeting.txt.j2}}
    volumes: {{datadir: /var/lib/tiny}}
""")
    import shutil
    shutil.copytree(FIXTURES / "images", root / "images")
    name = name_project(root, "rc")
    dv = Devenv(root, cache=root / "cache", name=name)

    from devenv.cli.common import Context
    from devenv.engine import connect
    from devenv.engine.images import ensure_base
    from devenv.ui import PlainReporter
    stack = Context(None, False, str(root)).stack("t-cat")
    ensure_base(connect(), stack.base, PlainReporter())    # the DinD image is made from devenv's base image
    image = dind_mod.build_image(engine, stack.base.tag, LABELS)
    home = root / "home"
    pub = dind_mod.ssh_home(home, None, [])
    d = dind_mod.start(engine, image, f"devenv-test-dind-{uuid.uuid4().hex[:8]}", LABELS, pub.read_text())

    # the registry, as 127.0.0.1:PORT on the remote engine's host too
    c = engine.containers.get(d.container)
    gateway = c.attrs["NetworkSettings"]["Gateway"] or next(
        n["Gateway"] for n in c.attrs["NetworkSettings"]["Networks"].values() if n.get("Gateway"))
    forward = Forwarder((gateway, free_port()), ("127.0.0.1", registry.port))
    c.exec_run(["socat", f"tcp-listen:{registry.port},bind=127.0.0.1,reuseaddr,fork",
                f"tcp:{gateway}:{forward.server.getsockname()[1]}"], detach=True)
    code, out = c.exec_run(["sh", "-c", f"for i in $(seq 50); do curl -fsS http://127.0.0.1:{registry.port}/v2/ "
                                        "&& exit 0; sleep 0.2; done; exit 1"])
    assert code == 0, f"the remote engine's host does not reach the registry: {out.decode(errors='replace')}"

    inner = docker.DockerClient(base_url=d.tcp_url, timeout=300)
    (image_tag,) = {sp.image.tag for sp in stack.services.values()}
    yield dv, d.tcp_url, inner, image_tag, uid
    forward.close()
    cleanup(engine)
    for tag in {sp.image.tag for sp in stack.services.values()}:
        try:
            engine.images.remove(tag)
        except docker.errors.ImageNotFound:
            pass


def catalogue(dv, ns: str, *engine_args: str) -> dict:
    out = json.loads(dv("catalogue", "--registry", ns, "--json", *engine_args).stdout)
    return {e["entry"]: e for e in out["entries"]}


def manifest_config(registry, ns: str, repo: str, tag: str) -> str:  # noqa: F811
    """The image config digest (the image id) of ``ns/repo:tag`` as the registry holds it."""
    req = urllib.request.Request(f"{registry.url}/v2/{ns.split('/', 1)[1]}/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["config"]["digest"]


def test_pull_up_fingerprint_and_publish_on_a_remote_engine(remote, engine, registry):  # noqa: F811
    dv, url, inner, image_tag, uid = remote
    ns = f"{registry.host}/r{uuid.uuid4().hex[:8]}"
    # published from this machine's engine, with a snapshot of known content
    dv("up", "t-cat")
    dv("exec", "db", "-p", "t-cat", "--", "sh", "-c", "mkdir -p /var/lib/tiny/sub && echo remote-data > /var/lib/tiny/sub/f")
    dv("snapshot", "save", "t-cat")
    assert "published t-cat to" in dv("publish", "t-cat", "--registry", ns).stdout
    dv("down", "t-cat", "--volumes")
    image_id = engine.images.get(image_tag).id
    assert not _present(inner, image_tag)

    # pull onto the remote engine: the image comes from the registry on this machine
    r = dv("pull", "t-cat", "--registry", ns, "--engine", url)
    assert "pulled 1 image(s)" in r.stdout, r.stdout
    assert inner.images.get(image_tag).id == image_id
    assert catalogue(dv, ns, "--engine", url)["t-cat"]["present"] == "yes"

    # up from what was pulled: nothing built (the remote engine has no base image), then the snapshot
    r = dv("up", "t-cat", "--engine", url, timeout=1200)
    assert "built" not in r.stdout and "bootstrap" not in r.stderr, (r.stdout, r.stderr)
    assert not inner.images.list(name="devenv/base-debian")
    container = dv.container("t-cat", "db")
    assert inner.containers.get(container).status == "running"
    assert container not in {c.name for c in engine.containers.list(all=True)}   # not on this machine's engine
    dv("snapshot", "restore", "t-cat", "--engine", url)
    code, out = inner.containers.get(container).exec_run(["cat", "/var/lib/tiny/sub/f"])
    assert (code, out) == (0, b"remote-data\n")

    # fingerprints of the remote engine's container and image (testinfra's docker backend, on that engine)
    code, greeting = inner.containers.get(container).exec_run(["cat", "/etc/greeting.txt"])
    assert code == 0 and uid.encode() in greeting
    for target, live in ((f"docker://{container}", True), (f"image://{image_tag}", False)):
        out = json.loads(dv("fingerprint", target, "--service", "db", "-p", "t-cat", "--engine", url).stdout)
        (host,) = out["hosts"].values()
        assert host["live"] is live and host["os"].get("ID") == "debian" and host["packages"], (target, host["os"])
        assert host["files"]["/etc/greeting.txt"]["sha256"] == hashlib.sha256(greeting).hexdigest(), target
    assert not inner.containers.list(all=True, filters={"label": "dev.devenv.kind=fingerprint"})   # removed
    bad = dv("fingerprint", "docker://devenv-no-such-container", "--engine", url, check=False)
    assert bad.returncode == 2 and "no container `devenv-no-such-container`" in bad.stderr, bad.stderr

    # `dataset subset --from DUMPFILE` on a remote engine: tests/integration/test_remote_forward.py

    # publish from the remote engine: its image pushed to the registry through the engine's own host
    ns2 = f"{registry.host}/r{uuid.uuid4().hex[:8]}"
    engine.images.remove(image_tag)      # so nothing could come from this machine's engine
    r = dv("publish", "t-cat", "--registry", ns2, "--engine", url)
    assert "published t-cat to" in r.stdout, r.stdout
    assert catalogue(dv, ns2, "--engine", url)["t-cat"]["present"] == "yes"
    hash12 = next(i for i in inner.images.get(image_tag).tags if i == image_tag).rsplit(":", 1)[1][:12]
    assert manifest_config(registry, ns2, "devenv-db", hash12) == image_id
    dv("down", "t-cat", "--engine", url, "--volumes")


def _present(client, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
