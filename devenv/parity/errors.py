"""Typed errors of the parity commands (fingerprint, drift, verify).

All are user errors (exit 2): a target that cannot be reached or parsed, a
fingerprint file that is missing or malformed, a profile that lists a test file
that does not exist. Drift and verify *failures* are not errors: they are results
(``DriftReport``, ``VerifyReport``) that the CLI turns into exit 1.
"""

from __future__ import annotations

from ..errors import DevenvError


class TargetError(DevenvError):
    """A fingerprint target is malformed, unreachable, or did not answer with facts."""


class FingerprintFileError(DevenvError):
    """A fingerprint file is missing, not JSON, of an unknown format, or lacks a host."""


class VerifyConfigError(DevenvError):
    """The profile's verify settings point at something that does not exist."""
