"""The outcome of one check of ``devenv verify``: a generated check (``devenv.parity.verify``)
or one of the user's testinfra tests (``devenv.parity.usertests``); reports and JUnit read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    service: str
    check: str
    ok: bool
    expected: str = ""
    actual: str = ""
    detail: str = ""             # a diff, a test's failure output

    def describe(self) -> str:
        return f"{self.service}: {self.check}: expected {self.expected}, actual {self.actual}"

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "check": self.check, "ok": self.ok, "expected": self.expected,
                "actual": self.actual, "detail": self.detail}
