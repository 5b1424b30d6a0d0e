"""Drift: a production fingerprint compared with the fingerprint of the profile's images.

Facts are compared by key, ``CATEGORY:NAME`` (``package:nginx``,
``file:/etc/nginx/nginx.conf``, ``os:VERSION_ID``, ``runtime:php``,
``php-module:php-fpm8.2/redis``, ``user:www-data``, ``port:tcp/80``,
``process:nginx``, ``host:hostname``). Keys matching an ignore pattern (shell glob,
``fnmatch``) are left out: ``DEFAULT_IGNORE`` plus the profile's ``drift.ignore``
plus ``--ignore``.

What is compared:
  * os, packages, runtimes, PHP modules, users: everything on both sides;
  * files: the paths both fingerprints hold (content, then mode and owner);
  * listening ports and the users processes run as: only when both fingerprints come
    from running hosts (``--running``); for processes only names found on both sides
    (production hosts run agents a container does not).
"""

from __future__ import annotations

import fnmatch
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..engine import Engine
from ..render import Stack
from ..ui import Reporter, SilentReporter
from .errors import FingerprintFileError
from .model import FingerprintFile, HostFingerprint
from .targets import Target, fingerprint

# Facts that legitimately differ between two machines that are "the same".
DEFAULT_IGNORE: tuple[str, ...] = (
    "host:*",                                   # hostname, machine-id
    "file:/etc/hostname",
    "file:/etc/hosts",
    "file:/etc/resolv.conf",
    "file:/etc/machine-id",
    "file:/var/lib/dbus/machine-id",
    "file:/etc/ssh/ssh_host_*",                 # generated host keys
    "file:/etc/ssl/private/ssl-cert-snakeoil.key",  # generated per host by ssl-cert
    "file:/etc/ssl/certs/ssl-cert-snakeoil.pem",
    "package:linux-image-*",                    # kernels: a container has none
    "package:linux-headers-*",
)

CATEGORIES = ("os", "package", "file", "file-mode", "runtime", "php-module", "user", "port", "process", "host")
LIVE_CATEGORIES = ("port", "process")
CATEGORY_TITLES = {
    "os": "OS release", "package": "packages", "file": "files", "file-mode": "file modes",
    "runtime": "runtime versions", "php-module": "PHP modules", "user": "users",
    "port": "listening ports", "process": "service users", "host": "host identity",
}


@dataclass(frozen=True)
class Difference:
    """One fact that is not the same; ``None`` on the side that does not have it."""

    category: str
    name: str
    production: str | None
    other: str | None

    @property
    def key(self) -> str:
        return f"{self.category}:{self.name}"

    def describe(self, other_label: str = "image") -> str:
        p, o, n = self.production, self.other, self.name
        side = "production" if o is None else other_label
        only = p if o is None else o
        c = self.category
        if c == "package":
            return f"{n}: production {p}, {other_label} {o}" if p and o else f"package only in {side}: {n} {only}"
        if c == "file":
            if p == "missing" or o == "missing":
                return f"{n}: missing in {'production' if p == 'missing' else other_label}"
            if "unreadable" in (p, o):
                return f"{n}: unreadable in {'production' if p == 'unreadable' else other_label} (fingerprint as root)"
            return f"{n}: content differs"
        if c == "file-mode":
            return f"{n}: mode production {p}, {other_label} {o}"
        if c == "os":
            return f"os {n}: production {p}, {other_label} {o}" if p and o else f"os {n} only in {side}: {only}"
        if c == "runtime":
            return f"{n}: production {p!r}, {other_label} {o!r}" if p and o else f"runtime only in {side}: {n} ({only})"
        if c == "php-module":
            binary, _, module = n.partition("/")
            return f"PHP module only in {side}: {module} ({binary})"
        if c == "user":
            return f"user {n}: production {p}, {other_label} {o}" if p and o else f"user only in {side}: {n} ({only})"
        if c == "port":
            return (f"port {n}: production listens on {p}, {other_label} on {o}" if p and o
                    else f"port only in {side}: {n} (listening on {only})")
        if c == "process":
            return f"process {n} runs as: production {p}, {other_label} {o}"
        return f"{self.key}: production {p}, {other_label} {o}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "category": self.category, "name": self.name,
                "production": self.production, "other": self.other}


def facts(fp: HostFingerprint) -> dict[tuple[str, str], str]:
    """A fingerprint as comparable (category, name) -> value pairs."""
    out: dict[tuple[str, str], str] = {("host", "hostname"): fp.hostname}
    if fp.machine_id:
        out[("host", "machine-id")] = fp.machine_id
    out.update({("os", k): v for k, v in fp.os.items()})
    out.update({("package", n): v for n, v in fp.packages.items()})
    for path, f in fp.files.items():
        out[("file", path)] = f"{f.kind}:{f.sha256}" if f.sha256 else f.kind
        if f.present and f.mode:
            out[("file-mode", path)] = f"{f.mode} {f.owner or '?'}"
    out.update({("runtime", n): v for n, v in fp.runtimes.items()})
    for binary, modules in fp.php_modules.items():
        out.update({("php-module", f"{binary}/{m}"): "enabled" for m in modules})
    out.update({("user", n): a.describe() for n, a in fp.users.items()})
    if fp.live:
        ports: dict[str, set[str]] = {}
        for s in fp.sockets:
            ports.setdefault(f"{s.protocol}/{s.port}", set()).add(s.scope)
        for key, scopes in ports.items():
            out[("port", key)] = "all interfaces" if "all interfaces" in scopes else ", ".join(sorted(scopes))
        out.update({("process", n): ",".join(sorted(users)) for n, users in fp.processes.items()})
    return out


def is_ignored(category: str, name: str, patterns: Sequence[str]) -> bool:
    keys = [f"{category}:{name}"]
    if category == "file-mode":
        keys.append(f"file:{name}")  # ignoring a file ignores its mode too
    return any(fnmatch.fnmatchcase(k, p) for k in keys for p in patterns)


@dataclass
class Comparison:
    differences: list[Difference]
    ignored: int                 # facts left out by an ignore pattern
    compared: tuple[str, ...]    # categories compared
    notes: list[str] = field(default_factory=list)


def compare(production: HostFingerprint, other: HostFingerprint, ignore: Sequence[str] = DEFAULT_IGNORE) -> Comparison:
    """Every difference between two host fingerprints that no ignore pattern covers."""
    left, right = facts(production), facts(other)
    live = production.live and other.live
    notes: list[str] = []
    compared = tuple(c for c in CATEGORIES if live or c not in LIVE_CATEGORIES)
    if not live:
        notes.append("listening ports and service users not compared: "
                     f"{'the production fingerprint' if not production.live else 'an image'} is not a running host "
                     "(compare running containers with --running)")
    only_prod = sorted(set(production.files) - set(other.files))
    only_other = sorted(set(other.files) - set(production.files))
    if only_other:
        notes.append(f"not in the production fingerprint, not compared: {', '.join(only_other)} "
                     "(fingerprint production with --service to record the profile's files)")
    if only_prod:
        notes.append(f"not fingerprinted here, not compared: {', '.join(only_prod)}")
    diffs: list[Difference] = []
    ignored = 0
    for key in sorted(set(left) | set(right)):
        category, name = key
        if category not in compared:
            continue
        p, o = left.get(key), right.get(key)
        if category in ("file", "file-mode") and (name in only_prod or name in only_other):
            continue
        if category == "file-mode" and (p is None or o is None):
            continue  # a file missing on one side is reported once, as content
        if category == "process" and (p is None or o is None):
            continue
        if p == o:
            continue
        if is_ignored(category, name, ignore):
            ignored += 1
            continue
        diffs.append(Difference(category, name, p, o))
    return Comparison(diffs, ignored, compared, notes)


@dataclass
class ServiceDrift:
    service: str
    production: str      # target the production fingerprint was taken from
    other: str           # image:// or docker:// target compared with it
    comparison: Comparison

    @property
    def differences(self) -> list[Difference]:
        return self.comparison.differences


@dataclass
class DriftReport:
    profile: str
    against: str
    other_label: str                 # "image" or "devenv" (--running)
    services: list[ServiceDrift]
    ignore: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return any(s.differences for s in self.services)

    @property
    def count(self) -> int:
        return sum(len(s.differences) for s in self.services)

    def lines(self) -> list[str]:
        out = []
        common = [n for n in self.services[0].comparison.notes
                  if all(n in s.comparison.notes for s in self.services)] if self.services else []
        for s in self.services:
            if not s.differences:
                out.append(f"{s.service}: no drift ({s.other} vs production {s.production})")
            else:
                n = len(s.differences)
                out.append(f"{s.service}: {n} difference{'s' if n != 1 else ''} ({s.other} vs production {s.production})")
                out.extend(f"  {d.describe(self.other_label)}" for d in s.differences)
            out.extend(f"  note: {note}" for note in s.comparison.notes if note not in common)
        out.extend(f"note: {note}" for note in common)
        ignored = sum(s.comparison.ignored for s in self.services)
        drifted = sum(1 for s in self.services if s.differences)
        head = (f"drift: {self.count} difference{'s' if self.count != 1 else ''} in {drifted} of {len(self.services)} services"
                if self.drifted else f"no drift: {len(self.services)} services match production")
        out.append(f"{head} ({ignored} facts ignored by {len(self.ignore)} ignore patterns)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "against": self.against, "compared_with": self.other_label,
            "drift": self.drifted, "differences": self.count, "ignore": list(self.ignore),
            "services": {s.service: {"production": s.production, "other": s.other,
                                     "differences": [dict(d.to_json(), message=d.describe(self.other_label))
                                                     for d in s.differences],
                                     "ignored": s.comparison.ignored, "compared": list(s.comparison.compared),
                                     "notes": s.comparison.notes}
                         for s in self.services},
        }


def check_services(stack: Stack, production: FingerprintFile, against: str, services: Sequence[str] = ()) -> list[str]:
    """The services to compare: those asked for (default all), each in the profile and the file."""
    chosen = list(services) or stack.order()
    for s in chosen:
        if s not in stack.services:
            raise FingerprintFileError(f"profile {stack.name} has no service `{s}`",
                                       f"services: {', '.join(sorted(stack.services))}")
    missing = [s for s in chosen if s not in production.hosts]
    if missing:
        have = ", ".join(sorted(production.hosts)) or "none"
        raise FingerprintFileError(
            f"{against} has no production fingerprint for service{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(it has: {have})",
            "Add one: `devenv fingerprint ssh://HOST --service NAME --output FILE`, or compare only some "
            "services with --service NAME.")
    return chosen


def drift_profile(engine: Engine, stack: Stack, production: FingerprintFile, *, against: str,
          services: Sequence[str] = (), ignore: Sequence[str] = (), running: bool = False,
          reporter: Reporter | None = None) -> DriftReport:
    """Fingerprint the profile's images (or running containers) and compare them with production."""
    from ..engine import lifecycle
    from ..engine.images import ensure_images
    reporter = reporter or SilentReporter()
    chosen = check_services(stack, production, against, services)
    patterns = tuple(DEFAULT_IGNORE) + tuple(stack.profile.drift_ignore) + tuple(ignore)
    if running:
        targets = {s: Target.parse(f"docker://{lifecycle.container_of(engine, stack.scope, s)}") for s in chosen}
    else:
        ensure_images(engine, [stack.services[s].image for s in chosen], stack.base, reporter)
        targets = {s: Target.parse(f"image://{stack.services[s].image.tag}") for s in chosen}

    def one(service: str) -> ServiceDrift:
        prod = production.hosts[service]
        declared = [dest for dest, _ in stack.services[service].service.files]
        paths = sorted(set(declared) | set(prod.files))
        fp = fingerprint(targets[service], paths, engine)
        return ServiceDrift(service, prod.target, targets[service].spec, compare(prod, fp, patterns))

    with reporter.step(f"fingerprint {'containers' if running else 'images'} of {stack.name}: {', '.join(chosen)}"):
        with ThreadPoolExecutor(max_workers=min(4, len(chosen)) or 1) as pool:
            results = list(pool.map(one, chosen))
    return DriftReport(stack.name, against, "devenv" if running else "image", results, patterns)

