"""paramiko is not imported with the Docker SDK, and works once an ssh engine needs it
(devenv/engine/lazy_ssh.py)."""

import subprocess
import sys


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_the_engine_and_the_sdk_runs_no_paramiko_until_an_ssh_engine_needs_it():
    out = run("import sys, devenv.engine, docker, docker.transport.sshconn as ssh\n"
              "print('paramiko.transport' in sys.modules)\n"
              "client = ssh.paramiko.SSHClient()\n"
              "import paramiko\n"
              "print('paramiko.transport' in sys.modules, isinstance(client, paramiko.SSHClient), "
              "issubclass(paramiko.SSHException, Exception))\n")
    assert out.split() == ["False", "True", "True", "True"]


def test_a_module_loaded_already_or_not_installed_is_left_alone():
    out = run("import sys, paramiko\n"
              "from devenv.engine.lazy_ssh import defer\n"
              "before = sys.modules['paramiko']; defer(); defer('no_such_module_here')\n"
              "print(sys.modules['paramiko'] is before, 'no_such_module_here' in sys.modules)\n")
    assert out.split() == ["True", "False"]
