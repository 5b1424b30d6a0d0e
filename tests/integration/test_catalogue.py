"""The catalogue against a real registry (Debian's docker-registry on 127.0.0.1): publish,
list, pull, `up` from what was pulled; an interrupted pull resumes; a tampered blob is
refused; a registry that is down or lacks the profile gives a clear error.

Tiny stack: one `tiny` service with a datadir volume, images unique to each test
(a random greeting goes into them) so removing "the local images" only ever removes
what the test built. Snapshots are small but split into many 256 KiB chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import docker.errors
import pytest

from devenv.profile import ProfileStore
from devenv.render import Renderer
from tests.conftest import write
from tests.integration.conftest import TEST_LABEL, cleanup
from tests.integration.registry import Proxy, free_port, registry  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

CHUNK = "256K"


class CatalogueDevenv:
    """The devenv CLI with the catalogue commands (python -m devenv), in a project."""

    def __init__(self, project: Path, cache: Path):
        self.project, self.cache = project, cache

    def env(self) -> dict:
        env = {**os.environ, "DEVENV_LABELS": TEST_LABEL, "DEVENV_CACHE": str(self.cache)}
        env.pop("DEVENV_PROFILES_DIR", None)
        env.pop("DEVENV_REGISTRY", None)
        return env

    def argv(self, *args) -> list[str]:
        return [sys.executable, "-m", "devenv", *map(str, args)]

    def __call__(self, *args, check=True, timeout=600):
        r = subprocess.run(self.argv(*args), cwd=self.project, env=self.env(), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"devenv {' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def popen(self, *args) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), cwd=self.project, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def image_tags(project: Path, profile: str) -> list[str]:
    store = ProfileStore.locate(project / "profiles")
    stack = Renderer(store.images_dir).render(store.load(profile))
    return sorted({sp.image.tag for sp in stack.services.values()})


def remove_images(engine, tags) -> None:
    for tag in tags:
        try:
            engine.images.remove(tag)
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture
def cat(tiny, engine, registry):  # noqa: F811
    """The tiny project with t-cat (and t-other) whose images only this test has; a fresh namespace."""
    uid = uuid.uuid4().hex[:10]
    for name in ("t-cat", "t-other"):
        write(tiny.project / f"profiles/{name}.yaml", f"""\
description: catalogue test {name}
os: {{distribution: debian, release: bookworm}}
vars: {{greeting: "{uid} {name}"}}
services:
  db:
    recipe: tiny
    files: {{/etc/greeting.txt: tiny/greeting.txt.j2}}
    volumes: {{datadir: /var/lib/tiny}}
""")
    dv = CatalogueDevenv(tiny.project, tiny.cache)
    dv.name = tiny.name
    dv.ns = f"{registry.host}/t{uid}"
    dv.tags = image_tags(tiny.project, "t-cat") + image_tags(tiny.project, "t-other")
    yield dv
    cleanup(engine)            # the containers first (tiny's teardown comes after ours)
    remove_images(engine, dv.tags)


def fill(dv, text: str, megabytes: int = 3) -> str:
    """Random data plus a marker into the tiny datadir; returns the sha256 of both files."""
    dv("exec", "db", "-p", "t-cat", "--", "sh", "-c",
       f"mkdir -p /var/lib/tiny/sub && head -c {megabytes * 1000000} /dev/urandom > /var/lib/tiny/sub/rand "
       f"&& echo {text} > /var/lib/tiny/sub/f")
    return checksum(dv)


def checksum(dv) -> str:
    return dv("exec", "db", "-p", "t-cat", "--", "sh", "-c", "cd /var/lib/tiny/sub && sha256sum rand f").stdout


def publish_tiny(dv, text="original", **kw) -> str:
    dv("up", "t-cat")
    sums = fill(dv, text, **kw)
    dv("snapshot", "save", "t-cat")
    r = dv("publish", "t-cat", "--registry", dv.ns, "--chunk-size", CHUNK)
    assert "published t-cat to" in r.stdout, r.stdout
    return sums


def listing(dv, registry_ref=None) -> dict:
    out = json.loads(dv("catalogue", "--registry", registry_ref or dv.ns, "--json").stdout)
    return {e["entry"]: e for e in out["entries"]}


def snapshot_manifest(registry, dv, tag="t-cat") -> tuple[dict, str]:  # noqa: F811
    """The snapshot artifact's manifest as the registry holds it, and its digest."""
    ns = dv.ns.split("/", 1)[1]
    req = urllib.request.Request(f"{registry.url}/v2/{ns}/devenv-snapshots/manifests/{tag}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    assert r.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    return json.loads(raw), r.headers["Docker-Content-Digest"]


def downloads(dv) -> set[str]:
    """Everything staged under <cache>/downloads, as paths relative to it."""
    d = dv.cache / "downloads"
    return {p.relative_to(d).as_posix() for p in d.rglob("*")} if d.is_dir() else set()


def test_round_trip_publish_delete_pull_up(cat, engine):
    sums = publish_tiny(cat)
    entry = listing(cat)["t-cat"]
    assert entry["present"] == "yes" and entry["profile"] == "t-cat"
    assert entry["description"] == "catalogue test t-cat" and entry["datadir_bytes"] > 3_000_000

    # a developer's machine: no images, no snapshot, no volume
    cat("down", "t-cat", "--volumes")
    remove_images(engine, cat.tags)
    cat("snapshot", "rm", "latest", "-p", "t-cat")
    assert listing(cat)["t-cat"]["present"] == "no"

    r = cat("pull", "t-cat", "--registry", cat.ns)
    assert "pulled 1 image(s)" in r.stdout and "snapshot t-cat/latest installed" in r.stdout, r.stdout
    assert "MB/s" in r.stderr   # progress: bytes and rate
    assert listing(cat)["t-cat"]["present"] == "yes"
    assert downloads(cat) == set()   # staged chunks are gone once installed
    marker = json.loads((cat.cache / f"snapshots/{cat.name}/t-cat/latest/catalogue.json").read_text())
    assert marker["registry"] == cat.ns and marker["entry"] == "t-cat"

    r = cat("up", "t-cat")
    assert "built" not in r.stdout, r.stdout          # every image came from the registry: no build, no base image
    cat("snapshot", "restore", "t-cat")
    assert checksum(cat) == sums

    r = cat("pull", "t-cat", "--registry", cat.ns)   # again: nothing to do
    assert "1 image(s) already here" in r.stdout and "snapshot t-cat/latest present" in r.stdout, r.stdout


def test_interrupted_pull_resumes_without_refetching_finished_chunks(cat, registry):  # noqa: F811
    publish_tiny(cat)
    manifest, digest = snapshot_manifest(registry, cat)
    chunks = [layer["digest"] for layer in manifest["layers"]]
    assert len(chunks) >= 10
    cat("snapshot", "rm", "latest", "-p", "t-cat")
    staging = cat.cache / "downloads" / digest.split(":")[1]     # the artifact's staging directory

    # Ctrl-C while the 5th chunk is half downloaded (the stalled connection never finishes)
    cut = 100_000
    with Proxy(registry.host, match="/devenv-snapshots/blobs/", break_after=1 + 4, cut=cut, mode="stall") as proxy:
        ref = proxy.host + "/" + cat.ns.split("/", 1)[1]
        p = cat.popen("pull", "t-cat", "--registry", ref, "--transfers", "1")
        assert proxy.interrupted.wait(60), p.communicate(timeout=30)
        progress = staging / (chunks[4].split(":")[1] + ".part")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if progress.exists() and progress.read_bytes().strip() == str(cut).encode():
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 130, err
        assert "interrupted" in err
    done = {c.split(":")[1] for c in chunks[:4]}
    assert {f"{staging.name}/{d}.done" for d in done} <= downloads(cat)
    assert int(progress.read_bytes()) == cut
    assert not (cat.cache / "snapshots/devenv/t-cat/latest").exists()   # nothing installed from a half pull

    with Proxy(registry.host, match="/devenv-snapshots/blobs/") as proxy:
        ref = proxy.host + "/" + cat.ns.split("/", 1)[1]
        r = cat("pull", "t-cat", "--registry", ref)
        fetched = dict(proxy.blob_gets())
    assert "snapshot t-cat/latest installed" in r.stdout
    assert not done & {d.split(":")[1] for d in fetched}, "finished chunks were fetched again"
    assert fetched[chunks[4]] == f"bytes={cut}-"                  # the partial chunk is resumed
    assert set(chunks[5:]) <= set(fetched)
    assert downloads(cat) == set()
    cat("snapshot", "restore", "t-cat")                             # and the result is the snapshot


def as_developer(cat, engine) -> None:
    """What a developer's machine has before the pull: no images, no snapshot, no volume."""
    cat("down", "t-cat", "--volumes")
    remove_images(engine, cat.tags)
    cat("snapshot", "rm", "latest", "-p", "t-cat")


def assert_nothing_installed(cat, engine) -> None:
    for tag in image_tags(cat.project, "t-cat"):
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(tag)
    assert not (cat.cache / "snapshots/devenv/t-cat/latest").exists()
    assert listing(cat)["t-cat"]["present"] == "no"          # not `partial`


def test_corrupt_chunk_installs_nothing(cat, engine, registry):  # noqa: F811
    publish_tiny(cat)
    as_developer(cat, engine)
    victim = snapshot_manifest(registry, cat)[0]["layers"][2]["digest"]
    blob = registry.blob_file(victim)
    original = blob.read_bytes()
    tampered = bytearray(original)
    tampered[1000:1004] = bytes(b ^ 0xFF for b in tampered[1000:1004])
    blob.write_bytes(bytes(tampered))
    try:
        r = cat("pull", "t-cat", "--registry", cat.ns, check=False)
        assert r.returncode == 1, r.stderr
        assert f"snapshot chunk {victim} of snapshot t-cat/latest" in r.stderr, r.stderr
        assert "does not match its digest" in r.stderr and "nothing was installed" in r.stderr
        assert "Re-running the pull will not help" in r.stderr
        assert "Traceback" not in r.stderr
        assert_nothing_installed(cat, engine)
        assert not any(name.endswith(victim.split(":")[1] + ".done") for name in downloads(cat))
    finally:
        blob.write_bytes(original)
    r = cat("pull", "t-cat", "--registry", cat.ns)
    assert "pulled 1 image(s)" in r.stdout and "snapshot t-cat/latest installed" in r.stdout, r.stdout


def test_short_blob_is_refused_and_rerunning_says_so(cat, engine, registry):  # noqa: F811
    publish_tiny(cat)
    as_developer(cat, engine)
    victim = snapshot_manifest(registry, cat)[0]["layers"][3]["digest"]
    size = registry.blob_file(victim).stat().st_size

    # a proxy that keeps the Content-Length of the whole blob and sends only its first 100,000 bytes
    with Proxy(registry.host, shorten=(victim, 100_000)) as proxy:
        ref = proxy.host + "/" + cat.ns.split("/", 1)[1]
        r = cat("pull", "t-cat", "--registry", ref, check=False)
    assert r.returncode == 1, r.stderr
    assert (f"the registry serves a short blob: snapshot chunk {victim} of snapshot t-cat/latest from "
            f"{proxy.host}/") in r.stderr, r.stderr
    assert f"is {size:,} bytes, the registry sends 100,000" in r.stderr
    assert "Re-running the pull will not help" in r.stderr and "it resumes" not in r.stderr
    assert_nothing_installed(cat, engine)

    # the registry's own storage truncated: it answers with a complete, shorter response
    blob = registry.blob_file(victim)
    original = blob.read_bytes()
    blob.write_bytes(original[:size // 2])
    try:
        for _ in range(2):                    # the same answer every time: not "run it again"
            r = cat("pull", "t-cat", "--registry", cat.ns, check=False)
            assert r.returncode == 1, r.stderr
            assert f"the registry serves a short blob: snapshot chunk {victim} of snapshot t-cat/latest" in r.stderr
            assert f"the registry sends {size // 2:,} in a complete response" in r.stderr, r.stderr
            assert "Re-running the pull will not help" in r.stderr
            assert_nothing_installed(cat, engine)
    finally:
        blob.write_bytes(original)
    r = cat("pull", "t-cat", "--registry", cat.ns)
    assert "snapshot t-cat/latest installed" in r.stdout


def test_dropped_connection_is_resumable_and_the_next_pull_completes(cat, engine, registry):  # noqa: F811
    publish_tiny(cat)
    as_developer(cat, engine)
    manifest, digest = snapshot_manifest(registry, cat)
    chunks = [layer["digest"] for layer in manifest["layers"]]
    staging = cat.cache / "downloads" / digest.split(":")[1]

    # the 5th chunk breaks after 100,000 bytes and the registry stays unreachable
    cut = 100_000
    with Proxy(registry.host, match="/devenv-snapshots/blobs/", break_after=1 + 4, cut=cut, mode="down") as proxy:
        ref = proxy.host + "/" + cat.ns.split("/", 1)[1]
        r = cat("pull", "t-cat", "--registry", ref, "--transfers", "1", check=False)
    assert r.returncode == 1, r.stderr
    assert f"the download from {ref} was cut off: the connection broke while downloading snapshot chunk " \
           f"{chunks[4]} of snapshot t-cat/latest ({cut:,} of" in r.stderr, r.stderr
    assert "Run the pull again: it resumes" in r.stderr and "will not help" not in r.stderr
    assert int((staging / (chunks[4].split(":")[1] + ".part")).read_bytes()) == cut
    assert_nothing_installed(cat, engine)

    with Proxy(registry.host, match="/devenv-snapshots/blobs/") as proxy:
        ref = proxy.host + "/" + cat.ns.split("/", 1)[1]
        r = cat("pull", "t-cat", "--registry", ref)
        fetched = dict(proxy.blob_gets())
    assert "pulled 1 image(s)" in r.stdout and "snapshot t-cat/latest installed" in r.stdout, r.stdout
    assert not {c for c in chunks[:4]} & set(fetched), "finished chunks were fetched again"
    assert fetched[chunks[4]] == f"bytes={cut}-"
    assert downloads(cat) == set()
    cat("snapshot", "restore", "t-cat")


def test_up_after_pull_needs_no_base_image(cat, engine):
    """A profile whose base image (os.image) is not on this machine: `up` after a pull builds
    nothing, so it never needs it (it would fail: devenv cannot make an os.image itself)."""
    from devenv.profile.model import OsSpec
    from devenv.render import BaseImage
    cat("up", "t-cat")                                        # makes sure a Debian base image exists
    debian = BaseImage.for_os(OsSpec("debian", "bookworm")).tag
    base = f"devenv-test/base-{cat.ns.rsplit('/t', 1)[1]}:1"
    engine.images.get(debian).tag(*base.split(":"))
    write(cat.project / "profiles/t-nobase.yaml", f"""\
description: catalogue test without a base image
os: {{distribution: debian, release: bookworm, image: "{base}"}}
vars: {{greeting: "{cat.ns} nobase"}}
services:
  db:
    recipe: tiny
    files: {{/etc/greeting.txt: tiny/greeting.txt.j2}}
    volumes: {{datadir: /var/lib/tiny}}
""")
    tags = image_tags(cat.project, "t-nobase")
    cat.tags += tags
    try:
        cat("up", "t-nobase")
        published = {t: engine.images.get(t).id for t in tags}
        cat("exec", "db", "-p", "t-nobase", "--", "sh", "-c", "echo kept > /var/lib/tiny/f")
        cat("snapshot", "save", "t-nobase")
        cat("publish", "t-nobase", "--registry", cat.ns, "--chunk-size", CHUNK)

        cat("down", "t-nobase", "--volumes")
        remove_images(engine, tags + [base])
        cat("snapshot", "rm", "latest", "-p", "t-nobase")
        r = cat("up", "t-nobase", check=False)                 # the premise: without a pull, up cannot build
        assert r.returncode == 2 and f"base image {base}" in r.stderr, r.stderr
        assert not any(engine.images.list(name=t) for t in tags)

        r = cat("pull", "t-nobase", "--registry", cat.ns)
        assert "pulled 1 image(s)" in r.stdout, r.stdout
        r = cat("up", "t-nobase")
        assert "built" not in r.stdout, r.stdout
        assert {t: engine.images.get(t).id for t in tags} == published      # the pulled images, not new builds
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(base)                            # and no base image appeared meanwhile
        cat("snapshot", "restore", "t-nobase")
        assert cat("exec", "db", "-p", "t-nobase", "--", "cat", "/var/lib/tiny/f").stdout.strip() == "kept"
    finally:
        cat("down", "t-nobase", "--volumes", check=False)
        remove_images(engine, [base])


def test_registry_down_and_unknown_profile(cat):
    down = f"127.0.0.1:{free_port()}"
    for args in (["catalogue", "--registry", down], ["pull", "t-cat", "--registry", down],
                 ["publish", "t-cat", "--registry", down]):
        r = cat(*args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert f"cannot reach the registry {down}: connection refused" in r.stderr, r.stderr

    r = cat("pull", "t-cat", "--registry", cat.ns, check=False)      # nothing published there yet
    assert r.returncode == 2 and "has no devenv catalogue" in r.stderr, r.stderr
    r = cat("catalogue", "--registry", cat.ns)
    assert "is empty" in r.stdout

    publish_tiny(cat, megabytes=1)
    r = cat("pull", "t-other", "--registry", cat.ns, check=False)
    assert r.returncode == 2, r.stderr
    assert f"the catalogue at {cat.ns} has no t-other" in r.stderr and "It has: t-cat" in r.stderr
    r = cat("pull", "t-cat", "--registry", cat.ns, "--tag", "nope", check=False)
    assert r.returncode == 2 and "has no t-cat with tag nope" in r.stderr, r.stderr

    r = cat("publish", "t-other", "--registry", cat.ns, check=False)   # never run here: nothing to publish
    assert r.returncode == 2 and "are not built here" in r.stderr and "devenv up t-other" in r.stderr, r.stderr
    cat("up", "t-other")
    r = cat("publish", "t-other", "--registry", cat.ns, check=False)   # no snapshot of its database
    assert r.returncode == 2, r.stderr
    assert "has no snapshot of its current database to publish" in r.stderr
    assert "devenv snapshot save t-other" in r.stderr
