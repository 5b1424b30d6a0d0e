"""``devenv try``: the project's test suite on the developer's change, in a throwaway instance.

``worktree`` makes the patch and the patched checkout, ``heavy`` the per-engine
lock of heavy suites, ``junit`` reads and merges the reports, ``run`` puts them
together; ``devenv.cli.trying`` is the command.
"""

from .run import FAILED, NOT_RUN, PASSED, PartResult, TryError, TryOptions, TryResult, try_suite
from .worktree import GitError, PatchConflictError

__all__ = ["FAILED", "GitError", "NOT_RUN", "PASSED", "PartResult", "PatchConflictError", "TryError", "TryOptions",
           "TryResult", "try_suite"]
