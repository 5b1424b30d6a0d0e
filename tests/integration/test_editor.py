"""The editor on the real engine: the Dev Containers reference CLI attaches to devenv's
own stack, and the dash page in a real headless Chromium.

The devcontainer CLI (npm ``@devcontainers/cli``, pinned to 0.89.x) is installed
once into the test cache (``~/.cache/devenv-tests``); it talks to Debian's
``docker-compose`` 1.29.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.compose_identity import PROJECT, SERVICE
from tests.conftest import FIXTURES, REPO, write
from tests.integration.browser import Browser, chromium_path
from tests.integration.conftest import TEST_LABEL, Devenv, machine_lock, name_project

CLI_VERSION = "0.89"
ARTIFACTS = REPO / "tests" / "artifacts"
BIN = str(Path(sys.executable).parent)
COMPOSE_UP = re.compile(r"Run: docker-compose .* up( |$)", re.M)   # the CLI starting a stack of its own      # where `devenv` is: the editor's initializeCommand runs it

DC_PROFILE = """\
# the editor's service mounts the working tree; its port is unique to these tests
os: {distribution: debian, release: bookworm}
services:
  store:
    recipe: tiny
    volumes: {data: /data}
    healthcheck: {test: ["CMD", "true"], interval: 500ms, retries: 3}
  app:
    recipe: tiny
    mounts: {/srv/app: app}
    ports: ["127.0.0.1:18310:8000"]
    depends_on: [store]
"""

DASH_PROFILE = """\
os: {distribution: debian, release: bookworm}
services:
  alpha:
    recipe: tiny
    volumes: {files: /files}
    healthcheck: {test: ["CMD", "true"], interval: 500ms, retries: 3}
  beta:
    recipe: tiny
    ports: ["127.0.0.1:18311:8000"]
    healthcheck: {test: ["CMD", "true"], interval: 500ms, retries: 3}
"""


@pytest.fixture
def project(tmp_path, engine):
    root = tmp_path / "proj"
    shutil.copytree(FIXTURES / "images", root / "images")
    name = name_project(root, "ed")   # unique: parallel workers and sessions never share containers
    write(root / "profiles" / "e-dc.yaml", DC_PROFILE)
    write(root / "profiles" / "e-dash.yaml", DASH_PROFILE)
    write(root / "app" / "hello.txt", "hello from the host\n")
    yield Devenv(root, cache=tmp_path / "cache", name=name)
    from tests.integration.conftest import cleanup
    cleanup(engine)


@pytest.fixture(scope="session")
def devcontainer_cli() -> str:
    """The Dev Containers reference CLI, installed with npm into the test cache once."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (scripts/test installs it)")
    prefix = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "devenv-tests" / f"devcontainers-cli-{CLI_VERSION}"
    exe = prefix / "node_modules" / ".bin" / "devcontainer"
    with machine_lock("devcontainers-cli"):   # one npm install into the shared prefix, whatever the workers
        if not exe.exists():
            prefix.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                f"@devcontainers/cli@{CLI_VERSION}"], capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stderr
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith(CLI_VERSION + "."), version
    return str(exe)


def run_cli(cli: str, project: Devenv, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DEVENV_LABELS": TEST_LABEL,
           "DEVENV_CACHE": str(project.cache)}
    env.pop("COMPOSE_PROJECT_NAME", None)
    env.pop("DEVENV_PROFILES_DIR", None)
    return subprocess.run([cli, *args, "--docker-compose-path", shutil.which("docker-compose") or "docker-compose"]
                          if args[0] in ("up", "read-configuration") else [cli, *args],
                          cwd=project.project, env=env, capture_output=True, text=True, timeout=timeout)


def compose_project_containers(engine, compose_project: str) -> dict[str, str]:
    """name -> id of every container, devenv's or not, in the stack's compose project."""
    return {c.name: c.id for c in engine.containers.list(
        all=True, filters={"label": f"{PROJECT}={compose_project}"})}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_devcontainer_up_attaches_to_the_stack_devenv_status_shows(project, engine, devcontainer_cli):
    root = project.project
    r = project("devcontainer", "e-dc", "--service", "app")
    assert "wrote .devcontainer/devcontainer.json" in r.stdout
    first = {p: p.read_bytes() for p in sorted((root / ".devcontainer").rglob("*")) if p.is_file()}
    r = project("devcontainer", "e-dc", "--service", "app")
    assert "up to date" in r.stdout
    assert {p: p.read_bytes() for p in sorted((root / ".devcontainer").rglob("*")) if p.is_file()} == first

    r = run_cli(devcontainer_cli, project, "read-configuration", "--workspace-folder", str(root))
    assert r.returncode == 0, r.stderr
    conf = json.loads(r.stdout)
    assert conf["configuration"]["service"] == "app"
    assert conf["configuration"]["dockerComposeFile"] == [f"{project.name}-e-dc/compose.yaml"]
    assert conf["workspace"]["workspaceFolder"] == "/srv/app"

    start = time.monotonic()
    r = run_cli(devcontainer_cli, project, "up", "--workspace-folder", str(root))
    assert r.returncode == 0, r.stderr
    print(f"\ndevcontainer up (build, create, attach) took {time.monotonic() - start:.1f}s")
    up = json.loads(r.stdout.strip().splitlines()[-1])
    assert up["outcome"] == "success", up
    assert up["composeProjectName"] == f"{project.name}-e-dc" and up["remoteWorkspaceFolder"] == "/srv/app"
    assert "devenv --project" in r.stderr and "e-dc: " in r.stderr     # initializeCommand ran devenv up
    assert not COMPOSE_UP.search(r.stderr), r.stderr                   # and the CLI started nothing itself

    status = json.loads(project("status", "e-dc", "--json").stdout)
    by_service = {s["service"]: s for s in status["services"]}
    assert set(by_service) == {"app", "store"} and all(s["state"] == "running" for s in by_service.values())
    app = engine.containers.get(by_service["app"]["container"])
    assert up["containerId"] == app.id                        # the editor is in devenv's own container
    # one stack: nothing in the compose project but devenv's two containers
    assert compose_project_containers(engine, f"{project.name}-e-dc") == {f"{project.name}-e-dc-app": app.id,
                                                           f"{project.name}-e-dc-store": engine.containers.get(
                                                               f"{project.name}-e-dc-store").id}

    # the workspace is the working tree: an edit on the host is read in the container, from the workspace
    write(root / "app" / "hello.txt", "edited on the host\n")
    ids = ["--id-label", f"{PROJECT}={project.name}-e-dc", "--id-label", f"{SERVICE}=app"]
    r = run_cli(devcontainer_cli, project, "exec", "--workspace-folder", str(root), *ids,
                "sh", "-c", "pwd && cat hello.txt && hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/srv/app", "edited", "on", "the", "host", "app"]

    # again (the editor reopened): same containers, nothing recreated
    r = run_cli(devcontainer_cli, project, "up", "--workspace-folder", str(root))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["containerId"] == app.id
    assert not COMPOSE_UP.search(r.stderr), r.stderr


def test_a_container_from_before_the_labels_is_recreated_not_duplicated(project, engine, devcontainer_cli):
    """A stack made by an older devenv: its containers lack the compose project labels."""
    root = project.project
    project("up", "e-dc")
    project("devcontainer", "e-dc", "--service", "app")
    old = engine.containers.get(f"{project.name}-e-dc-app")
    labels = {k: v for k, v in old.labels.items() if not k.startswith("com.docker.compose.")}
    image = old.image.id
    old.remove(force=True)
    legacy = engine.containers.run(image, name=f"{project.name}-e-dc-app", labels=labels, network=f"{project.name}-e-dc",
                                   volumes={str(root / "app"): {"bind": "/srv/app", "mode": "rw"}}, detach=True)
    assert PROJECT not in legacy.labels
    project("up", "e-dc")                     # keeps it: its settings hash is the declared one
    assert engine.containers.get(f"{project.name}-e-dc-app").id == legacy.id

    r = run_cli(devcontainer_cli, project, "up", "--workspace-folder", str(root))
    assert r.returncode == 0, r.stderr
    up = json.loads(r.stdout.strip().splitlines()[-1])
    assert "recreated for the editor: app" in r.stderr
    now = engine.containers.get(f"{project.name}-e-dc-app")
    assert now.id != legacy.id and up["containerId"] == now.id and now.labels[SERVICE] == "app"
    assert set(compose_project_containers(engine, f"{project.name}-e-dc")) == {f"{project.name}-e-dc-app", f"{project.name}-e-dc-store"}


def test_watch_rewrites_the_devcontainer_files_when_the_profile_changes(project, engine):
    root = project.project
    project("devcontainer", "e-dc", "--service", "app")
    compose = root / f".devcontainer/{project.name}-e-dc/compose.yaml"
    before = compose.read_text()
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(project.cache)}
    env.pop("DEVENV_PROFILES_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "watch", "e-dc"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("watching"):
                break
        profile = root / "profiles" / "e-dc.yaml"
        profile.write_text(profile.read_text().replace('ports: ["127.0.0.1:18310:8000"]',
                                                       'ports: ["127.0.0.1:18312:8000"]'))
        for line in proc.stdout:
            if " ok: " in line or " error: " in line:
                assert " ok: " in line, line
                break
        after = compose.read_text()
        assert after != before and "127.0.0.1:18312:8000/tcp" in after
        assert "127.0.0.1:18312" in json.loads((root / ".devcontainer/devcontainer.json").read_text())[
            "portsAttributes"]["app:8000"]["label"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (scripts/test installs it)")
def test_dash_in_headless_chromium_shows_services_and_a_stopped_one_turns_red(project, engine, tmp_path):
    project("up", "e-dash")
    r = project("verify", "e-dash", "--no-user-tests", check=False)
    assert r.returncode in (0, 1), r.stderr
    verified_ok = r.returncode == 0
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(project.cache)}
    env.pop("DEVENV_PROFILES_DIR", None)
    dash = subprocess.Popen([sys.executable, "-m", "devenv", "dash", "--port", "0"], cwd=project.project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    browser = None
    try:
        line = dash.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + dash.stderr.read() if dash.poll() is not None else line
        browser = Browser(tmp_path / "chromium-profile")
        browser.open(url.group(0))
        rows = "[...document.querySelectorAll('section[data-profile=\"e-dash\"] tr.service')]"
        found, _ = browser.wait_for(
            f"(() => {{ const r = {rows}.map(e => [e.dataset.service, e.dataset.health, e.dataset.status]);"
            " return r.length == 2 && r.every(x => x[2] == 'ok') ? r : null; })()")
        assert sorted(found) == [["alpha", "healthy", "ok"], ["beta", "healthy", "ok"]]
        page = browser.evaluate("document.body.innerText")
        assert "tcp://127.0.0.1:18311" in page                      # beta's URL
        volumes = browser.evaluate("[...document.querySelectorAll('tr.volume')].map(e => e.dataset.volume)")
        assert volumes == ["files"]
        verify = browser.evaluate("document.querySelector('section[data-profile=\"e-dash\"] .verify').dataset.ok")
        assert verify == str(verified_ok).lower()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        print(f"\nscreenshot: {browser.screenshot(ARTIFACTS / 'dash-healthy.png')}")

        engine.containers.get(f"{project.name}-e-dash-beta").stop(timeout=5)
        stopped = time.monotonic()
        red, _ = browser.wait_for(
            f"(() => {{ const b = {rows}.find(e => e.dataset.service == 'beta');"
            # exited, not only bad: a refresh collected while `docker stop` ran shows it running but failing
            " return b && b.dataset.status == 'bad' && b.dataset.state == 'exited' ? [b.dataset.state, getComputedStyle("
            "b.querySelector('.health')).backgroundColor] : null; })()", timeout=10, interval=0.05)
        seconds = time.monotonic() - stopped
        print(f"beta turned red {seconds:.2f}s after `docker stop` returned (refresh interval 1 s)")
        assert red == ["exited", "rgb(211, 47, 47)"]
        assert seconds <= 2.0                     # one refresh interval plus the time to collect the state
        alpha = browser.evaluate(f"{rows}.find(e => e.dataset.service == 'alpha').dataset.status")
        assert alpha == "ok"
        print(f"screenshot: {browser.screenshot(ARTIFACTS / 'dash-beta-stopped.png')}")
    finally:
        if browser:
            browser.close()
        dash.terminate()
        dash.wait(timeout=30)
