"""``devenv pull`` and ``devenv catalogue``: read entries, download and install what they name.

After a pull, ``devenv up PROFILE`` finds every service image under its
``devenv/SERVICE:HASH`` tag (nothing to build, so not even the base image is
needed) and, on a new database volume, a snapshot of the same dataset taken with
the same server image (restored instead of seeding); the image set is in the
cache (copied, not generated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..engine.client import Engine
from ..engine.datadir import dataset_id, snapshot_store
from ..errors import DevenvError
from ..render import Stack
from ..ui import Reporter
from .artifacts import imageset_present, install_imageset, install_snapshot, snapshot_present
from .blobs import WORKERS
from .client import OCI_MANIFEST, RegistryClient
from .entry import ENTRY_CONFIG, Entry
from .errors import CatalogueNotFoundError, DigestMismatchError, RegistryError
from .images import images_present, pull_image
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
    if dataset_id(stack) != entry.dataset_id:
        out.append(f"dataset: yours is {dataset_id(stack) or '-'}, the catalogue's is {entry.dataset_id or '-'}")
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
         client: RegistryClient | None = None) -> PullResult:
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

    wanted = {i.local_tag: i.image_id for i in entry.images.values()}
    present = images_present(engine, wanted)
    todo = [(name, img) for name, img in sorted(entry.images.items()) if not present[img.local_tag]]
    result.images_present = [img.local_tag for _, img in sorted(entry.images.items()) if present[img.local_tag]]
    if todo:
        total = sum(img.size for _, img in todo)
        with reporter.step(f"pull {len(todo)} image(s) ({human_bytes(total)} compressed, layers already "
                           "here are skipped)"):
            transfer = Transfer(reporter, total)
            for name, img in todo:
                engine_repo = ref.engine_name(img.repository)
                pull_image(engine, engine_repo, img.digest, img.local_tag, img.image_id, auth, transfer)
                result.images_pulled.append(img.local_tag)
            result.downloaded += transfer.done

    t0 = time.monotonic()
    if entry.snapshot is not None:
        snap = entry.snapshot
        if snapshot_present(snapshot_store(), snap):
            result.snapshot = "present"
        else:
            with reporter.step(f"download snapshot {snap.profile}/{snap.name} ({human_bytes(snap.size)}, "
                               f"{len(snap.chunks)} chunks)"):
                transfer = Transfer(reporter, snap.file_size)
                install_snapshot(client, snapshot_store(), snap, entry.catalogue_tag, transfer, reporter,
                                 force=force, workers=workers)
                reporter.info(f"snapshot: {transfer.summary()}")
            result.snapshot = "installed"
            result.downloaded += transfer.done
            result.data_bytes += transfer.done
    if entry.imageset is not None:
        iset = entry.imageset
        if imageset_present(iset):
            result.imageset = "present"
        else:
            with reporter.step(f"download image set {iset.id} ({human_bytes(iset.size)})"):
                transfer = Transfer(reporter, iset.file_size)
                install_imageset(client, iset, transfer, reporter, workers=workers)
                reporter.info(f"image set: {transfer.summary()}")
            result.imageset = "installed"
            result.downloaded += transfer.done
            result.data_bytes += transfer.done
    result.data_seconds = time.monotonic() - t0
    result.total_seconds = time.monotonic() - start
    return result


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


def local_state(entry: Entry, engine: Engine | None) -> dict:
    state: dict = {"images": None, "snapshot": None, "imageset": None}
    if engine is not None:
        state["images"] = all(images_present(engine, {i.local_tag: i.image_id for i in entry.images.values()}).values())
    if entry.snapshot is not None:
        state["snapshot"] = snapshot_present(snapshot_store(), entry.snapshot) is not None
    if entry.imageset is not None:
        state["imageset"] = imageset_present(entry.imageset)
    return state


def list_catalogue(ref: RegistryRef, engine: Engine | None, client: RegistryClient | None = None) -> list[Listed]:
    client = client or RegistryClient(ref)
    client.ping()
    out = []
    for ctag in client.tags(ref.repository(CATALOGUE_REPO)):
        try:
            entry = fetch_entry_by_tag(client, ctag)
        except (RegistryError, CatalogueNotFoundError, DigestMismatchError) as exc:
            out.append(Listed(ctag, None, error=exc.message))
            continue
        out.append(Listed(ctag, entry, local=local_state(entry, engine)))
    return out
