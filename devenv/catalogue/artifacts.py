"""Snapshots and image sets as OCI artifacts: publish, download, install.

A snapshot is an OCI manifest with ``artifactType`` ``application/vnd.devenv.snapshot.v1``:
its config blob is the snapshot's ``manifest.json`` (bytes unchanged), its layers are
``datadir.tar.zst`` cut into chunks (``...snapshot.chunk.v1.zstd-part``; only their
concatenation is a zstd stream). An image set is the same with a deterministic tar
of ``<cache>/imagesets/<id>/`` (config: the set's ``manifest.json``).

Pulling is two steps so that ``pull`` installs nothing until every artifact of an
entry verified: ``stage_*`` downloads and verifies the chunks under
``<cache>/downloads/`` (and extracts and checks an image set next to its place);
``install_staged_*`` renames the result into place (a temporary directory next to
its final place, renamed into it). ``install_snapshot`` / ``install_imageset`` do
both for one artifact. The snapshot
is then still checked by devenv's own snapshot verification at restore (sha256 of
every file, server image); the image set is checked file by file here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..data import TMP_MARK, remove_stale_temps
from ..data import imagesets as imagesets_mod
from ..data.snapshots import ARCHIVE, MANIFEST, Manifest, Snapshot, SnapshotStore
from ..errors import DevenvError
from ..paths import cache_dir
from ..ui import Reporter
from .blobs import download_file, staging_dir, upload_file
from .client import RegistryClient, sha256_digest
from .entry import (CREATED, IMAGESET_ARTIFACT, IMAGESET_CHUNK, IMAGESET_CONFIG, SNAPSHOT_ARTIFACT, SNAPSHOT_CHUNK,
                    SNAPSHOT_CONFIG, Blob, ChunkedArtifact, ImageSetRef, SnapshotRef, artifact_manifest,
                    manifest_layers)
from .errors import DigestMismatchError, RegistryError
from .progress import Transfer

PULLED_MARKER = "catalogue.json"   # in a snapshot directory installed by `devenv pull`


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def _stage(ref: ChunkedArtifact, label: str) -> Path:
    """The artifact's staging directory; stale ones of the same thing (an older publication
    whose pull never finished) are removed."""
    downloads = downloads_dir()
    staging = staging_dir(downloads, ref.manifest_digest)
    for other in downloads.glob("*/artifact.json") if downloads.is_dir() else []:
        try:
            if other.parent != staging and json.loads(other.read_text()).get("label") == label:
                shutil.rmtree(other.parent, ignore_errors=True)
        except (OSError, ValueError):
            continue
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "artifact.json").write_text(json.dumps({"label": label, "manifest": ref.manifest_digest}) + "\n")
    return staging


def _move(src: Path, dest: Path) -> None:
    try:
        os.rename(src, dest)
    except OSError:                 # another filesystem (a symlinked cache part): copy
        shutil.copyfile(src, dest)
        src.unlink()


# -- publish --------------------------------------------------------------------------

def _publish_file(client: RegistryClient, repo: str, tag: str, path: Path, config: bytes, *, artifact_type: str,
                  config_type: str, chunk_type: str, chunk_size: int, title: str, annotations: dict,
                  transfer: Transfer, workers: int) -> tuple[str, Blob, list[Blob]]:
    config_blob = Blob(*client.push_blob(repo, config))
    chunks = upload_file(client, repo, path, chunk_size, transfer, workers)
    body = artifact_manifest(artifact_type, config_type, config_blob, chunk_type, chunks, annotations,
                             [f"{title}.{i:04d}" for i in range(len(chunks))])
    digest = client.put_manifest(repo, tag, body)
    return digest, config_blob, chunks


def publish_snapshot(client: RegistryClient, name: str, tag: str, snap: Snapshot, chunk_size: int,
                     transfer: Transfer, workers: int) -> SnapshotRef:
    """Upload ``snap`` to the repository ``name`` under the namespace, tagged ``tag``."""
    m = snap.manifest
    repo = client.ref.repository(name)
    config = (snap.path / MANIFEST).read_bytes()
    digest, config_blob, chunks = _publish_file(
        client, repo, tag, snap.archive, config, artifact_type=SNAPSHOT_ARTIFACT, config_type=SNAPSHOT_CONFIG,
        chunk_type=SNAPSHOT_CHUNK, chunk_size=chunk_size, title=ARCHIVE, transfer=transfer, workers=workers,
        annotations={CREATED: m.created, "dev.devenv.snapshot.profile": m.profile,
                     "dev.devenv.snapshot.name": m.name, "dev.devenv.snapshot.dataset": m.dataset or ""})
    return SnapshotRef(repository=name, manifest_digest=digest, config=config_blob, chunk_size=chunk_size,
                       chunks=tuple(chunks), name=m.name, profile=m.profile, dataset=m.dataset,
                       server_image=m.server_image, server_image_id=m.server_image_id, created=m.created,
                       datadir_bytes=m.datadir_bytes, archive_bytes=m.archive_bytes,
                       archive_sha256=getattr(m, "archive_sha256", None))


def imageset_tar(root: Path, out: Path) -> None:
    """A deterministic tar of an image set directory: sorted, owner root, mtime 0, fixed modes."""
    with open(out, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif path.is_file():
                info.size, info.mode = path.stat().st_size, 0o644
                with open(path, "rb") as src:
                    tar.addfile(info, src)


def publish_imageset(client: RegistryClient, name: str, files, chunk_size: int, transfer: Transfer,
                     workers: int) -> ImageSetRef:
    """``files``: the ``ImageSetFiles`` of the set (materialized); tagged with its id."""
    repo = client.ref.repository(name)
    config = (files.path / imagesets_mod.MANIFEST_FILE).read_bytes()
    tmpdir = Path(tempfile.mkdtemp(prefix=".publish-", dir=_mkdir(downloads_dir())))
    try:
        tar_path = tmpdir / "imageset.tar"
        imageset_tar(files.path, tar_path)
        transfer.total += tar_path.stat().st_size - files.bytes   # the estimate was the JPEG bytes
        digest, config_blob, chunks = _publish_file(
            client, repo, files.id, tar_path, config, artifact_type=IMAGESET_ARTIFACT, config_type=IMAGESET_CONFIG,
            chunk_type=IMAGESET_CHUNK, chunk_size=chunk_size, title="imageset.tar", transfer=transfer,
            workers=workers, annotations={"dev.devenv.imageset.id": files.id})
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return ImageSetRef(repository=name, manifest_digest=digest, config=config_blob, chunk_size=chunk_size,
                       chunks=tuple(chunks), id=files.id, count=files.count, bytes=files.bytes)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# -- pull -----------------------------------------------------------------------------

def _fetch_layout(client: RegistryClient, art: ChunkedArtifact, chunk_type: str, what: str) -> bytes:
    """Check the artifact manifest (by digest) agrees with the entry; return the verified config bytes."""
    repo = client.ref.repository(art.repository)
    doc, _, _ = client.get_manifest(repo, art.manifest_digest, what=f"{what} manifest {art.manifest_digest}")
    config, layers = manifest_layers(doc, f"{what} manifest {art.manifest_digest}", chunk_type)
    if config != art.config or tuple(layers) != tuple(art.chunks):
        raise RegistryError(f"{what} manifest {art.manifest_digest} in {client.ref.host}/{repo} does not "
                            "list the blobs its catalogue entry names; refused")
    return client.fetch_blob(repo, art.config.digest)


def snapshot_present(store: SnapshotStore, ref: SnapshotRef) -> Snapshot | None:
    """The local snapshot that is exactly the published one (same manifest.json bytes)."""
    try:
        path = store.dir_of(ref.profile, ref.name)
        raw = (path / MANIFEST).read_bytes()
    except (OSError, DevenvError):
        return None
    if sha256_digest(raw) != ref.config.digest or not (path / ARCHIVE).is_file() \
            or (path / ARCHIVE).stat().st_size != ref.file_size:
        return None
    return Snapshot(path, Manifest.load(path / MANIFEST))


def check_snapshot_target(store: SnapshotStore, ref: SnapshotRef, force: bool) -> None:
    """Refuse, before anything is downloaded, to replace a snapshot taken on this machine."""
    final = store.dir_of(ref.profile, ref.name)
    if (final / MANIFEST).exists() and not (final / PULLED_MARKER).exists() and not force:
        raise DevenvError(
            f"a different snapshot {ref.profile}/{ref.name} exists here (taken on this machine); "
            "devenv pull does not overwrite it",
            f"Remove it (`devenv snapshot rm {ref.name} -p {ref.profile}`) or pass --force to replace it "
            "with the published one.")


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete directory ``tmp`` to ``final``; an old ``final`` is renamed aside
    first and removed afterwards, so ``final`` is only ever the old or the new one whole."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}{os.getpid()}-old-", dir=final.parent))
        os.rename(final, old / final.name)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class StagedSnapshot:
    """A snapshot whose every chunk is downloaded and verified, not yet in the store."""

    ref: SnapshotRef
    config: bytes          # its manifest.json, verified against the artifact's config digest
    data: Path             # datadir.tar.zst, in its staging directory
    staging: Path


def stage_snapshot(client: RegistryClient, ref: SnapshotRef, transfer: Transfer, *, workers: int) -> StagedSnapshot:
    """Download and verify every chunk of the snapshot under ``<cache>/downloads/``; installs nothing."""
    config = _fetch_layout(client, ref, SNAPSHOT_CHUNK, "snapshot")
    try:
        Manifest(**json.loads(config))
    except (ValueError, TypeError) as exc:
        raise RegistryError(f"the snapshot manifest in {client.ref}/{ref.repository} is not one: {exc}") from None
    staging = _stage(ref, f"snapshot {ref.profile}/{ref.name}")
    data = download_file(client, client.ref.repository(ref.repository), list(ref.chunks), staging, transfer,
                         "snapshot chunk", workers, artifact=f"snapshot {ref.profile}/{ref.name}")
    if data.stat().st_size != ref.archive_bytes:
        raise RegistryError(f"snapshot {ref.profile}/{ref.name}: its chunks make {data.stat().st_size:,} bytes, "
                            f"its manifest says {ref.archive_bytes:,}; refused")
    return StagedSnapshot(ref, config, data, staging)


def install_staged_snapshot(client: RegistryClient, store: SnapshotStore, staged: StagedSnapshot,
                            entry_tag: str) -> Snapshot:
    """Move a verified snapshot into the store: assembled in a temporary directory next to
    its place, then renamed into it (a reader sees no snapshot or the whole one)."""
    ref = staged.ref
    final = store.dir_of(ref.profile, ref.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent, final.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}{os.getpid()}-", dir=final.parent))
    try:
        (tmp / MANIFEST).write_bytes(staged.config)
        (tmp / PULLED_MARKER).write_text(json.dumps({
            "registry": str(client.ref), "entry": entry_tag, "manifest": ref.manifest_digest,
            "pulled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1) + "\n")
        _move(staged.data, tmp / ARCHIVE)
        os.chmod(tmp, 0o755)
        _swap_into_place(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(staged.staging, ignore_errors=True)
    return Snapshot(final, Manifest.load(final / MANIFEST))


def install_snapshot(client: RegistryClient, store: SnapshotStore, ref: SnapshotRef, entry_tag: str,
                     transfer: Transfer, reporter: Reporter, *, force: bool, workers: int) -> Snapshot:
    """Check, stage and install one snapshot (``pull`` does the three steps for all artifacts)."""
    check_snapshot_target(store, ref, force)
    staged = stage_snapshot(client, ref, transfer, workers=workers)
    with reporter.step(f"install snapshot {ref.profile}/{ref.name}"):
        return install_staged_snapshot(client, store, staged, entry_tag)


def imageset_present(ref: ImageSetRef) -> bool:
    return imagesets_mod._complete(cache_dir() / "imagesets" / ref.id, ref.id) is not None


@dataclass
class StagedImageSet:
    """An image set downloaded, verified and extracted next to its place, not yet in it."""

    ref: ImageSetRef
    tree: Path             # the extracted, checked set: a temporary directory next to its place
    staging: Path

    def discard(self) -> None:
        shutil.rmtree(self.tree, ignore_errors=True)


def stage_imageset(client: RegistryClient, ref: ImageSetRef, transfer: Transfer, *, workers: int) -> StagedImageSet:
    """Download and verify the image set's chunks, extract it and check every image; installs nothing."""
    config = _fetch_layout(client, ref, IMAGESET_CHUNK, "image set")
    try:
        manifest = json.loads(config)
        if manifest.get("id") != ref.id:
            raise ValueError(f"id {manifest.get('id')!r} is not {ref.id!r}")
        count = int(manifest["count"])
    except (ValueError, TypeError, KeyError) as exc:
        raise RegistryError(f"the image set manifest in {client.ref}/{ref.repository} is not one: {exc}") from None
    staging = _stage(ref, f"image set {ref.id}")
    data = download_file(client, client.ref.repository(ref.repository), list(ref.chunks), staging, transfer,
                         "image set chunk", workers, artifact=f"image set {ref.id}")
    final = cache_dir() / "imagesets" / ref.id
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent, final.name)
    tree = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}{os.getpid()}-", dir=final.parent))
    try:
        os.chmod(tree, 0o755)   # bind-mounted into containers: readable by everyone
        digests = _extract_imageset(data, tree, config)
        _check_imageset(tree, manifest, count, digests, ref)
    except BaseException:
        shutil.rmtree(tree, ignore_errors=True)
        raise
    return StagedImageSet(ref, tree, staging)


def install_staged_imageset(staged: StagedImageSet) -> Path:
    final = cache_dir() / "imagesets" / staged.ref.id
    _swap_into_place(staged.tree, final)
    shutil.rmtree(staged.staging, ignore_errors=True)
    return final


def install_imageset(client: RegistryClient, ref: ImageSetRef, transfer: Transfer, reporter: Reporter,
                     *, workers: int) -> Path:
    """Stage and install one image set (``pull`` does both steps for all artifacts)."""
    staged = stage_imageset(client, ref, transfer, workers=workers)
    with reporter.step(f"install image set {ref.id}"):
        return install_staged_imageset(staged)


def _extract_imageset(archive: Path, dest: Path, config: bytes) -> dict[str, str]:
    """Extract the tar (regular files and directories only, inside ``dest``); rel path -> sha256."""
    digests: dict[str, str] = {}
    stream = open(archive, "rb", buffering=1 << 20)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = member.name
                if name.startswith("/") or ".." in name.split("/") or not (member.isreg() or member.isdir()):
                    raise RegistryError(f"image set archive member {name!r} is not a plain file inside the set; refused")
                target = dest / name
                if member.isdir():
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                    os.chmod(target, 0o755)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                src = tar.extractfile(member)
                with open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
                os.chmod(target, 0o644)
                digests[name] = h.hexdigest()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegistryError(f"the image set archive is damaged: {exc}") from None
    finally:
        stream.close()
    manifest_path = dest / imagesets_mod.MANIFEST_FILE
    if not manifest_path.is_file() or manifest_path.read_bytes() != config:
        raise RegistryError("the image set archive's manifest.json is not the published one; refused")
    return digests


def _check_imageset(root: Path, manifest: dict, count: int, digests: dict[str, str], ref: ImageSetRef) -> None:
    """The same checks the generator's manifest allows: every image, its bytes, the overall sha256."""
    total = hashlib.sha256()
    size = 0
    for i in range(count):
        rel = imagesets_mod.image_path(i, count)
        if rel not in digests:
            raise RegistryError(f"image set {ref.id}: {rel} is missing from the archive; refused")
        total.update(f"{rel} {digests[rel]}\n".encode())
        size += (root / rel).stat().st_size
    if total.hexdigest() != manifest.get("sha256") or size != manifest.get("bytes"):
        raise DigestMismatchError(f"image set {ref.id} (sha256 over its images)", "sha256:" + str(manifest.get("sha256")),
                                  "sha256:" + total.hexdigest(), f"the {ref.repository} artifact")
    if (root / imagesets_mod.ID_FILE).read_text().strip() != ref.id:
        raise RegistryError(f"image set {ref.id}: its {imagesets_mod.ID_FILE} names another set; refused")
