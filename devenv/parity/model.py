"""Fingerprints: the facts that make two machines the same for our site.

A ``HostFingerprint`` describes one host (one container = one service). A
``FingerprintFile`` maps service names to host fingerprints; it is what
``devenv fingerprint --output`` writes and ``devenv drift --against`` reads:

    {"format": 1,
     "hosts": {"web": {"target": "ssh://deploy@web1", "taken_at": "...", "live": true,
                       "os": {...}, "packages": {...}, "files": {...}, ...},
               "php": {...}}}
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FingerprintFileError

FORMAT = 1


@dataclass(frozen=True)
class FileFact:
    """A path on the host. ``kind``: file, dir (sha256 of its files), missing, unreadable, other."""

    path: str
    kind: str
    sha256: str | None = None
    mode: str | None = None      # octal, e.g. "644"
    owner: str | None = None     # "user:group"

    @property
    def present(self) -> bool:
        return self.kind != "missing"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("sha256", "mode", "owner"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, path: str, data: dict[str, Any]) -> "FileFact":
        return cls(path, str(data["kind"]), data.get("sha256"), data.get("mode"), data.get("owner"))


@dataclass(frozen=True)
class Account:
    """A line of /etc/passwd."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str

    def describe(self) -> str:
        return f"uid {self.uid} gid {self.gid} home {self.home} shell {self.shell}"

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "gid": self.gid, "home": self.home, "shell": self.shell}

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> "Account":
        return cls(name, int(data["uid"]), int(data["gid"]), str(data["home"]), str(data["shell"]))


@dataclass(frozen=True, order=True)
class ListeningSocket:
    """A socket in LISTEN state (tcp) or bound (udp)."""

    protocol: str   # tcp | udp
    address: str    # 0.0.0.0, ::, 127.0.0.1, ...
    port: int

    @property
    def scope(self) -> str:
        """'all interfaces', 'loopback' or the address itself: what matters for reachability."""
        ip = ipaddress.ip_address(self.address)
        if ip.is_unspecified:
            return "all interfaces"
        if ip.is_loopback:
            return "loopback"
        return self.address

    def to_json(self) -> list[Any]:
        return [self.protocol, self.address, self.port]

    @classmethod
    def from_json(cls, data: list[Any]) -> "ListeningSocket":
        protocol, address, port = data
        return cls(str(protocol), str(address), int(port))


@dataclass(frozen=True)
class HostFingerprint:
    """Every fact of one host that production parity depends on.

    ``live`` fingerprints come from a running host and include listening sockets
    and the users processes run as; image fingerprints (``image://``) are taken in
    an idle throwaway container and have neither.
    """

    target: str
    taken_at: str
    live: bool
    hostname: str = ""
    machine_id: str | None = None
    os: dict[str, str] = field(default_factory=dict)             # /etc/os-release + DEBIAN_VERSION
    packages: dict[str, str] = field(default_factory=dict)       # installed package -> version
    files: dict[str, FileFact] = field(default_factory=dict)
    runtimes: dict[str, str] = field(default_factory=dict)       # php -> "PHP 8.2.29 (cli) ..."
    php_modules: dict[str, tuple[str, ...]] = field(default_factory=dict)  # php, php-fpm8.2 -> modules
    users: dict[str, Account] = field(default_factory=dict)
    sockets: tuple[ListeningSocket, ...] = ()                    # live only
    processes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # live only: name -> users
    devenv_version: str = ""

    def listening(self, port: int, protocol: str = "tcp") -> list[ListeningSocket]:
        return [s for s in self.sockets if s.port == port and s.protocol == protocol]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "taken_at": self.taken_at,
            "live": self.live,
            "devenv": self.devenv_version,
            "hostname": self.hostname,
            "machine_id": self.machine_id,
            "os": dict(sorted(self.os.items())),
            "packages": dict(sorted(self.packages.items())),
            "files": {p: f.to_json() for p, f in sorted(self.files.items())},
            "runtimes": dict(sorted(self.runtimes.items())),
            "php_modules": {k: list(v) for k, v in sorted(self.php_modules.items())},
            "users": {n: a.to_json() for n, a in sorted(self.users.items())},
            "sockets": [s.to_json() for s in sorted(self.sockets)],
            "processes": {k: list(v) for k, v in sorted(self.processes.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HostFingerprint":
        return cls(
            target=str(data["target"]),
            taken_at=str(data.get("taken_at", "")),
            live=bool(data.get("live", False)),
            hostname=str(data.get("hostname", "")),
            machine_id=data.get("machine_id"),
            os={str(k): str(v) for k, v in (data.get("os") or {}).items()},
            packages={str(k): str(v) for k, v in (data.get("packages") or {}).items()},
            files={p: FileFact.from_json(p, f) for p, f in (data.get("files") or {}).items()},
            runtimes={str(k): str(v) for k, v in (data.get("runtimes") or {}).items()},
            php_modules={str(k): tuple(str(m) for m in v) for k, v in (data.get("php_modules") or {}).items()},
            users={n: Account.from_json(n, a) for n, a in (data.get("users") or {}).items()},
            sockets=tuple(ListeningSocket.from_json(s) for s in data.get("sockets") or ()),
            processes={str(k): tuple(str(u) for u in v) for k, v in (data.get("processes") or {}).items()},
            devenv_version=str(data.get("devenv", "")),
        )


@dataclass
class FingerprintFile:
    """Host fingerprints by service name: a production description, or one host."""

    hosts: dict[str, HostFingerprint] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "hosts": {name: fp.to_json() for name, fp in sorted(self.hosts.items())}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> "FingerprintFile":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FingerprintFileError(f"{source}: not a fingerprint file: invalid JSON at line {exc.lineno}: {exc.msg}",
                                       "Write one with `devenv fingerprint TARGET --service NAME --output FILE`.") from None
        if not isinstance(data, dict) or "hosts" not in data:
            raise FingerprintFileError(f"{source}: not a fingerprint file: expected {{\"format\": {FORMAT}, \"hosts\": {{...}}}}",
                                       "Write one with `devenv fingerprint TARGET --service NAME --output FILE`.")
        if data.get("format") != FORMAT:
            raise FingerprintFileError(f"{source}: fingerprint format {data.get('format')!r} is not supported "
                                       f"(this devenv reads format {FORMAT})",
                                       "Take the fingerprint again with this version of devenv.")
        hosts = data["hosts"]
        if not isinstance(hosts, dict):
            raise FingerprintFileError(f"{source}: `hosts` must map service names to fingerprints")
        out: dict[str, HostFingerprint] = {}
        for name, fp in hosts.items():
            try:
                out[name] = HostFingerprint.from_json(fp)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise FingerprintFileError(f"{source}: host `{name}` is not a valid fingerprint ({type(exc).__name__}: {exc})",
                                           "Take that host's fingerprint again with `devenv fingerprint`.") from None
        return cls(out)

    @classmethod
    def read(cls, path: str | Path) -> "FingerprintFile":
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise FingerprintFileError(f"fingerprint file {path} does not exist",
                                       "Write one with `devenv fingerprint TARGET --service NAME --output FILE`.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FingerprintFileError(f"cannot read fingerprint file {path}: {exc}") from None
        return cls.loads(text, str(path))

    def write(self, path: str | Path) -> None:
        """Write atomically (a temporary file renamed over ``path``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self.dumps())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def merge_into(cls, path: str | Path, name: str, fingerprint: HostFingerprint) -> "FingerprintFile":
        """Add (or replace) host ``name`` in the file at ``path``, creating it when missing.

        Safe for several ``devenv fingerprint -o FILE`` at once: the read-modify-write
        holds an exclusive lock on ``FILE.lock``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = cls.read(path) if path.exists() else cls()
            existing.hosts[name] = fingerprint
            existing.write(path)
        return existing
