"""The reference stack really serves the site: nginx + PHP-FPM reading MariaDB, using memcached."""

import html
import re
import shutil
import urllib.request

import pytest

from tests.conftest import REFERENCE, write
from tests.integration.conftest import Devenv, cleanup, name_project
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = free_port()  # not 8080: a developer's own small-db may be running there; nor a fixed one (parallel runs)


@pytest.fixture(scope="module")
def site(tmp_path_factory, engine):
    """The reference profiles and images, plus t-site = small-db on another port."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(REFERENCE, root, dirs_exist_ok=True)   # the lamp project: devenv.yaml, profiles/, app/
    name_project(root, "site")
    write(root / "profiles/t-site.yaml", f"""\
extends: small-db
services:
  web:
    ports: ["127.0.0.1:{PORT}:80"]
""")
    devenv = Devenv(root, cache=root / "cache")  # its own datasets and snapshots
    devenv("up", "t-site", timeout=1800)
    yield devenv
    cleanup(engine)


def get(path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_page_shows_rows_from_the_database(site):
    r = site("exec", "db", "-p", "t-site", "--", "mariadb", "-N", "-B", "shop", "-e",
             "SELECT title FROM listings WHERE state = 'active' ORDER BY created_at DESC, id DESC LIMIT 3")
    titles = r.stdout.strip().splitlines()
    assert len(titles) == 3
    status, body = get("/")
    assert status == 200
    for title in titles:
        assert html.escape(title) in body or title in html.unescape(body)


def test_product_images_are_served(site):
    _, body = get("/")
    src = re.search(r'<img src="(/media/[0-9]+\.jpg)"', body).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{src}", timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
        assert resp.read(3) == b"\xff\xd8\xff"


def test_second_request_is_served_from_memcached(site):
    get("/")
    _, body = get("/")
    assert '<p id="data-source">Data source: cache</p>' in body


def test_healthz_and_status(site):
    assert get("/healthz") == (200, "ok\n")
    r = site("status", "t-site")
    for service in ("web", "php", "db", "cache"):
        assert any(line.startswith(service) and "healthy" in line for line in r.stdout.splitlines()), r.stdout
    assert f"http://127.0.0.1:{PORT}/" in r.stdout


def test_production_versions_inside(site):
    r = site("exec", "php", "-p", "t-site", "--", "php-fpm8.2", "-v")
    assert r.stdout.startswith("PHP 8.2.")
    r = site("exec", "db", "-p", "t-site", "--", "mariadb", "--version")
    assert "10.11." in r.stdout
    r = site("exec", "web", "-p", "t-site", "--", "cat", "/etc/os-release")
    assert 'VERSION_CODENAME=bookworm' in r.stdout


def test_changed_dataset_keeps_the_volume_and_warns(site):
    """Runs last in this module: it changes t-site's dataset."""
    profile = site.project / "profiles/t-site.yaml"
    profile.write_text(profile.read_text() + "data:\n  dataset: {seed: 99}\n")
    r = site("up", "t-site")
    assert "created: db" in r.stdout
    assert "holds dataset shop-small-1-" in r.stderr and "declares shop-small-99-" in r.stderr
    assert "devenv down t-site --volumes" in r.stderr
    status, body = get("/")
    assert status == 200  # the data that was there is still served
