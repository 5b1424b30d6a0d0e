"""The catalogue without an engine: registry references, Docker credentials, entries,
chunked transfers (verification, resume, tampering) and the snapshot / image set
artifacts end to end against the in-process fake registry."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import asdict

import click
import pytest
import zstandard

from devenv.catalogue.artifacts import (PULLED_MARKER, imageset_present, imageset_tar, install_imageset,
                                        install_snapshot, publish_imageset, publish_snapshot, snapshot_present)
from devenv.catalogue.blobs import chunk_ranges, download_file, upload_file
from devenv.catalogue.credentials import Credentials, lookup
from devenv.catalogue.entry import Entry, ImageRef
from devenv.catalogue.errors import DigestMismatchError, RegistryError, ShortBlobError, TransferInterruptedError
from devenv.catalogue.progress import Transfer, human_bytes, human_seconds
from devenv.catalogue.reference import RegistryRef, catalogue_tag, image_repository, is_loopback
from devenv.data.snapshots import ARCHIVE, MANIFEST, Manifest, SnapshotStore, verify
from devenv.errors import DevenvError
from devenv.ui import SilentReporter
from tests.unit.test_catalogue_registry import FakeRegistry, client_for

# -- references ------------------------------------------------------------------------


@pytest.mark.parametrize("text,host,ns,scheme,api", [
    ("127.0.0.1:5000", "127.0.0.1:5000", "", "http", "127.0.0.1:5000"),
    ("127.0.0.1:5000/team/devenv", "127.0.0.1:5000", "team/devenv", "http", "127.0.0.1:5000"),
    ("localhost:5000/x", "localhost:5000", "x", "http", "localhost:5000"),
    ("127.1.2.3", "127.1.2.3", "", "http", "127.1.2.3"),
    ("[::1]:5000/ns", "[::1]:5000", "ns", "http", "[::1]:5000"),
    ("registry.example.com/team", "registry.example.com", "team", "https", "registry.example.com"),
    ("GHCR.io/acme/envs/", "ghcr.io", "acme/envs", "https", "ghcr.io"),
    ("docker.io/acme", "docker.io", "acme", "https", "registry-1.docker.io"),
    ("index.docker.io/acme", "docker.io", "acme", "https", "registry-1.docker.io"),
    ("10.0.0.5:5000", "10.0.0.5:5000", "", "https", "10.0.0.5:5000"),
])
def test_registry_reference(text, host, ns, scheme, api):
    ref = RegistryRef.parse(text)
    assert (ref.host, ref.namespace, ref.scheme, ref.api_host) == (host, ns, scheme, api)
    assert ref.repository("devenv-web") == (f"{ns}/devenv-web" if ns else "devenv-web")
    assert ref.engine_name("devenv-web") == f"{host}/{ref.repository('devenv-web')}"


def test_plain_http_only_for_loopback_or_insecure():
    assert RegistryRef.parse("reg.internal:5000").scheme == "https"
    assert RegistryRef.parse("reg.internal:5000", insecure=True).scheme == "http"
    assert [is_loopback(h) for h in ("localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]", "10.0.0.1",
                                     "example.com", "127.0.0.1.nip.io")] == [True, True, True, True, True,
                                                                             False, False, False]
    assert RegistryRef.parse("docker.io/acme").auth_key == "https://index.docker.io/v1/"
    assert RegistryRef.parse("docker.io/acme").login_command == "docker login"


@pytest.mark.parametrize("text,problem", [
    (None, "no registry given"), ("", "no registry given"), ("https://reg.example", "without a scheme"),
    ("reg.example/Team", "namespace component `Team`"), ("reg.example/a//b", "namespace component ``"),
    ("bad host!", "is not a HOST"), ("reg.example:99999", "out of range"),
])
def test_bad_registry_references(text, problem):
    with pytest.raises(DevenvError, match=problem.replace("(", r"\(")) as exc:
        RegistryRef.parse(text)
    assert exc.value.exit_code == 2


def test_tags_and_repository_names():
    assert catalogue_tag("large-db", None) == "large-db"
    assert catalogue_tag("large-db", "2026-11") == "large-db-2026-11"
    with pytest.raises(DevenvError, match="cannot be a registry tag"):
        catalogue_tag("large-db", "a/b")
    assert image_repository("web") == "devenv-web"
    with pytest.raises(DevenvError, match="cannot be a registry repository"):
        image_repository("Web")


# -- credentials -----------------------------------------------------------------------

def write_config(tmp_path, doc) -> None:
    (tmp_path / "config.json").write_text(json.dumps(doc))


def test_credentials_from_auths(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    auth = base64.b64encode(b"alice:pa:ss").decode()
    write_config(tmp_path, {"auths": {"https://reg.example:5000/v1/": {"auth": auth},
                                      "https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
                                      "ghcr.io": {"identitytoken": "tok"}}})
    assert lookup("reg.example:5000") == Credentials("alice", "pa:ss", source=f"{tmp_path}/config.json "
                                                                               "(auths.https://reg.example:5000/v1/)")
    assert lookup("https://index.docker.io/v1/").username == "bob"
    assert lookup("ghcr.io").identity_token == "tok"
    assert lookup("ghcr.io").engine_auth() == {"identitytoken": "tok"}
    assert lookup("reg.example:5001") is None
    assert Credentials("u", "p").engine_auth() == {"username": "u", "password": "p"}


def test_no_docker_config_means_anonymous(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    assert lookup("reg.example") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/config.json").write_text("{not json")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "bad"))
    with pytest.raises(DevenvError, match="Docker config .* is unreadable"):
        lookup("reg.example")


def helper(tmp_path, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_credential_helpers(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    helper(tmp_path, "store", 'read s; echo "{\\"ServerURL\\":\\"$s\\",\\"Username\\":\\"u-$s\\",\\"Secret\\":\\"p\\"}"\n')
    helper(tmp_path, "tokens", 'read s; echo \'{"Username":"<token>","Secret":"refresh"}\'\n')
    helper(tmp_path, "empty", 'echo "credentials not found in native keychain"; exit 1\n')
    write_config(tmp_path, {"credsStore": "store", "credHelpers": {"ghcr.io": "tokens", "quay.io": "empty"},
                            "auths": {"quay.io": {"auth": base64.b64encode(b"q:w").decode()}}})
    assert lookup("reg.example:5000") == Credentials("u-reg.example:5000", "p", source="docker-credential-store")
    assert lookup("ghcr.io") == Credentials(identity_token="refresh", source="docker-credential-tokens")
    assert lookup("quay.io").username == "q"            # helper has nothing: auths
    write_config(tmp_path, {"credsStore": "not-installed", "auths": {"r.example": {"username": "x", "password": "y"}}})
    assert lookup("r.example").username == "x"          # helper missing: auths


# -- entries ---------------------------------------------------------------------------

def sample_entry(**kw) -> Entry:
    img = ImageRef("devenv/db:0123456789ab", "devenv-db", "0123456789ab", "sha256:" + "1" * 64,
                   "sha256:" + "2" * 64, 1000)
    return Entry(profile="large-db", tag=kw.get("tag"), description="d", parent="base",
                 data={"dataset": {"name": "shop", "size": "large"}}, dataset_id="shop-large-1-abc",
                 images={"db": img}, snapshot=None, imageset=None, devenv_version="0.1.0",
                 published="2026-11-29T00:00:00Z", chain=("base", "large-db"))


def test_entry_round_trip_and_future_formats():
    e = sample_entry(tag="v2")
    assert e.catalogue_tag == "large-db-v2" and e.download_bytes == 1000
    back = Entry.from_json(e.to_json(), "x")
    assert back == e
    doc = json.loads(e.to_json())
    doc["format"] = 99
    with pytest.raises(RegistryError, match="(?s)format 99.*update devenv"):
        Entry.from_json(json.dumps(doc).encode(), "x")
    with pytest.raises(RegistryError, match="not a devenv catalogue entry"):
        Entry.from_json(b'{"hello": 1}', "x")


# -- chunked transfers -----------------------------------------------------------------

@pytest.fixture
def fake():
    reg = FakeRegistry()
    yield reg
    reg.close()


def test_chunk_ranges():
    assert chunk_ranges(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert chunk_ranges(8, 4) == [(0, 4), (4, 4)]
    assert chunk_ranges(0, 4) == [(0, 0)]


@pytest.mark.parametrize("workers", [1, 3])
def test_upload_then_download_verified(fake, tmp_path, workers):
    c = client_for(fake)
    src = tmp_path / "file"
    src.write_bytes(os.urandom(300_000))
    t = Transfer(SilentReporter(), 300_000, "uploaded")
    chunks = upload_file(c, "team/r", src, 65536, t, workers)
    assert [b.size for b in chunks] == [65536] * 4 + [300_000 - 4 * 65536]
    assert t.done == 300_000
    again = Transfer(SilentReporter(), 300_000)
    assert upload_file(c, "team/r", src, 65536, again, workers) == chunks and again.skipped == 300_000

    staging = tmp_path / "dl/stage"
    t = Transfer(SilentReporter(), 300_000)
    data = download_file(c, "team/r", chunks, staging, t, workers=workers)
    assert data.read_bytes() == src.read_bytes() and t.done == 300_000
    assert sorted(p.name for p in staging.glob("*.done")) == sorted(b.digest[7:] + ".done" for b in chunks)


def test_tampered_chunk_is_refused_and_its_progress_dropped(fake, tmp_path):
    c = client_for(fake)
    src = tmp_path / "file"
    src.write_bytes(os.urandom(200_000))
    chunks = upload_file(c, "team/r", src, 65536, Transfer(SilentReporter(), 0), 1)
    victim = chunks[1]
    fake.served[victim.digest] = flipped(fake.blobs[victim.digest])
    staging = tmp_path / "stage"
    with pytest.raises(DigestMismatchError) as exc:
        download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), "snapshot chunk", workers=1)
    assert exc.value.exit_code == 1
    assert f"snapshot chunk {victim.digest} from {fake.host}/team/r does not match its digest" in str(exc.value)
    assert (staging / f"{chunks[0].digest[7:]}.done").exists()
    assert not (staging / f"{victim.digest[7:]}.done").exists()
    assert not (staging / f"{victim.digest[7:]}.part").exists()
    del fake.served[victim.digest]
    fake.requests.clear()
    data = download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), workers=1)
    assert data.read_bytes() == src.read_bytes()
    assert chunks[0].digest not in {d for d, _ in fake.blob_gets()}     # the finished one was not fetched again


def test_partial_chunk_resumes_with_range_and_damaged_done_chunk_is_refetched(fake, tmp_path):
    c = client_for(fake)
    src = tmp_path / "file"
    src.write_bytes(os.urandom(131072))
    chunks = upload_file(c, "team/r", src, 65536, Transfer(SilentReporter(), 0), 1)
    staging = tmp_path / "stage"
    download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), workers=1)
    # as a stopped pull leaves it: chunk 0 done but damaged on disk, chunk 1 with 1000 bytes
    (staging / f"{chunks[1].digest[7:]}.done").unlink()
    (staging / f"{chunks[1].digest[7:]}.part").write_bytes(b"%20d" % 1000)
    with open(staging / "data", "r+b") as f:
        f.seek(10)
        f.write(b"rot")
    fake.requests.clear()
    t = Transfer(SilentReporter(), 131072)
    data = download_file(c, "team/r", chunks, staging, t, workers=1)
    assert data.read_bytes() == src.read_bytes()
    assert fake.blob_gets() == [(chunks[0].digest, None), (chunks[1].digest, "bytes=1000-")]
    assert t.skipped == 1000
    # a registry that ignores Range: the chunk starts over
    (staging / f"{chunks[1].digest[7:]}.done").unlink()
    (staging / f"{chunks[1].digest[7:]}.part").write_bytes(b"%20d" % 1000)
    fake.ignore_range = True
    assert download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), workers=1).read_bytes() == \
        src.read_bytes()


def flipped(data: bytes) -> bytes:
    """``data`` with its first byte changed (random data may already start with any given byte)."""
    return bytes([data[0] ^ 0xFF]) + data[1:]


def one_chunk(fake, tmp_path, size=65536):
    c = client_for(fake)
    src = tmp_path / "file"
    src.write_bytes(os.urandom(size))
    chunks = upload_file(c, "team/r", src, size, Transfer(SilentReporter(), 0), 1)
    return c, src, chunks


def test_connection_dropped_once_is_continued_with_range(fake, tmp_path):
    c, src, chunks = one_chunk(fake, tmp_path)
    d = chunks[0].digest
    fake.cut[d] = [5000, 1]               # the first GET breaks after 5,000 bytes, the next one is whole
    data = download_file(c, "team/r", chunks, tmp_path / "stage", Transfer(SilentReporter(), 0), workers=1)
    assert data.read_bytes() == src.read_bytes()
    assert fake.blob_gets() == [(d, None), (d, "bytes=5000-")]


def test_connection_that_stays_down_keeps_progress_and_resumes_next_time(fake, tmp_path):
    c, src, chunks = one_chunk(fake, tmp_path)
    d = chunks[0].digest
    staging = tmp_path / "stage"
    fake.cut[d] = [5000, 1]

    real_get = c.get_blob

    def get_then_go_down(repo, digest, offset=0):
        resp = real_get(repo, digest, offset)
        fake.down = True                  # after this answer the registry is gone
        return resp

    c.get_blob = get_then_go_down
    with pytest.raises(TransferInterruptedError) as exc:
        download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), "snapshot chunk", workers=1,
                      artifact="snapshot p/latest")
    err = exc.value
    assert err.exit_code == 1
    assert f"cut off: the connection broke while downloading snapshot chunk {d} of snapshot p/latest" in str(err)
    assert "5,000 of 65,536 bytes" in str(err) and "it resumes" in err.hint
    assert "will not help" not in str(err)
    assert int((staging / f"{d[7:]}.part").read_bytes()) == 5000

    fake.down = False
    c.get_blob = real_get
    fake.requests.clear()
    data = download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), workers=1)
    assert data.read_bytes() == src.read_bytes()
    assert fake.blob_gets() == [(d, "bytes=5000-")]


def test_complete_but_short_response_is_a_short_blob(fake, tmp_path):
    c, src, chunks = one_chunk(fake, tmp_path)
    d = chunks[0].digest
    fake.served[d] = fake.blobs[d][:40000]          # e.g. truncated storage: Content-Length 40,000
    staging = tmp_path / "stage"
    with pytest.raises(ShortBlobError) as exc:
        download_file(c, "team/r", chunks, staging, Transfer(SilentReporter(), 0), "snapshot chunk", workers=1,
                      artifact="snapshot p/latest")
    err = exc.value
    assert err.exit_code == 1
    assert str(err).startswith(f"the registry serves a short blob: snapshot chunk {d} of snapshot p/latest "
                               f"from {fake.host}/team/r is 65,536 bytes, the registry sends 40,000")
    assert "Re-running the pull will not help" in err.hint
    assert len(fake.blob_gets()) == 1                # a complete answer: not asked again
    assert not list(staging.glob("*.part")) and not list(staging.glob("*.done"))


def test_responses_breaking_at_the_same_byte_are_a_short_blob(fake, tmp_path):
    """Content-Length says the whole blob, every response stops at byte 30,000 (a cutting proxy)."""
    c, src, chunks = one_chunk(fake, tmp_path)
    d = chunks[0].digest
    fake.cut[d] = [30000, None]
    with pytest.raises(ShortBlobError, match="break at byte 30,000 3 times in a row") as exc:
        download_file(c, "team/r", chunks, tmp_path / "stage", Transfer(SilentReporter(), 0), workers=1)
    assert "will not help" in exc.value.hint
    assert fake.blob_gets() == [(d, None), (d, "bytes=30000-"), (d, "bytes=30000-")]


def test_wrong_digest_says_rerunning_will_not_help(fake, tmp_path):
    c, src, chunks = one_chunk(fake, tmp_path)
    d = chunks[0].digest
    fake.served[d] = flipped(fake.blobs[d])
    with pytest.raises(DigestMismatchError) as exc:
        download_file(c, "team/r", chunks, tmp_path / "stage", Transfer(SilentReporter(), 0), "image set chunk",
                      workers=1, artifact="image set abc")
    assert f"image set chunk {d} of image set abc from" in str(exc.value)
    assert "Re-running the pull will not help" in exc.value.hint


# -- artifacts -------------------------------------------------------------------------

def make_snapshot(root, profile="p", name="latest", size=200_000):
    store = SnapshotStore(root / "snapshots")
    path = store.dir_of(profile, name)
    path.mkdir(parents=True)
    data = os.urandom(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("mysql/ibdata1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (path / ARCHIVE).write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    m = Manifest(format=1, profile=profile, name=name, service="db", volume_target="/var/lib/mysql", dataset="d1",
                 server_image="devenv/db:1", server_image_id="sha256:" + "a" * 64, created="2026-11-29T00:00:00Z",
                 datadir_bytes=size, archive_bytes=(path / ARCHIVE).stat().st_size,
                 files={"mysql/ibdata1": {"sha256": hashlib.sha256(data).hexdigest(), "size": size}})
    (path / MANIFEST).write_text(json.dumps(asdict(m), indent=1, sort_keys=True) + "\n")
    return store, store.get(profile, name)


def test_snapshot_artifact_round_trip(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    store, snap = make_snapshot(tmp_path / "publisher")
    c = client_for(fake)
    ref = publish_snapshot(c, "devenv-snapshots", "p", snap, 65536, Transfer(SilentReporter(), 0), 2)
    assert len(ref.chunks) == -(-snap.archive.stat().st_size // 65536) and ref.file_size == ref.archive_bytes
    doc, _, _ = c.get_manifest("team/devenv-snapshots", "p")
    assert doc["artifactType"] == "application/vnd.devenv.snapshot.v1"
    assert doc["config"]["mediaType"] == "application/vnd.devenv.snapshot.manifest.v1+json"
    assert {layer["mediaType"] for layer in doc["layers"]} == {"application/vnd.devenv.snapshot.chunk.v1.zstd-part"}

    local = SnapshotStore(tmp_path / "cache/snapshots")
    assert snapshot_present(local, ref) is None
    got = install_snapshot(c, local, ref, "p", Transfer(SilentReporter(), 0), SilentReporter(), force=False, workers=2)
    assert got.archive.read_bytes() == snap.archive.read_bytes()
    assert (got.path / MANIFEST).read_bytes() == (snap.path / MANIFEST).read_bytes()
    assert json.loads((got.path / PULLED_MARKER).read_text())["entry"] == "p"
    verify(got, SilentReporter())                      # devenv's own checks still pass
    assert snapshot_present(local, ref) is not None
    assert not any((tmp_path / "cache/downloads").iterdir())

    # a pulled snapshot is replaced by the next pull; one taken here is not, without --force
    (got.path / PULLED_MARKER).unlink()
    with pytest.raises(DevenvError, match="(?s)a different snapshot p/latest exists here.*--force"):
        install_snapshot(c, local, ref, "p", Transfer(SilentReporter(), 0), SilentReporter(), force=False, workers=1)
    install_snapshot(c, local, ref, "p", Transfer(SilentReporter(), 0), SilentReporter(), force=True, workers=1)


def test_snapshot_with_tampered_chunk_installs_nothing(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    _, snap = make_snapshot(tmp_path / "publisher")
    c = client_for(fake)
    ref = publish_snapshot(c, "s", "p", snap, 65536, Transfer(SilentReporter(), 0), 1)
    d = ref.chunks[-1].digest
    fake.served[d] = bytes(reversed(fake.blobs[d]))
    local = SnapshotStore(tmp_path / "cache/snapshots")
    with pytest.raises(DigestMismatchError, match=d):
        install_snapshot(c, local, ref, "p", Transfer(SilentReporter(), 0), SilentReporter(), force=False, workers=2)
    assert not (tmp_path / "cache/snapshots/p/latest").exists()
    assert local.list() == []


def test_imageset_artifact_round_trip(fake, tmp_path, monkeypatch):
    from devenv.data.imagesets import materialize
    from devenv.profile.model import ImageSet
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    files = materialize(ImageSet(count=7, width=40, height=30), tmp_path / "publisher", SilentReporter())
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    imageset_tar(files.path, a)
    imageset_tar(files.path, b)
    assert a.read_bytes() == b.read_bytes()           # deterministic: publishing again sends nothing
    c = client_for(fake)
    ref = publish_imageset(c, "devenv-imagesets", files, 4096, Transfer(SilentReporter(), files.bytes), 2)
    assert ref.id == files.id and ref.count == 7 and len(ref.chunks) > 1
    assert not imageset_present(ref)
    path = install_imageset(c, ref, Transfer(SilentReporter(), 0), SilentReporter(), workers=2)
    assert imageset_present(ref)
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) == \
        sorted(p.relative_to(files.path).as_posix() for p in files.path.rglob("*"))
    assert (path / "media/00003.jpg").read_bytes() == (files.path / "media/00003.jpg").read_bytes()


def test_imageset_whose_files_do_not_match_its_manifest_is_refused(fake, tmp_path, monkeypatch):
    from devenv.data.imagesets import materialize
    from devenv.profile.model import ImageSet
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    files = materialize(ImageSet(count=3, width=40, height=30), tmp_path / "publisher", SilentReporter())
    (files.path / "media/00001.jpg").write_bytes(b"\xff\xd8\xff not the generated image")
    c = client_for(fake)
    ref = publish_imageset(c, "i", files, 1 << 20, Transfer(SilentReporter(), 0), 1)
    with pytest.raises(DigestMismatchError, match="sha256 over its images"):
        install_imageset(c, ref, Transfer(SilentReporter(), 0), SilentReporter(), workers=1)
    assert not imageset_present(ref)


# -- progress, CLI, engine interplay ----------------------------------------------------

def test_progress_text():
    assert human_bytes(1_500_000) == "1.5 MB" and human_bytes(2_000_000_000) == "2.0 GB" and human_bytes(12) == "12 B"
    assert human_seconds(5) == "5s" and human_seconds(125) == "2m05s" and human_seconds(3700) == "1h01m"
    t = Transfer(SilentReporter(), 100_000_000)
    t.skip(20_000_000)
    t.add(30_000_000)
    line = t.line()
    assert line.startswith("50.0 MB / 100.0 MB, ") and "MB/s" in line and "ETA" in line
    assert "(20.0 MB already there)" in t.summary()


def test_chunk_size_option():
    from devenv.cli.catalogue import parse_size
    assert parse_size("64M") == 64 << 20 and parse_size("256KiB") == 256 << 10 and parse_size("1g") == 1 << 30
    assert parse_size("8192") == 8192
    for bad in ("64X", "1K", "-5M"):
        with pytest.raises(click.BadParameter):
            parse_size(bad)


def test_commands_are_registered():
    """The devenv group itself has the catalogue commands (no registering them in the test)."""
    from click.testing import CliRunner

    from devenv.cli import all_commands, cli
    assert {"publish", "catalogue", "pull"} <= set(all_commands())
    r = CliRunner().invoke(cli, ["pull", "--help"])
    assert r.exit_code == 0, r.output
    assert "--registry" in r.output and "--insecure" in r.output and "--tag" in r.output and "--force" in r.output
