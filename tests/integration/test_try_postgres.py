"""devenv try on the real engine with the python-postgres template's pytest suite (nginx ->
gunicorn -> PostgreSQL/Redis), in a git repository made by `devenv init --template
python-postgres`: a change that breaks a test exits 1 and the JUnit file names it; its fix
exits 0, with the suite split over two instances (--jobs 2); nothing of either try is left."""

import xml.etree.ElementTree as ET

import pytest

from tests.integration.conftest import cleanup
from tests.integration.test_try import dev_containers, fingerprint, git, project_repo, try_objects
from tests.ports import free_port

pytestmark = pytest.mark.integration

MONEY = 'return f"{cents // 100:,}.{cents % 100:02d}" if cents >= 0 else "-" + money(-cents)'
BROKEN = 'return f"{cents // 100:,}.{cents % 100}" if cents >= 0 else "-" + money(-cents)'   # 5 -> 0.5
HOME_PAGE_TEST = "tests.stack.test_home_page::test_home_page_shows_the_newest_orders_from_the_database"


def cases(report) -> dict[str, ET.Element]:
    return {f"{tc.get('classname')}::{tc.get('name')}": tc for tc in ET.parse(report).getroot().iter("testcase")}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, engine):
    """A python-postgres project in a git repository, its default instance up with a snapshot."""
    def free_web_port(root):
        prof = root / "profiles/base.yaml"
        prof.write_text(prof.read_text().replace('"8081:80"', f'"127.0.0.1:{free_port()}:80"'))

    dv, root = project_repo(tmp_path_factory.mktemp("try-pg"), "python-postgres", free_web_port)
    yield dv, root
    dv("down", "--volumes", check=False)
    cleanup(engine)


def test_a_breaking_change_fails_and_its_fix_passes(catalog, engine, tmp_path):
    dv, root = catalog
    git(root, "checkout", "-q", "-b", "feature")
    app_py = root / "app/app.py"
    assert MONEY in app_py.read_text()
    app_py.write_text(app_py.read_text().replace(MONEY, BROKEN))                        # uncommitted
    before = fingerprint(root)
    running = dev_containers(engine, root.name, "pg-small")
    report = tmp_path / "junit.xml"

    r = dv("try", "--junit", str(report), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL tests.unit.test_money::test_formats_cents[5-0.05]" in r.stdout, r.stdout
    assert "'0.5' == '0.05'" in r.stdout                   # pytest's own explanation, from the JUnit report
    got = cases(report)
    assert got["tests.unit.test_money::test_formats_cents[5-0.05]"].find("failure") is not None
    assert got["tests.unit.test_money::test_formats_cents[1234-12.34]"].find("failure") is None
    assert HOME_PAGE_TEST in got                           # the stack part ran too
    assert fingerprint(root) == before
    assert dev_containers(engine, root.name, "pg-small") == running
    assert try_objects(engine, root.name) == [] and git(root, "worktree", "list").count("\n") == 1

    app_py.write_text(app_py.read_text().replace(BROKEN, MONEY))                        # the fix
    (root / "app/tests/unit/test_more_money.py").write_text(                           # and a new test
        "from app import money\n\ndef test_a_million():\n    assert money(100_000_000) == '1,000,000.00'\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a test more")
    r = dv("try", "--jobs", "2", "--junit", str(report), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed:" in r.stdout and "in 2 part(s)" in r.stdout, r.stdout
    for part in ("tests/unit", "tests/stack"):
        assert f"[{part}]: passed" in r.stderr, r.stderr
    got = cases(report)
    assert all(tc.find("failure") is None and tc.find("error") is None for tc in got.values()), r.stdout
    assert HOME_PAGE_TEST in got and "tests.unit.test_more_money::test_a_million" in got
    assert {"tests.stack.test_database::test_latest_orders_are_the_newest_twenty_with_their_totals",
            "tests.stack.test_home_page::test_the_next_fetch_is_served_from_redis"} <= set(got)
    assert try_objects(engine, root.name) == [] and git(root, "worktree", "list").count("\n") == 1
    assert dev_containers(engine, root.name, "pg-small") == running
    git(root, "checkout", "-q", "main")

