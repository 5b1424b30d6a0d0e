"""Catalogue entries and the OCI media types devenv publishes.

An entry is one JSON document, the config blob of an OCI manifest tagged
``PROFILE`` or ``PROFILE-TAG`` in ``NAMESPACE/devenv-catalogue``. It says what the
environment is (profile, description, parent, data sizes) and names every piece by
digest: each service image (manifest digest and image id), the snapshot artifact
(manifest, config and every chunk), the image set artifact, so that a pull can
verify every byte it downloads against the entry.

Repositories are named relative to the catalogue's namespace, so a namespace
copied whole to another registry or path (e.g. ``skopeo sync``, ``regsync``) is a
working catalogue there too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .errors import RegistryError

FORMAT = 1

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"

ENTRY_ARTIFACT = "application/vnd.devenv.catalogue.entry.v1"
ENTRY_CONFIG = "application/vnd.devenv.catalogue.entry.v1+json"
SNAPSHOT_ARTIFACT = "application/vnd.devenv.snapshot.v1"
SNAPSHOT_CONFIG = "application/vnd.devenv.snapshot.manifest.v1+json"
SNAPSHOT_CHUNK = "application/vnd.devenv.snapshot.chunk.v1.zstd-part"
IMAGESET_ARTIFACT = "application/vnd.devenv.imageset.v1"
IMAGESET_CONFIG = "application/vnd.devenv.imageset.manifest.v1+json"
IMAGESET_CHUNK = "application/vnd.devenv.imageset.chunk.v1.tar-part"

TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


@dataclass(frozen=True)
class ImageRef:
    """A service image as published: pulled by digest, re-tagged ``local_tag``."""

    local_tag: str          # devenv/SERVICE:HASH12, what `devenv up` looks for
    repository: str         # under the catalogue's namespace: devenv-SERVICE
    tag: str                # HASH12
    digest: str             # manifest digest, what the pull asks for
    image_id: str           # config digest = the Engine's image id (snapshots are tied to it)
    size: int               # bytes to download: config + compressed layers


@dataclass(frozen=True)
class ChunkedArtifact:
    """A file published as an OCI artifact: a config blob and the file in chunks."""

    repository: str         # under the catalogue's namespace: devenv-snapshots, devenv-imagesets
    manifest_digest: str
    config: Blob
    chunk_size: int
    chunks: tuple[Blob, ...]

    @property
    def size(self) -> int:
        """Bytes to download."""
        return self.config.size + sum(c.size for c in self.chunks)

    @property
    def file_size(self) -> int:
        return sum(c.size for c in self.chunks)


@dataclass(frozen=True)
class SnapshotRef(ChunkedArtifact):
    name: str = "latest"
    profile: str = ""
    dataset: str | None = None
    server_image: str = ""
    server_image_id: str = ""
    created: str = ""
    datadir_bytes: int = 0
    archive_bytes: int = 0
    archive_sha256: str | None = None   # of the whole archive, when the snapshot records it (restore checks it)


@dataclass(frozen=True)
class ImageSetRef(ChunkedArtifact):
    id: str = ""
    count: int = 0
    bytes: int = 0          # JPEG bytes (the tar is a little larger)


@dataclass(frozen=True)
class Entry:
    profile: str
    tag: str | None
    description: str
    parent: str | None
    data: dict                      # {"dataset": {name, size, seed, scale}|None, "imageset": {count, width, height}|None}
    dataset_id: str | None
    images: dict[str, ImageRef]
    snapshot: SnapshotRef | None
    imageset: ImageSetRef | None
    devenv_version: str
    published: str                  # UTC, ISO 8601
    chain: tuple[str, ...] = ()
    format: int = FORMAT
    download_bytes: int = field(default=0)

    def __post_init__(self):
        if not self.download_bytes:
            total = sum(i.size for i in self.images.values())
            total += self.snapshot.size if self.snapshot else 0
            total += self.imageset.size if self.imageset else 0
            object.__setattr__(self, "download_bytes", total)

    @property
    def catalogue_tag(self) -> str:
        return f"{self.profile}-{self.tag}" if self.tag else self.profile

    def blobs(self) -> list[str]:
        """Every digest the entry names (image manifests, artifact manifests, configs, chunks)."""
        out = [i.digest for i in self.images.values()]
        for art in (self.snapshot, self.imageset):
            if art:
                out += [art.manifest_digest, art.config.digest] + [c.digest for c in art.chunks]
        return out

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["chain"] = list(self.chain)
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> "Entry":
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            fmt = int(doc.get("format", 0))
            if fmt > FORMAT:
                raise RegistryError(
                    f"catalogue entry {where} has format {fmt}; this devenv reads format {FORMAT} and older",
                    f"It was published by devenv {doc.get('devenv_version', '?')}: update devenv.")
            images = {name: ImageRef(**img) for name, img in (doc.get("images") or {}).items()}
            snapshot = _artifact(SnapshotRef, doc.get("snapshot"))
            imageset = _artifact(ImageSetRef, doc.get("imageset"))
            return cls(profile=doc["profile"], tag=doc.get("tag"), description=doc.get("description", ""),
                       parent=doc.get("parent"), data=doc.get("data") or {}, dataset_id=doc.get("dataset_id"),
                       images=images, snapshot=snapshot, imageset=imageset,
                       devenv_version=doc.get("devenv_version", "?"), published=doc.get("published", ""),
                       chain=tuple(doc.get("chain") or ()), format=fmt,
                       download_bytes=int(doc.get("download_bytes") or 0))
        except RegistryError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise RegistryError(f"catalogue entry {where} is not a devenv catalogue entry: {exc}") from None


def _artifact(cls, doc: dict | None):
    if not doc:
        return None
    known = set(cls.__dataclass_fields__)
    doc = {k: v for k, v in doc.items() if k in known}   # newer devenvs may add fields
    doc["config"] = Blob(**doc["config"])
    doc["chunks"] = tuple(Blob(**c) for c in doc["chunks"])
    return cls(**doc)


def artifact_manifest(artifact_type: str, config_media_type: str, config: Blob, layer_media_type: str,
                      layers: list[Blob], annotations: dict[str, str], titles: list[str] | None = None) -> bytes:
    """An OCI image manifest used as an artifact (OCI 1.1 ``artifactType``)."""
    layer_docs = []
    for i, blob in enumerate(layers):
        d = {"mediaType": layer_media_type, "digest": blob.digest, "size": blob.size}
        if titles:
            d["annotations"] = {TITLE: titles[i]}
        layer_docs.append(d)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "artifactType": artifact_type,
           "config": {"mediaType": config_media_type, "digest": config.digest, "size": config.size},
           "layers": layer_docs, "annotations": annotations}
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def manifest_layers(doc: dict, where: str, media_type: str) -> tuple[Blob, list[Blob]]:
    """(config, layers) of an artifact manifest, checking it is the artifact we expect."""
    try:
        config = Blob(doc["config"]["digest"], int(doc["config"]["size"]))
        layers = [Blob(layer["digest"], int(layer["size"])) for layer in doc["layers"]
                  if layer.get("mediaType") == media_type]
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{where} is not a devenv artifact manifest: {exc}") from None
    return config, layers
