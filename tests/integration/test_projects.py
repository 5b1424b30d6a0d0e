"""Projects on the real engine: two projects from one template side by side, live source
mounts, watch, instances of one profile, and a project name two directories claim."""

import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from devenv import names
from tests.integration.conftest import TEST_LABEL, Devenv
from tests.integration.lines import Lines
from tests.ports import free_port

pytestmark = pytest.mark.integration


def get(port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.read().decode()


def set_web_port(root, port: int) -> None:
    path = root / "profiles/small-db.yaml"
    path.write_text(path.read_text().replace("  web:\n    mounts: {/srv/app: app}\n",
                                             f"  web:\n    mounts: {{/srv/app: app}}\n    ports: [\"127.0.0.1:{port}:80\"]\n"))


def containers(engine, project: str, profile: str = "small-db", instance: str = "default"):
    scope = names.Scope(project, profile, instance)
    return {c.labels[names.SERVICE]: c for c in engine.containers.list(all=True, filters={"label": scope.filters()})
            if names.CONFIG_HASH in c.labels}


def scalar(engine, container, sql: str) -> str:
    r = engine.containers.get(container).exec_run(["mariadb", "-uroot", "-N", "-B", "shop", "-e", sql])
    assert r.exit_code == 0, r.output
    return r.output.decode(errors="replace").strip()


@pytest.fixture(scope="module")
def two(tmp_path_factory, engine):
    """Two lamp projects made by `devenv init`, same profile names, different web ports, both up."""
    base = tmp_path_factory.mktemp("projects")
    cache = base / "cache"
    out = {}
    for label in ("alpha", "beta"):
        root = base / f"shop-{label}-{uuid.uuid4().hex[:6]}"
        init = Devenv(base, cache=cache)("init", str(root), "--template", "lamp")
        assert f"created project {root.name}" in init.stdout
        port = free_port()
        set_web_port(root, port)
        dv = Devenv(root, cache=cache)
        dv("up")                                   # the project's default profile: small-db
        out[label] = (dv, root, port)
    yield out
    from tests.integration.conftest import cleanup
    cleanup(engine)


def test_two_projects_with_the_same_profiles_run_side_by_side(two, engine):
    (a, root_a, port_a), (b, root_b, port_b) = two["alpha"], two["beta"]
    assert "shop" in get(port_a) and "shop" in get(port_b)
    ca, cb = containers(engine, root_a.name), containers(engine, root_b.name)
    assert set(ca) == set(cb) == {"db", "cache", "php", "web"}
    assert not {c.id for c in ca.values()} & {c.id for c in cb.values()}
    assert ca["db"].name == f"{root_a.name}-small-db-db"
    assert ca["web"].labels[names.PROJECT_ROOT] == str(root_a.resolve())
    # status of one project shows its own stack only
    st = a("status", "--json").stdout
    assert root_a.name in st and root_b.name not in st


def test_mounted_source_edit_is_served_within_a_second(two):
    a, root, port = two["alpha"]
    page = root / "app/public/live.php"
    try:
        for i in range(3):
            marker = f"devenv-live-{uuid.uuid4().hex[:8]}"
            page.write_text(f"<?php echo '{marker}';\n")
            start = time.monotonic()
            while True:
                try:
                    if marker in get(port, "/live.php"):
                        break
                except OSError:
                    pass
                assert time.monotonic() - start < 1.0, f"edit {i} not served within 1 s"
                time.sleep(0.02)
    finally:
        page.unlink(missing_ok=True)


def test_verify_knows_a_mount_is_the_working_tree(two):
    import json
    a, root, port = two["alpha"]
    report = json.loads(a("verify", "--no-user-tests", "--json").stdout)
    checks = {(name, r["check"]): r for name, s in report["services"].items() for r in s["results"]}
    for service in ("php", "web"):
        r = checks[(service, "mount /srv/app")]
        assert r["ok"] and str((root / "app").resolve()) in r["expected"], r


def test_instances_of_one_profile_side_by_side(two, engine):
    a, root, port = two["alpha"]
    r = a("up", "--name", "feature")
    # the profile's port is taken by the first instance: the second one gets a free port, and says where
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)/", r.stdout)
    assert urls and int(urls[0]) != port, r.stdout
    other = int(urls[0])
    assert "shop" in get(other)
    first, second = containers(engine, root.name), containers(engine, root.name, instance="feature")
    assert second["db"].name == f"{root.name}-small-db--feature-db"
    scalar(engine, second["db"].name, "UPDATE users SET display_name = 'only-in-feature' WHERE id = 1")
    assert scalar(engine, second["db"].name, "SELECT display_name FROM users WHERE id = 1") == "only-in-feature"
    assert scalar(engine, first["db"].name, "SELECT display_name FROM users WHERE id = 1") != "only-in-feature"
    # the port is kept across restarts
    a("down", "--name", "feature")
    r = a("up", "--name", "feature")
    assert f"http://127.0.0.1:{other}/" in r.stdout
    ls = a("ls").stdout
    assert re.search(rf"{root.name}\s+small-db\s+feature\s+running 4/4", ls), ls
    a("down", "--name", "feature", "--volumes")
    assert containers(engine, root.name, instance="feature") == {}
    assert "shop" in get(port)                      # the first instance is untouched


def test_down_volumes_of_one_project_leaves_the_other(two, engine):
    (a, root_a, port_a), (b, root_b, port_b) = two["alpha"], two["beta"]
    db_b = containers(engine, root_b.name)["db"].name
    users_b = scalar(engine, db_b, "SELECT COUNT(*) FROM users")
    a("down", "--volumes")
    assert containers(engine, root_a.name) == {}
    assert not engine.volumes.list(filters={"label": f"{names.PROJECT}={root_a.name}"})
    assert engine.volumes.get(names.volume_name(names.Scope(root_b.name, "small-db"), "db-data"))
    assert scalar(engine, db_b, "SELECT COUNT(*) FROM users") == users_b
    assert "shop" in get(port_b)


def test_a_project_name_claimed_by_two_directories_is_refused(tiny, engine, tmp_path_factory):
    tiny("up", "t-stack")
    other = tmp_path_factory.mktemp("clash")
    import shutil
    shutil.copytree(tiny.project / "profiles", other / "profiles")
    shutil.copytree(tiny.project / "images", other / "images")
    (other / "devenv.yaml").write_text(f"name: {tiny.name}\n")     # the same name as the tiny project
    r = Devenv(other, cache=tiny.cache)("up", "t-stack", check=False)
    assert r.returncode == 2, r.stderr
    assert f"project name `{tiny.name}` is already used on this engine by" in r.stderr and str(tiny.project) in r.stderr
    r = Devenv(other, cache=tiny.cache)("down", "t-stack", "--volumes", check=False)
    assert r.returncode == 2
    assert engine.volumes.get(tiny.volume("t-stack", "data"))        # nothing of the other's was touched


def test_bad_mounts_start_nothing(tiny, engine, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (tiny.project / "escape").symlink_to(outside)
    cases = {"../": "is outside the project", "./nosuch": "does not exist",
             "./escape": "leads out of the project through a symlink"}
    for source, message in cases.items():
        (tiny.project / "profiles/t-mount.yaml").write_text(
            (tiny.project / "profiles/t-stack.yaml").read_text().replace(
                "    volumes: {data: /data}\n", f"    volumes: {{data: /data}}\n    mounts: {{/src: \"{source}\"}}\n"))
        r = tiny("up", "t-mount", check=False)
        assert r.returncode == 2, r.stderr
        assert "profiles/t-mount.yaml:" in r.stderr and message in r.stderr and "Traceback" not in r.stderr
    assert not engine.containers.list(all=True, filters={"label": f"{names.PROFILE}=t-mount"})


def test_watch_rebuilds_only_the_changed_service_and_survives_an_error(tiny, engine):
    tiny("up", "t-stack")
    before = {s: c.id for s, c in containers(engine, tiny.name, "t-stack").items()}
    # a template only `front` uses
    (tiny.project / "images/tiny/front.txt.j2").write_text("front v1\n")
    profile = tiny.project / "profiles/t-stack.yaml"
    original = profile.read_text()
    profile.write_text(original.replace("  front:\n    recipe: tiny\n",
                                        "  front:\n    recipe: tiny\n    files: {/etc/front.txt: tiny/front.txt.j2}\n"))
    env = {"DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(tiny.cache), "PYTHONUNBUFFERED": "1"}
    import os
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "watch", "t-stack"], cwd=tiny.project,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for = Lines(proc).wait_for

    try:
        wait_for(r"^watching ")
        ids = {s: c.id for s, c in containers(engine, tiny.name, "t-stack").items()}
        assert ids["store"] == before["store"]
        (tiny.project / "images/tiny/front.txt.j2").write_text(f"front {uuid.uuid4().hex}\n")
        line = wait_for(r" (ok|error): ")
        assert "ok:" in line and "recreated front" in line and "store" not in line, line
        after = {s: c.id for s, c in containers(engine, tiny.name, "t-stack").items()}
        assert after["store"] == ids["store"] and after["front"] != ids["front"]
        # an error in the edited profile is shown with file and line, and watching goes on
        profile.write_text(profile.read_text().replace("recipe: tiny\n    files", "recipe: [tiny\n    files", 1))
        line = wait_for(r" (ok|error): ")
        assert "error:" in line and "t-stack.yaml:" in line, line
        profile.write_text(original)
        line = wait_for(r" (ok|error): ")
        assert "ok:" in line, line
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 130
