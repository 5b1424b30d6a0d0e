"""fingerprint, drift and verify on the real engine, with the small stacks of
tests/fixtures/parity (busybox/less/tree images that build in seconds) and a
container running sshd that plays a production host.

Everything these tests create carries this test session's dev.devenv.test label,
by which this module removes what it made when it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from devenv import names
from tests.conftest import FIXTURES
from tests.integration.conftest import TEST_LABEL, cleanup

pytestmark = pytest.mark.integration

PARITY_LABEL = TEST_LABEL  # unique per test session
SSH_PORT = 18392  # p-prod.yaml
NAME = f"par-{uuid.uuid4().hex[:8]}"   # the fixture project's name: unique, so parallel workers never share it


class ParityDevenv:
    """The devenv CLI, parity commands included, in the fixture project."""

    def __init__(self, project: Path):
        self.project = project

    def __call__(self, *args, check=True, expect=None, timeout=600):
        env = {**os.environ, "DEVENV_LABELS": TEST_LABEL}
        env.pop("DEVENV_PROFILES_DIR", None)
        r = subprocess.run([sys.executable, "-m", "devenv", *map(str, args)], cwd=self.project, env=env,
                           capture_output=True, text=True, timeout=timeout)
        if expect is not None:
            assert r.returncode == expect, f"devenv {' '.join(map(str, args))} exited {r.returncode}, not {expect}\n{r.stdout}\n{r.stderr}"
        elif check and r.returncode != 0:
            raise AssertionError(f"devenv {' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def json(self, *args, expect=0):
        return json.loads(self(*args, "--json", expect=expect).stdout)


@pytest.fixture(scope="module")
def parity(tmp_path_factory, engine):
    root = tmp_path_factory.mktemp("parity")
    for part in ("profiles", "images", "verify"):
        shutil.copytree(FIXTURES / "parity" / part, root / part)
    (root / "devenv.yaml").write_text(f"name: {NAME}\n")   # unique: parallel workers never share its containers
    yield ParityDevenv(root)
    cleanup(engine)


def build(parity, profile: str):
    """Build the profile's images (as `devenv up` would) and return its rendered stack."""
    from devenv.engine import connect
    from devenv.engine.images import ensure_images
    from devenv.profile import ProfileStore
    from devenv.render import Renderer
    from devenv.ui import SilentReporter
    store = ProfileStore.locate(parity.project / "profiles")
    stack = Renderer(store.images_dir).render(store.load(profile))
    ensure_images(connect(), [sp.image for sp in stack.services.values()], stack.base, SilentReporter())
    return stack


@pytest.fixture(scope="module")
def production(parity):
    """A production file assembled host by host from p-stack's images."""
    path = parity.project / "prod.json"
    for service, sp in sorted(build(parity, "p-stack").services.items()):
        r = parity("fingerprint", f"image://{sp.image.tag}", "--service", service, "-p", "p-stack", "-o", path)
        assert f"{service} <- image://{sp.image.tag}" in r.stdout
    assert sorted(json.loads(path.read_text())["hosts"]) == ["web", "worker"]
    return path


def no_throwaway_containers(engine) -> bool:
    return not engine.containers.list(all=True, filters={"label": [f"{names.KIND}=fingerprint", PARITY_LABEL]})


# -- verify ------------------------------------------------------------------------------

def failures(parity) -> dict[tuple[str, str], dict]:
    doc = parity.json("verify", "p-stack", "--junit", parity.project / "verify.xml", expect=1)
    return {(svc, r["check"]): r | {"commands": v["commands"]}
            for svc, v in doc["services"].items() for r in v["results"] if not r["ok"]}


def test_verify_fresh_stack_clean_then_each_breakage_named(parity, engine):
    parity("down", "p-stack")  # fresh containers, whatever ran before
    parity("up", "p-stack")
    doc = parity.json("verify", "p-stack")
    assert doc["ok"] is True
    checks = {svc: sorted(r["check"] for r in v["results"]) for svc, v in doc["services"].items()}
    assert checks == {
        "web": sorted(["running", "healthy", "os release", "package busybox", "package less",
                       "file /etc/svc/app.conf", "file /srv/www/index.html", "listening tcp/8000",
                       "test verify/web_checks.py::test_config_greets",
                       "test verify/web_checks.py::test_serves_the_page",
                       "test verify/web_checks.py::test_www_data_exists"]),
        "worker": sorted(["running", "healthy", "os release", "package less", "file /etc/svc/app.conf"]),
    }
    assert {svc: v["commands"] for svc, v in doc["services"].items()} == {"web": 1, "worker": 1}

    web, worker = f"{NAME}-p-stack-web", f"{NAME}-p-stack-worker"
    # 1. a config file edited inside the container
    engine.containers.get(web).exec_run(["sed", "-i", "s/hello/tampered/", "/etc/svc/app.conf"], user="root")
    fails = failures(parity)
    assert set(fails) == {("web", "file /etc/svc/app.conf"), ("web", "test verify/web_checks.py::test_config_greets")}
    edited = fails[("web", "file /etc/svc/app.conf")]
    assert edited["expected"].startswith("the rendered content") and edited["actual"].startswith("different content")
    assert "-greeting = hello" in edited["detail"].splitlines() and "+greeting = tampered" in edited["detail"].splitlines()
    assert edited["commands"] == 2  # facts, then the differing file for the diff
    assert fails[("web", "test verify/web_checks.py::test_config_greets")]["actual"].startswith("failed: AssertionError")

    # 2. a package removed
    assert engine.containers.get(web).exec_run(["dpkg", "-r", "less"], user="root").exit_code == 0
    fails = failures(parity)
    assert set(fails) == {("web", "file /etc/svc/app.conf"), ("web", "test verify/web_checks.py::test_config_greets"),
                          ("web", "package less")}
    assert (fails[("web", "package less")]["expected"], fails[("web", "package less")]["actual"]) == \
        ("installed (any version)", "not installed")

    # 3. a service stopped
    engine.containers.get(worker).stop(timeout=1)
    fails = failures(parity)
    assert set(fails) == {("web", "file /etc/svc/app.conf"), ("web", "test verify/web_checks.py::test_config_greets"),
                          ("web", "package less"), ("worker", "running")}
    assert fails[("worker", "running")]["actual"].startswith("stopped (exited with code")

    # what a person and a CI system read
    text = parity("verify", "p-stack", expect=1).stdout
    assert "FAIL web: package less: expected installed (any version), actual not installed" in text
    assert "FAIL web: file /etc/svc/app.conf: expected the rendered content" in text
    assert "FAIL worker: running: expected running, actual stopped" in text
    assert "verify p-stack: 4 of 12 checks failed" in text
    junit = ET.parse(parity.project / "verify.xml").getroot()
    assert junit.get("failures") == "4"
    failed = {(case.get("classname").rsplit(".", 1)[-1], case.get("name")) for case in junit.iter("testcase")
              if case.find("failure") is not None}
    assert failed == set(fails)
    parity("down", "p-stack")


# -- drift ---------------------------------------------------------------------------------

def differences(doc) -> dict[str, set[tuple[str, str | None, str | None]]]:
    return {svc: {(d["key"], d["production"] and "p", d["other"] and "o") for d in v["differences"]}
            for svc, v in doc["services"].items()}


def test_two_builds_of_the_same_profile_do_not_drift(parity, production, engine):
    doc = parity.json("drift", "p-rebuild", "--against", production)
    assert doc["drift"] is False and doc["differences"] == 0
    assert set(doc["services"]) == {"web", "worker"} and "package" in doc["services"]["web"]["compared"]
    # really two builds: apt ran twice, the rebuild's package layer is not the first build's
    first, second = build(parity, "p-stack"), build(parity, "p-rebuild")
    base = engine.images.get(first.base.tag).attrs["RootFS"]["Layers"]
    for service in ("web", "worker"):
        a = engine.images.get(first.services[service].image.tag).attrs["RootFS"]["Layers"]
        b = engine.images.get(second.services[service].image.tag).attrs["RootFS"]["Layers"]
        n = len(base)
        assert a[:n] == b[:n] == base and a[n] != b[n]
    assert len(json.loads(production.read_text())["hosts"]["web"]["packages"]) > 50
    assert no_throwaway_containers(engine)


def installed_version(engine, image: str, package: str) -> str | None:
    """The version of ``package`` dpkg's database in ``image`` records, read from a created (never
    started) container through the archive API: a run's output can come back empty when the
    engine is slow to hand over the log of a container that has just exited."""
    import io
    import tarfile
    key, _, value = TEST_LABEL.partition("=")
    c = engine.containers.create(image, ["true"], entrypoint=[], labels={key: value})
    try:
        stream, _ = c.get_archive("/var/lib/dpkg/status")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            status = tar.extractfile(tar.getmembers()[0]).read().decode()
    finally:
        c.remove(force=True)
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") == package and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version")
    return None


def test_changed_config_and_package_set_show_exactly_those_differences(parity, production, engine):
    junit = parity.project / "drift.xml"
    doc = parity.json("drift", "p-changed", "--against", production, "--junit", junit, expect=1)
    assert differences(doc) == {
        "web": {("file:/etc/svc/app.conf", "p", "o"), ("package:less", "p", None), ("package:tree", None, "o")},
        "worker": {("file:/etc/svc/app.conf", "p", "o")},
    }
    messages = sorted(d["message"] for d in doc["services"]["web"]["differences"])
    assert messages[0] == "/etc/svc/app.conf: content differs"
    assert messages[1].startswith("package only in image: tree ")
    # the version the production image really has (dpkg in it), not one the archive had once
    web = json.loads(production.read_text())["hosts"]["web"]["target"].removeprefix("image://")
    less = installed_version(engine, web, "less")
    assert less and messages[2] == f"package only in production: less {less}"
    failed = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase") if case.find("failure") is not None}
    assert failed == {"packages", "files"}
    text = parity("drift", "p-changed", "--against", production, expect=1).stdout
    assert "drift: 4 differences in 2 of 2 services" in text

    # the profile's drift.ignore declares the package change legitimate; --ignore adds more
    doc = parity.json("drift", "p-changed-ignoring", "--against", production, expect=1)
    assert differences(doc) == {"web": {("file:/etc/svc/app.conf", "p", "o")}, "worker": {("file:/etc/svc/app.conf", "p", "o")}}
    assert doc["services"]["web"]["ignored"] == 2
    r = parity("drift", "p-changed-ignoring", "--against", production, "--ignore", "file:/etc/svc/*", expect=0)
    assert "no drift: 2 services match production" in r.stdout
    assert no_throwaway_containers(engine)


def test_drift_refuses_a_production_file_without_the_service(parity, tmp_path):
    half = tmp_path / "half.json"
    parity("fingerprint", "local://", "--path", "/etc/hostname", "-o", half)
    r = parity("drift", "p-stack", "--against", half, expect=2)
    assert "has no production fingerprint for services web, worker (it has: local)" in r.stderr


# -- a production host over ssh ---------------------------------------------------------------

@dataclass
class SshHost:
    target: str          # ssh://root@127.0.0.1:PORT?ssh_config=FILE
    wrong_key: str       # the same with a key the host does not know


@pytest.fixture(scope="module")
def ssh_host(parity, engine):
    """p-prod's container running sshd on 127.0.0.1:18392; root logs in with a fresh key."""
    parity("up", "p-prod")
    keys = parity.project / "ssh"
    keys.mkdir()
    for name in ("id", "other"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "devenv-test", "-f", keys / name], check=True)
    pub = (keys / "id.pub").read_text().strip()
    r = engine.containers.get(f"{NAME}-p-prod-web").exec_run(
        ["sh", "-c", f"printf '%s\\n' '{pub}' > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys"])
    assert r.exit_code == 0, r.output
    for config, key in (("config", "id"), ("config-wrong", "other")):
        (keys / config).write_text(f"Host *\n  IdentityFile {keys / key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
                                   "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    base = f"ssh://root@127.0.0.1:{SSH_PORT}?ssh_config="
    yield SshHost(base + str(keys / "config"), base + str(keys / "config-wrong"))
    parity("down", "p-prod")


def test_ssh_backend_fingerprints_a_production_host(parity, ssh_host, production):
    prod = parity.project / "prod-ssh.json"
    r = parity("fingerprint", ssh_host.target, "--service", "web", "-p", "p-stack", "-o", prod)
    assert "web <- ssh://root@127.0.0.1" in r.stdout
    over_ssh = json.loads(prod.read_text())["hosts"]["web"]
    over_docker = json.loads(parity("fingerprint", f"docker://{NAME}-p-prod-web", "--service", "web", "-p", "p-stack").stdout)["hosts"]["web"]
    for key in ("os", "packages", "files", "users", "sockets", "runtimes", "hostname"):
        assert over_ssh[key] == over_docker[key], key
    assert over_ssh["live"] is True and ["tcp", "0.0.0.0", 22] in over_ssh["sockets"]
    assert "openssh-server" in over_ssh["packages"]

    # production = p-stack's web + sshd and its dependencies + one config value; nothing else
    image = json.loads(production.read_text())["hosts"]["web"]
    extra = set(over_ssh["packages"]) - set(image["packages"])
    assert "openssh-server" in extra and not set(image["packages"]) - set(over_ssh["packages"])
    doc = parity.json("drift", "p-stack", "--against", prod, "--service", "web", expect=1)
    assert differences(doc) == {"web": {(f"package:{p}", "p", None) for p in extra}
                                | {("file:/etc/svc/app.conf", "p", "o"), ("user:sshd", "p", None)}}

    # running containers against the running production host: listening ports count too
    parity("up", "p-stack")
    doc = parity.json("drift", "p-stack", "--against", prod, "--service", "web", "--running", expect=1)
    ports = {d["key"]: d["message"] for d in doc["services"]["web"]["differences"] if d["category"] == "port"}
    assert ports == {"port:tcp/22": "port only in production: tcp/22 (listening on all interfaces)",
                     "port:tcp/8000": "port only in devenv: tcp/8000 (listening on all interfaces)"}
    parity("down", "p-stack")


def test_ssh_with_a_wrong_key_is_a_clear_error(parity, ssh_host):
    r = parity("fingerprint", ssh_host.wrong_key, expect=2)
    assert "cannot connect" in r.stderr and "Permission denied" in r.stderr
