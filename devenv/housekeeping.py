"""Housekeeping: what each project uses, old images collected, the cache shown and freed.

Every ``up`` records, per project and profile, the image tag of each service and
the dataset and image set it uses (``<cache>/projects/<project>.json``), keeping
the previous image tag as well. Service images are content-addressed and shared
by every project that renders the same bytes, so an image is collected only when
no project's record keeps it (current or previous) and no container uses it.

The cache holds datasets and image sets (regenerable, content-addressed, shared
by projects) and snapshots (not regenerable: a project's own). ``devenv cache
ls`` shows each entry, its size and the projects that use it; ``devenv cache
prune`` frees the regenerable entries no project uses, and snapshots only when
asked for by project.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import DevenvError


@dataclass(frozen=True)
class CacheEntry:
    kind: str            # dataset | imageset | snapshot
    id: str              # dataset id, image set id, or PROJECT/PROFILE/NAME for snapshots
    path: Path
    bytes: int
    used_by: tuple[str, ...]   # project names (their profiles) that use it

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "path": str(self.path), "bytes": self.bytes,
                "used_by": list(self.used_by)}


def _records_dir(cache: Path) -> Path:
    return cache / "projects"


def load_records(cache: Path) -> dict[str, dict]:
    out = {}
    d = _records_dir(cache)
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue   # a damaged record keeps nothing; it is rewritten by the next `up`
    return out


def record_use(cache: Path, project: str, root: str, profile: str, images: dict[str, str],
               dataset: str | None, imageset: str | None) -> list[str]:
    """Remember what ``up`` of ``project``/``profile`` uses; the previous image per service is kept.

    Returns the image tags this record no longer keeps (older than the previous one)
    and no other record of the cache keeps: the images an edit left behind.
    """
    d = _records_dir(cache)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{project}.json"
    try:
        record = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        record = {}
    record["root"] = root
    prof = record.setdefault("profiles", {}).setdefault(profile, {})
    old = prof.get("images", {})
    prof["images"] = {}
    for svc, tag in sorted(images.items()):
        previous = [t for t in old.get(svc, []) if t != tag]
        prof["images"][svc] = [tag] + previous[:1]
    dropped = {t for tags in old.values() for t in tags} - {t for tags in prof["images"].values() for t in tags}
    prof["dataset"], prof["imageset"] = dataset, imageset
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)   # atomic: a reader sees the old record or the new one
    return sorted(dropped - kept_images(load_records(cache)))


def kept_images(records: dict[str, dict]) -> set[str]:
    return {t for r in records.values() for p in r.get("profiles", {}).values()
            for tags in p.get("images", {}).values() for t in tags}


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def cache_entries(cache: Path) -> list[CacheEntry]:
    records = load_records(cache)
    users: dict[tuple[str, str], list[str]] = {}
    for project, r in records.items():
        for profile, p in r.get("profiles", {}).items():
            for kind in ("dataset", "imageset"):
                if p.get(kind):
                    users.setdefault((kind, p[kind]), []).append(f"{project}/{profile}")
    out = []
    for kind, sub in (("dataset", "datasets"), ("imageset", "imagesets")):
        d = cache / sub
        for p in sorted(d.iterdir()) if d.is_dir() else []:
            if p.is_dir() and not p.name.startswith("."):
                out.append(CacheEntry(kind, p.name, p, _size(p), tuple(sorted(users.get((kind, p.name), [])))))
    snaps = cache / "snapshots"
    for manifest in sorted(snaps.rglob("manifest.json")) if snaps.is_dir() else []:
        rel = manifest.parent.relative_to(snaps).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        owner = rel.split("/")[0]
        out.append(CacheEntry("snapshot", rel, manifest.parent, _size(manifest.parent), (owner,)))
    return out


def prune_cache(cache: Path, snapshots_of: str | None = None, dry_run: bool = False) -> list[CacheEntry]:
    """Remove datasets and image sets no project uses; with ``snapshots_of``, that project's snapshots too."""
    removed = []
    for e in cache_entries(cache):
        if e.kind == "snapshot":
            if snapshots_of is None or e.used_by != (snapshots_of,):
                continue
        elif e.used_by:
            continue
        if not dry_run:
            try:
                shutil.rmtree(e.path)
            except OSError as exc:
                raise DevenvError(f"cannot remove {e.path}: {exc.strerror or exc}") from None
        removed.append(e)
    return removed


__all__ = ["CacheEntry", "cache_entries", "kept_images", "load_records", "prune_cache", "record_use"]
