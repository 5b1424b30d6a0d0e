"""Running a command in a container with its output streamed and its exit code kept; reading a
file out of a container. The functions of the ``Runtime`` (devenv.engine.runtime), by these
names for the modules that import them."""

from __future__ import annotations

from typing import BinaryIO

from .client import Engine


def run(engine: Engine, container: str, command: list[str], stdout: BinaryIO, stderr: BinaryIO,
        user: str = "") -> int:
    """Run ``command`` in ``container``; stream stdout/stderr; return its exit code."""
    return engine.exec_stream(container, command, stdout, stderr, user=user)


def capture(engine: Engine, container: str, command: list[str]) -> tuple[int, str]:
    """Run ``command``; its exit code and stdout (stderr dropped)."""
    exec_id = engine.api.exec_create(container, command, stdout=True, stderr=False)["Id"]
    out = engine.api.exec_start(exec_id)
    code = engine.api.exec_inspect(exec_id).get("ExitCode")
    return (126 if code is None else int(code)), out.decode(errors="replace")


def read_file(engine: Engine, container: str, path: str) -> bytes | None:
    """The content of the file ``path`` of a container (running or not), or None when there is none."""
    return engine.read_file(container, path)
