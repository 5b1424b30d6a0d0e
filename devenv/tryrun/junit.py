"""JUnit XML of the parts of a try: read, merged into one file, failures named.

Suites write JUnit in slightly different dialects (PHPUnit nests test suites,
pytest writes one ``<testsuite>`` under ``<testsuites>``); every ``<testcase>``
counts wherever it is nested, and a ``<failure>`` or ``<error>`` child marks it failed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass(frozen=True)
class TestCase:
    name: str          # Class::method (PHPUnit), module.Class::test (pytest)
    status: str        # passed | failed | error | skipped
    message: str = ""  # the failure's message and text: what the summary shows
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error")


class JUnitError(ValueError):
    pass


def parse(xml: bytes) -> tuple[ET.Element, list[TestCase]]:
    """The report's root element and every test case in it."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise JUnitError(f"not JUnit XML: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"not JUnit XML: the root element is <{root.tag}>")
    return root, [_case(tc) for tc in root.iter("testcase")]


def _case(tc: ET.Element) -> TestCase:
    cls = tc.get("class") or tc.get("classname") or ""
    name = f"{cls}::{tc.get('name', '?')}" if cls else tc.get("name", "?")
    status, message = "passed", ""
    for tag, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        el = tc.find(tag)
        if el is not None:
            status = kind
            message = "\n".join(x for x in (el.get("message") or "", (el.text or "").strip()) if x)
            out = tc.find("system-out")
            if kind != "skipped" and out is not None and (out.text or "").strip():
                message += "\n--- output ---\n" + out.text.strip()
            break
    try:
        seconds = float(tc.get("time") or 0)
    except ValueError:
        seconds = 0.0
    return TestCase(name, status, message, seconds)


def crashed_part(label: str, exit_code: int | None, output: str) -> ET.Element:
    """A suite element for a part that left no report (it crashed, or was not a JUnit writer)."""
    suite = ET.Element("testsuite", name=label, tests="1", failures="0", errors="1", time="0")
    tc = ET.SubElement(suite, "testcase", name=label, classname="devenv.try")
    err = ET.SubElement(tc, "error", message=f"the part exited {exit_code} without a JUnit report")
    err.text = output[-4000:]
    return suite


def merge(parts: list[tuple[str, ET.Element]]) -> bytes:
    """One ``<testsuites>`` with every part's suites, its totals summed."""
    root = ET.Element("testsuites", name="devenv try")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for label, report in parts:
        suites = list(report) if report.tag == "testsuites" else [report]
        for suite in suites:
            if suite.tag != "testsuite":
                continue
            root.append(suite)
        for tc in (c for s in suites for c in s.iter("testcase")):
            case = _case(tc)
            totals["tests"] += 1
            totals["failures"] += case.status == "failed"
            totals["errors"] += case.status == "error"
            totals["skipped"] += case.status == "skipped"
            seconds += case.seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


__all__ = ["JUnitError", "TestCase", "crashed_part", "merge", "parse"]
