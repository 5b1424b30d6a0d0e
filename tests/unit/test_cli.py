"""The command line: exit codes, error paragraphs, help, docs."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from devenv.cli import all_commands, cli
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
    for name in all_commands():
        assert name in r.stdout


@pytest.mark.parametrize("name", sorted(all_commands()))
def test_every_command_has_help(name):
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    assert len(all_commands()[name].help or "") > 20


def test_every_command_is_documented_in_readme():
    readme = (REPO / "README.md").read_text()
    names = []
    for name, command in all_commands().items():
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


# -- the package: each command alone, main's last line of defence --------------------------

def api_error(status: int, method: str, path: str, explanation: str):
    """A docker.errors.APIError as the SDK raises it: from a real requests.Response."""
    import docker.errors
    import requests
    response = requests.Response()
    response.status_code = status
    response.request = requests.Request(method, f"http+docker://localhost{path}").prepare()
    return docker.errors.APIError(f"{status} Client Error", response=response, explanation=explanation)


def test_a_command_runs_alone_with_a_context(monkeypatch):
    from unittest import mock

    from click.testing import CliRunner

    from devenv.cli.common import Context
    from devenv.cli.env import down_cmd
    from devenv.engine import lifecycle

    down = mock.create_autospec(lifecycle.down, return_value=lifecycle.DownResult())
    monkeypatch.setattr(lifecycle, "down", down)
    monkeypatch.setattr(Context, "engine", lambda self: "the-engine")
    r = CliRunner().invoke(down_cmd, ["t-alone", "--volumes"], obj=Context(None, False))
    assert r.exit_code == 0, r.output
    assert r.output == "t-alone: nothing to remove\n"
    (engine, scope), kwargs = down.call_args
    assert engine == "the-engine" and kwargs == {"volumes": True, "force": False}
    assert (scope.project, scope.profile, scope.instance) == ("devenv", "t-alone", "default")


def test_command_modules_do_not_import_each_other():
    import ast

    for path in (REPO / "devenv/cli").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        siblings = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.level == 1 and node.module}
        assert siblings <= {"common"}, f"{path.name} imports {siblings - {'common'}}"


@pytest.mark.parametrize("status,code", [(409, 2), (404, 2), (500, 1)])
def test_engine_api_errors_reaching_main_are_typed(monkeypatch, capsys, status, code):
    from devenv.cli import main
    from devenv.cli.common import Context
    from devenv.engine import lifecycle

    def down(engine, name, volumes=False, force=False):
        raise api_error(status, "DELETE", "/v1.43/volumes/devenv-x-db", "remove devenv-x-db: volume is in use")

    monkeypatch.setattr(lifecycle, "down", down)
    monkeypatch.setattr(Context, "engine", lambda self: None)
    with pytest.raises(SystemExit) as exited:
        main(["down", "x", "--volumes"])
    err = capsys.readouterr().err
    assert exited.value.code == code, err
    assert err == ("devenv: error: the Docker Engine refused: remove devenv-x-db: volume is in use "
                   f"({status} on DELETE /v1.43/volumes/devenv-x-db)\n")


def test_an_os_error_naming_a_file_is_not_an_internal_error(monkeypatch, capsys):
    from devenv.cli import main
    from devenv.cli.common import Context

    def stack(self, name, instance=None):
        raise PermissionError(13, "Permission denied", "/srv/cache/x")

    monkeypatch.setattr(Context, "stack", stack)
    with pytest.raises(SystemExit) as exited:
        main(["up", "x"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "devenv: error: /srv/cache/x: Permission denied\n"


def test_unknown_exceptions_are_still_internal_errors(monkeypatch, capsys):
    from devenv.cli import main
    from devenv.cli.common import Context

    monkeypatch.setattr(Context, "stack", lambda self, name, instance=None: 1 / 0)
    with pytest.raises(SystemExit) as exited:
        main(["up", "x"])
    assert exited.value.code == 70 and "internal error: ZeroDivisionError" in capsys.readouterr().err


def test_write_errors_after_the_check_name_the_path(tmp_path):
    from devenv.cli.common import writing
    from devenv.errors import OutputPathError

    with pytest.raises(OutputPathError) as raised:
        with writing(str(tmp_path / "out")):
            raise OSError(28, "No space left on device", str(tmp_path / "out/compose.yaml"))
    assert raised.value.message == f"cannot write {tmp_path}/out/compose.yaml: No space left on device"


def test_output_problems(tmp_path):
    from devenv.cli.common import output_problem

    (tmp_path / "file").write_text("x")
    assert output_problem(str(tmp_path / "new/deeper"), directory=True) is None
    assert output_problem(str(tmp_path / "file"), directory=False) is None
    assert "is a file, not a directory" in output_problem(str(tmp_path / "file"), directory=True)
    assert "is a directory, not a file" in output_problem(str(tmp_path), directory=False)
    assert "so nothing can be created below it" in output_problem(str(tmp_path / "file/x.json"), directory=False)
    assert "proc filesystem" in output_problem("/proc/self/x.json", directory=False)
    assert "sysfs filesystem" in output_problem("/sys/devenv", directory=True)
    assert list(p.name for p in tmp_path.iterdir()) == ["file"]  # the probe leaves nothing


def test_binary_and_non_utf8_profiles_name_the_file_and_place(tmp_path):
    from devenv.errors import ProfileError
    from devenv.yamlload import load_yaml

    for content, where, what in ((b"a: 1\nb: \x0f\n", ":2:4", "character #x000f"),
                                 (b"a: 1\nb: caf\xe9\n", ":2:7", "not UTF-8 text (byte 0xe9)"),
                                 (b"\x7fELF\x02\x01\x01\x00", ":1:1", "character #x007f")):
        path = tmp_path / "p.yaml"
        path.write_bytes(content)
        with pytest.raises(ProfileError) as raised:
            load_yaml(path)
        assert f"{path}{where}: {what}" in raised.value.message, raised.value.message


def test_ssh_targets_need_a_numeric_port():
    from devenv.parity.errors import TargetError
    from devenv.parity.targets import Target

    assert Target.parse("ssh://root@127.0.0.1:2222").default_name == "127.0.0.1"
    assert Target.parse("ssh://[::1]:22?sudo=true").scheme == "ssh"
    assert Target.parse("docker://www-data@devenv-x-web").container == "devenv-x-web"
    for bad in ("ssh://root@127.0.0.1:abc", "ssh://h:0", "paramiko://h:99999", "ssh://[::1]:x"):
        with pytest.raises(TargetError, match="is not a port number"):
            Target.parse(bad)


def test_ssh_connection_failures_show_what_ssh_said():
    from testinfra.backend.base import CommandResult

    from devenv.parity.errors import TargetError
    from devenv.parity.facts import CountingHost

    class Host:
        def run(self, command):
            raise RuntimeError(CommandResult(None, 255, b"sh -c 'long script'", b"",
                                             b"ssh: connect to host h port 22: Connection refused\r\n"))

    with pytest.raises(TargetError) as raised:
        CountingHost(Host(), "ssh://h").run("true")
    assert raised.value.message == "ssh://h: cannot connect: ssh: connect to host h port 22: Connection refused"


def test_a_command_imports_only_its_own_module():
    """`devenv up` does not import the other commands' modules (startup time: issue 13)."""
    code = ("import sys; from devenv.cli import cli; cli.get_command(None, 'up'); "
            "print(sorted(m for m in sys.modules if m.startswith('devenv.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out))
    assert "devenv.cli.env" in loaded
    assert not loaded & {"devenv.cli.catalogue", "devenv.cli.dataset", "devenv.cli.editor", "devenv.cli.trying"}, loaded


def test_every_lazy_entry_names_its_command():
    from devenv.cli import LAZY_COMMANDS
    for name, command in all_commands().items():
        assert command.name == name, (name, command.name, LAZY_COMMANDS[name])
