"""``devenv publish``: a profile's images, snapshot and image set, and its catalogue entry.

Order matters for readers: everything an entry names is in the registry before
the entry (the last PUT) points at it, so a concurrent ``devenv pull`` never sees
an entry whose blobs are missing. Publishing again is cheap: blobs and layers the
registry already has are not sent again (HEAD), and the entry tag moves to the new
entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import __version__
from ..data.snapshots import Snapshot, check_archive, check_server
from ..engine.client import Engine
from ..engine.datadir import data_volume, snapshot_store
from ..errors import DevenvError
from ..paths import cache_dir
from ..render import Stack
from ..ui import Reporter
from .artifacts import publish_imageset, publish_snapshot
from .blobs import DEFAULT_CHUNK, WORKERS
from .client import DOCKER_MANIFEST, OCI_MANIFEST, RegistryClient
from .entry import EMPTY_BLOB, EMPTY_MEDIA_TYPE, ENTRY_ARTIFACT, ENTRY_CONFIG, CREATED, Blob, Entry, ImageRef, \
    artifact_manifest
from .errors import RegistryError
from .images import local_image_id, push_image
from .progress import Transfer, human_bytes
from .reference import CATALOGUE_REPO, IMAGESET_REPO, SNAPSHOT_REPO, RegistryRef, catalogue_tag, image_repository


@dataclass
class PublishResult:
    entry: Entry
    registry: str
    uploaded: int = 0            # bytes sent (snapshot and image set chunks)
    already_there: int = 0       # bytes the registry already had
    data_seconds: float = 0.0    # time spent on snapshot and image set uploads
    images_seconds: float = 0.0
    total_seconds: float = 0.0


def snapshot_to_publish(engine: Engine, stack: Stack, name: str | None) -> Snapshot | None:
    """The snapshot that goes with the profile's current server image and dataset; None
    for a profile without a database service."""
    profile = stack.profile
    if profile.dataset is None and "db" not in profile.services:
        return None
    dv = data_volume(stack)
    sp = stack.services[dv.service]
    image_id = local_image_id(engine, sp.image.tag)
    store = snapshot_store(stack.scope)
    ds = stack.dataset_id
    if name:
        snap = store.get(stack.name, name)
    else:
        snap = store.matching(stack.name, ds, image_id or "")
        if snap is None:
            have = ", ".join(f"{s.manifest.profile}/{s.manifest.name}" for s in store.list(stack.name)) or "none"
            raise DevenvError(
                f"profile {stack.name} has no snapshot of its current database to publish "
                f"(server image {sp.image.tag}, dataset {ds or '-'}; snapshots of {stack.name}: {have})",
                f"Take one, then publish again: `devenv up {stack.name} && devenv snapshot save {stack.name}` "
                "(the database is stopped for the copy).")
    if image_id is not None:
        check_server(snap, image_id, sp.image.tag)
    if snap.manifest.dataset != ds:
        raise DevenvError(f"snapshot {snap.manifest.profile}/{snap.manifest.name} holds dataset "
                          f"{snap.manifest.dataset or '-'}, profile {stack.name} declares {ds or '-'}",
                          f"Take a new snapshot: `devenv snapshot save {stack.name}`.")
    return snap


def _data_params(stack: Stack) -> dict:
    p = stack.profile
    ds = p.dataset
    im = p.imageset
    return {"dataset": None if ds is None else {"name": ds.name, "size": ds.size, "seed": ds.seed,
                                                 "scale": dict(ds.scale)},
            "imageset": None if im is None or im.count <= 0 else {"count": im.count, "width": im.width,
                                                                  "height": im.height, "seed": im.seed}}


def publish(engine: Engine, stack: Stack, ref: RegistryRef, reporter: Reporter, *, tag: str | None = None,
            snapshot_name: str | None = None, chunk_size: int = DEFAULT_CHUNK, workers: int = WORKERS,
            client: RegistryClient | None = None) -> PublishResult:
    start = time.monotonic()
    ctag = catalogue_tag(stack.name, tag)
    client = client or RegistryClient(ref, push=True)
    client.ping()
    auth = client.credentials.engine_auth() if client.credentials else None

    missing = [sp.image.tag for _, sp in sorted(stack.services.items()) if local_image_id(engine, sp.image.tag) is None]
    if missing:
        raise DevenvError(f"profile {stack.name}: image(s) {', '.join(missing)} are not built here",
                          f"Run `devenv up {stack.name}` first (publishing sends what runs here).")
    snap = snapshot_to_publish(engine, stack, snapshot_name)
    if snap is not None:
        check_archive(snap, reporter)   # never publish a snapshot that restore would refuse

    images: dict[str, ImageRef] = {}
    t0 = time.monotonic()
    sizes = {name: engine.image(sp.image.tag).size for name, sp in stack.services.items()}
    with reporter.step(f"push {len(stack.services)} images to {ref}"):
        transfer = Transfer(reporter, sum(sizes.values()), "pushed")
        for name, sp in sorted(stack.services.items()):
            repo_name = image_repository(name)
            repo = ref.repository(repo_name)
            image_id = local_image_id(engine, sp.image.tag)
            digest = push_image(engine, sp.image.tag, ref.engine_name(repo_name), sp.image.hash[:12], auth, transfer)
            doc, _, _ = client.get_manifest(repo, digest, accept=(OCI_MANIFEST, DOCKER_MANIFEST),
                                            what=f"image manifest {repo}@{digest}")
            try:
                config_digest = doc["config"]["digest"]
                size = int(doc["config"]["size"]) + sum(int(layer["size"]) for layer in doc["layers"])
            except (KeyError, TypeError, ValueError):
                raise RegistryError(f"{repo}@{digest} is not a single-platform image manifest") from None
            if config_digest != image_id:
                raise RegistryError(f"{repo}@{digest} holds image {config_digest}, not {sp.image.tag} ({image_id})")
            images[name] = ImageRef(local_tag=sp.image.tag, repository=repo_name, tag=sp.image.hash[:12], digest=digest,
                                    image_id=image_id, size=size)
    images_seconds = time.monotonic() - t0

    snapshot_ref = imageset_ref = None
    uploaded = skipped = 0
    t0 = time.monotonic()
    if snap is not None:
        with reporter.step(f"upload snapshot {snap.manifest.profile}/{snap.manifest.name} "
                           f"({human_bytes(snap.archive.stat().st_size)})"):
            transfer = Transfer(reporter, snap.archive.stat().st_size, "uploaded")
            snapshot_ref = publish_snapshot(client, SNAPSHOT_REPO, ctag, snap, chunk_size,
                                            transfer, workers)
            reporter.info(f"snapshot: {len(snapshot_ref.chunks)} chunks, {transfer.summary()}")
            uploaded, skipped = uploaded + transfer.done, skipped + transfer.skipped
    imageset = stack.profile.imageset
    if imageset is not None and imageset.count > 0:
        from ..data.imagesets import materialize
        files = materialize(imageset, cache_dir(), reporter)
        with reporter.step(f"upload image set {files.id} ({human_bytes(files.bytes)})"):
            transfer = Transfer(reporter, files.bytes, "uploaded")
            imageset_ref = publish_imageset(client, IMAGESET_REPO, files, chunk_size, transfer, workers)
            reporter.info(f"image set: {len(imageset_ref.chunks)} chunks, {transfer.summary()}")
            uploaded, skipped = uploaded + transfer.done, skipped + transfer.skipped
    data_seconds = time.monotonic() - t0

    p = stack.profile
    entry = Entry(profile=stack.name, tag=tag, description=p.description, parent=p.parent, data=_data_params(stack),
                  dataset_id=stack.dataset_id, images=images, snapshot=snapshot_ref, imageset=imageset_ref,
                  devenv_version=__version__, published=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  chain=tuple(p.chain))
    with reporter.step(f"publish catalogue entry {ref.repository(CATALOGUE_REPO)}:{ctag}"):
        repo = ref.repository(CATALOGUE_REPO)
        config = Blob(*client.push_blob(repo, entry.to_json()))
        empty = Blob(*client.push_blob(repo, EMPTY_BLOB))
        body = artifact_manifest(ENTRY_ARTIFACT, ENTRY_CONFIG, config, EMPTY_MEDIA_TYPE, [empty],
                                 {CREATED: entry.published, "dev.devenv.profile": stack.name,
                                  "dev.devenv.tag": tag or ""})
        client.put_manifest(repo, ctag, body)
    return PublishResult(entry, str(ref), uploaded, skipped, data_seconds, images_seconds, time.monotonic() - start)
