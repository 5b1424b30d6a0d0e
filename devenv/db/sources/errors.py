"""Errors of reading a subset source (``devenv dataset subset`` / ``import``): all are
``DevenvError`` (exit 2, one paragraph). ``devenv.subset.errors`` re-exports them."""

from __future__ import annotations

from ...errors import DevenvError


class SubsetError(DevenvError):
    """Base of the subset errors."""


class SourceUnreachableError(SubsetError):
    """The source database does not answer (or refuses the login)."""


class SourceError(SubsetError):
    """The source answered with an error (bad --where condition, missing privilege, ...)."""


class SchemaError(SubsetError):
    """The source schema cannot be subset as is (a table without a primary key, ...)."""
