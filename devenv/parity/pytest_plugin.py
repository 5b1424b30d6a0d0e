"""pytest plugin for ``devenv verify``: binds each testinfra file to its service's container.

devenv runs ``pytest -p devenv.parity.pytest_plugin --devenv-bind FILE=HOSTSPEC ...``.
Before testinfra parametrizes the ``host`` fixture, this sets the module's
``testinfra_hosts`` to the containers its file is bound to, so a test file listed
for service ``web`` runs against ``docker://devenv-PROFILE-web`` and nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("devenv").addoption(
        "--devenv-bind", action="append", default=[], metavar="FILE=HOSTSPEC",
        help="Run the testinfra tests of FILE against HOSTSPEC (repeatable; several hosts per file allowed).")


# FILE=SCHEME://...: the `=` before the host spec's scheme, as a path may hold `=` and a
# spec's query does (kubectl://POD?container=C&namespace=NS)
BINDING = re.compile(r"^(?P<path>.+)=(?P<spec>[A-Za-z][A-Za-z0-9+.-]*://.*)$")


def bindings(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        m = BINDING.match(value)
        if m is None:
            raise pytest.UsageError(f"--devenv-bind expects FILE=SCHEME://HOST, got {value!r}")
        path, spec = m.group("path"), m.group("spec")
        out.setdefault(str(Path(path).resolve()), []).append(spec)
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    bound = bindings(metafunc.config.getoption("devenv_bind"))
    if not bound or metafunc.module is None:
        return
    path = str(Path(metafunc.module.__file__).resolve())
    if path in bound:
        metafunc.module.testinfra_hosts = bound[path]
    elif "_testinfra_host" in metafunc.fixturenames:
        # never fall back to testinfra's default (this machine)
        raise pytest.UsageError(f"{path} is not bound to a devenv service")
