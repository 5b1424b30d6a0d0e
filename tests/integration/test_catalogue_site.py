"""The reference stack through the catalogue: publish a small-db environment, delete its
images, snapshot, dataset and image set here, pull it, `up` it: nothing is built or
seeded, and the site serves the same data (CHECKSUM TABLE equal).

t-cat-site = small-db on another port with a file unique to this test in every
service, so its four images are this test's own (built from the cached layers in
seconds; removed at the end) and the developer's small-db images are never touched.
"""

from __future__ import annotations

import shutil
import urllib.request
import uuid

import pytest

from tests.conftest import REFERENCE, write
from tests.integration.conftest import cleanup, name_project
from tests.ports import free_port
from tests.integration.registry import registry  # noqa: F401  (fixture)
from tests.integration.test_catalogue import CatalogueDevenv, image_tags, listing, remove_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = free_port()   # not a fixed one: parallel runs
TABLES = "users, shops, listings, listing_images, orders, order_items"


def checksums(dv) -> dict[str, str]:
    out = dv("exec", "db", "-p", "t-cat-site", "--", "mariadb", "-N", "-B", "shop", "-e",
             f"CHECKSUM TABLE {TABLES}").stdout
    rows = dict(line.split("\t") for line in out.strip().splitlines())
    assert len(rows) == 6 and all(v not in ("", "NULL") for v in rows.values()), out
    return rows


def get(path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=10) as resp:
        return resp.status, resp.read()


@pytest.fixture
def site(tmp_path, engine, registry):  # noqa: F811
    shutil.copytree(REFERENCE, tmp_path, dirs_exist_ok=True)   # the lamp project: devenv.yaml, profiles/, app/
    name_project(tmp_path, "cs")
    uid = uuid.uuid4().hex[:10]
    write(tmp_path / "images/catalogue-test.j2", "{{ vars.catalogue_test }}\n")
    unique = "files: {/etc/devenv-catalogue-test: catalogue-test.j2}"
    write(tmp_path / "profiles/t-cat-site.yaml", f"""\
extends: small-db
description: small-db through the catalogue (test)
vars: {{catalogue_test: "{uid}"}}
services:
  web:
    ports: ["127.0.0.1:{PORT}:80"]
    {unique}
  php: {{{unique}}}
  db: {{{unique}}}
  cache: {{{unique}}}
""")
    dv = CatalogueDevenv(tmp_path, tmp_path / "cache")
    dv.ns = f"{registry.host}/site{uid}"
    dv.tags = image_tags(tmp_path, "t-cat-site")
    yield dv
    cleanup(engine)
    remove_images(engine, dv.tags)


def test_reference_stack_round_trip(site, engine):
    r = site("up", "t-cat-site", timeout=1800)
    assert "seeding dataset" in r.stdout, r.stdout
    before = checksums(site)
    site("snapshot", "save", "t-cat-site")
    r = site("publish", "t-cat-site", "--registry", site.ns, "--chunk-size", "1M")
    assert "4 images" in r.stdout and "snapshot t-cat-site/latest" in r.stdout and "image set" in r.stdout

    # a developer's machine: none of it here
    site("down", "t-cat-site", "--volumes")
    remove_images(engine, site.tags)
    for sub in ("snapshots", "datasets", "imagesets"):
        shutil.rmtree(site.cache / sub)
    assert listing(site)["t-cat-site"]["present"] == "no"

    r = site("pull", "t-cat-site", "--registry", site.ns)
    assert "pulled 4 image(s)" in r.stdout and "installed" in r.stdout, r.stdout
    assert listing(site)["t-cat-site"]["present"] == "yes"

    r = site("up", "t-cat-site", timeout=900)
    # the pulled snapshot is the base of a copy-on-write clone (the engine is local)
    assert "cloned snapshot: t-cat-site/latest" in r.stdout, r.stdout
    assert "built" not in r.stdout and "seeding" not in r.stdout, r.stdout
    assert "generate dataset" not in r.stderr and "generate image set" not in r.stderr, r.stderr
    assert "bootstrap" not in r.stderr
    assert checksums(site) == before
    status, body = get("/")
    assert status == 200 and b"<img" in body
    status, img = get("/media/00000.jpg")
    assert status == 200 and img[:3] == b"\xff\xd8\xff"
