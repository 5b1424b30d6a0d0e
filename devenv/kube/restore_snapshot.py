#!/usr/bin/env python3
"""Init container of the database on Kubernetes: restore the catalogue's snapshot
into an empty claim.

Runs in the ``devenv/kube-restore`` tool image (Debian base + python3 + zstd), with
the database's claim mounted at $DEVENV_DATADIR. Python's standard library only:
this file is copied into that image as is and never imports devenv.

    claim holds .devenv-restore     an earlier run of this script did not finish:
                                    everything in the claim came from it (it only
                                    starts on an empty claim), so it is wiped and
                                    the restore starts again
    claim holds anything else       nothing to do (the database's own data, or a
                                    half-done seed, which its entrypoint handles)
    no $DEVENV_CATALOGUE            nothing to restore: the database initialises
                                    itself (the recipe's seed)
    else                            fetch the catalogue entry $DEVENV_CATALOGUE_ENTRY,
                                    refuse a snapshot of another server image than
                                    $DEVENV_SERVER_IMAGE, stream its chunks (each
                                    digest checked) through `zstd -dc` into
                                    <claim>/.devenv-restore (every path kept inside,
                                    every file's sha256 checked against the snapshot's
                                    manifest, nothing missing, the archive's sha256),
                                    then move it into place, the system schema last,
                                    and remove .devenv-restore as the very last step

The MariaDB entrypoint refuses to start on a claim holding .devenv-restore, so a
kill at any moment leaves either an empty claim, our staging (wiped and redone by
the next run), or the complete snapshot.

Environment: DEVENV_DATADIR (default /var/lib/mysql), DEVENV_CATALOGUE
(HOST[:PORT]/NAMESPACE), DEVENV_CATALOGUE_ENTRY (tag of NAMESPACE/devenv-catalogue),
DEVENV_CATALOGUE_INSECURE (1: plain HTTP), DEVENV_CATALOGUE_USERNAME and
DEVENV_CATALOGUE_PASSWORD (optional, e.g. from a Secret), DEVENV_SERVER_IMAGE.
Exit 0: restored or nothing to do; exit 1: refused or failed, the claim is left
empty or as the next run's wipe will find it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

STAGING = ".devenv-restore"
RESERVED = (".devenv-restore", ".devenv-switching")
COMPLETION_DIR = "mysql"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1 << 20


class Refused(Exception):
    """The snapshot cannot be restored; the message says why."""


def log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} [devenv-kube-restore] {text}",
          file=sys.stderr, flush=True)


class Registry:
    """GET requests against the OCI distribution API, with anonymous or basic Bearer tokens."""

    def __init__(self, catalogue: str, insecure: bool, username: str = "", password: str = ""):
        host, _, self.namespace = catalogue.partition("/")
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self.basic = (base64.b64encode(f"{username}:{password}".encode()).decode() if username else None)
        self.tokens: dict[str, str] = {}

    def repo(self, name: str) -> str:
        return f"{self.namespace}/{name}" if self.namespace else name

    def open(self, repo: str, path: str, accept: str | None = None):
        url = f"{self.base}/v2/{repo}/{path}"
        for attempt in (1, 2):
            headers = {"User-Agent": "devenv-kube-restore"}
            if accept:
                headers["Accept"] = accept
            if repo in self.tokens:
                headers["Authorization"] = self.tokens[repo]
            try:
                return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1:
                    self._authenticate(repo, exc.headers.get("WWW-Authenticate", ""))
                    continue
                raise Refused(f"registry answered {exc.code} for GET {url}") from None
            except OSError as exc:
                raise Refused(f"cannot reach the registry at {self.base}: {exc}") from None
        raise Refused(f"registry refused the credentials for {repo}")

    def _authenticate(self, repo: str, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        params = dict(re.findall(r'([A-Za-z_]+)="([^"]*)"', rest))
        if scheme.lower() == "basic" and self.basic:
            self.tokens[repo] = f"Basic {self.basic}"
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise Refused(f"registry wants credentials ({challenge or 'no challenge'}) for {repo}: "
                          "set DEVENV_CATALOGUE_USERNAME and DEVENV_CATALOGUE_PASSWORD")
        query = {"scope": f"repository:{repo}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": f"Basic {self.basic}"} if self.basic else {}
        req = urllib.request.Request(params["realm"] + "?" + urllib.parse.urlencode(query), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                body = json.load(resp)
        except (OSError, ValueError) as exc:
            raise Refused(f"cannot get a registry token from {params['realm']}: {exc}") from None
        self.tokens[repo] = f"Bearer {body.get('token') or body.get('access_token')}"

    def blob(self, repo: str, digest: str) -> bytes:
        with self.open(repo, f"blobs/{digest}") as resp:
            data = resp.read()
        check_digest(data, digest, f"blob {repo}@{digest}")
        return data

    def manifest(self, repo: str, reference: str) -> dict:
        with self.open(repo, f"manifests/{reference}", OCI_MANIFEST) as resp:
            data = resp.read()
        if reference.startswith("sha256:"):
            check_digest(data, reference, f"manifest {repo}@{reference}")
        return json.loads(data)


def check_digest(data: bytes, digest: str, what: str) -> None:
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise Refused(f"{what} does not match its digest")


def unsafe(member: tarfile.TarInfo, root: str) -> str | None:
    """Why ``member`` would leave the datadir (or is not a plain file or directory), or None.

    The same rules as ``devenv.data.snapshots._safe``, restated on purpose: this file
    runs in the tool image, where devenv is not installed."""
    name = member.name
    if name.startswith("/"):
        return "absolute path"
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or "/../" in f"/{name}/":
        return "path with .."
    if norm != root and not norm.startswith(root + "/"):
        return f"outside {root}/"
    if norm[len(root) + 1:].split("/", 1)[0] in RESERVED:
        return "a name reserved for devenv's restore"
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(norm) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or (resolved != root and not resolved.startswith(root + "/")):
            return f"link pointing outside the datadir ({target})"
    elif not (member.isreg() or member.isdir()):
        return "device, fifo or other special file"
    return None


def claim_state(datadir: str) -> str:
    """'empty', 'staging' (our unfinished restore) or 'data'."""
    entries = os.listdir(datadir)
    if STAGING in entries:
        return "staging"
    return "data" if entries else "empty"


def wipe(datadir: str) -> None:
    for name in os.listdir(datadir):
        path = os.path.join(datadir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def fetch_snapshot_ref(reg: Registry, entry_tag: str) -> tuple[dict, dict]:
    """(entry's snapshot part, the snapshot's manifest.json) from the catalogue, verified."""
    catalogue = reg.repo("devenv-catalogue")
    entry_manifest = reg.manifest(catalogue, entry_tag)
    entry = json.loads(reg.blob(catalogue, entry_manifest["config"]["digest"]))
    snap = entry.get("snapshot")
    if not snap:
        raise Refused(f"catalogue entry {entry_tag} has no snapshot")
    repo = reg.repo(snap["repository"])
    art = reg.manifest(repo, snap["manifest_digest"])
    layers = [(layer["digest"], layer["size"]) for layer in art.get("layers", [])]
    if layers != [(c["digest"], c["size"]) for c in snap["chunks"]] or art["config"]["digest"] != snap["config"]["digest"]:
        raise Refused(f"snapshot artifact {repo}@{snap['manifest_digest']} does not list the entry's blobs")
    manifest = json.loads(reg.blob(repo, snap["config"]["digest"]))
    return snap | {"repository": repo}, manifest


def stream_chunks(reg: Registry, snap: dict, sink, archive_hash) -> None:
    """Every chunk, its digest checked as it streams, into ``sink`` (zstd's stdin)."""
    for chunk in snap["chunks"]:
        h = hashlib.sha256()
        with reg.open(snap["repository"], f"blobs/{chunk['digest']}") as resp:
            while data := resp.read(CHUNK):
                h.update(data)
                archive_hash.update(data)
                sink.write(data)
        if "sha256:" + h.hexdigest() != chunk["digest"]:
            raise Refused(f"snapshot chunk {chunk['digest']} does not match its digest")


def extract_verified(stream, staging: str, root: str, expected: dict[str, str]) -> None:
    """Unpack the tar ``stream`` below ``staging`` (the archive's ``root/`` stripped),
    every member judged by ``unsafe`` and every file's sha256 checked."""
    seen: set[str] = set()
    as_root = os.geteuid() == 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            why = unsafe(member, root)
            if why:
                raise Refused(f"snapshot member {member.name!r} refused: {why}")
            rel = posixpath.normpath(member.name)[len(root) + 1:]
            if not rel:
                continue
            dest = os.path.join(staging, rel)
            if member.isdir():
                os.makedirs(dest, exist_ok=True)
            elif member.isreg():
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                h = hashlib.sha256()
                src = tar.extractfile(member)
                with open(dest, "wb") as out:
                    while data := src.read(CHUNK):
                        h.update(data)
                        out.write(data)
                if expected.get(member.name) != h.hexdigest():
                    raise Refused(f"snapshot file {member.name} does not match the sha256 in its manifest")
                seen.add(member.name)
            elif member.issym():
                os.symlink(member.linkname, dest)
            else:   # hard link inside the datadir (checked by unsafe)
                os.link(os.path.join(staging, posixpath.normpath(member.linkname)[len(root) + 1:]), dest)
            if not member.issym():
                os.chmod(dest, member.mode & 0o7777)
                if as_root:
                    os.chown(dest, member.uid, member.gid)
    missing = sorted(set(expected) - seen)
    if missing:
        raise Refused(f"snapshot is incomplete: {len(missing)} files of its manifest are missing ({missing[0]}, ...)")


def switch(datadir: str, staging: str) -> None:
    """Move the staged datadir into place: the system schema last, the staging marker after it."""
    names = sorted(os.listdir(staging), key=lambda n: (n == COMPLETION_DIR, n))
    for name in names:
        os.rename(os.path.join(staging, name), os.path.join(datadir, name))
    st = os.stat(staging)
    if os.geteuid() == 0:
        os.chown(datadir, st.st_uid, st.st_gid)
    os.rmdir(staging)


def restore(env: dict[str, str]) -> str:
    """What was done, as one line; raises Refused."""
    datadir = env.get("DEVENV_DATADIR", "/var/lib/mysql")
    state = claim_state(datadir)
    if state == "staging":
        log(f"{datadir} holds an unfinished restore ({STAGING}): wiping it and starting again")
        wipe(datadir)
    elif state == "data":
        return f"{datadir} holds data: nothing to restore"
    catalogue = env.get("DEVENV_CATALOGUE", "").strip()
    if not catalogue:
        return "no catalogue configured (DEVENV_CATALOGUE): the database initialises itself"
    entry = env.get("DEVENV_CATALOGUE_ENTRY", "").strip()
    if not entry:
        raise Refused("DEVENV_CATALOGUE is set but DEVENV_CATALOGUE_ENTRY (the entry's tag) is not")
    reg = Registry(catalogue, env.get("DEVENV_CATALOGUE_INSECURE") == "1",
                   env.get("DEVENV_CATALOGUE_USERNAME", ""), env.get("DEVENV_CATALOGUE_PASSWORD", ""))
    snap, manifest = fetch_snapshot_ref(reg, entry)
    server = env.get("DEVENV_SERVER_IMAGE", "")
    if manifest.get("server_image") != server:
        raise Refused(f"snapshot {entry} was taken with server image {manifest.get('server_image')}, "
                      f"not with this database's {server or '(DEVENV_SERVER_IMAGE unset)'}: physical snapshots "
                      "are tied to the server; publish a snapshot of this profile")
    staging = os.path.join(datadir, STAGING)
    os.mkdir(staging, 0o750)
    try:
        _restore_into(reg, snap, manifest, datadir, staging, entry, catalogue)
    except BaseException:
        wipe(datadir)   # the claim was empty before: leave it empty, the next run tries again
        raise
    return f"restored snapshot {entry} into {datadir}"


def _restore_into(reg: Registry, snap: dict, manifest: dict, datadir: str, staging: str, entry: str,
                  catalogue: str) -> None:
    root = posixpath.basename(manifest["volume_target"].rstrip("/"))
    expected = {k: v["sha256"] for k, v in manifest["files"].items()}
    log(f"restoring snapshot {entry} ({manifest.get('datadir_bytes', 0) / 1e6:.0f} MB) from {catalogue}")
    zstd = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    archive_hash = hashlib.sha256()
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            stream_chunks(reg, snap, zstd.stdin, archive_hash)
        except BaseException as exc:   # reported by the main thread
            failure.append(exc)
        finally:
            try:
                zstd.stdin.close()
            except OSError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    ok = False
    try:
        extract_verified(zstd.stdout, staging, root, expected)
        while zstd.stdout.read(CHUNK):
            pass    # the tar's end padding: zstd must finish, or the feeder blocks
        ok = True
    except tarfile.TarError as exc:
        if not failure:
            raise Refused(f"snapshot archive is corrupt: {exc}") from None
    finally:
        if not ok:
            zstd.kill()   # unblocks the feeder (its writes fail)
        feeder.join()
        zstd.stdout.close()
        code = zstd.wait()
    if failure:
        raise failure[0] if isinstance(failure[0], Refused) else Refused(f"download failed: {failure[0]}")
    if code != 0:
        raise Refused(f"snapshot archive is corrupt (zstd exited with {code})")
    if manifest.get("archive_sha256") and archive_hash.hexdigest() != manifest["archive_sha256"]:
        raise Refused("snapshot archive does not match the sha256 in its manifest")
    switch(datadir, staging)


def main() -> int:
    try:
        log(restore(dict(os.environ)))
        return 0
    except Refused as exc:
        log(f"ERROR: {exc}. The database does not start until this is fixed; the claim holds no partial data "
            f"that could be mistaken for a complete one ({STAGING} is wiped by the next run).")
        return 1


if __name__ == "__main__":
    sys.exit(main())
