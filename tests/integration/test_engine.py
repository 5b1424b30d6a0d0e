"""devenv on the real engine, with a tiny stack that builds in seconds."""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from devenv import names
from tests.conftest import write
from tests.integration.conftest import TEST_LABEL
from tests.ports import free_port

pytestmark = pytest.mark.integration


def containers(engine, profile):
    return {c.labels[names.SERVICE]: c for c in
            engine.containers.list(all=True, filters={"label": [f"{names.PROFILE}={profile}", TEST_LABEL]})}


def test_connect_reaches_the_engine_and_names_an_unreachable_one(engine, monkeypatch, tmp_path):
    """devenv's own engine.connect: the running engine answers through it; a DOCKER_HOST
    where nothing listens is an EngineUnreachableError naming the address and why."""
    from devenv.engine import connect
    from devenv.errors import EngineUnreachableError
    assert connect(timeout=30).client.info()["ID"] == engine.info()["ID"]

    socket_path = tmp_path / "no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    with pytest.raises(EngineUnreachableError) as err:
        connect(timeout=5)
    assert f"unix://{socket_path}" in str(err.value) and "no engine is listening there" in str(err.value)

    port = free_port()   # nothing listens there: the kernel refuses the connection
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    with pytest.raises(EngineUnreachableError) as err:
        connect(timeout=5)
    assert f"tcp://127.0.0.1:{port}" in str(err.value) and "connection refused" in str(err.value)


def test_up_status_exec_logs_down(tiny, engine):
    r = tiny("up", "t-stack")
    assert "created: store, front" in r.stdout or "created: front, store" in r.stdout
    assert "front" in r.stdout and f"tcp://127.0.0.1:{tiny.port}" in r.stdout

    st = json.loads(tiny("status", "t-stack", "--json").stdout)
    rows = {s["service"]: s for s in st["services"]}
    assert rows["store"]["state"] == "running" and rows["store"]["health"] == "healthy"
    assert rows["front"]["health"] == "no healthcheck"
    assert rows["store"]["image"].startswith("devenv/store:")
    cs = containers(engine, "t-stack")
    assert cs["store"].name == tiny.container("t-stack", "store")
    assert cs["store"].labels[names.MANAGED] == "true"

    r = tiny("exec", "store", "-p", "t-stack", "--", "cat", "/etc/greeting.txt")
    assert r.stdout == "hello from store: hello\n"
    r = tiny("exec", "store", "-p", "t-stack", "--", "sh", "-c", "echo out; echo err >&2; exit 42", check=False)
    assert r.returncode == 42 and r.stdout == "out\n" and "err" in r.stderr

    r = tiny("logs", "store", "-p", "t-stack", "--tail", "5")
    assert "store starting" in r.stdout

    # containers reach each other by service name on the stack network
    r = tiny("exec", "front", "-p", "t-stack", "--", "getent", "hosts", "store")
    assert r.returncode == 0 and r.stdout.strip()

    r = tiny("down", "t-stack")
    assert f"kept volumes: {tiny.volume('t-stack', 'data')}" in r.stdout
    assert containers(engine, "t-stack") == {}
    assert not engine.networks.list(names=[f"{tiny.name}-t-stack"])
    assert tiny("status", "t-stack").stdout.startswith("t-stack: not running")


def test_idempotent_up_changes_nothing(tiny, engine):
    tiny("up", "t-stack")
    ids = {s: c.id for s, c in containers(engine, "t-stack").items()}
    r = tiny("up", "t-stack")
    assert "up to date, nothing to do" in r.stdout
    assert {s: c.id for s, c in containers(engine, "t-stack").items()} == ids


def test_changed_config_rebuilds_and_recreates_one_service(tiny, engine):
    tiny("up", "t-stack")
    before = {s: (c.id, c.image.tags[0]) for s, c in containers(engine, "t-stack").items()}
    marker = uuid.uuid4().hex  # new content, so the image cannot exist from an earlier run
    write(tiny.project / "images/tiny/greeting.txt.j2", f"changed {marker} {{{{ service.name }}}}\n")
    r = tiny("up", "t-stack")
    assert "built: devenv/store:" in r.stdout and "front" not in r.stdout.split("built:")[1].split(";")[0]
    assert "created: store" in r.stdout and "front" not in r.stdout.split("created:")[1].split("\n")[0]
    after = {s: (c.id, c.image.tags[0]) for s, c in containers(engine, "t-stack").items()}
    assert after["front"] == before["front"]
    assert after["store"][0] != before["store"][0] and after["store"][1] != before["store"][1]
    assert tiny("exec", "store", "-p", "t-stack", "--", "cat", "/etc/greeting.txt").stdout == f"changed {marker} store\n"


def test_settings_change_recreates_without_rebuild(tiny, engine):
    tiny("up", "t-stack")
    before = {s: c.id for s, c in containers(engine, "t-stack").items()}
    text = (tiny.project / "profiles/t-stack.yaml").read_text().replace(
        "    depends_on: [store]", "    depends_on: [store]\n    environment: {NEW: '1'}")
    write(tiny.project / "profiles/t-stack.yaml", text)
    r = tiny("up", "t-stack")
    assert "built" not in r.stdout and "created: front" in r.stdout
    after = {s: c.id for s, c in containers(engine, "t-stack").items()}
    assert after["store"] == before["store"] and after["front"] != before["front"]


def test_volumes_survive_down_unless_asked(tiny, engine):
    tiny("up", "t-stack")
    tiny("exec", "store", "-p", "t-stack", "--", "sh", "-c", "echo precious > /data/keep")
    tiny("down", "t-stack")
    assert engine.volumes.get(tiny.volume("t-stack", "data"))
    tiny("up", "t-stack")
    assert tiny("exec", "store", "-p", "t-stack", "--", "cat", "/data/keep").stdout == "precious\n"
    r = tiny("down", "t-stack", "--volumes")
    assert "1 volumes" in r.stdout
    assert not engine.volumes.list(filters={"name": tiny.volume("t-stack", "data")})


def test_stopped_container_is_restarted_by_up(tiny, engine):
    tiny("up", "t-stack")
    containers(engine, "t-stack")["store"].stop(timeout=1)
    r = tiny("up", "t-stack")
    assert "started: store" in r.stdout
    assert containers(engine, "t-stack")["store"].status == "running"


def test_port_conflict_names_port_and_container(tiny, engine):
    tiny("up", "t-stack")
    r = tiny("up", "t-conflict", check=False)
    assert r.returncode == 2
    assert f"127.0.0.1:{tiny.port} is already taken by container {tiny.container('t-stack', 'front')}" in r.stderr
    assert "Traceback" not in r.stderr


def test_port_conflict_with_a_host_process(tiny):
    with socket.socket() as s:
        s.bind(("127.0.0.1", tiny.port))
        s.listen()
        r = tiny("up", "t-stack", check=False)
    assert r.returncode == 2 and f"{tiny.port} is already taken by another process" in r.stderr


def test_unhealthy_service_fails_with_log_tail(tiny):
    r = tiny("up", "t-unhealthy", "--timeout", "60", check=False)
    assert r.returncode == 1, r.stderr
    assert "service sick" in r.stderr and "failed its healthcheck" in r.stderr
    assert "the-reason-it-fails" in r.stderr


def test_exited_service_fails_with_exit_code(tiny):
    r = tiny("up", "t-exits", "--timeout", "60", check=False)
    assert r.returncode == 1
    assert "exited with code 3" in r.stderr and "boom" in r.stderr


def test_still_starting_times_out(tiny):
    r = tiny("up", "t-slow", "--timeout", "3", check=False)
    assert r.returncode == 1
    assert "still starting" in r.stderr and "slow" in r.stderr


def test_exec_on_unknown_service_is_a_user_error(tiny):
    tiny("up", "t-stack")
    r = tiny("exec", "nosuch", "-p", "t-stack", "--", "true", check=False)
    assert r.returncode == 2 and "no container for service `nosuch`" in r.stderr and "front, store" in r.stderr


def test_pinned_version_missing_from_archive(tiny, engine):
    write(tiny.project / "profiles/t-pin.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  pinned:
    recipe: pinned
    packages: {less: "9.9.9-nope"}
""")
    write(tiny.project / "images/pinned/Dockerfile.j2", '{% extends "_base/Dockerfile.j2" %}\n')
    # _base/Dockerfile.j2 comes from devenv's recipe library
    r = tiny("up", "t-pin", check=False)
    assert r.returncode == 2, r.stderr
    assert "package less is pinned to 9.9.9-nope" in r.stderr
    # what the archive has today, asked of apt in the same base image (it moves on: no fixed version here)
    assert f"Available: {', '.join(archive_versions(engine, 'less'))}" in r.stderr, r.stderr


def archive_versions(engine, package: str) -> list[str]:
    """The versions of ``package`` in the archive of the bookworm base image devenv built, newest first."""
    bases = [t for image in engine.images.list(name="devenv/base-debian") for t in image.tags
             if t.startswith("devenv/base-debian:bookworm-")]
    assert bases, "devenv built no bookworm base image"
    key, _, value = TEST_LABEL.partition("=")
    out = engine.containers.run(bases[0], ["sh", "-c", f"apt-get update -qq >/dev/null && apt-cache madison {package}"],
                                remove=True, labels={key: value}).decode()
    versions = []
    for line in out.splitlines():   # "      less |    590-2.1~deb12u2 | http://deb.debian.org/... Packages"
        version = line.split("|")[1].strip()
        if version not in versions:
            versions.append(version)
    assert versions, out
    return versions


def test_ctrl_c_during_up_keeps_volumes_and_next_up_resumes(tiny, engine):
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL}
    write(tiny.project / "profiles/t-ctrlc.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  db:
    recipe: tiny
    volumes: {data: /data}
    healthcheck: {test: ["CMD", "test", "-f", "/data/ready"], interval: 500ms, retries: 3, start_period: 10m}
""")
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "up", "t-ctrlc"], cwd=tiny.project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # synchronise on the progress output: PlainReporter's "==> wait for db" means the
    # container is created and started and up is waiting for its health (start_period: 10m)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen = []
    while "==> wait for db\n" not in seen:
        seen.append(lines.get(timeout=300))    # queue.Empty: no progress for 5 minutes
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(seen) + "".join(lines.queue)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: t-ctrlc is partly up. Nothing is lost: volumes are kept, " \
           "and `devenv up t-ctrlc` resumes where this one stopped." in err, err
    assert engine.volumes.get(tiny.volume("t-ctrlc", "data"))
    db = containers(engine, "t-ctrlc")["db"]
    assert db.status == "running"
    tiny("exec", "db", "-p", "t-ctrlc", "--", "touch", "/data/ready")
    r = tiny("up", "t-ctrlc")       # resumes: waits for the same container to be healthy
    assert r.stdout.startswith("t-ctrlc: up to date, nothing to do"), r.stdout
    after = containers(engine, "t-ctrlc")["db"]
    assert after.id == db.id and after.attrs["State"]["Health"]["Status"] == "healthy"


def test_shell_runs_an_interactive_shell_in_the_service(tiny):
    tiny("up", "t-stack")
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL}
    r = subprocess.run([sys.executable, "-m", "devenv", "shell", "store", "-p", "t-stack"], cwd=tiny.project,
                       env=env, input="cat /etc/greeting.txt; echo shell=$0; exit 3\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "hello from store: hello" in r.stdout and "shell=bash" in r.stdout
    r = subprocess.run([sys.executable, "-m", "devenv", "shell", "nosuch", "-p", "t-stack"], cwd=tiny.project,
                       env=env, input="", capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no container for service `nosuch`" in r.stderr


def test_logs_follow_streams_new_lines(tiny):
    tiny("up", "t-stack")
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL}
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "logs", "store", "-p", "t-stack", "-f"],
                            cwd=tiny.project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "store starting"
        tiny("exec", "store", "-p", "t-stack", "--", "sh", "-c", "echo late-line > /proc/1/fd/1")
        assert proc.stdout.readline().strip() == "late-line"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
