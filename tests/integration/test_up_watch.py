"""`devenv up --watch` on the real engine: up's own report, then the loop of `devenv watch`
(one shared function): a template edit recreates only the service that uses it, Ctrl-C
stops watching and leaves the stack running."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from devenv import names
from tests.integration.conftest import TEST_LABEL
from tests.integration.lines import Lines
from tests.ports import free_port

pytestmark = pytest.mark.integration


def containers(engine, project: str, instance: str) -> dict:
    scope = names.Scope(project, "t-stack", instance)
    return {c.labels[names.SERVICE]: c for c in engine.containers.list(all=True, filters={"label": scope.filters()})
            if names.CONFIG_HASH in c.labels}


def test_up_watch_reports_up_then_keeps_the_stack_in_step(tiny, engine):
    instance = f"w-{uuid.uuid4().hex[:8]}"
    project = f"upwatch-{uuid.uuid4().hex[:8]}"     # its own project: nothing another test left claims it
    (tiny.project / "devenv.yaml").write_text(f"name: {project}\n")
    profile = tiny.project / "profiles/t-stack.yaml"
    template = tiny.project / "images/tiny/front.txt.j2"
    template.write_text("front v1\n")
    profile.write_text(profile.read_text()
                       .replace("127.0.0.1:18081:8000", f"127.0.0.1:{free_port()}:8000")
                       .replace("  front:\n    recipe: tiny\n",
                                "  front:\n    recipe: tiny\n    files: {/etc/front.txt: tiny/front.txt.j2}\n"))
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(tiny.cache), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "up", "t-stack", "--watch", "--name", instance],
                            cwd=tiny.project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Lines(proc)
    wait_for = out.wait_for

    try:
        # up's own summary first (what a plain `devenv up` prints), then the watch loop
        wait_for(rf"^t-stack --name {instance}: .*created: ")
        wait_for(r"^watching ")
        ids = {s: c.id for s, c in containers(engine, project, instance).items()}
        assert set(ids) == {"store", "front"}
        assert all(c.status == "running" for c in containers(engine, project, instance).values())
        template.write_text(f"front {uuid.uuid4().hex}\n")
        line = wait_for(r" (ok|error): ")
        assert "ok:" in line and "images/tiny/front.txt.j2" in line and "recreated front" in line \
            and "store" not in line, line
        after = containers(engine, project, instance)
        assert after["store"].id == ids["store"] and after["front"].id != ids["front"]
        served = after["front"].exec_run(["cat", "/etc/front.txt"]).output.decode()
        assert served.strip() == template.read_text().strip()     # Jinja drops the last newline
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=30)
            out.seen.append(rest)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 130, out.text()
    assert f"devenv down t-stack --name {instance}" in out.text()
    # Ctrl-C stops watching, not the stack
    assert all(c.status == "running" for c in containers(engine, project, instance).values())
    tiny("down", "t-stack", "--name", instance, "--volumes")
    assert containers(engine, project, instance) == {}
