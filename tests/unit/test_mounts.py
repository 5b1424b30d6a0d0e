"""Source mounts: project paths only (symlinks resolved), bind mounts in compose and the
container spec, part of the settings hash, and a copy: under a mount left out of the image."""

import os

import pytest
import yaml

from devenv.compose import compose_document
from devenv.errors import ProfileError
from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.spec import container_spec
from tests.conftest import write

DEV = """\
extends: parent
services:
  app:
    mounts: {/opt/static: %s}
"""


def load(project, source="./images/static", name="dev"):
    write(project / f"profiles/{name}.yaml", DEV % source)
    store = ProfileStore.locate(project / "profiles")
    return Renderer(store.images_dir, project).render(store.load(name))


def test_mount_is_a_bind_mount_and_replaces_the_copy(project):
    store = ProfileStore.locate(project / "profiles")
    prod = Renderer(store.images_dir, project).render(store.load("parent"))
    dev = load(project)
    app = dev.services["app"]
    assert not any(f.path.startswith("rootfs/opt/static") for f in app.image.files)
    assert any(f.path.startswith("rootfs/opt/static") for f in prod.services["app"].image.files)
    # an edit of the mounted tree changes neither the image nor the settings
    before = (app.image.tag, app.config_hash)
    (project / "images/static/a.txt").write_text("edited\n")
    again = load(project).services["app"]
    assert (again.image.tag, again.config_hash) == before
    spec = container_spec(dev, app)
    assert spec.mounts == ((str((project / "images/static").resolve()), "/opt/static"),)
    doc = compose_document(dev)["services"]["app"]
    assert {"type": "bind", "source": str((project / "images/static").resolve()), "target": "/opt/static"} \
        in doc["volumes"]
    assert app.config_hash != prod.services["app"].config_hash


@pytest.mark.parametrize("source, message", [
    ("../outside", "is outside the project"),
    ("/etc", "is an absolute path"),
    ("./nosuch", "does not exist"),
])
def test_bad_mount_sources_name_file_line_and_path(project, tmp_path, source, message):
    (project.parent / "outside").mkdir(exist_ok=True)
    with pytest.raises(ProfileError) as err:
        load(project, source)
    text = str(err.value)
    assert message in text and "profiles/dev.yaml:4:" in text.replace(str(project) + "/", "")


def test_symlink_escaping_the_project_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    os.symlink(outside, project / "link")
    with pytest.raises(ProfileError, match="leads out of the project through a symlink"):
        load(project, "./link")
    os.symlink(project / "images", project / "inner")   # a symlink that stays inside is fine
    assert load(project, "./inner/static").services["app"].service.mounts[0].source == "inner/static"


def test_rendered_compose_with_mounts_is_valid_compose(project):
    import jsonschema
    from tests.conftest import COMPOSE_SCHEMA
    import json
    doc = compose_document(load(project))
    jsonschema.validate(yaml.safe_load(yaml.safe_dump(doc)), json.loads(COMPOSE_SCHEMA.read_text()))
