"""Errors of ``devenv dataset subset``: all are ``DevenvError`` (exit 2, one paragraph)."""

from __future__ import annotations

from ..errors import DevenvError


class SubsetError(DevenvError):
    """Base of the subset errors."""


class SourceUnreachableError(SubsetError):
    """The source database does not answer (or refuses the login)."""


class SourceError(SubsetError):
    """The source answered with an error (bad --where condition, missing privilege, ...)."""


class RulesError(SubsetError):
    """The anonymisation or subset rules are invalid for the source's schema. Carries every problem."""

    def __init__(self, problems: list[str], summary: str, hint: str | None = None):
        self.problems = list(problems)
        super().__init__(summary + "\n" + "\n".join(f"  {p}" for p in self.problems), hint)


class SchemaError(SubsetError):
    """The source schema cannot be subset as is (a table without a primary key, ...)."""


class IntegrityError(SubsetError):
    """Production's own data breaks a foreign key that the subset cannot repair."""
