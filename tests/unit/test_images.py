"""devenv.engine.images against a fake at the SDK boundary (an autospec'd
``docker.APIClient`` in a real ``Engine``): only the missing images are built, the
base image only when something is built, and build errors become typed errors."""

from __future__ import annotations

from unittest.mock import create_autospec

import docker
import docker.errors
import pytest

from devenv import names
from devenv.engine import images
from devenv.engine.client import Engine
from devenv.engine.images import PIN_MARKER, ensure_images, image_exists
from devenv.errors import BuildError, DevenvError, PackagePinError
from devenv.profile.model import OsSpec
from devenv.render import BaseImage, ContextFile, ImagePlan
from devenv.ui import SilentReporter

OS = OsSpec("debian", "bookworm")
PRESENT_BASE = BaseImage(OsSpec("debian", "bookworm", image="local/base:1"), "local/base:1", "h0")


def plan(service: str, base: BaseImage = PRESENT_BASE) -> ImagePlan:
    return ImagePlan(service, "tiny", base, (ContextFile("Dockerfile", f"FROM {base.tag}\n# {service}\n".encode(), 0o644),))


def fake_engine(present: set[str], build_output=None):
    """Images in ``present`` exist; every build streams ``build_output`` and then exists."""
    api = create_autospec(docker.APIClient, instance=True)

    def inspect_image(tag):
        if tag not in present:
            raise docker.errors.ImageNotFound(f"no such image: {tag}")
        return {"Id": "sha256:" + "0" * 64, "RepoTags": [tag]}

    def build(**kwargs):
        present.add(kwargs["tag"])
        return iter(build_output if build_output is not None else [{"stream": "Step 1/1 : FROM base\n"}])

    api.inspect_image.side_effect = inspect_image
    api.build.side_effect = build
    client = create_autospec(docker.DockerClient, instance=True)
    client.api = api
    return Engine(client), api


def built_tags(api) -> list[str]:
    return [call.kwargs["tag"] for call in api.build.call_args_list]


def test_image_exists_asks_the_engine():
    engine, api = fake_engine({"a:1"})
    assert image_exists(engine, "a:1") and not image_exists(engine, "b:1")
    assert [c.args for c in api.inspect_image.call_args_list] == [("a:1",), ("b:1",)]


def test_nothing_missing_builds_nothing_and_does_not_look_at_the_base():
    web, db = plan("web"), plan("db")
    engine, api = fake_engine({web.tag, db.tag})
    assert ensure_images(engine, [web, db], PRESENT_BASE, SilentReporter()) == []
    api.build.assert_not_called()
    assert PRESENT_BASE.tag not in [c.args[0] for c in api.inspect_image.call_args_list]


def test_only_the_missing_images_are_built_with_their_labels():
    web, db, cache = plan("web"), plan("db"), plan("cache")
    engine, api = fake_engine({PRESENT_BASE.tag, web.tag})
    assert ensure_images(engine, [web, db, cache], PRESENT_BASE, SilentReporter()) == [db.tag, cache.tag]
    assert built_tags(api) == [db.tag, cache.tag]
    kwargs = api.build.call_args_list[0].kwargs
    assert kwargs["custom_context"] is True and kwargs["pull"] is False
    # a Dockerfile that does not write devenv's labels gets them from the build API
    assert kwargs["labels"] == names.service_image_labels("db")
    # a second run finds them all
    assert ensure_images(engine, [web, db, cache], PRESENT_BASE, SilentReporter()) == []
    assert len(api.build.call_args_list) == 2


def test_labels_the_dockerfile_writes_are_not_given_again_to_the_build():
    """_base writes them in one cached LABEL before the config; labels= would add one
    uncached step per label at the end of every build."""
    from tests.conftest import REFERENCE
    from devenv.profile import ProfileStore
    from devenv.render import Renderer
    store = ProfileStore.locate(REFERENCE / "profiles")
    stack = Renderer(store.images_dir).render(store.load("small-db"))
    for name, sp in stack.services.items():
        text = next(f.data for f in sp.image.files if f.path == "Dockerfile").decode()
        label_line = next(i for i, line in enumerate(text.splitlines()) if line.startswith("LABEL "))
        assert label_line < text.splitlines().index("COPY rootfs/ /"), name
        assert images.build_labels(sp.image) is None, name
    # one label missing or different: the build API gives all of them
    web = stack.services["web"].image
    edited = ImagePlan(web.service, web.recipe, web.base, tuple(
        ContextFile(f.path, f.data.replace(b'dev.devenv.kind="service"', b'dev.devenv.kind="other"'), f.mode)
        if f.path == "Dockerfile" else f for f in web.files))
    assert images.build_labels(edited) == names.service_image_labels("web")


def test_a_missing_os_image_is_an_error_before_any_build():
    missing_base = BaseImage(OsSpec("debian", "bookworm", image="local/none:1"), "local/none:1", "h1")
    engine, api = fake_engine(set())
    with pytest.raises(DevenvError, match="base image local/none:1 .* is not present"):
        ensure_images(engine, [plan("web", missing_base)], missing_base, SilentReporter())
    api.build.assert_not_called()


def test_a_bootstrapped_base_is_bootstrapped_only_when_missing(monkeypatch):
    base = BaseImage.for_os(OS)
    assert base.bootstrapped
    calls = []
    monkeypatch.setattr(images, "ensure_base", lambda engine, b, reporter: calls.append(b.tag) or True)
    web = plan("web", base)
    engine, api = fake_engine({web.tag})
    ensure_images(engine, [web], base, SilentReporter())
    assert calls == []                                   # nothing to build: the base is not needed
    engine, api = fake_engine(set())
    ensure_images(engine, [web], base, SilentReporter())
    assert calls == [base.tag] and built_tags(api) == [web.tag]


def test_a_build_error_is_a_build_error_with_the_tail():
    web = plan("web")
    engine, _ = fake_engine({PRESENT_BASE.tag}, build_output=[{"stream": "Step 1/2 : RUN false\n"},
                                                             {"error": "The command '/bin/sh -c false' returned 1"}])
    with pytest.raises(BuildError) as err:
        ensure_images(engine, [web], PRESENT_BASE, SilentReporter())
    assert web.tag in str(err.value) and "returned 1" in str(err.value)


def test_a_missing_pin_is_a_package_pin_error_naming_what_the_archive_has():
    web = plan("web")
    engine, _ = fake_engine({PRESENT_BASE.tag}, build_output=[
        {"stream": f"{PIN_MARKER} less 9.9.9-nope 590-2.1,590-2\n"},
        {"error": "The command returned a non-zero code: 3"}])
    with pytest.raises(PackagePinError) as err:
        ensure_images(engine, [web], PRESENT_BASE, SilentReporter())
    assert (err.value.package, err.value.pinned, err.value.available) == ("less", "9.9.9-nope", ["590-2.1", "590-2"])
