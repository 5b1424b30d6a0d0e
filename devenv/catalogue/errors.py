"""Errors of the catalogue. Registry problems are user-facing (exit 2): the
registry is down, the credentials are missing, the entry does not exist. A pull
that ran and failed exits 1, in two kinds the user must tell apart:

* ``TransferInterruptedError``: the connection dropped; what arrived is kept and
  the next pull resumes;
* ``DigestMismatchError`` and ``ShortBlobError``: the registry serves a blob that is
  not the published one (wrong digest, or fewer bytes than its descriptor in a
  complete response): re-running cannot help, the registry's copy must be fixed.
"""

from __future__ import annotations

from ..errors import DevenvError, NotFoundError


class RegistryError(DevenvError):
    """The registry refused a request or answered something unexpected."""


class RegistryUnreachableError(RegistryError):
    """No answer from the registry (refused, DNS, TLS, timeout, 502/503/504)."""

    def __init__(self, registry: str, reason: str, hint: str | None = None):
        self.registry = registry
        self.reason = reason
        super().__init__(
            f"cannot reach the registry {registry}: {reason}",
            hint or "Check that it is running and that HOST[:PORT] is right (--registry or $DEVENV_REGISTRY).")


class TransferInterruptedError(RegistryUnreachableError):
    """The connection broke in the middle of a download; what arrived is kept.

    Exit 1: the pull ran and did not finish (nothing was installed); running it
    again continues where it stopped."""

    exit_code = 1

    def __init__(self, registry: str, reason: str):
        self.registry = registry
        self.reason = reason
        RegistryError.__init__(self, f"the download from {registry} was cut off: {reason}; nothing was installed",
                               "Run the pull again: it resumes where this one stopped (verified chunks are kept).")


class RegistryAuthError(RegistryError):
    """401/403: no or wrong credentials, or no permission."""


class CatalogueNotFoundError(NotFoundError):
    """The registry has no catalogue entry (or no catalogue at all) for what was asked."""


NOT_BY_RERUNNING = ("Re-running the pull will not help: the registry serves this blob so every time. "
                    "Ask the registry's operator to repair or delete it, then the publisher to run "
                    "`devenv publish` again.")


def _of(artifact: str | None) -> str:
    return f" of {artifact}" if artifact else ""


class DigestMismatchError(DevenvError):
    """Downloaded bytes do not hash to the digest they were published with."""

    exit_code = 1

    def __init__(self, what: str, expected: str, actual: str, source: str, artifact: str | None = None):
        self.expected = expected
        self.actual = actual
        self.artifact = artifact
        super().__init__(
            f"{what} {expected}{_of(artifact)} from {source} does not match its digest (got {actual}); "
            "it was refused and nothing was installed",
            "The registry's copy is corrupt or was tampered with. " + NOT_BY_RERUNNING)


class ShortBlobError(DevenvError):
    """The registry's complete answer for a blob is shorter than its descriptor's size."""

    exit_code = 1

    def __init__(self, what: str, digest: str, expected: int, got: int, source: str, artifact: str | None = None,
                 detail: str = ""):
        self.digest = digest
        self.expected = expected
        self.got = got
        self.artifact = artifact
        super().__init__(
            f"the registry serves a short blob: {what} {digest}{_of(artifact)} from {source} is {expected:,} "
            f"bytes, the registry sends {got:,}{detail}; it was refused and nothing was installed",
            "The registry's copy is truncated (damaged storage, or a proxy cutting it). " + NOT_BY_RERUNNING)
