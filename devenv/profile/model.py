"""The typed profile model. Built once from a validated, merged mapping; past the
loader nothing handles raw dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from os.path import basename, join, normpath
from typing import Any

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_HOST_IP = "127.0.0.1"

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """'1m30s' -> 90.0 seconds."""
    return sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(text))


@dataclass(frozen=True)
class OsSpec:
    distribution: str
    release: str
    mirror: str = DEFAULT_MIRROR
    variant: str = "minbase"
    include: tuple[str, ...] = ()
    image: str | None = None  # an existing local image to use instead of bootstrapping


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None  # None: whatever the archive has

    @property
    def apt_spec(self) -> str:
        return f"{self.name}={self.version}" if self.version else self.name


@dataclass(frozen=True)
class Port:
    container: int
    host: int
    host_ip: str = DEFAULT_HOST_IP
    protocol: str = "tcp"

    @property
    def url_host(self) -> str:
        return "127.0.0.1" if self.host_ip in ("0.0.0.0", "") else self.host_ip


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: float = 1.0
    timeout: float = 5.0
    retries: int = 30
    start_period: float = 0.0


@dataclass(frozen=True)
class VolumeMount:
    name: str
    target: str


@dataclass(frozen=True)
class Service:
    name: str
    recipe: str
    description: str = ""
    packages: tuple[Package, ...] = ()
    files: tuple[tuple[str, str], ...] = ()   # (path in image, template under images/)
    copy: tuple[tuple[str, str], ...] = ()    # (path in image, source under images/)
    ports: tuple[Port, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] | str | None = None
    user: str | None = None
    healthcheck: Healthcheck | None = None
    depends_on: tuple[str, ...] = ()
    verify: tuple[str, ...] = ()   # testinfra files `devenv verify` runs against this service (project-relative)


@dataclass(frozen=True)
class Dataset:
    name: str
    size: str
    seed: int = 1
    service: str = "db"
    scale: tuple[tuple[str, float], ...] = ()
    path: str | None = None   # a dataset directory (devenv dataset subset), absolute; mounted as is


@dataclass(frozen=True)
class ImageSet:
    count: int
    width: int = 320
    height: int = 240
    seed: int = 1
    service: str = "web"     # the service whose volume holds the images
    volume: str = "media"    # that volume's name


@dataclass(frozen=True)
class Profile:
    """A fully resolved profile (``extends`` already merged)."""

    name: str
    description: str
    parent: str | None
    chain: tuple[str, ...]          # files merged, root ancestor first
    os: OsSpec
    services: dict[str, Service]
    vars: dict[str, Any] = field(default_factory=dict)
    dataset: Dataset | None = None
    imageset: ImageSet | None = None
    drift_ignore: tuple[str, ...] = ()  # fact patterns `devenv drift` ignores besides its default list
    subset_rules: Any = field(default=None, compare=False)  # devenv.subset.Rules of data.anonymise / data.subset
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # merged mapping, for `show`

    def service_order(self) -> list[str]:
        """Services in dependency order (dependencies first, ties by name)."""
        order: list[str] = []
        done: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            for dep in sorted(self.services[name].depends_on):
                visit(dep)
            order.append(name)

        for name in sorted(self.services):
            visit(name)
        return order


def parse_port(spec: Any) -> Port:
    if isinstance(spec, int):
        return Port(container=spec, host=spec)
    if isinstance(spec, dict):
        return Port(container=spec["container"], host=spec.get("host", spec["container"]),
                    host_ip=spec.get("host_ip", DEFAULT_HOST_IP), protocol=spec.get("protocol", "tcp"))
    text, _, proto = str(spec).partition("/")
    ip = DEFAULT_HOST_IP
    if text.startswith("["):
        close = text.index("]")
        ip, text = text[1:close], text[close + 2:]
    parts = text.split(":")
    if len(parts) == 3:
        ip, parts = parts[0], parts[1:]
    host, container = int(parts[0]), int(parts[1])
    return Port(container=container, host=host, host_ip=ip, protocol=proto or "tcp")


def _healthcheck(data: dict | None) -> Healthcheck | None:
    if not data:
        return None
    test = data["test"]
    test = ("CMD-SHELL", test) if isinstance(test, str) else tuple(test)
    return Healthcheck(
        test=test,
        interval=parse_duration(data.get("interval", "1s")),
        timeout=parse_duration(data.get("timeout", "5s")),
        retries=int(data.get("retries", 30)),
        start_period=parse_duration(data.get("start_period", "0s")),
    )


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_service(name: str, data: dict) -> Service:
    command = data.get("command")
    return Service(
        name=name,
        recipe=data["recipe"],
        description=data.get("description", ""),
        packages=tuple(Package(n, None if v in (None, "*") else str(v)) for n, v in sorted((data.get("packages") or {}).items())),
        files=tuple(sorted((data.get("files") or {}).items())),
        copy=tuple(sorted((data.get("copy") or {}).items())),
        ports=tuple(parse_port(p) for p in data.get("ports") or []),
        volumes=tuple(VolumeMount(n, t) for n, t in sorted((data.get("volumes") or {}).items())),
        environment=tuple((k, _env_value(v)) for k, v in sorted((data.get("environment") or {}).items())),
        command=tuple(command) if isinstance(command, list) else command,
        user=data.get("user"),
        healthcheck=_healthcheck(data.get("healthcheck")),
        depends_on=tuple(data.get("depends_on") or ()),
        verify=tuple(data.get("verify") or ()),
    )


def build_profile(name: str, chain: tuple[str, ...], data: dict, base_dir: str | None = None) -> Profile:
    os_data = data["os"]
    os = OsSpec(
        distribution=os_data["distribution"],
        release=os_data["release"],
        mirror=os_data.get("mirror", DEFAULT_MIRROR),
        variant=os_data.get("variant", "minbase"),
        include=tuple(os_data.get("include") or ()),
        image=os_data.get("image"),
    )
    data_spec = data.get("data") or {}
    ds = data_spec.get("dataset")
    dataset = None
    if ds:
        path = ds.get("path")
        if path is not None:   # relative to the profiles directory
            path = normpath(join(base_dir or ".", path))
        dataset = Dataset(name=ds.get("name", "subset"), size=ds.get("size") or basename(path or ""),
                          seed=int(ds.get("seed", 1)), service=ds.get("service", "db"),
                          scale=tuple(sorted((ds.get("scale") or {}).items())), path=path)
    im = data_spec.get("imageset")
    imageset = ImageSet(count=im["count"], width=im.get("width", 320), height=im.get("height", 240),
                        seed=im.get("seed", 1), service=im.get("service", "web"),
                        volume=im.get("volume", "media")) if im else None
    return Profile(
        name=name,
        description=data.get("description", ""),
        parent=data.get("extends"),
        chain=chain,
        os=os,
        services={n: build_service(n, s) for n, s in sorted(data["services"].items())},
        vars=dict(data.get("vars") or {}),
        dataset=dataset,
        imageset=imageset,
        drift_ignore=tuple((data.get("drift") or {}).get("ignore") or ()),
        subset_rules=_subset_rules(name, data_spec),
        raw=data,
    )


def _subset_rules(name: str, data_spec: dict):
    """The typed rules of ``devenv dataset subset`` (None when the profile has none)."""
    if not (data_spec.get("anonymise") or data_spec.get("subset")):
        return None
    from ..subset.rules import Rules
    return Rules.from_mapping(data_spec, f"profile {name}")
