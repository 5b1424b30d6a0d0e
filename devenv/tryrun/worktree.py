"""The developer's change as a patch, applied to a clean worktree of the base.

What the developer has (commits since the base, uncommitted edits, new files not
yet added) is captured as a *tree object* through a temporary index file
(``GIT_INDEX_FILE``): ``git add -A`` into that copy of the index writes blobs into
the object store and nothing else; the developer's working tree and real index
are never written. The patch is the diff from the merge base of base and HEAD to
that tree; it is applied with ``git apply --3way`` to ``git worktree add`` of the
base in a temporary directory, the way a reviewer would apply it to ``main``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DevenvError


class GitError(DevenvError):
    """git refused, or the project is not in a git repository."""


class PatchConflictError(DevenvError):
    """The working tree's change does not apply to the base."""

    def __init__(self, base: str, files: list[str], detail: str):
        self.files = files
        listed = "\n".join(f"  {f}" for f in files) or "  (git named none)"
        super().__init__(f"the change does not apply to {base}: conflicts in\n{listed}",
                         f"Rebase or merge {base} into your branch and resolve them, or pick another --base.\n"
                         f"git said: {detail.strip()[:600]}")


def git(repo: Path, *args: str, env: dict | None = None, input: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    try:
        r = subprocess.run(["git", "-C", str(repo), *args], env=full, input=input, capture_output=True)
    except FileNotFoundError:
        raise GitError("`git` is not installed", "devenv try needs git (apt-get install git).") from None
    if check and r.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed in {repo}: {r.stderr.decode(errors='replace').strip()}")
    return r


def out(repo: Path, *args: str, **kw) -> str:
    return git(repo, *args, **kw).stdout.decode().strip()


@dataclass
class Change:
    """The developer's change: what it is made of and where it goes."""

    toplevel: Path          # the developer's repository
    base: str               # what the user called it (main, origin/main, a sha)
    base_commit: str
    merge_base: str
    tree: str               # the working tree as a tree object (uncommitted and untracked included)
    patch: bytes
    files: list[str] = field(default_factory=list)   # paths the patch touches


def default_base(toplevel: Path) -> str:
    """The upstream of the current branch, else ``main``."""
    r = git(toplevel, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}", check=False)
    upstream = r.stdout.decode().strip()
    return upstream if r.returncode == 0 and upstream else "main"


def repository_of(path: Path) -> Path:
    r = git(path, "rev-parse", "--show-toplevel", check=False)
    if r.returncode != 0:
        raise GitError(f"{path} is not in a git repository",
                       "devenv try applies your change to a clean checkout of the base: "
                       "`git init && git add -A && git commit -m start` makes one.")
    return Path(r.stdout.decode().strip()).resolve()


def capture(toplevel: Path, base: str | None) -> Change:
    """The patch of the working tree against ``base``; touches no file of the developer's."""
    base = base or default_base(toplevel)
    r = git(toplevel, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
    if r.returncode != 0:
        raise GitError(f"--base {base}: no such commit or branch in {toplevel}",
                       "Name the branch to test against with --base (e.g. --base origin/main).")
    base_commit = r.stdout.decode().strip()
    head = git(toplevel, "rev-parse", "--verify", "--quiet", "HEAD", check=False)
    head_commit = head.stdout.decode().strip() if head.returncode == 0 else base_commit
    mb = git(toplevel, "merge-base", base_commit, head_commit, check=False)
    merge_base = mb.stdout.decode().strip() if mb.returncode == 0 else base_commit
    tree = working_tree(toplevel)
    patch = git(toplevel, "diff", "--binary", "--full-index", "--no-color", "--no-ext-diff", "--no-renames",
                merge_base, tree).stdout
    files = out(toplevel, "diff", "--name-only", "--no-renames", merge_base, tree).splitlines()
    return Change(toplevel, base, base_commit, merge_base, tree, patch, files)


def working_tree(toplevel: Path) -> str:
    """The working tree (tracked edits, deletions, untracked files not ignored) as a tree object.

    Built in a temporary copy of the index, so the developer's index (staged and
    unstaged parts alike) stays exactly as it was.
    """
    real_index = Path(out(toplevel, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    with tempfile.TemporaryDirectory(prefix="devenv-try-index-") as tmp:
        index = Path(tmp) / "index"
        if real_index.exists():
            # its stat cache spares hashing unchanged files; its mtime must stay the
            # original's, or git's racy-entry check would trust a file edited within
            # the same second as the index was written (same size: an edit unseen)
            shutil.copy2(real_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        git(toplevel, "add", "-A", "--", ".", env=env)
        return out(toplevel, "write-tree", env=env)


@dataclass
class Worktree:
    """A clean checkout of the base with the change applied, in a temporary directory."""

    toplevel: Path      # the developer's repository it belongs to
    path: Path          # the checkout
    holder: Path        # the temporary directory around it

    def remove(self) -> None:
        git(self.toplevel, "worktree", "remove", "--force", str(self.path), check=False)
        shutil.rmtree(self.holder, ignore_errors=True)
        git(self.toplevel, "worktree", "prune", check=False)


def checkout(change: Change, prefix: str) -> Worktree:
    """``git worktree add`` of the base, detached, in a new temporary directory."""
    holder = Path(tempfile.mkdtemp(prefix=f"devenv-{prefix}-"))
    wt = Worktree(change.toplevel, holder / "tree", holder)
    try:
        git(change.toplevel, "worktree", "add", "--detach", "--quiet", str(wt.path), change.base_commit)
    except BaseException:
        wt.remove()
        raise
    return wt


_FAILED_FILE = re.compile(r"^error: (?:patch failed: (.+?):\d+|(.+?): (?:patch does not apply|does not exist in index"
                          r"|already exists in (?:index|working directory)|does not match index))$", re.M)


def apply(change: Change, wt: Worktree) -> None:
    """Apply the change to the worktree, or raise PatchConflictError naming the files."""
    if not change.patch:
        return
    r = git(wt.path, "apply", "--3way", "--whitespace=nowarn", input=change.patch, check=False)
    if r.returncode == 0:
        return
    text = r.stderr.decode(errors="replace")
    unmerged = out(wt.path, "diff", "--name-only", "--diff-filter=U").splitlines()
    named = [a or b for a, b in _FAILED_FILE.findall(text)]
    conflicts = list(dict.fromkeys(unmerged + [f for f in named if f]))
    raise PatchConflictError(change.base, conflicts, text)


__all__ = ["Change", "GitError", "PatchConflictError", "Worktree", "apply", "capture", "checkout",
           "default_base", "repository_of", "working_tree"]
