"""Block-level copy-on-write clones: a btrfs store on the engine's host.

Overlay clones (``clones.py``) share data per *file*: InnoDB opens every tablespace it
touches read-write, even to read it, so the first start of a clone copies the largest
tablespaces up whole (1.1 GB of 1.4 GB for ``large-db``). A btrfs snapshot shares data
per *block* (extent): a clone costs a few kilobytes of metadata, and only the blocks a
server writes are ever copied.

**The store** is a directory on a btrfs filesystem of the engine's host, by default
``/var/lib/devenv/cow`` (``$DEVENV_COW_STORE`` names another; ``off`` disables it).
``scripts/cow-store.sh`` makes one on a loop file where the host's filesystem is not btrfs
(``scripts/engine.sh`` runs it). The store is used when it exists, is btrfs, is writable
by this process, the ``btrfs`` tool is installed and the engine shares this machine's
filesystem; otherwise clones are overlays, as before.

Layout: ``bases/<base>`` is a subvolume holding the unpacked snapshot, filled through a
Docker volume bound to it (the same verified restore as every restore) and then made
**read-only** (``btrfs property set ro true``): the kernel refuses writes into it.
``clones/<volume>`` is a writable snapshot of a base, the data of the instance's datadir
volume (a Docker local volume bound to that path). A snapshot is atomic, so a killed
``devenv`` leaves at worst a clone directory without its Docker volume, which nothing
ever used: the next clone of that name deletes it first.

This module owns only the store and its btrfs operations; ``clones.py`` decides when a
clone is made and keeps the Docker volumes' labels (reference counts, seals).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import names
from ..digest import sha256_bytes
from ..errors import DevenvError

STORE_ENV = "DEVENV_COW_STORE"
DEFAULT_STORE = "/var/lib/devenv/cow"
COW_PATH = f"{names.PREFIX}.cow-path"      # on volumes bound into the store: their directory there
OFF = ("0", "off", "no", "false", "none")
MARKER = ".devenv-cow-store"               # in the store's root: what makes a directory one


class CowStoreError(DevenvError):
    """A btrfs operation of the store failed."""


@dataclass(frozen=True)
class CowStore:
    root: Path

    def base_path(self, base: str) -> Path:
        return self.root / "bases" / base

    def clone_path(self, volume: str) -> Path:
        return self.root / "clones" / volume

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` is a base or clone directory of this store (never anything else:
        a label naming a path is only trusted this far)."""
        p = Path(path)
        return p.parent in (self.root / "bases", self.root / "clones") and p.name not in ("", ".", "..")


def _fs_type(path: Path) -> str:
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


_found: dict[str, tuple[CowStore | None, str]] = {}


def find_store() -> tuple[CowStore | None, str]:
    """The store, or None and why not (for ``up --dry-run`` and the docs' diagnosis)."""
    setting = os.environ.get(STORE_ENV, "").strip()
    if setting.lower() in OFF:
        return None, f"{STORE_ENV} is off"
    path = Path(setting or DEFAULT_STORE)
    key = str(path)
    if key in _found:
        return _found[key]
    if not path.is_dir():
        found = (None, f"no copy-on-write store at {path} (scripts/cow-store.sh makes one)")
    elif shutil.which("btrfs") is None:
        found = (None, "the btrfs tool is not installed (Debian: btrfs-progs)")
    elif _fs_type(path) != "btrfs":
        found = (None, f"{path} is not on a btrfs filesystem")
    elif not os.access(path, os.W_OK):
        found = (None, f"{path} is not writable by this user")
    else:
        store = CowStore(path.resolve())
        for sub in ("bases", "clones"):
            (store.root / sub).mkdir(exist_ok=True)
        (store.root / MARKER).touch()
        found = (store, "")
    _found[key] = found
    return found


def _btrfs(*args: str) -> str:
    try:
        run = subprocess.run(["btrfs", *args], capture_output=True, text=True)
    except OSError as exc:
        raise CowStoreError(f"btrfs {' '.join(args)} could not run: {exc}") from None
    if run.returncode != 0:
        raise CowStoreError(f"btrfs {' '.join(args)} failed: {(run.stderr or run.stdout).strip()[-400:]}",
                            "Check the store's filesystem (`btrfs filesystem df` on it) and its free space.")
    return run.stdout


def is_subvolume(path: Path) -> bool:
    # the root of a btrfs subvolume has inode number 256
    try:
        return path.is_dir() and not path.is_symlink() and path.stat().st_ino == 256
    except OSError:
        return False


def create_subvolume(path: Path) -> None:
    """A new subvolume whose files are made without copy-on-write of their own (``chattr +C``,
    inherited by every file created in it): a database rewrites its pages in place, and btrfs'
    per-write copy-on-write made a full-table UPDATE 4x slower than on ext4. Snapshots still
    share the blocks: the first write to a shared block copies it once, later writes go in place."""
    _btrfs("subvolume", "create", str(path))
    try:
        subprocess.run(["chattr", "+C", str(path)], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pass   # without it clones still work; writes are only slower


def snapshot(source: Path, dest: Path) -> None:
    """A writable snapshot of ``source`` at ``dest`` (atomic: it exists whole or not at all)."""
    _btrfs("subvolume", "snapshot", str(source), str(dest))


def set_read_only(path: Path) -> None:
    _btrfs("property", "set", "-ts", str(path), "ro", "true")


def is_read_only(path: Path) -> bool:
    return _btrfs("property", "get", "-ts", str(path), "ro").strip() == "ro=true"


def delete(path: Path) -> None:
    """Delete a subvolume of the store (read-only ones too); a missing one is no error. A plain
    directory (a fill that failed before its subvolume existed cannot leave one, but a hand-made
    directory can) is removed as a tree."""
    if not path.exists() and not path.is_symlink():
        return
    if is_subvolume(path):
        if is_read_only(path):
            _btrfs("property", "set", "-ts", str(path), "ro", "false")
        _btrfs("subvolume", "delete", str(path))
    elif path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def tree_seal(root: Path) -> str:
    """sha256 of a listing of every entry below ``root`` (path, type and mode, owner, size,
    mtime, ctime): any write changes a ctime, which no user-space call can set back."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            lines.append(f"{os.path.relpath(p, root)}\0{st.st_mode:o} {st.st_uid}:{st.st_gid} {st.st_size} "
                         f"{st.st_mtime_ns} {st.st_ctime_ns}")
    st = os.lstat(root)
    lines.append(f".\0{st.st_mode:o} {st.st_uid}:{st.st_gid}")
    return "tree:" + sha256_bytes("\n".join(sorted(lines)).encode())


def release(labels: dict | None) -> None:
    """After its Docker volume was removed: delete the store directory that held its data (the
    ``COW_PATH`` label), if it is a base or clone directory of a store (a directory whose root
    has ``MARKER``) -- a label is never trusted to name anything else."""
    path = (labels or {}).get(COW_PATH)
    if not path:
        return
    p = Path(path)
    if p.parent.name in ("bases", "clones") and (p.parent.parent / MARKER).is_file() \
            and CowStore(p.parent.parent).owns(p):
        delete(p)


def orphans(store: CowStore, volumes: set[str], min_age: float = 120.0) -> list[Path]:
    """The store's directories whose Docker volume is gone (``docker volume rm`` by hand, or a
    devenv killed between a clone's snapshot and its volume), older than ``min_age`` seconds (a
    clone being made right now has its snapshot a moment before its volume)."""
    import time
    now = time.time()
    found = []
    for sub in ("bases", "clones"):
        d = store.root / sub
        for p in sorted(d.iterdir()) if d.is_dir() else []:
            if p.name not in volumes and now - p.lstat().st_ctime >= min_age:
                found.append(p)
    return found


def bind_options(path: Path) -> dict[str, str]:
    """The local driver's options of a Docker volume whose data is ``path`` of the store."""
    return {"type": "none", "o": "bind", "device": str(path)}


def exclusive_bytes(paths: list[Path]) -> dict[str, int]:
    """Bytes each subvolume holds that no other shares (``btrfs filesystem du``), for the figures."""
    if not paths:
        return {}
    out = _btrfs("filesystem", "du", "-s", "--raw", *map(str, paths))
    sizes = {}
    for line in out.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[1].isdigit():
            sizes[parts[3]] = int(parts[1])
    return sizes


__all__ = ["COW_PATH", "CowStore", "CowStoreError", "bind_options", "create_subvolume", "delete", "exclusive_bytes",
           "find_store", "is_read_only", "release", "is_subvolume", "orphans", "set_read_only", "snapshot", "tree_seal"]
