"""devenv on an engine that is not on this machine: a Docker-in-Docker engine
(tests/integration/dind.py) reached over tcp:// and ssh://.

Its filesystem is not this machine's, so any data path that still passes a host
path (a bind mount of the local cache, a local volume path) fails here. The
project is the lamp template, run as its production declaration (`base`: no
working-tree mounts), cold: base image, builds, seed and image set all on the
remote engine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tests.integration import dind as dind_mod
from tests.integration.conftest import TEST_LABEL, Devenv

pytestmark = pytest.mark.integration

LABELS = dict([TEST_LABEL.split("=", 1)])


@pytest.fixture(scope="module")
def remote(tmp_path_factory, engine):
    """(Devenv of a lamp project, the DinD engine, the $HOME with its ssh material)."""
    base = tmp_path_factory.mktemp("remote")
    root = base / f"shop-remote-{uuid.uuid4().hex[:6]}"
    cache = base / "cache"
    Devenv(base, cache=cache)("init", str(root), "--template", "lamp")
    from devenv.cli.common import Context
    from devenv.engine import connect
    from devenv.engine.images import ensure_base
    from devenv.ui import PlainReporter
    stack = Context(None, False, str(root)).stack("base")
    ensure_base(connect(), stack.base, PlainReporter())    # the DinD image is made from devenv's base image
    image = dind_mod.build_image(engine, stack.base.tag, LABELS)
    home = base / "home"
    pub = dind_mod.ssh_home(home, None, [])
    d = dind_mod.start(engine, image, f"devenv-test-dind-{uuid.uuid4().hex[:8]}", LABELS, pub.read_text())
    dind_mod.ssh_home(home, d, dind_mod.host_keys(engine, d))
    yield Devenv(root, cache=cache), d, home


def in_dind(engine, d, *cmd: str) -> str:
    """A command inside the DinD container (on the remote engine's host)."""
    code, out = engine.containers.get(d.container).exec_run(list(cmd))
    assert code == 0, f"{cmd} exited {code}: {out.decode(errors='replace')}"
    return out.decode(errors="replace")


def until_answers(query, seconds: float = 120):
    """``query()`` once the restarted database answers it (an AssertionError until then)."""
    import time
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = query()
            assert answer, "no answer yet"   # an empty result is never the answer to the query
            return answer
        except (AssertionError, docker.errors.APIError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def one_paragraph_error(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.stderr.startswith("devenv: error: ") and "\n\n" not in r.stderr.strip(), r.stderr
    return r.stderr


def test_engines_that_cannot_be_used_are_named_with_exit_2(remote, tmp_path, engine):
    dv, d, home = remote
    # nothing listens there
    from tests.ports import free_port
    port = free_port()
    err = one_paragraph_error(dv("status", "base", "--engine", f"tcp://127.0.0.1:{port}", check=False))
    assert f"tcp://127.0.0.1:{port}" in err and "connection refused" in err

    # TLS: files that do not exist; a CA that did not sign the engine's certificate; a client
    # certificate the engine does not trust; then the right ones (socat verifying client certificates)
    err = one_paragraph_error(dv("status", "base", "--engine", d.tls_url, check=False,
                                 env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path / "none")}))
    assert d.tls_url in err and f"{tmp_path / 'none'}/cert.pem does not exist" in err and "DOCKER_CERT_PATH" in err
    good_certs = dind_mod.make_certs(tmp_path / "good")
    dind_mod.start_tls(engine, d, tmp_path / "good")
    other_certs = dind_mod.make_certs(tmp_path / "other-ca")
    wrong_ca, wrong_client = tmp_path / "wrong-ca", tmp_path / "wrong-client"
    for directory, ca, client in ((wrong_ca, other_certs, good_certs), (wrong_client, good_certs, other_certs)):
        directory.mkdir()
        shutil.copy(ca / "ca.pem", directory / "ca.pem")
        shutil.copy(client / "cert.pem", directory / "cert.pem")
        shutil.copy(client / "key.pem", directory / "key.pem")
    err = one_paragraph_error(dv("status", "base", "--engine", d.tls_url, check=False,
                                 env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(wrong_ca)}))
    assert d.tls_url in err and "TLS handshake failed (CERTIFICATE_VERIFY_FAILED)" in err and str(wrong_ca) in err
    err = one_paragraph_error(dv("status", "base", "--engine", d.tls_url, check=False,
                                 env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(wrong_client)}))
    assert d.tls_url in err and "TLS handshake failed" in err
    ok = dv("status", "base", "--engine", d.tls_url, env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(good_certs)})
    assert "not running" in ok.stdout
    # TLS asked for of an engine that speaks plain http
    err = one_paragraph_error(dv("status", "base", "--engine", d.tcp_url, check=False,
                                 env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(good_certs)}))
    assert d.tcp_url in err and "TLS handshake failed" in err

    # ssh: a host key that differs from known_hosts, and a host not in it
    good = (home / ".ssh" / "known_hosts").read_text()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    try:
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{d.ssh_port} {fake}\n")
        err = one_paragraph_error(dv("status", "base", "--engine", d.ssh_url, check=False, env={"HOME": str(home)}))
        assert d.ssh_url in err and "host key differs" in err
        (home / ".ssh" / "known_hosts").write_text("")
        err = one_paragraph_error(dv("status", "base", "--engine", d.ssh_url, check=False, env={"HOME": str(home)}))
        assert d.ssh_url in err and "not in known_hosts" in err
    finally:
        (home / ".ssh" / "known_hosts").write_text(good)

    # not an engine URL at all, as a global option
    err = one_paragraph_error(dv("--engine", "http//nowhere", "status", "base", check=False))
    assert "`http//nowhere` is not a Docker Engine URL" in err


def test_source_mounts_are_refused_on_a_remote_engine(remote):
    dv, d, _ = remote
    err = one_paragraph_error(dv("up", "small-db", "--engine", d.tcp_url, "--name", "mounts", check=False))
    assert d.tcp_url in err and "service php: /srv/app <- app" in err and "service web: /srv/app <- app" in err


def test_up_cold_snapshot_round_trip_verify_and_status_over_ssh(remote, engine):
    dv, d, home = remote
    instance = f"r{uuid.uuid4().hex[:6]}"
    # `localhost` in the URL: the URLs devenv prints must name the engine's host as given
    url = f"tcp://localhost:{d.api_port}"
    up = dv("up", "base", "--engine", url, "--name", instance, timeout=2400)
    assert "bootstrap debian bookworm" in up.stderr, up.stderr   # cold: the base image too
    assert f"copy dataset" in up.stderr and "to the engine's volume" in up.stderr, up.stderr
    assert "seeding dataset" in up.stdout and "copied image set" in up.stdout, up.stdout
    assert "http://localhost:" in up.stdout, up.stdout

    inner = docker.DockerClient(base_url=d.tcp_url, timeout=120)
    local_ids = {c.id for c in engine.containers.list(all=True)}
    inner_ids = {c.id for c in inner.containers.list(filters={"label": "dev.devenv.instance=" + instance})}
    assert len(inner_ids) == 4 and not inner_ids & local_ids   # the stack runs on the remote engine only

    status = json.loads(dv("status", "base", "--engine", url, "--name", instance, "--json").stdout)
    web = next(s for s in status["services"] if s["service"] == "web")
    assert web["health"] in ("healthy", "no healthcheck") and web["urls"], web
    port = int(web["urls"][0].rstrip("/").rsplit(":", 1)[1])
    assert web["urls"][0] == f"http://localhost:{port}/"

    # the site answers inside the remote engine's host, with rows from its database
    page = in_dind(engine, d, "curl", "-sS", "-D-", f"http://127.0.0.1:{port}/")
    assert " 200 " in page.splitlines()[0] and "X-Devenv-Data-Source" in page and "<h1>shop</h1>" in page, page[:600]

    db_container = next(s["container"] for s in status["services"] if s["service"] == "db")

    def db(sql: str) -> str:
        # by the service's container name: helpers of the db image carry its service label too
        code, out = inner.containers.get(db_container).exec_run(["mariadb", "-uroot", "-N", "-B", "shop", "-e", sql])
        assert code == 0, out
        return out.decode().strip()

    tables = db("SHOW TABLES").split()
    checksums = db("CHECKSUM TABLE " + ", ".join(tables))
    save = dv("snapshot", "save", "base", "remote1", "--engine", url, "--name", instance, timeout=1200)
    assert "remote1" in save.stdout
    db(f"SET FOREIGN_KEY_CHECKS = 0; DELETE FROM {tables[0]}")
    assert db("CHECKSUM TABLE " + ", ".join(tables)) != checksums
    dv("snapshot", "restore", "base", "remote1", "--engine", url, "--name", instance, timeout=1200)
    assert until_answers(lambda: db("CHECKSUM TABLE " + ", ".join(tables))) == checksums

    # a second instance starts from the snapshot: by copying, as clones need a local engine
    second = f"{instance}-2"
    up2 = dv("up", "base", "--engine", url, "--name", second, timeout=1200)
    assert "restored snapshot: base/remote1" in up2.stdout, up2.stdout
    assert "copy-on-write clones are not available (the engine is not on this machine" in up2.stderr, up2.stderr
    dv("down", "base", "--engine", url, "--name", second, "--volumes")

    verify = dv("verify", "base", "--engine", url, "--name", instance, "--no-user-tests", timeout=1200)
    assert verify.returncode == 0, verify.stdout

    # the same instance over ssh://, host key checked against the known_hosts the test wrote
    over_ssh = json.loads(dv("status", "base", "--engine", d.ssh_url, "--name", instance, "--json",
                             env={"HOME": str(home)}).stdout)
    assert {s["service"]: s["container"] for s in over_ssh["services"]} == \
        {s["service"]: s["container"] for s in status["services"]}
    assert all(u.startswith("http://127.0.0.1:") or u.startswith("tcp://127.0.0.1:")
               for s in over_ssh["services"] for u in s["urls"])
