"""devcontainer files, shell completion, the dash page and the last verify record (no engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from devenv import devcontainer, lastverify
from devenv.cli.common import Context
from devenv.compose_identity import PROJECT, SERVICE
from devenv.dash import DashServer, _status
from devenv.scaffold import init_project
from devenv.spec import container_spec
from tests.conftest import FIXTURES, REPO, write

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def lamp(tmp_path) -> Path:
    init_project(tmp_path / "shop", "lamp", None, ())
    return tmp_path / "shop"


def stack_of(root: Path, profile: str = "small-db"):
    return Context(None, False, str(root)).stack(profile)


def test_devcontainer_files_name_the_mounted_workspace_ports_and_services(lamp):
    files = devcontainer.devcontainer_files(stack_of(lamp), "php")
    assert sorted(files) == [".devcontainer/devcontainer.json", ".devcontainer/shop-small-db/.env",
                             ".devcontainer/shop-small-db/compose.yaml"]
    config = json.loads(files[".devcontainer/devcontainer.json"])
    assert config["dockerComposeFile"] == ["shop-small-db/compose.yaml"]
    assert config["service"] == "php" and config["workspaceFolder"] == "/srv/app"
    assert config["runServices"] == ["db", "cache", "php", "web"] or set(config["runServices"]) == {
        "db", "cache", "php", "web"}
    assert config["forwardPorts"] == ["web:80"]
    assert "127.0.0.1:8080" in config["portsAttributes"]["web:80"]["label"]
    assert config["shutdownAction"] == "none"
    assert config["initializeCommand"][3:] == ["devcontainer", "small-db", "--service", "php", "--up"]
    assert files[".devcontainer/shop-small-db/.env"] == b"COMPOSE_PROJECT_NAME=shop-small-db\n"


def test_the_compose_file_can_never_make_a_second_stack(lamp):
    doc = yaml.safe_load(devcontainer.devcontainer_files(stack_of(lamp), "php")[
        ".devcontainer/shop-small-db/compose.yaml"])
    assert doc["networks"] == {"default": {"name": "shop-small-db", "external": True}}
    for name, service in doc["services"].items():
        assert service["container_name"] == f"shop-small-db-{name}"
        assert "build" not in service
    binds = [v for v in doc["services"]["php"]["volumes"] if v["type"] == "bind"]
    assert binds == [{"type": "bind", "source": "../../app", "target": "/srv/app"}]   # the same on every machine
    assert doc["volumes"]["db-data"]["name"] == "shop-small-db-db-data"         # devenv's database volume


def test_same_profile_same_bytes_in_another_checkout(lamp, tmp_path):
    init_project(tmp_path / "elsewhere" / "shop", "lamp", None, ())
    a = devcontainer.devcontainer_files(stack_of(lamp), "php")
    b = devcontainer.devcontainer_files(stack_of(tmp_path / "elsewhere" / "shop"), "php")
    assert a == b


def test_a_template_change_changes_the_compose_file(lamp):
    before = devcontainer.devcontainer_files(stack_of(lamp), "php")
    write(lamp / "profiles/small-db.yaml",
          (lamp / "profiles/small-db.yaml").read_text().replace(
              "  web:\n    mounts: {/srv/app: app}\n", "  web:\n    mounts: {/srv/app: app}\n  cache:\n    environment: {X: y}\n"))
    after = devcontainer.devcontainer_files(stack_of(lamp), "php")
    changed = [k for k in before if before[k] != after[k]]
    assert changed == [".devcontainer/shop-small-db/compose.yaml"]


def test_a_service_without_a_source_mount_is_refused_naming_those_with_one(lamp):
    with pytest.raises(devcontainer.DevcontainerError) as err:
        devcontainer.devcontainer_files(stack_of(lamp), "db")
    assert "db" in err.value.message and "php, web" in err.value.hint
    with pytest.raises(devcontainer.DevcontainerError, match="no service `nope`"):
        devcontainer.devcontainer_files(stack_of(lamp), "nope")


def test_write_is_idempotent_replaces_another_profiles_files_and_refuses_a_foreign_config(lamp):
    files = devcontainer.devcontainer_files(stack_of(lamp), "php")
    assert len(devcontainer.write_files(lamp, files).written) == 3
    again = devcontainer.write_files(lamp, files)
    assert again.written == [] and len(again.unchanged) == 3
    large = devcontainer.devcontainer_files(stack_of(lamp, "large-db"), "web")
    result = devcontainer.write_files(lamp, large)
    assert ".devcontainer/shop-small-db/compose.yaml" in result.removed
    assert not (lamp / ".devcontainer/shop-small-db").exists()
    assert devcontainer.generated_target(lamp) == devcontainer.Target("large-db", "web")
    write(lamp / ".devcontainer/devcontainer.json", '{"image": "mine"}\n')
    with pytest.raises(devcontainer.DevcontainerError, match="not written by devenv"):
        devcontainer.write_files(lamp, files)
    assert (lamp / ".devcontainer/devcontainer.json").read_text() == '{"image": "mine"}\n'


def test_refresh_rewrites_only_the_files_of_the_same_profile(lamp):
    devcontainer.write_files(lamp, devcontainer.devcontainer_files(stack_of(lamp), "php"))
    assert devcontainer.refresh(lamp, stack_of(lamp, "large-db")) is None
    path = lamp / ".devcontainer/shop-small-db/compose.yaml"
    path.write_text("stale\n")
    result = devcontainer.refresh(lamp, stack_of(lamp))
    assert result.written == [".devcontainer/shop-small-db/compose.yaml"]
    assert devcontainer.stale_files(lamp, devcontainer.devcontainer_files(stack_of(lamp), "php")) == []


def test_service_containers_carry_the_compose_project_labels_the_editor_looks_for(lamp):
    stack = stack_of(lamp)
    labels = container_spec(stack, stack.services["php"]).labels
    assert labels[PROJECT] == "shop-small-db" and labels[SERVICE] == "php"
    assert "com.docker.compose.oneoff" not in labels   # so Compose itself never adopts devenv's containers


# -- completion -------------------------------------------------------------------------

@pytest.fixture
def tiny_project(tmp_path) -> Path:
    import shutil
    shutil.copytree(FIXTURES / "itest" / "profiles", tmp_path / "p" / "profiles")
    shutil.copytree(FIXTURES / "images", tmp_path / "p" / "images")
    write(tmp_path / "p" / "devenv.yaml", "default: t-stack\n")
    return tmp_path / "p"


def complete(project: Path, line: str) -> list[str]:
    """The bash_complete protocol, as click's bash script speaks it."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {**os.environ, "_DEVENV_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    env.pop("DEVENV_PROFILES_DIR", None)
    env.pop("DEVENV_PROFILE", None)
    r = subprocess.run([sys.executable, "-m", "devenv"], cwd=project, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()]


def test_completion_of_commands_options_profiles_and_services(tiny_project):
    assert "devcontainer" in complete(tiny_project, "devenv dev")
    assert complete(tiny_project, "devenv st") == ["status", "shell"] or set(
        complete(tiny_project, "devenv st")) >= {"status"}
    assert "--json" in complete(tiny_project, "devenv status --")
    profiles = complete(tiny_project, "devenv up ")
    assert profiles == sorted(p.stem for p in (tiny_project / "profiles").glob("*.yaml"))
    assert complete(tiny_project, "devenv up t-s") == ["t-slow", "t-snap", "t-snapdb", "t-stack"]
    assert complete(tiny_project, "devenv logs -p t-unhealthy ") == ["sick"]
    assert complete(tiny_project, "devenv exec ") == ["front", "store"]            # the project's default profile
    assert complete(tiny_project, "devenv devcontainer t-snap --service ") == ["db"]
    assert complete(tiny_project, "devenv devcontainer t-stack -s f") == ["front"]
    assert complete(tiny_project.parent, f"devenv --project {tiny_project} status t-e") == ["t-exits"]


def test_the_bash_script_completes_in_a_real_bash(tiny_project):
    script = subprocess.run([sys.executable, "-m", "devenv", "completion", "bash"], capture_output=True,
                            text=True, check=True).stdout
    write(tiny_project / "completion.bash", script)
    probe = ('source ./completion.bash; COMP_WORDS=(devenv logs -p t-stack ""); COMP_CWORD=4; '
             '_devenv_completion devenv; printf "%s\\n" "${COMPREPLY[@]}"; '
             'COMP_WORDS=(devenv up t-sn); COMP_CWORD=2; COMPREPLY=(); _devenv_completion devenv; '
             'printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-c", probe], cwd=tiny_project, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["front", "store", "t-snap", "t-snapdb"]


@pytest.mark.parametrize("shell,needle", [("zsh", "compdef _devenv_completion devenv"),
                                          ("fish", "complete --no-files --command devenv")])
def test_zsh_and_fish_scripts(shell, needle):
    r = subprocess.run([sys.executable, "-m", "devenv", "completion", shell], capture_output=True, text=True,
                       check=True, cwd=REPO)
    assert needle in r.stdout and "_DEVENV_COMPLETE" in r.stdout


# -- the dash page and the verify record ------------------------------------------------

def test_dash_serves_the_page_and_the_state():
    calls = []

    def state():
        calls.append(1)
        return {"project": "p", "at": "now", "stacks": [], "profiles": []}

    server = DashServer(state, port=0, refresh=0.5, title="devenv: <p>").start()
    try:
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "const REFRESH_MS = 500;" in page and "devenv: &lt;p&gt;" in page
        body = json.load(urllib.request.urlopen(server.url + "api/state", timeout=5))
        assert body["project"] == "p" and calls
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url + "other", timeout=5)
    finally:
        server.stop()
    assert server.url.startswith("http://127.0.0.1:")


def test_dash_refuses_a_taken_port():
    from devenv.dash import DashError
    first = DashServer(dict, port=0).start()
    try:
        port = int(first.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(DashError, match=f"127.0.0.1:{port}"):
            DashServer(dict, port=port)
    finally:
        first.stop()


@pytest.mark.parametrize("state,health,status", [("running", "healthy", "ok"), ("running", "no healthcheck", "ok"),
                                                 ("running", "starting", "starting"),
                                                 ("running", "unhealthy", "bad"), ("exited", "-", "bad")])
def test_service_status_colours(state, health, status):
    assert _status(state, health) == status


def test_the_last_verify_result_is_kept_per_project_and_profile(tmp_path):
    report = {"profile": "a", "ok": False, "seconds": 1.0, "services": {
        "web": {"container": "c", "commands": 1, "skipped": None, "results": [
            {"service": "web", "check": "running", "ok": True},
            {"service": "web", "check": "file /etc/x", "ok": False}]}}}
    path = lastverify.record("proj", "a", report, root=tmp_path)
    assert path == tmp_path / "verify" / "proj" / "a.json"
    got = lastverify.load("proj", "a", root=tmp_path)
    assert (got["ok"], got["checks"], got["failed"], got["failures"]) == (False, 2, 1, ["web: file /etc/x"])
    assert lastverify.load("other", "a", root=tmp_path) is None
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "verify").write_text("a file where the directory should be")
    assert lastverify.record("proj", "a", report, root=tmp_path / "ro") is None


def test_an_instance_gets_its_own_compose_project_and_initialize_command(lamp):
    stack = Context(None, False, str(lamp)).stack("small-db", "feature")
    files = devcontainer.devcontainer_files(stack, "php")
    config = json.loads(files[".devcontainer/devcontainer.json"])
    assert config["dockerComposeFile"] == ["shop-small-db--feature/compose.yaml"]
    assert config["initializeCommand"][4:8] == ["small-db", "--name", "feature", "--service"]
