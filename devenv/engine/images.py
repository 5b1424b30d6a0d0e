"""Base OS images from the distribution's archive, and content-addressed service images.

Base images: ``debootstrap`` into a temporary directory, then imported as an image
tagged by what went into it (distribution, release, variant, mirror, extra
packages). No registry is needed: the OS comes from the same archive production
installs from. An image of that tag already present locally is used as is.

Service images: built through the Engine's build API from the in-memory build
context; the tag is the content hash, so an existing tag means "nothing to build".
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import docker.errors

from .. import names
from ..errors import BuildError, DevenvError, PackagePinError
from ..render import BaseImage, ImagePlan
from ..ui import Reporter
from .client import Engine

PIN_MARKER = "DEVENV-PIN-MISSING"


def image_exists(engine: Engine, tag: str) -> bool:
    try:
        engine.api.inspect_image(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


@contextmanager
def _tag_lock(tag: str):
    """One build of a tag at a time on this machine: two `devenv up` (or test workers) that both
    miss an image build it once; the second waits, then finds it (callers check again inside)."""
    d = Path(tempfile.gettempdir()) / "devenv-image-locks"
    try:
        d.mkdir(mode=0o1777, exist_ok=True)
        f = open(d / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".lock"), "w")
    except OSError:   # another user's lock directory: build unlocked, as before
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def sources_list(base: BaseImage) -> str:
    """APT sources as a Debian installer writes them: release, updates and security."""
    os_ = base.os
    security = os_.mirror.rstrip("/") + "-security"
    return (f"deb {os_.mirror} {os_.release} main\n"
            f"deb {os_.mirror} {os_.release}-updates main\n"
            f"deb {security} {os_.release}-security main\n")


def ensure_base(engine: Engine, base: BaseImage, reporter: Reporter) -> bool:
    """Make sure the base image exists; bootstrap it when needed. True when built."""
    if image_exists(engine, base.tag):
        return False
    with _tag_lock(base.tag):
        if image_exists(engine, base.tag):   # built by another devenv meanwhile
            return False
        return _bootstrap(engine, base, reporter)


def _bootstrap(engine: Engine, base: BaseImage, reporter: Reporter) -> bool:
    if not base.bootstrapped:
        raise DevenvError(f"base image {base.tag} (os.image in the profile) is not present on the engine",
                          "Load or build it first (docker load / docker pull), or drop os.image so devenv bootstraps one.")
    debootstrap = shutil.which("debootstrap")
    if not debootstrap:
        raise DevenvError("debootstrap is not installed; devenv builds base OS images with it",
                          "Install it: `apt-get install -y debootstrap` (scripts/engine.sh does).")
    if os.geteuid() != 0:
        raise DevenvError("building a base image with debootstrap needs root",
                          "Run this `devenv up` once as root (e.g. `sudo devenv up`); later runs reuse the image.")
    os_ = base.os
    with reporter.step(f"bootstrap {os_.distribution} {os_.release} ({os_.variant}) -> {base.tag}"):
        workdir = Path(tempfile.mkdtemp(prefix="devenv-rootfs-"))
        try:
            cmd = [debootstrap, f"--variant={os_.variant}"]
            if os_.include:
                cmd.append("--include=" + ",".join(sorted(os_.include)))
            cmd += [os_.release, str(workdir), os_.mirror]
            _run_logged(cmd, reporter, f"debootstrap {os_.release}")
            _trim_rootfs(workdir, base)
            tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(workdir), "-c", "."],
                                   stdout=subprocess.PIPE)
            try:
                repo, tag = base.tag.rsplit(":", 1)
                engine.api.import_image(
                    src=tar.stdout, repository=repo, tag=tag, stream_src=True,
                    changes=[f'LABEL {names.MANAGED}="true" {names.KIND}="base" {names.IMAGE_HASH}="{base.hash}"',
                             'CMD ["bash"]',
                             "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
            finally:
                tar.stdout.close()
                if tar.wait() != 0:
                    raise BuildError(base.tag, "tar of the bootstrapped root failed")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return True


def _trim_rootfs(root: Path, base: BaseImage) -> None:
    """Leave a rootfs as a container image wants it: sources configured, no caches."""
    (root / "etc/apt/sources.list").write_text(sources_list(base))
    # every image build runs `apt-get update` first: no lists or .debs in the base
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial/*",
                    "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
        for path in root.glob(pattern):
            path.unlink(missing_ok=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/apt.conf.d/99devenv-no-languages").write_text('Acquire::Languages "none";\n')
    # debootstrap copied the host's: the engine provides both at run time
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hostname").unlink(missing_ok=True)
    # policy-rc.d: services must not start inside image builds
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def _run_logged(cmd: list[str], reporter: Reporter, what: str) -> None:
    tail: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        reporter.detail(line)
    if proc.wait() != 0:
        raise BuildError(what, f"{cmd[0]} exited with {proc.returncode}", tail)


def build_image(engine: Engine, plan: ImagePlan, reporter: Reporter) -> None:
    """Build one service image from its in-memory context, tagged by its content hash."""
    tail: list[str] = []
    with reporter.step(f"build {plan.tag}"):
        try:
            stream = engine.api.build(
                fileobj=plan.tar(), custom_context=True, tag=plan.tag, rm=True, forcerm=True,
                decode=True, pull=False, labels=build_labels(plan),
                buildargs=dict(plan.build_args) or None)
            for chunk in stream:
                if "stream" in chunk:
                    for line in chunk["stream"].splitlines():
                        if line.strip():
                            tail = (tail + [line.rstrip()])[-20:]
                            reporter.detail(line.strip())
                if "error" in chunk:
                    _raise_build_error(plan, chunk["error"], tail)
        except docker.errors.APIError as exc:
            _raise_build_error(plan, exc.explanation or str(exc), tail)


def build_labels(plan: ImagePlan) -> dict[str, str] | None:
    """The labels= of the build: none when the Dockerfile writes devenv's labels itself
    (``_base`` does, before the config layer). The classic builder adds one uncached
    LABEL step per label given here, after everything else, on every build."""
    text = next((f.data for f in plan.files if f.path == "Dockerfile"), b"").decode(errors="replace")
    wanted = names.service_image_labels(plan.service)
    if all(re.search(rf'^LABEL\b.*\b{re.escape(k)}="{re.escape(v)}"', text, re.M) for k, v in wanted.items()):
        return None
    return wanted


def _raise_build_error(plan: ImagePlan, error: str, tail: list[str]) -> None:
    for line in tail:
        # the marker line as printed by the pin check, not the echo of the RUN step itself
        m = re.match(PIN_MARKER + r" (\S+) (\S+) ?(\S*)$", line.strip())
        if m:
            available = [v for v in m.group(3).split(",") if v and v != "-"]
            raise PackagePinError(plan.service, m.group(1), m.group(2), available)
    raise BuildError(plan.tag, error.strip(), tail)


def ensure_images(engine: Engine, plans: list[ImagePlan], base: BaseImage, reporter: Reporter) -> list[str]:
    """Build every image whose tag is missing; returns the tags built."""
    missing = [p for p in plans if not image_exists(engine, p.tag)]
    if not missing:
        return []
    ensure_base(engine, base, reporter)
    built = []
    for plan in missing:
        with _tag_lock(plan.tag):
            if not image_exists(engine, plan.tag):   # else built by another devenv meanwhile
                build_image(engine, plan, reporter)
                built.append(plan.tag)
    return built


def ensure_service_image(engine: Engine, profiles_dir, profile: str, service: str, reporter: Reporter) -> str:
    """The tag of one service image of a profile, built first when missing."""
    from ..profile import ProfileStore
    from ..render import Renderer
    store = ProfileStore.locate(profiles_dir)
    stack = Renderer(store.images_dir).render(store.load(profile))
    plan = stack.services[service].image
    ensure_images(engine, [plan], stack.base, reporter)
    return plan.tag


def remove_unused(engine: Engine, tags: list[str]) -> list[str]:
    """Remove the service images of ``tags`` that no container uses; the ones removed."""
    removed = []
    for tag in tags:
        try:
            info = engine.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            continue
        if (info.get("Config") or {}).get("Labels", {}).get(names.KIND) != "service":
            continue   # only images devenv built for a service
        if engine.api.containers(all=True, filters={"ancestor": info["Id"]}):
            continue
        try:
            engine.api.remove_image(tag, noprune=False)
            removed.append(tag)
        except docker.errors.APIError:
            continue   # in use by now, or removed meanwhile: keep going
    return removed
