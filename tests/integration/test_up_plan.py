"""`up` plans first: --dry-run, every taken port named before anything starts, and the
rendered compose file run by Debian's docker-compose 1.29."""

import shutil
import socket
import subprocess
import time
import uuid

import pytest

from devenv import names

pytestmark = pytest.mark.integration


def containers(engine, profile):
    return engine.containers.list(all=True, filters={"label": f"{names.PROFILE}={profile}"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_profile(tiny, ports: list[int]) -> str:
    """A copy of t-stack under a unique name, with its own host ports."""
    name = f"t-plan-{uuid.uuid4().hex[:8]}"
    text = (tiny.project / "profiles/t-stack.yaml").read_text().replace(f'ports: ["127.0.0.1:{tiny.port}:8000"]', "ports: [%s]" % ", ".join(
        f'"127.0.0.1:{p}:{8000 + i}"' for i, p in enumerate(ports)))
    text = text.replace("  store:\n    recipe: tiny\n", f"  store:\n    recipe: tiny\n    ports: [\"127.0.0.1:{ports[-1] + 1}:7000\"]\n")
    (tiny.project / f"profiles/{name}.yaml").write_text(text)
    return name


def test_dry_run_prints_the_plan_and_changes_nothing(tiny, engine):
    profile = own_profile(tiny, [free_port()])
    r = tiny("up", profile, "--dry-run")
    assert "up would:" in r.stdout
    assert "wave 1: create store" in r.stdout and "wave 2: create front" in r.stdout
    assert f"create volume {tiny.volume(profile, 'data')}" in r.stdout
    assert containers(engine, profile) == []
    assert not engine.volumes.list(filters={"label": f"{names.PROFILE}={profile}"})
    tiny("up", profile)
    r = tiny("up", profile, "--dry-run")
    assert r.stdout.strip() == f"{profile}: up to date, nothing to do"


def test_taken_ports_are_all_named_and_nothing_starts(tiny, engine):
    a, b = free_port(), free_port()
    profile = own_profile(tiny, [a, b])
    held = []
    try:
        for port in (a, b):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        r = tiny("up", profile, check=False)
    finally:
        for s in held:
            s.close()
    assert r.returncode == 2, r.stderr
    assert f"127.0.0.1:{a}" in r.stderr and f"127.0.0.1:{b}" in r.stderr
    assert "nothing was started" in r.stderr and "Traceback" not in r.stderr
    # before the fix, store (wave 1) was started and kept running
    assert containers(engine, profile) == []
    r = tiny("up", profile)   # once the ports are free, up works
    assert "created:" in r.stdout


def test_rendered_compose_file_runs_with_docker_compose(tiny, engine, tmp_path):
    assert shutil.which("docker-compose"), "Debian's docker-compose is missing (scripts/test installs it)"
    port = free_port()
    profile = own_profile(tiny, [port])
    tiny("up", profile, "--dry-run")         # the stack renders
    tiny("up", profile)                      # builds the images (compose would need the base image)
    tiny("down", profile, "--volumes")
    out = tmp_path / "rendered"
    tiny("render", profile, "-o", str(out))
    project = names.project(names.Scope(tiny.name, profile))   # the tiny project is named uniquely
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin"}
    try:
        r = subprocess.run(["docker-compose", "-f", str(out / "compose.yaml"), "up", "-d"],
                           capture_output=True, text=True, env=env, cwd=out, timeout=300)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 60
        while True:
            found = {c.labels["com.docker.compose.service"]: c for c in engine.containers.list(
                filters={"label": f"com.docker.compose.project={project}"})}
            if set(found) == {"store", "front"} and found["store"].attrs["State"]["Health"]["Status"] == "healthy":
                break
            assert time.monotonic() < deadline, f"compose stack not healthy: {found}"
            time.sleep(0.5)
            for c in found.values():
                c.reload()
        assert found["store"].labels[names.CONFIG_HASH]          # devenv's labels came through
        ports = found["front"].attrs["NetworkSettings"]["Ports"]["8000/tcp"]
        assert ports == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        # the volume is the one devenv uses: same name
        assert engine.volumes.get(tiny.volume(profile, "data"))
    finally:
        subprocess.run(["docker-compose", "-f", str(out / "compose.yaml"), "down", "-v"],
                       capture_output=True, env=env, cwd=out, timeout=120)
        for v in engine.volumes.list(filters={"label": f"{names.PROFILE}={profile}"}):
            v.remove(force=True)
