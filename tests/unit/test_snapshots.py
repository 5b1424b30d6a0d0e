"""Snapshot archives: path safety, checksum verification, matching."""

import hashlib
import io
import json
import tarfile
from dataclasses import asdict

import pytest
import zstandard

from devenv.data.snapshots import (ARCHIVE, MANIFEST, Manifest, Snapshot, SnapshotError, SnapshotStore, _safe,
                                   check_server, verify)
from devenv.ui import SilentReporter


def member(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("name,kind,link,problem", [
    ("mysql/ibdata1", tarfile.REGTYPE, "", None),
    ("mysql", tarfile.DIRTYPE, "", None),
    ("mysql/a/link", tarfile.SYMTYPE, "../b", None),
    ("/etc/passwd", tarfile.REGTYPE, "", "absolute path"),
    ("mysql/../../etc/cron.d/x", tarfile.REGTYPE, "", "path with .."),
    ("../x", tarfile.REGTYPE, "", "path with .."),
    ("other/file", tarfile.REGTYPE, "", "outside mysql/"),
    ("mysql/evil", tarfile.SYMTYPE, "/etc/shadow", "link to absolute path"),
    ("mysql/evil", tarfile.SYMTYPE, "../../etc", "link pointing outside"),
    ("mysql/hard", tarfile.LNKTYPE, "etc/passwd", "link pointing outside"),
    ("mysql/dev", tarfile.CHRTYPE, "", "device"),
])
def test_member_safety(name, kind, link, problem):
    why = _safe(member(name, kind, link), "mysql")
    assert (why is None) if problem is None else (problem in why)


def make_snapshot(tmp_path, files: dict[str, bytes], extra=(), tamper=None, image_id="sha256:aaa"):
    store = SnapshotStore(tmp_path / "snaps")
    path = store.dir_of("p", "s")
    path.mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(tamper(name, data) if tamper else data))
        for info in extra:
            tar.addfile(info)
    (path / ARCHIVE).write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    manifest = Manifest(format=1, profile="p", name="s", service="db", volume_target="/var/lib/mysql",
                        dataset="d1", server_image="devenv/db:1", server_image_id=image_id,
                        created="2026-01-01T00:00:00Z", datadir_bytes=sum(map(len, files.values())),
                        archive_bytes=1,
                        files={n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files.items()})
    (path / MANIFEST).write_text(json.dumps(asdict(manifest)))
    return store, store.get("p", "s")


def test_verify_accepts_intact_snapshot(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"one", "mysql/b/c": b"two"})
    verify(snap, SilentReporter())


def test_verify_refuses_changed_content(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"one", "mysql/b": b"two"},
                            tamper=lambda n, d: b"owt" if n == "mysql/b" else d)
    with pytest.raises(SnapshotError, match="corrupt or tampered.*mysql/b"):
        verify(snap, SilentReporter())


def test_verify_refuses_extra_or_missing_files(tmp_path):
    store, snap = make_snapshot(tmp_path, {"mysql/a": b"one"})
    data = json.loads((snap.path / MANIFEST).read_text())
    data["files"]["mysql/ghost"] = {"sha256": "0" * 64, "size": 1}
    (snap.path / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match="mysql/ghost"):
        verify(store.get("p", "s"), SilentReporter())


def test_verify_refuses_traversal_member(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"one", "mysql/../../etc/x": b"evil"})
    with pytest.raises(SnapshotError, match="refused.*path with \\.\\."):
        verify(snap, SilentReporter())


def test_verify_refuses_link_out(tmp_path):
    link = tarfile.TarInfo("mysql/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"one"}, extra=[link])
    with pytest.raises(SnapshotError, match="link to absolute path"):
        verify(snap, SilentReporter())


def test_truncated_archive_is_corrupt(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"x" * 100_000})
    data = snap.archive.read_bytes()
    snap.archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match="corrupt"):
        verify(snap, SilentReporter())


def test_other_server_image_is_refused(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"one"}, image_id="sha256:aaa")
    check_server(snap, "sha256:aaa", "devenv/db:1")
    with pytest.raises(SnapshotError, match="tied to the server version"):
        check_server(snap, "sha256:bbb", "devenv/db:2")


def test_matching_prefers_own_profile_and_same_server(tmp_path):
    store, snap = make_snapshot(tmp_path, {"mysql/a": b"one"})
    assert store.matching("p", "d1", "sha256:aaa").path == snap.path
    assert store.matching("other", "d1", "sha256:aaa").path == snap.path   # same dataset serves others
    assert store.matching("p", "d2", "sha256:aaa") is None
    assert store.matching("p", "d1", "sha256:bbb") is None


def test_snapshot_names_are_names(tmp_path):
    with pytest.raises(SnapshotError):
        SnapshotStore(tmp_path).dir_of("p", "../../etc")


def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def reg(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def feed_in_pieces(scanner, data, piece):
    for i in range(0, len(data), piece):
        scanner.feed(data[i:i + piece])


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("piece", [1, 511, 4096, 1 << 20])
def test_header_scanner_accepts_safe_archives(fmt, piece):
    from devenv.data.snapshots import _TarHeaderScanner
    deep = "mysql/" + "/".join(["d" * 40] * 3) + "/file"  # over 100 characters: long-name headers
    data = tar_bytes([reg("mysql/a", b"1" * 700), reg(deep, b"2" * 513), reg("mysql/empty", b"")], fmt)
    s = _TarHeaderScanner("mysql", "p/s")
    feed_in_pieces(s, data, piece)
    assert s.ended


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("bad,why", [
    ("mysql/../../etc/x", "path with .."),
    ("mysql/" + "d" * 120 + "/../../../../etc/x", "path with .."),   # long name: pax / GNU header
    ("other/x", "outside"),
])
def test_header_scanner_refuses_escapes(fmt, bad, why):
    from devenv.data.snapshots import _TarHeaderScanner
    data = tar_bytes([reg("mysql/a", b"1" * 700), reg(bad, b"evil")], fmt)
    s = _TarHeaderScanner("mysql", "p/s")
    with pytest.raises(SnapshotError, match=why):
        feed_in_pieces(s, data, 300)


def test_header_scanner_refuses_symlink_out():
    from devenv.data.snapshots import _TarHeaderScanner
    link = tarfile.TarInfo("mysql/l")
    link.type, link.linkname = tarfile.SYMTYPE, "../../root/.ssh"
    s = _TarHeaderScanner("mysql", "p/s")
    with pytest.raises(SnapshotError, match="link pointing outside"):
        s.feed(tar_bytes([(link, None)]))


def test_check_archive_refuses_any_changed_byte(tmp_path):
    from devenv.data.snapshots import check_archive
    store, snap = make_snapshot(tmp_path, {"mysql/a": b"one"})
    data = json.loads((snap.path / MANIFEST).read_text())
    data["archive_sha256"] = hashlib.sha256(snap.archive.read_bytes()).hexdigest()
    (snap.path / MANIFEST).write_text(json.dumps(data))
    snap = store.get("p", "s")
    check_archive(snap, SilentReporter())
    raw = bytearray(snap.archive.read_bytes())
    raw[-1] ^= 1
    snap.archive.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError, match="does not match the sha256"):
        check_archive(snap, SilentReporter())


# -- verify while streaming (restore) ---------------------------------------------------

def consume(snap):
    """What the Engine would receive from verified_chunks, and the error that stopped it."""
    from devenv.data.snapshots import verified_chunks
    got = bytearray()
    try:
        for chunk in verified_chunks(snap, SilentReporter()):
            got += chunk
    except SnapshotError as exc:
        return bytes(got), exc
    return bytes(got), None


def plain_tar(snap):
    return zstandard.ZstdDecompressor().stream_reader(snap.archive.open("rb")).read()


def test_verified_chunks_pass_an_intact_snapshot_whole(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"1" * 5_000_000, "mysql/b/c": b"two", "mysql/e": b""})
    got, err = consume(snap)
    assert err is None and got == plain_tar(snap)


@pytest.mark.parametrize("size", [10, 5_000_000])
def test_verified_chunks_refuse_a_changed_member_before_it_is_complete(tmp_path, size):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"1" * size, "mysql/b": b"2" * size},
                            tamper=lambda n, d: d[:-1] + b"X" if n == "mysql/a" else d)
    got, err = consume(snap)
    assert err is not None and "mysql/a does not match the sha256" in str(err)
    # the consumer never saw the end of the bad member
    assert len(got) < 512 + size


def test_verified_chunks_refuse_missing_extra_and_duplicate_members(tmp_path):
    store, snap = make_snapshot(tmp_path, {"mysql/a": b"one"})
    data = json.loads((snap.path / MANIFEST).read_text())
    data["files"]["mysql/ghost"] = {"sha256": "0" * 64, "size": 1}
    (snap.path / MANIFEST).write_text(json.dumps(data))
    _, err = consume(store.get("p", "s"))
    assert "lacks 1 file(s)" in str(err) and "mysql/ghost" in str(err)
    del data["files"]["mysql/ghost"], data["files"]["mysql/a"]
    (snap.path / MANIFEST).write_text(json.dumps(data))
    _, err = consume(store.get("p", "s"))
    assert "mysql/a is not in its manifest" in str(err)


def test_verified_chunks_refuse_a_truncated_archive_and_hold_back_its_end(tmp_path):
    _, snap = make_snapshot(tmp_path, {"mysql/a": b"1" * 100, "mysql/b": b"2" * 100})
    tar = plain_tar(snap)
    snap.archive.write_bytes(zstandard.ZstdCompressor().compress(tar[:1536]))   # mysql/a whole, b cut
    got, err = consume(snap)
    assert err is not None and "cut off" in str(err)
    assert got == b""   # a stream that fails never reaches the consumer's end of archive


def test_verified_chunks_check_the_archive_sha256(tmp_path):
    store, snap = make_snapshot(tmp_path, {"mysql/a": b"one"})
    data = json.loads((snap.path / MANIFEST).read_text())
    data["archive_sha256"] = "0" * 64
    (snap.path / MANIFEST).write_text(json.dumps(data))
    _, err = consume(store.get("p", "s"))
    assert "datadir.tar.zst does not match the sha256" in str(err)


def test_reserved_names_are_refused():
    assert "reserved" in _safe(member("mysql/.devenv-restore"), "mysql")
    assert "reserved" in _safe(member("mysql/.devenv-switching/x"), "mysql")
    assert _safe(member("mysql/.devenv-restored"), "mysql") is None


def test_stale_partials_of_dead_processes_are_removed(tmp_path):
    import os
    import subprocess
    from devenv.data.snapshots import remove_stale_partials
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".latest.partial-{dead.pid}").mkdir()
    (tmp_path / f".latest.partial-{os.getppid()}").mkdir()   # a live process: another save
    (tmp_path / "latest").mkdir()
    removed = remove_stale_partials(tmp_path)
    assert [p.name for p in removed] == [f".latest.partial-{dead.pid}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".latest.partial-{os.getppid()}", "latest"]
