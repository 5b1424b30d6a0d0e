"""The database's init container script (devenv/kube/restore_snapshot.py) against a
small OCI registry served on 127.0.0.1 by this test: the catalogue entry and the
snapshot artifact laid out as `devenv publish` lays them out (docs/catalogue.md),
decompressed by the real `zstd` binary as in the tool image."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import zstandard

from devenv.catalogue import entry as E
from devenv.kube import restore_snapshot as rs

pytestmark = pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd binary")
SERVER = "devenv/db:0123456789ab"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def snapshot_archive(files: dict[str, bytes]) -> tuple[bytes, dict]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("mysql", "mysql/shop", "mysql/mysql"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o750
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o660
            tar.addfile(info, io.BytesIO(data))
    archive = zstandard.ZstdCompressor().compress(buf.getvalue())
    return archive, {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)} for k, v in files.items()}


class Registry:
    def __init__(self, files: dict[str, bytes], server_image: str = SERVER, chunk: int = 100):
        archive, sums = snapshot_archive(files)
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        manifest = json.dumps({"format": 2, "profile": "small-db", "name": "latest", "service": "db",
                               "volume_target": "/var/lib/mysql", "dataset": "d", "server_image": server_image,
                               "server_image_id": "sha256:x", "created": "now", "datadir_bytes": 1,
                               "archive_bytes": len(archive), "files": sums,
                               "archive_sha256": hashlib.sha256(archive).hexdigest()}).encode()
        chunks = [archive[i:i + chunk] for i in range(0, len(archive), chunk)]
        layers = [{"mediaType": E.SNAPSHOT_CHUNK, "digest": self.blob(c), "size": len(c)} for c in chunks]
        art = json.dumps({"schemaVersion": 2, "mediaType": rs.OCI_MANIFEST, "artifactType": E.SNAPSHOT_ARTIFACT,
                          "config": {"mediaType": E.SNAPSHOT_CONFIG, "digest": self.blob(manifest),
                                     "size": len(manifest)}, "layers": layers}).encode()
        self.manifests[digest(art)] = art
        entry = json.dumps({"format": 1, "snapshot": {
            "repository": "devenv-snapshots", "manifest_digest": digest(art),
            "config": {"digest": digest(manifest), "size": len(manifest)},
            "chunks": [{"digest": layer["digest"], "size": layer["size"]} for layer in layers]}}).encode()
        em = json.dumps({"schemaVersion": 2, "mediaType": rs.OCI_MANIFEST,
                         "config": {"mediaType": E.ENTRY_CONFIG, "digest": self.blob(entry), "size": len(entry)},
                         "layers": []}).encode()
        self.manifests["small-db"] = em
        self.chunk_digests = [layer["digest"] for layer in layers]

    def blob(self, data: bytes) -> str:
        self.blobs[digest(data)] = data
        return digest(data)

    def serve(self):
        reg = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = self.path.split("/")   # /v2/ns/REPO/(blobs|manifests)/REF
                kind, ref = parts[-2], parts[-1]
                body = (reg.blobs if kind == "blobs" else reg.manifests).get(ref)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


FILES = {"mysql/ibdata1": b"\x00" * 5000 + b"innodb", "mysql/shop/shops.ibd": b"rows" * 700,
         "mysql/mysql/user.MAI": b"system schema"}


@pytest.fixture
def registry():
    regs = []

    def make(**kw):
        reg = Registry(FILES, **kw)
        regs.append(reg.serve())
        return reg, f"127.0.0.1:{regs[-1].server_address[1]}/ns"
    yield make
    for server in regs:
        server.shutdown()


def env(datadir, catalogue):
    return {"DEVENV_DATADIR": str(datadir), "DEVENV_CATALOGUE": catalogue, "DEVENV_CATALOGUE_ENTRY": "small-db",
            "DEVENV_CATALOGUE_INSECURE": "1", "DEVENV_SERVER_IMAGE": SERVER}


def contents(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_restores_a_verified_snapshot_into_an_empty_claim(tmp_path, registry):
    reg, catalogue = registry()
    assert "restored" in rs.restore(env(tmp_path, catalogue))
    assert contents(tmp_path) == {k[len("mysql/"):]: v for k, v in FILES.items()}
    assert not (tmp_path / rs.STAGING).exists()


def test_a_claim_with_data_is_left_alone(tmp_path, registry):
    _, catalogue = registry()
    (tmp_path / "ibdata1").write_bytes(b"the user's writes")
    assert "nothing to restore" in rs.restore(env(tmp_path, catalogue))
    assert contents(tmp_path) == {"ibdata1": b"the user's writes"}


def test_no_catalogue_means_the_database_seeds_itself(tmp_path):
    assert "initialises itself" in rs.restore({"DEVENV_DATADIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_restore_is_wiped_and_done_again(tmp_path, registry):
    _, catalogue = registry()
    (tmp_path / rs.STAGING).mkdir()
    (tmp_path / rs.STAGING / "ibdata1").write_bytes(b"half")
    (tmp_path / "shop").mkdir()    # moved in before a kill
    rs.restore(env(tmp_path, catalogue))
    assert contents(tmp_path) == {k[len("mysql/"):]: v for k, v in FILES.items()}


def test_a_tampered_chunk_is_refused_and_the_claim_left_empty(tmp_path, registry):
    reg, catalogue = registry()
    first = reg.chunk_digests[1]
    reg.blobs[first] = bytes([reg.blobs[first][0] ^ 1]) + reg.blobs[first][1:]
    with pytest.raises(rs.Refused):
        rs.restore(env(tmp_path, catalogue))
    assert list(tmp_path.iterdir()) == []


def test_a_snapshot_of_another_server_is_refused_before_the_claim_is_touched(tmp_path, registry):
    _, catalogue = registry(server_image="devenv/db:ffffffffffff")
    with pytest.raises(rs.Refused, match="devenv/db:ffffffffffff"):
        rs.restore(env(tmp_path, catalogue))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../evil", "mysql/../../evil", "/etc/evil", "mysql/.devenv-restore/x"])
def test_members_leaving_the_datadir_are_unsafe(name):
    assert rs.unsafe(tarfile.TarInfo(name), "mysql") is not None
    link = tarfile.TarInfo("mysql/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    assert rs.unsafe(link, "mysql") is not None
    assert rs.unsafe(tarfile.TarInfo("mysql/shop/t.ibd"), "mysql") is None
