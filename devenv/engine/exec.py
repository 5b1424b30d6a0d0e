"""Running a command in a container with its output streamed and its exit code kept; reading a
file out of a container."""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO

import docker.errors

from .client import Engine


def run(engine: Engine, container: str, command: list[str], stdout: BinaryIO, stderr: BinaryIO,
        user: str = "") -> int:
    """Run ``command`` in ``container``; stream stdout/stderr; return its exit code."""
    exec_id = engine.api.exec_create(container, command, stdout=True, stderr=True, user=user)["Id"]
    for out, err in engine.api.exec_start(exec_id, stream=True, demux=True):
        if out:
            stdout.write(out)
            stdout.flush()
        if err:
            stderr.write(err)
            stderr.flush()
    code = engine.api.exec_inspect(exec_id).get("ExitCode")
    return 126 if code is None else int(code)


def capture(engine: Engine, container: str, command: list[str]) -> tuple[int, str]:
    """Run ``command``; its exit code and stdout (stderr dropped)."""
    exec_id = engine.api.exec_create(container, command, stdout=True, stderr=False)["Id"]
    out = engine.api.exec_start(exec_id)
    code = engine.api.exec_inspect(exec_id).get("ExitCode")
    return (126 if code is None else int(code)), out.decode(errors="replace")


def read_file(engine: Engine, container: str, path: str) -> bytes | None:
    """The content of the file ``path`` of a container (running or not), or None when there is none.

    Through the engine's archive API, so it needs no shell or ``cat`` in the image.
    """
    try:
        stream, _ = engine.api.get_archive(container, path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                return f.read() if f else None
    return None
