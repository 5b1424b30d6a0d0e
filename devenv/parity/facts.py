"""Gathering facts from a testinfra host: one command, parsed into a ``HostFingerprint``."""

from __future__ import annotations

import base64
import binascii
import json
import socket
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from .. import __version__
from .errors import TargetError
from .model import Account, FileFact, HostFingerprint, ListeningSocket
from .script import SECTIONS, check_path, content_command, facts_command

# Docker's embedded DNS server listens on 127.0.0.11 (random ports) in every
# container on a user-defined network: an artefact of the runtime, not of the host.
DOCKER_DNS = "127.0.0.11"


class CommandResultLike(Protocol):
    rc: int
    stdout_bytes: bytes
    stderr_bytes: bytes


class HostLike(Protocol):
    """The part of ``testinfra.host.Host`` devenv uses."""

    def run(self, command: str, *args: str) -> CommandResultLike: ...


@dataclass
class CountingHost:
    """A testinfra host that counts the commands run through it (the speed budget)."""

    host: HostLike
    target: str
    commands: int = 0
    seconds: float = 0.0

    def run(self, command: str) -> CommandResultLike:
        start = time.perf_counter()
        self.commands += 1
        try:
            return self.host.run(command)
        except RuntimeError as exc:  # testinfra's ssh backends raise on exit 255 (no connection)
            raise TargetError(f"{self.target}: cannot connect: {_tail(_failure_text(exc))}",
                              "Check the address, the user and the key (ssh -v), or the container name.") from None
        finally:
            self.seconds += time.perf_counter() - start


def _failure_text(exc: RuntimeError) -> str:
    """What ssh said: testinfra raises RuntimeError(CommandResult), whose repr is the whole command."""
    result = exc.args[0] if exc.args else None
    stderr = getattr(result, "stderr_bytes", None)
    if stderr is not None:
        stdout = getattr(result, "stdout_bytes", b"") or b""
        text = (stderr or stdout).decode("utf-8", errors="replace").replace("\r", "")
        return text if text.strip() else f"exit {getattr(result, 'rc', '?')} without a message"
    return str(exc)


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def gather(host: CountingHost, paths: list[str], live: bool, sections: tuple[str, ...] = SECTIONS) -> HostFingerprint:
    """Run the fact script once on ``host`` and parse its JSON into a fingerprint.

    With fewer ``sections`` (verify: ``VERIFY_SECTIONS``) the other facts stay empty:
    such a fingerprint serves one check run, it is never written to a file.
    """
    try:
        for p in paths:
            check_path(p)
    except ValueError as exc:
        raise TargetError(str(exc), "Ask for files and directories of the host's filesystem.") from None
    taken_at = now()
    result = host.run(facts_command(sorted(set(paths)), live, sections))
    stdout = result.stdout_bytes.decode("utf-8", errors="replace")
    stderr = result.stderr_bytes.decode("utf-8", errors="replace")
    if result.rc != 0:
        raise TargetError(f"{host.target}: the fact script failed (exit {result.rc}): {_tail(stderr or stdout)}",
                          "The host needs /bin/sh, awk and coreutils (every Debian system has them).")
    try:
        rows = json.loads(stdout)
    except json.JSONDecodeError:
        raise TargetError(f"{host.target}: the fact script printed no JSON: {_tail(stdout + stderr)}") from None
    return parse_rows(rows, target=host.target, live=live, taken_at=taken_at)


def parse_rows(rows: list[list[str]], target: str, live: bool, taken_at: str) -> HostFingerprint:
    """Build a fingerprint from the rows the fact script printed (see ``devenv.parity.script``)."""
    hostname, machine_id = "", None
    os_release: dict[str, str] = {}
    packages: dict[str, str] = {}
    files: dict[str, FileFact] = {}
    runtimes: dict[str, str] = {}
    modules: dict[str, set[str]] = {}
    users: dict[str, Account] = {}
    sockets: set[ListeningSocket] = set()
    procs: list[tuple[str, str]] = []
    for row in rows:
        tag, fields = row[0], row[1:]
        if tag == "h" and len(fields) >= 2:
            if fields[0] == "hostname":
                hostname = fields[1]
            elif fields[0] == "machine-id":
                machine_id = fields[1]
        elif tag == "o" and len(fields) >= 2:
            os_release[fields[0]] = fields[1]
        elif tag == "p" and len(fields) >= 4:
            name, version, arch, status = fields[:4]
            if len(status) < 2 or status[1] != "i":
                continue  # not installed: "rc" (removed, config files left), half-installed, ...
            key = name if name not in packages else f"{name}:{arch}"
            packages[key] = version
        elif tag == "f" and len(fields) >= 2:
            path, kind = fields[0], fields[1]
            sha = fields[2] if len(fields) > 2 and fields[2] else None
            mode = fields[3] if len(fields) > 3 and fields[3] else None
            owner = fields[4] if len(fields) > 4 and fields[4] else None
            files[path] = FileFact(path, kind, sha, mode, owner)
        elif tag == "r" and len(fields) >= 2:
            if fields[1]:
                runtimes[fields[0]] = fields[1].strip()
        elif tag == "m" and len(fields) >= 2:
            modules.setdefault(fields[0], set()).add(fields[1].strip())
        elif tag == "u" and len(fields) >= 5:
            try:
                users[fields[0]] = Account(fields[0], int(fields[1]), int(fields[2]), fields[3], fields[4])
            except ValueError:
                continue
        elif tag == "n" and len(fields) >= 2:
            sock = decode_socket(fields[0], fields[1])
            if sock is not None and sock.address != DOCKER_DNS:
                sockets.add(sock)
        elif tag == "s" and len(fields) >= 2:
            procs.append((fields[0], fields[1]))
    by_uid = {a.uid: a.name for a in sorted(users.values(), key=lambda a: a.name, reverse=True)}
    processes: dict[str, set[str]] = {}
    for name, uid in procs:
        user = by_uid.get(int(uid), uid) if uid.isdigit() else uid
        processes.setdefault(name, set()).add(user)
    return HostFingerprint(
        target=target,
        taken_at=taken_at,
        live=live,
        hostname=hostname,
        machine_id=machine_id,
        os=os_release,
        packages=packages,
        files=files,
        runtimes=runtimes,
        php_modules={k: tuple(sorted(v, key=str.lower)) for k, v in modules.items()},
        users=users,
        sockets=tuple(sorted(sockets)),
        processes={k: tuple(sorted(v)) for k, v in processes.items()} if live else {},
        devenv_version=__version__,
    )


def decode_socket(table: str, local: str) -> ListeningSocket | None:
    """'0100007F:1F90' from /proc/net/tcp -> ListeningSocket('tcp', '127.0.0.1', 8080)."""
    try:
        addr_hex, port_hex = local.split(":")
        port = int(port_hex, 16)
        raw = bytes.fromhex(addr_hex)
    except ValueError:
        return None
    protocol = "udp" if table.startswith("udp") else "tcp"
    if len(raw) == 4:
        address = socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    elif len(raw) == 16:
        # four 32-bit words, each in host (little-endian) byte order
        words = struct.unpack(">4I", raw)
        address = socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))
    else:
        return None
    return ListeningSocket(protocol, address, port)


def fetch_contents(host: CountingHost, paths: list[str]) -> dict[str, bytes | None]:
    """The content of a few files in one command (for diffs); None when unreadable."""
    if not paths:
        return {}
    result = host.run(content_command(paths))
    lines = result.stdout_bytes.decode("ascii", errors="replace").split("\n")
    out: dict[str, bytes | None] = {p: None for p in paths}
    for i in range(0, len(lines) - 1, 2):
        path, data = lines[i], lines[i + 1]
        if path in out and data:
            try:
                out[path] = base64.b64decode(data)
            except (binascii.Error, ValueError):
                out[path] = None
        elif path in out and not data:
            out[path] = b""
    return out

