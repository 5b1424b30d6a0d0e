"""Errors of ``devenv dataset subset``: all are ``DevenvError`` (exit 2, one paragraph).
The source's errors live behind the database seam (``devenv.db.sources.errors``)."""

from __future__ import annotations

from ..db.sources.errors import SchemaError, SourceError, SourceUnreachableError, SubsetError

__all__ = ["IntegrityError", "RulesError", "SchemaError", "SourceError", "SourceUnreachableError", "SubsetError"]


class RulesError(SubsetError):
    """The anonymisation or subset rules are invalid for the source's schema. Carries every problem."""

    def __init__(self, problems: list[str], summary: str, hint: str | None = None):
        self.problems = list(problems)
        super().__init__(summary + "\n" + "\n".join(f"  {p}" for p in self.problems), hint)


class IntegrityError(SubsetError):
    """Production's own data breaks a foreign key that the subset cannot repair."""
