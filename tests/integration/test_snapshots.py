"""Snapshots on the real engine: round trip, tampering, another server image."""

import json

import pytest
import zstandard

from tests.conftest import write
from tests.integration.interrupting import finish

pytestmark = pytest.mark.integration


def snapshot_dir(tiny, name="latest"):
    return tiny.cache / "snapshots" / tiny.name / "t-snap" / name


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
    # the volume holds exactly the snapshot: no staging, no switch journal left behind
    r = tiny("exec", "db", "-p", "t-snap", "--", "ls", "-A", "/var/lib/tiny")
    assert r.stdout.split() == ["sub"]
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
    r = tiny("exec", "db", "-p", "t-snap", "--", "ls", "-A", "/var/lib/tiny")
    assert r.stdout.split() == ["sub"]  # the staging was removed
    archive.write_bytes(b"not zstd at all")
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2 and "corrupt" in r.stderr
    assert get(tiny) == "current"


def test_snapshot_survives_an_image_edit_and_is_refused_by_another_server(tiny):
    tiny("up", "t-snap")
    put(tiny, "original")
    tiny("snapshot", "save", "t-snap")
    # a harmless image edit (a label): another image id, the same server identity: restorable
    dockerfile = tiny.project / "images/tiny/Dockerfile.j2"
    base = dockerfile.read_text()
    write(dockerfile, base + "LABEL variant=other\n")
    put(tiny, "current")
    tiny("up", "t-snap")
    r = tiny("snapshot", "restore", "t-snap")
    assert get(tiny) == "original"
    # another server version (the image now answers `mariadbd --version` with 11.4): refused
    write(dockerfile, base + "RUN printf '#!/bin/sh\\necho \"mariadbd  Ver 11.4.2-MariaDB for debian-linux-gnu\"\\n' "
                             "> /usr/local/bin/mariadbd && chmod +x /usr/local/bin/mariadbd\n")
    put(tiny, "current")
    r = tiny("snapshot", "restore", "t-snap", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "server version:" in r.stderr and "11.4" in r.stderr, r.stderr
    assert "readable only by the same engine, version, architecture and page size" in r.stderr
    assert get(tiny) == "current"


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


def test_ctrl_c_during_save_stops_at_once_restarts_and_leaves_nothing(tiny, engine):
    """16.3: Ctrl-C while the Engine streams the datadir: prompt back within 2 s, no
    partial folder, the service running again; a SIGKILLed save's partial is removed
    by the next save."""
    import signal
    import subprocess
    import sys
    import time
    import os
    tiny("up", "t-snap")
    tiny("exec", "db", "-p", "t-snap", "--", "sh", "-c", "head -c 600000000 /dev/urandom > /var/lib/tiny/big")
    env = {**os.environ, "DEVENV_LABELS": tiny_label(), "DEVENV_CACHE": str(tiny.cache)}
    env.pop("DEVENV_PROFILES_DIR", None)
    p = subprocess.Popen([sys.executable, "-m", "devenv", "snapshot", "save", "t-snap"], cwd=tiny.project,
                         env=env, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("==> save snapshot"):
            break
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    code, rest = finish(p, 30)
    took = time.monotonic() - sent
    assert code == 130, rest
    assert took < 2.0, (took, rest)
    assert "nothing was saved" in rest and "was started again" in rest and "Traceback" not in rest
    profile_dir = tiny.cache / "snapshots" / tiny.name / "t-snap"
    assert not list(profile_dir.glob(".*partial*")) and not (profile_dir / "latest").exists()
    assert engine.containers.get(tiny.container("t-snap", "db")).status == "running"
    # a SIGKILLed save leaves its partial; the next save removes it
    p = subprocess.Popen([sys.executable, "-m", "devenv", "snapshot", "save", "t-snap"], cwd=tiny.project,
                         env=env, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("==> save snapshot"):
            break
    p.kill()
    p.wait()
    assert list(profile_dir.glob(".latest.partial-*"))
    tiny("up", "t-snap")
    tiny("exec", "db", "-p", "t-snap", "--", "rm", "/var/lib/tiny/big")
    tiny("snapshot", "save", "t-snap")
    assert not list(profile_dir.glob(".*partial*")) and (profile_dir / "latest").is_dir()


def tiny_label():
    from tests.integration.conftest import TEST_LABEL
    return TEST_LABEL
