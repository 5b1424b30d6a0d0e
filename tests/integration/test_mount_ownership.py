"""File ownership on a source mount, both ways (README "File ownership"), on the real
engine with a `devenv init --template lamp` project: PHP-FPM writes a file into the
mounted app/, and the owner of the tree edits and deletes it."""

import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import Devenv, cleanup
from tests.ports import free_port

pytestmark = pytest.mark.integration

OWNER = 4321   # the host user who owns the working tree (not root, not www-data)
WRITER = """<?php
$ok = @file_put_contents(__DIR__ . '/written-by-php.txt', "from php\\n");
echo $ok === false ? 'denied' : 'written';
"""


def get(port: int, path: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def as_owner(*cmd: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, user=OWNER, group=OWNER, capture_output=True, text=True)


@pytest.fixture
def work():
    """A directory the owner can reach (pytest's tmp_path is below a root-only directory)."""
    path = Path(tempfile.mkdtemp(prefix="devenv-own-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_files_php_writes_into_the_mount_stay_the_tree_owners(work, engine):
    root = work / f"own-{uuid.uuid4().hex[:6]}"
    Devenv(work, cache=work / "cache")("init", str(root), "--template", "lamp")
    port = free_port()
    profile = root / "profiles/small-db.yaml"
    profile.write_text(profile.read_text().replace(
        "  web:\n    mounts: {/srv/app: app}\n", f"  web:\n    mounts: {{/srv/app: app}}\n    ports: [\"127.0.0.1:{port}:80\"]\n"))
    (root / "app/public/own.php").write_text(WRITER)
    subprocess.run(["chown", "-R", f"{OWNER}:{OWNER}", str(root / "app")], check=True)
    dv = Devenv(root, cache=work / "cache")
    written = root / "app/public/written-by-php.txt"
    try:
        dv("up")
        # the default pool user (www-data, uid 33) cannot write into a tree that is the owner's only
        assert get(port, "/own.php") == "denied"
        assert not written.exists()

        # the development profile runs the workers as the tree's owner
        profile.write_text(profile.read_text().replace(
            "vars:\n", f'vars:\n  php_pool_user: "{OWNER}"\n  php_pool_group: "{OWNER}"\n', 1))
        first = dv("up").stdout.splitlines()[0]
        assert "created: php" in first and "web" not in first, first     # php only: a config of its image
        assert get(port, "/own.php") == "written"
        st = written.stat()
        assert (st.st_uid, st.st_gid) == (OWNER, OWNER)

        # the owner edits and deletes it as usual
        edit = as_owner("sh", "-c", "echo 'edited on the host' >> written-by-php.txt", cwd=written.parent)
        assert edit.returncode == 0, edit.stderr
        assert written.read_text() == "from php\nedited on the host\n"
        rm = as_owner("rm", "written-by-php.txt", cwd=written.parent)
        assert rm.returncode == 0, rm.stderr
        assert not written.exists()
    finally:
        dv("down", "--volumes", check=False)
        cleanup(engine)
