"""``devenv pull`` and ``devenv catalogue``: read entries, download and install what they name.

A pull installs nothing until every artifact of the entry is downloaded and
verified (see ``pull``). After a pull, ``devenv up PROFILE`` finds every service image under its
``devenv/SERVICE:HASH`` tag (nothing to build, so not even the base image is
needed) and, on a new database volume, a snapshot of the same dataset taken with
the same server image (restored instead of seeding); the image set is in the
cache (copied, not generated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..engine.client import Engine
from ..engine.datadir import snapshot_store
from ..errors import DevenvError
from ..render import Stack
from ..names import REFERENCE_PROJECT
from ..ui import Reporter
from .artifacts import (StagedImageSet, StagedSnapshot, check_snapshot_target, imageset_present,
                        install_staged_imageset, install_staged_snapshot, snapshot_present, stage_imageset,
                        stage_snapshot)
from .blobs import WORKERS
from .client import OCI_MANIFEST, RegistryClient
from .entry import ENTRY_CONFIG, Entry
from .errors import CatalogueNotFoundError, DigestMismatchError, RegistryError, RegistryUnreachableError
from .images import drop_staged, images_present, install_image, stage_image
from .progress import Transfer, human_bytes
from .reference import CATALOGUE_REPO, RegistryRef, catalogue_tag


def fetch_entry_by_tag(client: RegistryClient, ctag: str) -> Entry:
    repo = client.ref.repository(CATALOGUE_REPO)
    where = f"{client.ref}/{CATALOGUE_REPO}:{ctag}"
    doc, _, _ = client.get_manifest(repo, ctag, accept=(OCI_MANIFEST,), what=f"catalogue entry {ctag}")
    config = doc.get("config") or {}
    if config.get("mediaType") != ENTRY_CONFIG or not config.get("digest"):
        raise RegistryError(f"{where} is not a devenv catalogue entry (config type {config.get('mediaType')})")
    return Entry.from_json(client.fetch_blob(repo, config["digest"]), where)


def fetch_entry(client: RegistryClient, profile: str, tag: str | None) -> Entry:
    ctag = catalogue_tag(profile, tag)
    try:
        entry = fetch_entry_by_tag(client, ctag)
    except CatalogueNotFoundError:
        tags = client.tags(client.ref.repository(CATALOGUE_REPO))
        if not tags:
            raise CatalogueNotFoundError(
                f"registry {client.ref} has no devenv catalogue (nothing in {client.ref.repository(CATALOGUE_REPO)})",
                f"Check the namespace in --registry, or publish there first: `devenv publish {profile} "
                f"--registry {client.ref}`.") from None
        raise CatalogueNotFoundError(
            f"the catalogue at {client.ref} has no {profile}" + (f" with tag {tag}" if tag else ""),
            f"It has: {', '.join(tags)} (entries are PROFILE or PROFILE-TAG; `devenv catalogue --registry "
            f"{client.ref}` lists them).") from None
    if entry.profile != profile or (entry.tag or None) != (tag or None):
        raise RegistryError(f"catalogue entry {ctag} at {client.ref} is for {entry.catalogue_tag}, not {ctag}")
    return entry


def differences(entry: Entry, stack: Stack) -> list[str]:
    """Why the local profile would not use what the entry holds (different images or dataset)."""
    out = []
    local = {name: sp.image.tag for name, sp in stack.services.items()}
    for name in sorted(set(local) | set(entry.images)):
        have, want = local.get(name), entry.images[name].local_tag if name in entry.images else None
        if have != want:
            out.append(f"service {name}: yours renders {have or '(no such service)'}, the catalogue has "
                       f"{want or '(no such service)'}")
    if stack.dataset_id != entry.dataset_id:
        out.append(f"dataset: yours is {stack.dataset_id or '-'}, the catalogue's is {entry.dataset_id or '-'}")
    return out


@dataclass
class PullResult:
    entry: Entry
    images_pulled: list[str] = field(default_factory=list)
    images_present: list[str] = field(default_factory=list)
    snapshot: str | None = None           # "installed" / "present" / None
    imageset: str | None = None
    downloaded: int = 0
    data_seconds: float = 0.0             # snapshot + image set download and install
    data_bytes: int = 0
    total_seconds: float = 0.0


def pull(engine: Engine, ref: RegistryRef, profile: str, reporter: Reporter, *, tag: str | None = None,
         stack: Stack | None = None, force: bool = False, workers: int = WORKERS,
         client: RegistryClient | None = None, project: str = REFERENCE_PROJECT) -> PullResult:
    """Download and verify everything the entry names, then install all of it.

    Nothing is installed until every artifact verified: the snapshot's and the image
    set's chunks are staged under ``<cache>/downloads/`` (resumable), then the images
    are pulled into the Engine under their registry-qualified digest references (not
    a name ``devenv up`` uses); only then are the images tagged and the snapshot and
    image set renamed into place. A failure leaves what this machine had before.
    """
    start = time.monotonic()
    client = client or RegistryClient(ref)
    client.ping()
    entry = fetch_entry(client, profile, tag)
    if stack is not None and not force:
        diff = differences(entry, stack)
        if diff:
            raise DevenvError(
                f"your profile {profile} is not the one published at {ref} (devenv {entry.devenv_version}, "
                f"{entry.published}), so `devenv up` would not use the download:\n  " + "\n  ".join(diff),
                "Update your checkout to the publisher's, or pass --force to download it anyway.")
    result = PullResult(entry)
    auth = client.credentials.engine_auth() if client.credentials else None
    store = snapshot_store(stack.scope if stack is not None else project)

    present = images_present(engine, {i.local_tag: i.image_id for i in entry.images.values()})
    todo = [img for _, img in sorted(entry.images.items()) if not present[img.local_tag]]
    result.images_present = [img.local_tag for _, img in sorted(entry.images.items()) if present[img.local_tag]]
    snap = entry.snapshot
    if snap is not None and snapshot_present(store, snap):
        result.snapshot, snap = "present", None
    iset = entry.imageset
    if iset is not None and imageset_present(iset):
        result.imageset, iset = "present", None
    if snap is not None:
        check_snapshot_target(store, snap, force)      # before a byte is downloaded

    staged_snapshot: StagedSnapshot | None = None
    staged_imageset: StagedImageSet | None = None
    staged_images: list[tuple[str, str]] = []         # (registry reference in the Engine, local tag)
    data_seconds = 0.0
    try:
        # 1. stage: the resumable downloads first, the Engine's image pulls (not resumable) last
        t0 = time.monotonic()
        if snap is not None:
            with reporter.step(f"download snapshot {snap.profile}/{snap.name} ({human_bytes(snap.size)}, "
                               f"{len(snap.chunks)} chunks)"):
                transfer = Transfer(reporter, snap.file_size)
                try:
                    staged_snapshot = stage_snapshot(client, snap, transfer, workers=workers)
                finally:
                    result.downloaded += transfer.done
                reporter.info(f"snapshot: {transfer.summary()}")
            result.data_bytes += transfer.done
        if iset is not None:
            with reporter.step(f"download image set {iset.id} ({human_bytes(iset.size)})"):
                transfer = Transfer(reporter, iset.file_size)
                try:
                    staged_imageset = stage_imageset(client, iset, transfer, workers=workers)
                finally:
                    result.downloaded += transfer.done
                reporter.info(f"image set: {transfer.summary()}")
            result.data_bytes += transfer.done
        data_seconds += time.monotonic() - t0
        if todo:
            total = sum(img.size for img in todo)
            with reporter.step(f"pull {len(todo)} image(s) ({human_bytes(total)} compressed, layers already "
                               "here are skipped)"):
                transfer = Transfer(reporter, total)
                try:
                    for img in todo:
                        staged = stage_image(engine, ref.engine_name(img.repository), img.digest, img.local_tag,
                                             img.image_id, auth, transfer)
                        staged_images.append((staged, img.local_tag))
                finally:
                    result.downloaded += transfer.done

        # 2. everything verified: install (tags and renames only)
        installing = _installing(staged_images, staged_snapshot, staged_imageset)
        if installing:
            with reporter.step("install " + ", ".join(installing)):
                t0 = time.monotonic()
                for staged, local_tag in staged_images:
                    install_image(engine, staged, local_tag)
                    result.images_pulled.append(local_tag)
                staged_images = []
                if staged_snapshot is not None:
                    install_staged_snapshot(client, store, staged_snapshot, entry.catalogue_tag)
                    result.snapshot = "installed"
                if staged_imageset is not None:
                    install_staged_imageset(staged_imageset)
                    staged_imageset, result.imageset = None, "installed"
                data_seconds += time.monotonic() - t0
    except BaseException as exc:
        # what was downloaded stays staged for the next pull; an image set extracted for
        # installing is only a temporary copy of its staged archive
        if staged_imageset is not None:
            staged_imageset.discard()
        if not _resumable(exc):
            for staged, _ in staged_images:
                drop_staged(engine, staged)
        raise
    result.data_seconds = data_seconds
    result.total_seconds = time.monotonic() - start
    return result


def _installing(images: list, snapshot: StagedSnapshot | None, imageset: StagedImageSet | None) -> list[str]:
    out = [f"{len(images)} image(s)"] if images else []
    if snapshot is not None:
        out.append(f"snapshot {snapshot.ref.profile}/{snapshot.ref.name}")
    if imageset is not None:
        out.append(f"image set {imageset.ref.id}")
    return out


def _resumable(exc: BaseException) -> bool:
    """A pull stopped by Ctrl-C or a broken connection keeps its staged images for the next one."""
    return isinstance(exc, (KeyboardInterrupt, RegistryUnreachableError))


# -- listing --------------------------------------------------------------------------

@dataclass
class Listed:
    tag: str
    entry: Entry | None
    error: str | None = None
    local: dict = field(default_factory=dict)   # images / snapshot / imageset -> True, False or None (n/a, unknown)

    @property
    def present(self) -> str:
        values = [v for k, v in self.local.items() if v is not None]
        if self.local.get("images") is None and self.entry and self.entry.images:
            return "?"
        if values and all(values):
            return "yes"
        return "partial" if any(values) else "no"


def local_state(entry: Entry, engine: Engine | None, project: str = REFERENCE_PROJECT) -> dict:
    state: dict = {"images": None, "snapshot": None, "imageset": None}
    if engine is not None:
        state["images"] = all(images_present(engine, {i.local_tag: i.image_id for i in entry.images.values()}).values())
    if entry.snapshot is not None:
        state["snapshot"] = snapshot_present(snapshot_store(project), entry.snapshot) is not None
    if entry.imageset is not None:
        state["imageset"] = imageset_present(entry.imageset)
    return state


def list_catalogue(ref: RegistryRef, engine: Engine | None, client: RegistryClient | None = None,
                   project: str = REFERENCE_PROJECT) -> list[Listed]:
    client = client or RegistryClient(ref)
    client.ping()
    out = []
    for ctag in client.tags(ref.repository(CATALOGUE_REPO)):
        try:
            entry = fetch_entry_by_tag(client, ctag)
        except (RegistryError, CatalogueNotFoundError, DigestMismatchError) as exc:
            out.append(Listed(ctag, None, error=exc.message))
            continue
        out.append(Listed(ctag, entry, local=local_state(entry, engine, project)))
    return out
