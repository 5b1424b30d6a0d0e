"""The command line: exit codes, error paragraphs, help, docs."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from devenv.cli import cli
from tests.conftest import REPO, write


def run(*args, cwd=None, env=None):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DEVENV_PROFILES_DIR", None) if env is None or "DEVENV_PROFILES_DIR" not in env else None
    return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=60)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and re.match(r"devenv, version \d+\.\d+", r.stdout)
    r = run("--help")
    assert r.returncode == 0
    for name in cli.commands:
        assert name in r.stdout


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help(name):
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    assert len(cli.commands[name].help or "") > 20


def test_every_command_is_documented_in_readme():
    readme = (REPO / "README.md").read_text()
    names = []
    for name, command in cli.commands.items():
        names.append(name)
        names += [f"{name} {sub}" for sub in getattr(command, "commands", {})]
    missing = [name for name in names if f"devenv {name}" not in readme]
    assert not missing, f"commands missing from README: {missing}"


def test_profiles_json_lists_reference_profiles():
    r = run("profiles", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["small-db"]["default"] and rows["small-db"]["parent"] == "base"
    assert rows["large-db"]["database"] == "large"
    assert rows["large-images"]["images"] >= 10000


def test_profiles_table(project):
    r = run("--profiles-dir", str(project / "profiles"), "profiles")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["NAME", "PARENT", "DATABASE", "IMAGES", "DESCRIPTION"]
    assert any(line.startswith("grandchild") and "child" in line for line in r.stdout.splitlines())


def test_profiles_dir_from_environment(project):
    r = run("show", "grandchild", env={"DEVENV_PROFILES_DIR": str(project / "profiles")})
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["vars"] == {"greeting": "bonjour"} and doc["extends"] == "child"
    assert "imageset" not in doc["data"]


def test_render_writes_stack(project, tmp_path):
    r = run("--profiles-dir", str(project / "profiles"), "render", "parent", "--output", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/compose.yaml").exists() and (tmp_path / "out/plan.json").exists()


def test_schema_command_prints_the_shipped_schema():
    r = run("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema["title"] == "devenv profile" and "services" in schema["properties"]


@pytest.mark.parametrize("args,needle", [
    (["show", "../../etc/passwd"], "not a profile name"),
    (["show", "nosuch"], "no profile `nosuch`"),
    (["render", "small-db"], "Missing option '-o'"),
    (["up", "--timeout", "-3"], "--timeout"),
    (["nosuchcommand"], "No such command"),
    (["--profiles-dir", "/nonexistent/dir", "profiles"], "does not exist"),
])
def test_user_errors_exit_2_without_traceback(args, needle):
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_profile_reports_all_errors_exit_2(project):
    write(project / "profiles/bad.yaml", "servces: {}\nos: {distribution: debain, release: bookworm}\n")
    r = run("--profiles-dir", str(project / "profiles"), "show", "bad")
    assert r.returncode == 2
    assert "bad.yaml:1:1: unknown key `servces`" in r.stderr and "did you mean `services`" in r.stderr
    assert "bad.yaml:2:6" in r.stderr and "did you mean `debian`" in r.stderr
    assert "Traceback" not in r.stderr


def test_debug_shows_traceback(project):
    write(project / "profiles/bad.yaml", "- not a mapping\n")
    r = run("--debug", "--profiles-dir", str(project / "profiles"), "show", "bad")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_engine_unreachable_is_a_clear_error_exit_2(tmp_path):
    r = run("status", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert r.returncode == 2, r.stderr
    assert "Cannot reach the Docker Engine" in r.stderr and "dockerd" in r.stderr
    assert "Traceback" not in r.stderr


def test_default_profile_is_small_db():
    r = run("show")
    assert r.returncode == 0 and "# profile small-db" in r.stdout
    r = run("show", env={"DEVENV_PROFILE": "large-db"})
    assert "# profile large-db" in r.stdout
