"""JUnit XML for CI systems: one test suite per service.

verify: one test case per check (``package nginx``, ``file /etc/nginx/nginx.conf``,
``test verify/test_web.py::test_x``), failing with "expected X, actual Y".
drift: one test case per compared fact category (``packages``, ``files``, ...), so
test names are stable from run to run; a drifted category fails listing its differences.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .drift import CATEGORY_TITLES, DriftReport
from .verify import VerifyReport


def _write(root: ET.Element, path: str | Path) -> None:
    ET.indent(root)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


def verify_xml(report: VerifyReport) -> ET.Element:
    root = ET.Element("testsuites", name=f"devenv verify {report.profile}",
                      tests=str(len(report.results)), failures=str(len(report.failures)),
                      time=f"{report.seconds:.3f}")
    for s in report.services:
        suite = ET.SubElement(root, "testsuite", name=f"{report.profile}.{s.service}",
                              tests=str(len(s.results)), failures=str(len(s.failures)),
                              errors="0", skipped=str(s.skipped), time=f"{s.seconds:.3f}")
        for r in s.results:
            case = ET.SubElement(suite, "testcase", classname=f"devenv.verify.{report.profile}.{s.service}", name=r.check)
            if not r.ok:
                failure = ET.SubElement(case, "failure", message=f"expected {r.expected}, actual {r.actual}")
                failure.text = r.describe() + ("\n" + r.detail if r.detail else "")
        if s.skipped:
            case = ET.SubElement(suite, "testcase", classname=f"devenv.verify.{report.profile}.{s.service}",
                                 name="generated checks")
            ET.SubElement(case, "skipped", message=f"{s.skipped} checks not run: the service is not running")
    return root


def write_verify(report: VerifyReport, path: str | Path) -> None:
    _write(verify_xml(report), path)


def drift_xml(report: DriftReport) -> ET.Element:
    root = ET.Element("testsuites", name=f"devenv drift {report.profile}",
                      tests="0", failures="0")
    tests = failures = 0
    for s in report.services:
        suite = ET.SubElement(root, "testsuite", name=f"{report.profile}.{s.service}")
        n_fail = 0
        for category in s.comparison.compared:
            diffs = [d for d in s.differences if d.category == category]
            if category == "host" and not diffs:
                continue  # ignored by default: only shown when someone un-ignores it
            case = ET.SubElement(suite, "testcase", classname=f"devenv.drift.{report.profile}.{s.service}",
                                 name=CATEGORY_TITLES[category])
            if diffs:
                n_fail += 1
                failure = ET.SubElement(case, "failure",
                                        message=f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''} from production")
                failure.text = "\n".join(d.describe(report.other_label) for d in diffs)
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        tests += len(suite)
        failures += n_fail
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    return root


def write_drift(report: DriftReport, path: str | Path) -> None:
    _write(drift_xml(report), path)
