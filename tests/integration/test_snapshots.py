"""Snapshots on the real engine: round trip, tampering, another server image."""

import json

import pytest
import zstandard

from tests.conftest import write

pytestmark = pytest.mark.integration


def snapshot_dir(tiny, name="latest"):
    return tiny.cache / "snapshots" / "t-snap" / name


def put(tiny, text):
    tiny("exec", "db", "-p", "t-snap", "--", "sh", "-c", f"mkdir -p /var/lib/tiny/sub && echo {text} > /var/lib/tiny/sub/f")


def get(tiny):
    return tiny("exec", "db", "-p", "t-snap", "--", "cat", "/var/lib/tiny/sub/f").stdout.strip()


def test_round_trip_list_rm(tiny):
    tiny("up", "t-snap")
    put(tiny, "original")
    r = tiny("snapshot", "save", "t-snap")
    assert "saved t-snap/latest" in r.stdout
    manifest = json.loads((snapshot_dir(tiny) / "manifest.json").read_text())
    assert manifest["files"]["tiny/sub/f"]["size"] == len("original\n")
    assert manifest["server_image"].startswith("devenv/db:")
    assert get(tiny) == "original"  # the service was restarted after the copy
    put(tiny, "changed")
    tiny("snapshot", "restore", "t-snap")
    assert get(tiny) == "original"
    # the "restore in progress" marker is gone once the last byte is written
    r = tiny("exec", "db", "-p", "t-snap", "--", "ls", "-a", "/var/lib/tiny")
    assert ".devenv-init-in-progress" not in r.stdout and "sub" in r.stdout
    listing = json.loads(tiny("snapshot", "list", "--json").stdout)
    assert [(s["profile"], s["name"]) for s in listing] == [("t-snap", "latest")]
    tiny("snapshot", "rm", "latest", "-p", "t-snap")
    assert tiny("snapshot", "list").stdout.strip() == "no snapshots"
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2 and "no snapshot `latest`" in r.stderr


def test_tampered_snapshot_is_refused_and_volume_untouched(tiny):
    tiny("up", "t-snap")
    put(tiny, "original")
    tiny("snapshot", "save", "t-snap")
    put(tiny, "current")
    archive = snapshot_dir(tiny) / "datadir.tar.zst"
    raw = zstandard.ZstdDecompressor().stream_reader(archive.open("rb")).read()
    assert b"original\n" in raw
    archive.write_bytes(zstandard.ZstdCompressor().compress(raw.replace(b"original\n", b"tampered\n")))
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2, r.stderr
    assert "corrupt or tampered" in r.stderr and "datadir.tar.zst" in r.stderr
    assert get(tiny) == "current"
    archive.write_bytes(b"not zstd at all")
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2 and "corrupt" in r.stderr
    assert get(tiny) == "current"


def test_snapshot_from_another_server_image_is_refused(tiny):
    tiny("up", "t-snap")
    put(tiny, "original")
    tiny("snapshot", "save", "t-snap")
    # a different server image: the recipe changes, so the image (and its id) changes
    dockerfile = tiny.project / "images/tiny/Dockerfile.j2"
    write(dockerfile, dockerfile.read_text() + "LABEL variant=other\n")
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2
    assert "was taken with server image devenv/db:" in r.stderr and "tied to the server version" in r.stderr
    assert get(tiny) == "original"


def test_system_schema_is_saved_last(tiny):
    """A restore cut short lacks the system schema, so it is recognised as incomplete."""
    import tarfile
    tiny("up", "t-snap")
    tiny("exec", "db", "-p", "t-snap", "--", "sh", "-c",
         "mkdir -p /var/lib/tiny/mysql /var/lib/tiny/zz && echo s > /var/lib/tiny/mysql/user.MAD && echo d > /var/lib/tiny/zz/data")
    tiny("snapshot", "save", "t-snap")
    with zstandard.ZstdDecompressor().stream_reader((snapshot_dir(tiny) / "datadir.tar.zst").open("rb")) as r:
        with tarfile.open(fileobj=r, mode="r|") as tar:
            order = [m.name for m in tar]
    schema = [i for i, n in enumerate(order) if n == "tiny/mysql" or n.startswith("tiny/mysql/")]
    assert schema and schema == list(range(len(order) - len(schema), len(order))), order
    assert "tiny/zz/data" in order
