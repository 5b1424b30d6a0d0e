"""Product image sets: deterministic JPEGs, layout, atomicity."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from PIL import Image

from devenv.data import imagesets
from devenv.data.imagesets import image_path, imageset_id, materialize, render_image
from devenv.profile.model import ImageSet
from devenv.ui import SilentReporter

SET = ImageSet(count=12, width=320, height=240, seed=1)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_render_is_deterministic_and_distinct():
    first = [render_image(1, i, 320, 240) for i in range(6)]
    again = [render_image(1, i, 320, 240) for i in range(6)]
    assert first == again
    assert len({digest(b) for b in first}) == 6
    assert render_image(2, 0, 320, 240) != first[0]


def test_images_are_plain_jpegs_of_the_requested_size():
    data = render_image(1, 3, 200, 150)
    assert data[:3] == b"\xff\xd8\xff"
    img = Image.open(io.BytesIO(data))
    assert (img.format, img.size, img.mode) == ("JPEG", (200, 150), "RGB")
    assert "exif" not in img.info and not img.getexif()


def test_paths():
    assert image_path(0, 100) == "media/00000.jpg"
    assert image_path(9999, 10_000) == "media/09999.jpg"
    assert image_path(123456, 200_000) == "media/123456.jpg"


def test_id():
    set_id = imageset_id(SET)
    assert re.fullmatch(r"img-12-320x240-1-[0-9a-f]{12}", set_id)
    assert imageset_id(ImageSet(count=12, seed=2)) != set_id
    assert imageset_id(ImageSet(count=12, width=640)) != set_id


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return materialize(SET, tmp_path_factory.mktemp("cache"), SilentReporter())


def test_layout_and_manifest(generated):
    root = generated.path
    assert root.name == generated.id and root.parent.name == "imagesets"
    files = sorted(p.name for p in (root / "media").iterdir())
    assert files == [f"{i:05d}.jpg" for i in range(12)]
    assert (root / "IMAGESET_ID").read_text() == generated.id + "\n"
    m = json.loads((root / "manifest.json").read_text())
    assert m["count"] == generated.count == 12
    assert m["bytes"] == generated.bytes == sum(p.stat().st_size for p in (root / "media").iterdir())
    assert (root / "media").stat().st_mode & 0o755 == 0o755
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in (root / "media").iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_same_seed_same_bytes(generated, tmp_path, workers):
    again = materialize(SET, tmp_path, SilentReporter(), workers=workers)
    assert again.id == generated.id
    for i in range(SET.count):
        rel = image_path(i, SET.count)
        assert (again.path / rel).read_bytes() == (generated.path / rel).read_bytes(), rel
    assert (again.path / "manifest.json").read_bytes() == (generated.path / "manifest.json").read_bytes()


def test_existing_set_is_reused(generated, monkeypatch):
    monkeypatch.setattr(imagesets, "generate", lambda *a, **k: pytest.fail("regenerated"))
    assert materialize(SET, generated.path.parent.parent, SilentReporter()) == generated


def test_failed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    real = imagesets.render_image

    def flaky(seed, index, width, height):
        if index == 7:
            raise OSError("disk full")
        return real(seed, index, width, height)

    monkeypatch.setattr(imagesets, "render_image", flaky)
    with pytest.raises(OSError):
        materialize(SET, tmp_path, SilentReporter(), workers=1)
    assert list((tmp_path / "imagesets").iterdir()) == []
