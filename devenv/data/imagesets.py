"""Product image sets: deterministic generated JPEGs for the web's media volume.

``materialize(imageset, cache_dir, reporter)`` returns ``cache_dir/imagesets/<id>/``
(generated first when missing)::

    media/00000.jpg ... media/<count-1>.jpg   width x height, baseline JPEG, quality 85
    IMAGESET_ID                               the id (one line)
    manifest.json                             count, size, seed, bytes, sha256 over all files

The directory's *contents* go into the web service's ``media`` volume (mounted at
``/srv/media``), so a file is ``/srv/media/media/00042.jpg``; nginx serves
``/media/`` from ``/srv/media/media/`` (images/nginx/site.conf.j2), i.e. the URL
is ``/media/00042.jpg`` = ``"/" + listing_images.path``. ``/srv/media/IMAGESET_ID``
tells which set a volume holds.

Same (count, width, height, seed, generator version) -> same id -> same bytes:
each image is drawn from its own ``random.Random`` seeded by (seed, index), with
integer coordinates only, and saved without metadata (no EXIF, no timestamps) at
a fixed quality; Pillow's JPEG encoder (libjpeg-turbo) is deterministic for the
same Pillow build. Images are split over processes (fork); the bytes do not
depend on how many.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random

from ..digest import sha256_bytes
from ..profile.model import ImageSet
from ..ui import Reporter
from . import atomic_directory, content_digest, derive_seed

VERSION = 2            # bump when the pixels or the encoding change
QUALITY = 85
MEDIA_DIR = "media"
ID_FILE = "IMAGESET_ID"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class ImageSetFiles:
    path: Path      # copy its contents into the media volume (/srv/media)
    id: str
    count: int
    bytes: int


def digits(count: int) -> int:
    return max(5, len(str(max(count - 1, 0))))


def image_path(index: int, count: int) -> str:
    """Path of image ``index`` relative to the image set directory (and to
    /srv/media); also what listing_images.path holds."""
    return f"{MEDIA_DIR}/{index:0{digits(count)}d}.jpg"


def imageset_id(imageset: ImageSet) -> str:
    digest = content_digest({"generator": "product-images", "version": VERSION, "count": imageset.count,
                             "width": imageset.width, "height": imageset.height, "seed": imageset.seed,
                             "quality": QUALITY})
    return f"img-{imageset.count}-{imageset.width}x{imageset.height}-{imageset.seed}-{digest}"


# -- drawing --------------------------------------------------------------------------

PALETTE_BG = ((244, 239, 230), (232, 236, 240), (240, 232, 236), (230, 240, 232), (250, 246, 238),
              (222, 226, 230), (245, 235, 220), (236, 232, 246))
PALETTE_FG = ((196, 98, 45), (56, 94, 112), (120, 144, 96), (178, 140, 60), (90, 70, 120), (160, 60, 80),
              (60, 60, 64), (210, 180, 140), (70, 130, 140), (150, 100, 70), (200, 120, 130), (100, 110, 60))

_backgrounds: dict[tuple, object] = {}


def _background(w: int, h: int, top: tuple, bottom: tuple):
    """Vertical gradient top -> bottom (cached: at most len(PALETTE_BG)**2 per size)."""
    from PIL import Image
    key = (w, h, top, bottom)
    bg = _backgrounds.get(key)
    if bg is None:
        mask = Image.linear_gradient("L").resize((w, h))
        bg = _backgrounds[key] = Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), mask)
    return bg.copy()


def render_image(seed: int, index: int, width: int, height: int) -> bytes:
    """One product photo stand-in: a soft background, a shadow, a product shape."""
    from PIL import ImageDraw
    rnd = Random(derive_seed("product-images", seed, index)).random

    def pick(seq):
        return seq[int(rnd() * len(seq))]

    w, h = width, height
    top, bottom = pick(PALETTE_BG), pick(PALETTE_BG)
    img = _background(w, h, top, bottom)
    d = ImageDraw.Draw(img)
    fg = pick(PALETTE_FG)
    dark = tuple(c * 3 // 5 for c in fg)
    light = tuple(min(255, c + (255 - c) // 2) for c in fg)
    cx = w // 2 + int((rnd() - 0.5) * w // 4)
    cy = h // 2 + int((rnd() - 0.5) * h // 6)
    size = max(4, min(w, h) // 6 + int(rnd() * min(w, h) // 10))
    floor = cy + size
    d.ellipse((cx - size * 5 // 4, floor - size // 6, cx + size * 5 // 4, floor + size // 6), fill=(200, 200, 196))
    kind = int(rnd() * 5)
    if kind == 0:      # mug / vase: body + rim
        d.rounded_rectangle((cx - size * 2 // 3, cy - size, cx + size * 2 // 3, floor), radius=max(1, size // 6),
                            fill=fg, outline=dark, width=2)
        d.ellipse((cx - size * 2 // 3, cy - size - size // 8, cx + size * 2 // 3, cy - size + size // 8), fill=dark)
        d.arc((cx + size // 2, cy - size // 2, cx + size, cy + size // 3), 270, 90, fill=dark, width=max(2, size // 8))
    elif kind == 1:    # bowl
        rim = cy + size // 4
        d.chord((cx - size, rim - (floor - rim), cx + size, floor), 0, 180, fill=fg, outline=dark, width=2)
        d.ellipse((cx - size, rim - size // 5, cx + size, rim + size // 5), fill=light, outline=dark)
    elif kind == 2:    # box / book / board
        d.rectangle((cx - size, cy - size // 2, cx + size, floor), fill=fg, outline=dark, width=2)
        d.polygon([(cx - size, cy - size // 2), (cx - size // 2, cy - size), (cx + size * 3 // 2, cy - size),
                   (cx + size, cy - size // 2)], fill=light, outline=dark)
        d.polygon([(cx + size, cy - size // 2), (cx + size * 3 // 2, cy - size), (cx + size * 3 // 2, floor - size // 2),
                   (cx + size, floor)], fill=dark)
    elif kind == 3:    # textile: stacked folds
        for i in range(4):
            y = floor - (i + 1) * size // 3
            c = fg if i % 2 == 0 else light
            d.rounded_rectangle((cx - size, y, cx + size, y + size // 3), radius=max(1, size // 10), fill=c,
                                outline=dark)
    else:              # jewellery: rings
        for i in range(3):
            r = size // 2 - i * size // 8
            ox = cx + (i - 1) * size // 2
            d.ellipse((ox - r, cy - r, ox + r, cy + r), outline=fg, width=max(2, size // 10))
    # a few dots of texture/pattern
    for _ in range(int(rnd() * 12)):
        px, py = int(rnd() * w), int(rnd() * h)
        rr = 1 + int(rnd() * 3)
        d.ellipse((px - rr, py - rr, px + rr, py + rr), fill=light)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY, optimize=False, progressive=False, subsampling=2)
    return buf.getvalue()


_JOB: dict = {}


def _render_range(bounds: tuple[int, int]) -> list[tuple[int, int, str]]:
    """Write images [lo, hi) into the job's directory; (index, bytes, sha256) each."""
    lo, hi = bounds
    j = _JOB
    out = []
    for i in range(lo, hi):
        data = render_image(j["seed"], i, j["width"], j["height"])
        path = j["dir"] / image_path(i, j["count"])
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        out.append((i, len(data), sha256_bytes(data)))
    return out


def generate(out: Path, imageset: ImageSet, workers: int = 1, progress=lambda text: None) -> tuple[int, str]:
    """Write all images of ``imageset`` under ``out/media``; (total bytes, sha256
    over the per-file digests in index order)."""
    (out / MEDIA_DIR).mkdir(mode=0o755)
    os.chmod(out / MEDIA_DIR, 0o755)
    count = imageset.count
    _JOB.clear()
    _JOB.update(seed=imageset.seed, width=imageset.width, height=imageset.height, count=count, dir=out)
    step = 250
    ranges = [(lo, min(count, lo + step)) for lo in range(0, count, step)]
    results: list[tuple[int, int, str]] = []
    try:
        if workers > 1 and len(ranges) > 1:
            import multiprocessing
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for part in pool.imap_unordered(_render_range, ranges):
                    results += part
                    progress(f"{len(results):,}/{count:,} images")
        else:
            for r in ranges:
                results += _render_range(r)
                progress(f"{len(results):,}/{count:,} images")
    finally:
        _JOB.clear()
    results.sort()
    listing = "".join(f"{image_path(i, count)} {digest}\n" for i, _, digest in results)
    return sum(n for _, n, _ in results), sha256_bytes(listing.encode())


def _complete(path: Path, set_id: str) -> dict | None:
    try:
        if (path / ID_FILE).read_text().strip() != set_id:
            return None
        manifest = json.loads((path / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("id") == set_id else None


def materialize(imageset: ImageSet, cache_dir: Path, reporter: Reporter, workers: int | None = None) -> ImageSetFiles:
    """The image set directory ``cache_dir/imagesets/<id>/``, generated unless present."""
    set_id = imageset_id(imageset)
    final = Path(cache_dir) / "imagesets" / set_id
    manifest = _complete(final, set_id)
    if manifest is not None:
        return ImageSetFiles(final, set_id, manifest["count"], manifest["bytes"])
    if final.exists():
        import shutil
        shutil.rmtree(final)
    if workers is None:
        workers = max(1, min(4, os.cpu_count() or 1)) if imageset.count > 200 else 1
    with reporter.step(f"generate image set {set_id}"):
        start = time.monotonic()
        with atomic_directory(final) as tmp:
            size, digest = generate(tmp, imageset, workers=workers, progress=reporter.detail)
            manifest = {"id": set_id, "generator": "product-images", "generator_version": VERSION,
                        "count": imageset.count, "width": imageset.width, "height": imageset.height,
                        "seed": imageset.seed, "quality": QUALITY, "layout": f"{MEDIA_DIR}/NNNNN.jpg",
                        "bytes": size, "sha256": digest}
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (tmp / ID_FILE).write_text(set_id + "\n")
            for name in (MANIFEST_FILE, ID_FILE):
                os.chmod(tmp / name, 0o644)
        reporter.info(f"image set {set_id}: {imageset.count:,} images, {size / 1e6:,.1f} MB "
                      f"in {time.monotonic() - start:.1f}s")
    return ImageSetFiles(final, set_id, imageset.count, size)
