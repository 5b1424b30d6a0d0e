"""devenv try on the real engine, in a git repository made by `devenv init --template lamp`:
a change that breaks a test, its fix, uncommitted and untracked files, the developer's tree
and running instance untouched, a change that does not apply, and Ctrl-C."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devenv import names
from tests.integration.conftest import TEST_LABEL, Devenv, cleanup
from tests.ports import free_port

pytestmark = pytest.mark.integration

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_OPTIONAL_LOCKS": "0"}
PRICE_LINE = "return number_format($cents / 100, 2, '.', ',') . ' ' . $currency;"
BROKEN_LINE = "return number_format($cents / 100, 2, ',', '.') . ' ' . $currency;"
EXTRA_TEST = """<?php
declare(strict_types=1);
use PHPUnit\\Framework\\TestCase;
final class UntrackedTest extends TestCase
{
    public function testAnUntrackedFileIsPartOfTheChange(): void { $this->assertSame('1.00 EUR', format_price(100, 'EUR')); }
}
"""


def git(root: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def fingerprint(root: Path) -> dict:
    """The developer's tree and index: every file's checksum, the index file, git status."""
    files = git(root, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    out = {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files if f and (root / f).is_file()}
    out[".git/index"] = hashlib.sha256((root / ".git/index").read_bytes()).hexdigest()
    out["status"] = git(root, "status", "--porcelain", "--untracked-files=all")
    return out


def try_objects(engine, project: str) -> list[str]:
    flt = [f"{names.PROJECT}={project}"]
    out = [c.name for c in engine.containers.list(all=True, filters={"label": flt})
           if c.labels.get(names.INSTANCE, "").startswith("try-")]
    out += [v.name for v in engine.volumes.list(filters={"label": flt})
            if (v.attrs.get("Labels") or {}).get(names.INSTANCE, "").startswith("try-")]
    return out


def dev_containers(engine, project: str, profile: str = "small-db") -> dict:
    scope = names.Scope(project, profile)
    return {c.name: (c.id, c.status) for c in engine.containers.list(all=True, filters={"label": scope.filters()})}


def project_repo(base: Path, template: str, edit) -> tuple[Devenv, Path]:
    """``devenv init --template`` in a git repository (branch main, one commit), ``edit(root)``
    first (a free host port); its default instance up, with a snapshot that tries clone."""
    root = base / f"{template}-try-{uuid.uuid4().hex[:6]}"
    Devenv(base, cache=base / "cache")("init", str(root), "--template", template)
    edit(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    dv = Devenv(root, cache=base / "cache")
    dv("up")
    dv("snapshot", "save")
    return dv, root


@pytest.fixture(scope="module")
def shop(tmp_path_factory, engine):
    """A lamp project in a git repository, its default instance up with a snapshot."""
    def free_web_port(root: Path) -> None:
        profile = root / "profiles/small-db.yaml"
        profile.write_text(profile.read_text().replace(
            "  web:\n    mounts: {/srv/app: app}\n",
            f"  web:\n    mounts: {{/srv/app: app}}\n    ports: [\"127.0.0.1:{free_port()}:80\"]\n"))

    yield project_repo(tmp_path_factory.mktemp("try"), "lamp", free_web_port)
    cleanup(engine)


def test_a_breaking_change_fails_and_its_fix_passes(shop, engine, tmp_path):
    dv, root = shop
    git(root, "checkout", "-q", "-b", "feature")
    shop_php = root / "app/src/shop.php"
    assert PRICE_LINE in shop_php.read_text()
    shop_php.write_text(shop_php.read_text().replace(PRICE_LINE, BROKEN_LINE))          # uncommitted
    (root / "app/tests/unit/UntrackedTest.php").write_text(EXTRA_TEST)                  # untracked
    before, running = fingerprint(root), dev_containers(engine, root.name)
    status_before = dv("status").stdout
    report = tmp_path / "junit.xml"

    r = dv("try", "--junit", str(report), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL FormattingTest::testFormatsPricesFromCents" in r.stdout
    assert "'12,34 EUR'" in r.stdout                       # the failure's output
    cases = {tc.get("name"): tc for tc in ET.parse(report).getroot().iter("testcase")}
    assert cases["testFormatsPricesFromCents"].find("failure") is not None
    assert cases["testAnUntrackedFileIsPartOfTheChange"].find("failure") is not None   # the untracked file ran
    assert cases["testHomePageShowsTheNewestListingsFromTheDatabase"].find("failure") is None
    # the developer's tree, index and running instance are as they were; nothing of the try is left
    assert fingerprint(root) == before
    assert dev_containers(engine, root.name) == running and dv("status").stdout == status_before
    assert try_objects(engine, root.name) == []
    assert git(root, "worktree", "list").count("\n") == 1

    shop_php.write_text(shop_php.read_text().replace(BROKEN_LINE, PRICE_LINE))          # the fix
    git(root, "add", "app/tests/unit/UntrackedTest.php")
    git(root, "commit", "-qm", "an extra test")                                        # committed on the branch
    r = dv("try", "--junit", str(report), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"passed: 1\d tests in 2 part", r.stdout), r.stdout
    cases = {tc.get("name"): tc for tc in ET.parse(report).getroot().iter("testcase")}
    assert cases["testAnUntrackedFileIsPartOfTheChange"].find("failure") is None
    assert "testHomePageShowsTheNewestListingsFromTheDatabase" in cases
    assert try_objects(engine, root.name) == []
    git(root, "checkout", "-q", "main")


def test_a_change_that_does_not_apply_names_the_file(shop, engine):
    dv, root = shop
    git(root, "checkout", "-q", "-b", "conflicting", "main")
    key = root / "app/src/shop.php"
    git(root, "checkout", "-q", "main")
    key.write_text(key.read_text().replace("shop:front:listings:v1", "shop:front:listings:v2"))
    git(root, "commit", "-qam", "main moves on")
    git(root, "checkout", "-q", "conflicting")
    key.write_text(key.read_text().replace("shop:front:listings:v1", "shop:front:listings:v3"))   # same line
    before = fingerprint(root)
    r = dv("try", "--base", "main", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not apply to main" in r.stderr and "app/src/shop.php" in r.stderr
    assert "Traceback" not in r.stderr
    assert fingerprint(root) == before
    assert try_objects(engine, root.name) == [] and git(root, "worktree", "list").count("\n") == 1
    git(root, "checkout", "-q", "--", "app/src/shop.php")
    git(root, "checkout", "-q", "main")


def test_ctrl_c_during_a_try_removes_its_instance_and_worktree(shop, engine):
    dv, root = shop
    env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(dv.cache)}
    env.pop("DEVENV_PROFILES_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "try"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worktree, seen = None, []
    for line in proc.stderr:                     # synchronised on the progress lines
        seen.append(line)
        m = re.match(r"\s+worktree (/\S+)$", line)
        worktree = Path(m.group(1)) if m else worktree
        if line.startswith("==> wait for"):       # the instance's containers exist and start
            break
    assert worktree is not None and worktree.is_dir(), "".join(seen)
    assert try_objects(engine, root.name), "the try instance should exist by now"
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, "".join(seen) + rest
    assert "the try instance and its worktree were removed" in rest
    assert try_objects(engine, root.name) == []
    assert not worktree.exists()
    assert git(root, "worktree", "list").count("\n") == 1
    assert all(status == "running" for _, status in dev_containers(engine, root.name).values())
