"""The profile's own testinfra files, run through pytest against the environment's containers.

A service lists files in ``verify:`` (paths relative to the project directory, the
one holding ``profiles/`` and ``images/``). All files run in ONE pytest process with
the testinfra plugin; ``devenv.parity.pytest_plugin`` binds each file's ``host``
fixture to its service's container (``docker://devenv-PROFILE-SERVICE``). Results come
back through pytest's JUnit XML as ``CheckResult``s named ``test FILE::TEST``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from ..render import Stack
from .errors import VerifyConfigError
from .check_result import CheckResult

DETAIL_LINES = 30


def collect(stack: Stack, project_dir: Path) -> dict[str, list[Path]]:
    """service -> its test files (absolute), checked to exist."""
    out: dict[str, list[Path]] = {}
    for name, sp in sorted(stack.services.items()):
        for rel in sp.service.verify:
            path = (project_dir / rel).resolve()
            if not path.is_file():
                raise VerifyConfigError(
                    f"profile {stack.name}: service {name} lists verify file `{rel}`, which does not exist "
                    f"({path})", f"verify paths are relative to the project directory {project_dir}.")
            out.setdefault(name, []).append(path)
    return out


def run_user_tests(files: dict[str, list[Path]], hosts: dict[str, str], project_dir: Path,
                   python: str = sys.executable) -> dict[str, list[CheckResult]]:
    """Run every file bound to its service's testinfra host (``hosts``: service -> host
    spec, docker://CONTAINER or kubectl://POD?...); results by service."""
    spec_of = {svc: hosts[svc] for svc in files}
    # testinfra names a test's host parameter SCHEME://NAME, without the spec's ?query
    service_of_spec = {spec.split("?", 1)[0]: svc for svc, spec in spec_of.items()}
    services_of_file: dict[Path, list[str]] = {}
    for svc, paths in files.items():
        for p in paths:
            services_of_file.setdefault(p, []).append(svc)
    with tempfile.TemporaryDirectory(prefix="devenv-verify-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [python, "-m", "pytest", "-p", "devenv.parity.pytest_plugin", "-p", "no:cacheprovider",
               "-o", "addopts=", "-o", "junit_family=xunit1", "--junitxml", str(junit), "-q",
               "--rootdir", str(project_dir)]
        for path, svcs in sorted(services_of_file.items()):
            cmd += [arg for svc in svcs for arg in ("--devenv-bind", f"{path}={spec_of[svc]}")]
        cmd += [str(p) for p in sorted(services_of_file)]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
        if not junit.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise VerifyConfigError(f"the profile's testinfra files did not run (pytest exit {proc.returncode}):\n{tail}")
        return parse_junit(junit.read_text(), project_dir, services_of_file, service_of_spec)


_PARAM = re.compile(r"\[(.*)\]$")


def parse_junit(text: str, project_dir: Path, services_of_file: dict[Path, list[str]],
                service_of_spec: dict[str, str]) -> dict[str, list[CheckResult]]:
    """pytest's JUnit XML (xunit1) -> CheckResults by service."""
    root = ET.fromstring(text)
    by_module = {_module_name(p, project_dir): (p, svcs) for p, svcs in services_of_file.items()}
    out: dict[str, list[CheckResult]] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        file_attr = case.get("file")
        classname = case.get("classname", "")
        path, svcs = None, []
        if file_attr:
            path = (project_dir / file_attr).resolve()
            svcs = services_of_file.get(path, [])
        if not svcs:
            for module in (classname, name, classname.rsplit(".", 1)[0]):
                if module in by_module:
                    path, svcs = by_module[module]
                    break
        m = _PARAM.search(name)
        test = name
        if m:
            param = m.group(1)
            for spec, svc in service_of_spec.items():
                if param == spec:
                    svcs = [svc]
                    test = name[:m.start()]
        rel = os.path.relpath(path, project_dir) if path else (file_attr or classname or "?")
        module = _module_name(path, project_dir)
        if path is not None and name == module:
            check = f"test {rel}"  # a collection error: the file itself failed
        else:
            cls = classname[len(module) + 1:] if module and classname.startswith(module + ".") else ""
            check = f"test {rel}::{cls + '::' if cls else ''}{test}"
        result = _result(case, check)
        # a result no file or host accounts for (should not happen) is shown on every service
        for svc in svcs or sorted({s for v in services_of_file.values() for s in v}):
            out.setdefault(svc, []).append(CheckResult(svc, result.check, result.ok, result.expected, result.actual, result.detail))
    return out


def _module_name(path: Path | None, project_dir: Path) -> str:
    if path is None:
        return ""
    rel = os.path.relpath(path, project_dir)
    return rel[:-3].replace(os.sep, ".") if rel.endswith(".py") else rel


def _result(case: ET.Element, check: str) -> CheckResult:
    for tag, what in (("failure", "failed"), ("error", "error")):
        el = case.find(tag)
        if el is not None:
            message = (el.get("message") or "").strip().splitlines()
            text = (el.text or "").strip().splitlines()
            if len(text) > DETAIL_LINES:
                text = text[-DETAIL_LINES:]
            return CheckResult("?", check, False, "pass", f"{what}: {message[0] if message else tag}", "\n".join(text))
    skipped = case.find("skipped")
    if skipped is not None:
        return CheckResult("?", check, True, "pass", f"skipped: {skipped.get('message') or ''}".strip())
    return CheckResult("?", check, True, "pass", "passed")
