"""Errors of the catalogue. Registry problems are user-facing (exit 2): the
registry is down, the credentials are missing, the entry does not exist. A blob
whose content does not match its digest exits 1: the download ran and what it
got is not what was published (corrupt or tampered registry storage)."""

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
    """The connection broke in the middle of a download; what arrived is kept."""

    def __init__(self, registry: str, reason: str):
        self.registry = registry
        self.reason = reason
        RegistryError.__init__(self, f"the download from {registry} was cut off: {reason}",
                               "Run the pull again: it resumes where this one stopped.")


class RegistryAuthError(RegistryError):
    """401/403: no or wrong credentials, or no permission."""


class CatalogueNotFoundError(NotFoundError):
    """The registry has no catalogue entry (or no catalogue at all) for what was asked."""


class DigestMismatchError(DevenvError):
    """Downloaded bytes do not hash to the digest they were published with."""

    exit_code = 1

    def __init__(self, what: str, expected: str, actual: str, source: str):
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{what} {expected} from {source} does not match its digest (got {actual}); "
            "it was refused and nothing was installed from it",
            "The registry's copy is corrupt or was tampered with. Ask the publisher to run "
            "`devenv publish` again; the next `devenv pull` fetches it anew.")
