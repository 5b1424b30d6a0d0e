"""Verify: the running environment checked against its profile.

Generated checks, per service:
  running     the container exists and runs          (Engine API, no container command)
  healthy     healthy, or running without healthcheck (Engine API)
  os          /etc/os-release is the profile's distribution and release
  package     every declared package installed, at a version matching the pin
  file        every rendered config file present with the rendered content
  port        something listens on every declared container port (published under
              ``ports:`` or not, under ``listens:``), on all interfaces

The os/package/file/port facts come from ONE fact-script command per service
(``devenv.parity.facts``); a second command runs only when files differ, to fetch
them for a diff. The user's own testinfra files (``verify:`` of a service) then run
through pytest, bound to the service's container.
"""

from __future__ import annotations

import difflib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import names
from ..digest import sha256_bytes
from ..engine import Engine
from ..engine.health import Health, current
from ..profile.model import Service
from ..render import Stack
from ..ui import Reporter, SilentReporter
from .apt import version_matches
from .check_result import CheckResult
from .errors import TargetError
from .facts import fetch_contents, gather
from .model import HostFingerprint
from .script import VERIFY_SECTIONS
from .targets import Target, connect
from .usertests import collect, run_user_tests

DIFF_LINES = 40


@dataclass(frozen=True)
class Expectation:
    """One generated check of one service, before it is evaluated."""

    service: str
    kind: str                    # os | package | file | port
    name: str                    # "release", package name, path, "tcp/80"
    expected: str                # pin (package), sha256 (file), "debian bookworm" (os), "" (port)
    content: bytes | None = None  # rendered file content, for diffs

    @property
    def check(self) -> str:
        return {"os": "os release", "package": f"package {self.name}", "file": f"file {self.name}",
                "port": f"listening {self.name}"}[self.kind]


@dataclass
class ServiceVerify:
    service: str
    container: str
    results: list[CheckResult] = field(default_factory=list)
    commands: int = 0            # commands run in the container for the generated checks
    seconds: float = 0.0
    skipped: int = 0             # generated checks not run (service not running)
    running: bool = True
    host: str = ""               # its testinfra host spec, for the generated checks and the user's tests

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]


@dataclass
class VerifyReport:
    profile: str
    services: list[ServiceVerify]
    seconds: float = 0.0
    user_tests_seconds: float = 0.0

    @property
    def results(self) -> list[CheckResult]:
        return [r for s in self.services for r in s.results]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        out = []
        for s in self.services:
            passed = sum(1 for r in s.results if r.ok)
            state = "ok" if not s.failures else f"{len(s.failures)} failed"
            extra = f", {s.skipped} not run (service not running)" if s.skipped else ""
            out.append(f"{s.service}: {state} ({passed}/{len(s.results)} checks passed{extra})")
            for r in s.failures:
                out.append(f"  FAIL {r.describe()}")
                out.extend(f"    {line}" for line in r.detail.splitlines())
        total = len(self.results)
        if self.ok:
            out.append(f"verify {self.profile}: all {total} checks passed in {self.seconds:.1f}s")
        else:
            out.append(f"verify {self.profile}: {len(self.failures)} of {total} checks failed in {self.seconds:.1f}s")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "ok": self.ok, "seconds": round(self.seconds, 3),
                "services": {s.service: {"container": s.container, "commands": s.commands, "skipped": s.skipped,
                                         "results": [r.to_json() for r in s.results]} for s in self.services}}


def expectations(stack: Stack, service: str) -> list[Expectation]:
    """The generated checks of one service (besides running/healthy)."""
    sp = stack.services[service]
    os_ = stack.profile.os
    out = [Expectation(service, "os", "release", f"{os_.distribution} {os_.release}")]
    out += [Expectation(service, "package", p.name, p.version or "*") for p in sp.service.packages]
    rendered = {f.path: f.data for f in sp.image.files}
    mounted = [m.target.rstrip("/") for m in sp.service.mounts]
    for dest, _template in sp.service.files:
        if any(dest == t or dest.startswith(t + "/") for t in mounted):
            continue   # under a source mount the working tree is what runs (checked by `mount` below)
        data = rendered["rootfs" + dest]
        out.append(Expectation(service, "file", dest, sha256_bytes(data), data))
    out += [Expectation(service, "port", key, "") for key in listening_ports(sp.service)]
    return out


def listening_ports(service: Service) -> list[str]:
    """``tcp/80``... : every container port the service declares it listens on, the
    published ones (``ports:``) first, then the unpublished ones (``listens:``), once each."""
    keys = [f"{p.protocol}/{p.container}" for p in service.ports] + [p.key for p in service.listens]
    return list(dict.fromkeys(keys))


def evaluate(exp: Expectation, fp: HostFingerprint) -> CheckResult:
    """One generated check against the facts of the service's container."""
    if exp.kind == "os":
        actual = f"{fp.os.get('ID', '?')} {fp.os.get('VERSION_CODENAME', '?')}"
        return CheckResult(exp.service, exp.check, actual == exp.expected, exp.expected, actual)
    if exp.kind == "package":
        expected = "installed (any version)" if exp.expected == "*" else f"installed, version {exp.expected}"
        version = fp.packages.get(exp.name)
        if version is None:
            return CheckResult(exp.service, exp.check, False, expected, "not installed")
        ok = version_matches(exp.expected, version)
        return CheckResult(exp.service, exp.check, ok, expected, f"version {version}")
    if exp.kind == "file":
        expected = f"the rendered content (sha256 {exp.expected[:12]})"
        f = fp.files.get(exp.name)
        if f is None or f.kind == "missing":
            return CheckResult(exp.service, exp.check, False, expected, "missing")
        if f.kind != "file":
            return CheckResult(exp.service, exp.check, False, expected, f"{f.kind} (not a readable regular file)")
        ok = f.sha256 == exp.expected
        return CheckResult(exp.service, exp.check, ok, expected,
                           f"{'the rendered' if ok else 'different'} content (sha256 {(f.sha256 or '?')[:12]})")
    if exp.kind == "port":
        protocol, _, port = exp.name.partition("/")
        socks = fp.listening(int(port), protocol)
        expected = f"listening on {exp.name} on all interfaces"
        if not socks:
            return CheckResult(exp.service, exp.check, False, expected, "nothing listening")
        scopes = sorted({s.scope for s in socks})
        ok = "all interfaces" in scopes
        return CheckResult(exp.service, exp.check, ok, expected, f"listening on {', '.join(scopes)}")
    raise ValueError(f"unknown check kind {exp.kind}")


def _running(service: str, container: str, engine: Engine) -> tuple[list[CheckResult], bool]:
    obs = current(engine, container)   # the one definition of ready `up` waits for
    if obs.health is Health.MISSING:
        return [CheckResult(service, "running", False, "running", f"no container {container} (is it up?)")], False
    if obs.health is Health.EXITED:
        return [CheckResult(service, "running", False, "running", f"stopped ({obs.detail})")], False
    if obs.health is Health.STARTING and obs.detail == "created, not started":  # see health.observe
        return [CheckResult(service, "running", False, "running", "created, never started")], False
    results = [CheckResult(service, "running", True, "running", "running")]
    if obs.health in (Health.HEALTHY, Health.NO_HEALTHCHECK):
        actual = "healthy" if obs.health is Health.HEALTHY else "running, no healthcheck"
        results.append(CheckResult(service, "healthy", True, "healthy (or no healthcheck)", actual))
    else:
        detail = f" ({obs.detail})" if obs.detail else ""
        results.append(CheckResult(service, "healthy", False, "healthy (or no healthcheck)", f"{obs.health.value}{detail}"))
    return results, True


def _mounts(engine: Engine, stack: Stack, service: str, container: str) -> list[CheckResult]:
    """A source mount is the working tree, read-write: not a drift, but checked to be that."""
    sp = stack.services[service]
    if not sp.service.mounts:
        return []
    state = engine.container(container)
    have = {m.destination: m for m in (state.mounts if state else ())}
    out = []
    naming = stack.naming()
    for m in sp.service.mounts:
        want = naming.source(m.source)
        got = have.get(m.target)
        ok = bool(got) and got.type == "bind" and got.source == want and got.writable
        actual = "not mounted" if not got else f"{got.type} {got.source} ({'rw' if got.writable else 'ro'})"
        out.append(CheckResult(service, f"mount {m.target}", ok, f"the working tree {want} (rw)", actual))
    return out


def _diff(expected: bytes, actual: bytes | None, path: str) -> str:
    if actual is None:
        return ""
    a = expected.decode("utf-8", errors="replace").splitlines()
    b = actual.decode("utf-8", errors="replace").splitlines()
    lines = list(difflib.unified_diff(a, b, f"{path} (rendered)", f"{path} (container)", lineterm="", n=1))
    if len(lines) > DIFF_LINES:
        lines = lines[:DIFF_LINES] + [f"... ({len(lines) - DIFF_LINES} more diff lines)"]
    return "\n".join(lines)


def verify_service(engine: Engine, stack: Stack, service: str) -> ServiceVerify:
    """The generated checks of one service: Engine API for state, then at most 2 commands."""
    container = names.container_name(stack.scope, service)
    exps = expectations(stack, service)
    sv = ServiceVerify(service, container, host=engine.testinfra_spec(container))
    results, sv.running = _running(service, container, engine)
    sv.results.extend(results)
    if not sv.running:
        sv.skipped = len(exps)
        return sv
    sv.results.extend(_mounts(engine, stack, service, container))
    return check_on_host(sv, exps, sv.host)


def check_on_host(sv: ServiceVerify, exps: list[Expectation], host_spec: str) -> ServiceVerify:
    """The os/package/file/port checks of a running service, on its testinfra host (any
    target: docker://CONTAINER, the Kubernetes target's kubectl://POD?...): 1 or 2 commands."""
    service = sv.service
    paths = [e.name for e in exps if e.kind == "file"]
    with connect(Target.parse(host_spec)) as host:
        try:
            fp = gather(host, paths, live=True, sections=VERIFY_SECTIONS)
        except TargetError as exc:
            sv.results.append(CheckResult(service, "facts", False, "the fact script runs", exc.message))
            sv.skipped = len(exps)
            sv.commands, sv.seconds = host.commands, host.seconds
            return sv
        checked = [(e, evaluate(e, fp)) for e in exps]
        differing = [e for e, r in checked if e.kind == "file" and not r.ok and fp.files.get(e.name)
                     and fp.files[e.name].kind == "file"]
        contents = fetch_contents(host, [e.name for e in differing]) if differing else {}
        for e, r in checked:
            if e in differing and e.content is not None:
                r = CheckResult(r.service, r.check, r.ok, r.expected, r.actual, _diff(e.content, contents.get(e.name), e.name))
            sv.results.append(r)
        sv.commands, sv.seconds = host.commands, host.seconds
    return sv


def verify_environment(engine: Engine | None, stack: Stack, *, project_dir: Path | None = None, user_tests: bool = True,
                       reporter: Reporter | None = None,
                       verify_one: Callable[[str], ServiceVerify] | None = None) -> VerifyReport:
    """Check the running environment of ``stack`` against its profile; never raises on a failed check.

    ``verify_one(service)`` makes the generated checks of a service on another target
    (devenv.kube.verify); by default ``verify_service`` on ``engine``."""
    reporter = reporter or SilentReporter()
    verify_one = verify_one or (lambda s: verify_service(engine, stack, s))
    start = time.perf_counter()
    order = stack.order()
    files = collect(stack, project_dir) if user_tests and project_dir is not None else {}
    with reporter.step(f"verify {stack.name}: {', '.join(order)}"):
        with ThreadPoolExecutor(max_workers=min(4, len(order)) or 1) as pool:
            services = list(pool.map(verify_one, order))
    report = VerifyReport(stack.name, services)
    runnable = {s.service: s.host for s in services if s.running}
    bound = {svc: fs for svc, fs in files.items() if svc in runnable}
    if bound:
        t = time.perf_counter()
        with reporter.step(f"run the profile's testinfra files ({sum(len(f) for f in bound.values())})"):
            by_service = run_user_tests(bound, runnable, project_dir)
        report.user_tests_seconds = time.perf_counter() - t
        for s in services:
            s.results.extend(by_service.get(s.service, []))
    report.seconds = time.perf_counter() - start
    return report
