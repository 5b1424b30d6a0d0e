"""The typed profile model. Built once from a validated, merged mapping; past the
loader nothing handles raw dicts."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from os.path import basename, dirname, join, normpath
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


@dataclass(frozen=True, order=True)
class ListenPort:
    """A container port the service listens on, published or not (``listens:``);
    ``devenv verify`` checks that something listens there on all interfaces."""

    port: int
    protocol: str = "tcp"

    @property
    def key(self) -> str:
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: float = 1.0
    timeout: float = 5.0
    retries: int = 30
    start_period: float = 0.0
    # the Compose Specification's check interval during the start period; None: ``interval``
    start_interval: float | None = None

    @property
    def starting_every(self) -> float:
        """Seconds between checks while the service starts."""
        return self.interval if self.start_interval is None else self.start_interval


@dataclass(frozen=True)
class VolumeMount:
    name: str
    target: str


@dataclass(frozen=True)
class SourceMount:
    """A project path bind-mounted into the container (``mounts:``)."""

    target: str    # absolute path in the container
    source: str    # path relative to the project root, normalised (no leading ./)


STARTED, HEALTHY = "service_started", "service_healthy"   # compose's depends_on conditions


@dataclass(frozen=True)
class Dependency:
    """One ``depends_on`` entry: the service starts after ``service`` is started or healthy.

    The short form (a list of names) means ``service_healthy``: devenv waits for the
    dependency's healthcheck (a dependency without one counts once it runs).
    ``service_started`` only orders the starts: the dependent starts as soon as the
    dependency's container runs (its name resolves), while it still boots. Either way
    ``up`` returns once every service is healthy.
    """
    service: str
    condition: str = HEALTHY

    @property
    def needs_healthy(self) -> bool:
        return self.condition == HEALTHY


@dataclass(frozen=True)
class Service:
    name: str
    recipe: str
    description: str = ""
    packages: tuple[Package, ...] = ()
    files: tuple[tuple[str, str], ...] = ()   # (path in image, template under images/)
    copy: tuple[tuple[str, str], ...] = ()    # (path in image, recipe source or ./project path)
    mounts: tuple[SourceMount, ...] = ()      # development: project paths mounted over the image
    ports: tuple[Port, ...] = ()
    listens: tuple[ListenPort, ...] = ()   # unpublished ports it listens on (verify); published ones count too
    volumes: tuple[VolumeMount, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] | str | None = None
    user: str | None = None
    healthcheck: Healthcheck | None = None
    depends_on: tuple[Dependency, ...] = ()
    verify: tuple[str, ...] = ()   # testinfra files `devenv verify` runs against this service (project-relative)


@dataclass(frozen=True)
class Dataset:
    name: str
    size: str
    seed: int = 1
    service: str = "db"
    scale: tuple[tuple[str, float], ...] = ()
    path: str | None = None   # a dataset directory (devenv dataset subset), absolute; mounted as is
    engine: str | None = None  # database engine (devenv.db); None: the dataset service's recipe decides
    generator: str | None = None  # a project's generator module (absolute path); see devenv.data.hook


@dataclass(frozen=True)
class ImageSet:
    count: int
    width: int = 320
    height: int = 240
    seed: int = 1
    service: str = "web"     # the service whose volume holds the images
    volume: str = "media"    # that volume's name


@dataclass(frozen=True)
class TrySuite:
    """The profile's test suite (``try:``), run by ``devenv try`` in a throwaway instance."""

    service: str                               # whose container runs it
    command: tuple[str, ...] | str             # argv, or a string for `sh -c`
    junit: str | None = None                   # where in the container the suite writes JUnit XML
    workdir: str | None = None
    parts: tuple[tuple[str, ...] | str, ...] = ()   # each appended to the command: one part each
    shards: int | None = None                  # or N parts of the same command, told apart by env vars
    heavy: bool = False                        # one heavy suite at a time per engine

    def split(self) -> list[tuple[tuple[str, ...] | str, dict[str, str]]]:
        """The parts as (what to append to the command, extra environment); one part when unsplit."""
        if self.parts:
            n = len(self.parts)
            return [(p, {"DEVENV_TRY_PART": str(i), "DEVENV_TRY_PARTS": str(n)})
                    for i, p in enumerate(self.parts, 1)]
        n = self.shards or 1
        return [((), {"DEVENV_TRY_PART": str(i), "DEVENV_TRY_PARTS": str(n)}) for i in range(1, n + 1)]


def build_try(data: dict | None) -> TrySuite | None:
    if not data:
        return None
    command = data["command"]
    parts = tuple(tuple(p) if isinstance(p, list) else str(p) for p in data.get("parts") or ())
    return TrySuite(service=data["service"], command=tuple(command) if isinstance(command, list) else command,
                    junit=data.get("junit"), workdir=data.get("workdir"), parts=parts,
                    shards=data.get("shards"), heavy=bool(data.get("heavy", False)))


# -- data.anonymise / data.subset: the rules of `devenv dataset subset` ------------------------
# The vocabulary lives here, with the profile that declares it; a rules file
# (``devenv.subset.rules``) is parsed with the same functions.

KEEP, NULL, FIXED, FAKE, HASH = "keep", "null", "fixed", "fake", "hash"

#: fake kind -> what it makes (values never depend on the original, only on seed, table, column and row)
FAKE_KINDS = {
    "email": "first.last.<row key>@example.invalid (unique per row)",
    "name": "first and last name",
    "first_name": "a first name",
    "last_name": "a last name",
    "username": "first_last<row key> (unique per row)",
    "phone": "+1-555-0NN-NNNN",
    "address": "number, street, postcode and city",
    "street": "number and street",
    "city": "a city",
    "postcode": "five digits",
    "company": "a company name",
    "text": "filler words, as long as the original (up to the column length)",
    "ip": "an address of 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24 (documentation ranges)",
    "url": "https://example.invalid/<token>",
    "date": "a date between 1940 and 2005 (birth dates)",
    "uuid": "a UUID",
    "number": "a number of the column's type (integer columns)",
}
HASH_FORMATS = ("hex", "email", "int")


@dataclass(frozen=True)
class AnonymiseRule:
    """What ``devenv dataset subset`` writes instead of one column's values."""

    kind: str                  # keep | null | fixed | fake | hash
    value: Any = None          # fixed: the value; fake: the kind; hash: the key name
    format: str | None = None  # hash: hex | email | int (default: int for integer columns, else hex)

    def to_json(self) -> Any:
        if self.kind in (KEEP, NULL):
            return self.kind
        if self.kind == HASH and self.format:
            return {HASH: self.value, "format": self.format}
        return {self.kind: self.value}

    def same_mapping(self, other: "AnonymiseRule") -> bool:
        """Whether two columns with these rules still compare equal after anonymisation."""
        return self.kind == other.kind and (self.kind == KEEP or (self.kind == HASH and self.value == other.value
                                                                   and self.format == other.format))


@dataclass(frozen=True)
class SubsetSettings:
    """How ``devenv dataset subset`` walks the foreign keys (``data.subset``)."""

    start: tuple[str, ...] = ()
    follow: tuple[str, ...] = ()
    no_follow: tuple[str, ...] = ()
    cut: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {k: list(getattr(self, k)) for k in SUBSET_KEYS}


SUBSET_KEYS = tuple(SubsetSettings.__dataclass_fields__)


def parse_anonymise_rule(raw: Any) -> tuple[AnonymiseRule | None, str | None]:
    """(rule, None) or (None, problem) for one column's rule as written."""
    if raw is None or raw == NULL:
        return AnonymiseRule(NULL), None
    if raw == KEEP:
        return AnonymiseRule(KEEP), None
    if isinstance(raw, str):
        # compact forms (a string replaces a parent profile's rule whole when merging):
        # fake:KIND, hash:KEY, hash:KEY:FORMAT, fixed:VALUE
        kind, sep, rest = raw.partition(":")
        if sep and kind == FAKE:
            return parse_anonymise_rule({FAKE: rest})
        if sep and kind == HASH:
            key, _, fmt = rest.partition(":")
            return parse_anonymise_rule({HASH: key, "format": fmt} if fmt else {HASH: key})
        if sep and kind == FIXED:
            return AnonymiseRule(FIXED, rest), None
        return None, (f"unknown rule `{raw}` (keep, null, {{fixed: V}}, {{fake: KIND}}, {{hash: KEY}}, "
                      "or fixed:V, fake:KIND, hash:KEY)")
    if not isinstance(raw, dict) or not raw:
        return None, "a rule is keep, null, {fixed: V}, {fake: KIND} or {hash: KEY}"
    keys = set(raw)
    if keys == {FIXED}:
        v = raw[FIXED]
        if isinstance(v, (dict, list)):
            return None, "fixed: a scalar value"
        return AnonymiseRule(FIXED, v), None
    if keys == {FAKE}:
        kind = raw[FAKE]
        if kind not in FAKE_KINDS:
            close = difflib.get_close_matches(str(kind), list(FAKE_KINDS), n=1)
            return None, (f"unknown fake kind `{kind}`" + (f" (did you mean `{close[0]}`?)" if close else "")
                          + f"; kinds: {', '.join(FAKE_KINDS)}")
        return AnonymiseRule(FAKE, kind), None
    if HASH in keys and keys <= {HASH, "format"}:
        key = raw[HASH]
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            return None, "hash: a key name of letters, digits and _ (the key itself comes from the environment)"
        fmt = raw.get("format")
        if fmt is not None and fmt not in HASH_FORMATS:
            return None, f"hash format must be one of {', '.join(HASH_FORMATS)}"
        return AnonymiseRule(HASH, key, fmt), None
    return None, f"unknown rule {raw!r} (keep, null, {{fixed: V}}, {{fake: KIND}}, {{hash: KEY, format: hex|email|int}})"


def anonymise_problems(spec: Any) -> list[tuple[tuple, str]]:
    """(path under ``anonymise``, problem) of every rule of a ``table -> column -> rule``
    mapping that does not parse; the loader reports them with their file and line."""
    out: list[tuple[tuple, str]] = []
    for table, cols in (spec or {}).items():
        for column, raw in (cols or {}).items():
            _, problem = parse_anonymise_rule(raw)
            if problem:
                out.append(((table, column), f"{table}.{column}: {problem}"))
    return out


def _anonymise(spec: dict | None) -> dict[str, dict[str, AnonymiseRule]]:
    """The typed ``data.anonymise`` of a validated profile (the loader reported every problem)."""
    out: dict[str, dict[str, AnonymiseRule]] = {}
    for table, cols in sorted((spec or {}).items()):
        for column, raw in sorted((cols or {}).items()):
            rule, problem = parse_anonymise_rule(raw)
            if rule is None:
                raise ValueError(f"data.anonymise.{table}.{column}: {problem} (the loader should have said so)")
            out.setdefault(str(table), {})[str(column)] = rule
    return out


def _subset_settings(spec: dict | None) -> SubsetSettings:
    return SubsetSettings(**{k: tuple(v or ()) for k, v in (spec or {}).items()})


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
    anonymise: dict[str, dict[str, AnonymiseRule]] = field(default_factory=dict)  # data.anonymise: table -> column -> rule
    subset: SubsetSettings = SubsetSettings()                                      # data.subset
    try_suite: TrySuite | None = None                                              # try: (devenv try)
    # The merged YAML mapping, kept only so that `devenv show` prints what the user
    # wrote (after `extends`). Only `show` reads it: everything else reads the typed
    # fields above, so a setting cannot be read past the model (tests/unit/test_profile.py greps for it).
    merged: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def service_order(self) -> list[str]:
        """Services in dependency order (dependencies first, ties by name)."""
        order: list[str] = []
        done: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            for dep in sorted(d.service for d in self.services[name].depends_on):
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


def parse_listen_port(spec: Any) -> ListenPort:
    """5432 or "5432/tcp" or "53/udp" (the schema checked the form and range)."""
    port, _, protocol = str(spec).partition("/")
    return ListenPort(int(port), protocol or "tcp")


def _dependencies(data: list | dict | None) -> tuple[Dependency, ...]:
    """The short form (names) or compose's long form (``name: {condition: ...}``)."""
    if isinstance(data, dict):
        return tuple(Dependency(name, (spec or {}).get("condition", HEALTHY)) for name, spec in sorted(data.items()))
    return tuple(Dependency(name) for name in data or ())


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
        start_interval=parse_duration(data["start_interval"]) if "start_interval" in data else None,
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
        mounts=tuple(SourceMount(t, normpath(src)) for t, src in sorted((data.get("mounts") or {}).items())
                     if src is not None),
        ports=tuple(parse_port(p) for p in data.get("ports") or []),
        listens=tuple(sorted({parse_listen_port(p) for p in data.get("listens") or []})),
        volumes=tuple(VolumeMount(n, t) for n, t in sorted((data.get("volumes") or {}).items())),
        environment=tuple((k, _env_value(v)) for k, v in sorted((data.get("environment") or {}).items())),
        command=tuple(command) if isinstance(command, list) else command,
        user=data.get("user"),
        healthcheck=_healthcheck(data.get("healthcheck")),
        depends_on=_dependencies(data.get("depends_on")),
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
        generator = ds.get("generator")
        if generator is not None:   # relative to the project directory (the profiles directory's parent)
            generator = normpath(join(dirname(normpath(base_dir or "profiles")), generator))
        dataset = Dataset(name=ds.get("name", "subset" if path else "custom"),
                          size=ds.get("size") or basename(path or ""),
                          seed=int(ds.get("seed", 1)), service=ds.get("service", "db"),
                          scale=tuple(sorted((ds.get("scale") or {}).items())), path=path,
                          engine=ds.get("engine"), generator=generator)
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
        anonymise=_anonymise(data_spec.get("anonymise")),
        subset=_subset_settings(data_spec.get("subset")),
        try_suite=build_try(data.get("try")),
        merged=data,
    )
