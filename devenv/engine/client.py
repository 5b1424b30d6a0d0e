"""The Docker client, held by composition and passed in.

``Engine`` wraps a ``docker.DockerClient``; everything else in ``devenv.engine``
receives an ``Engine`` (tests hand in a fake client at the SDK boundary).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import docker
import docker.errors

from ..errors import EngineUnreachableError


@dataclass
class Engine:
    client: docker.DockerClient

    @property
    def api(self):
        return self.client.api


def _engine_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect(timeout: int = 300) -> Engine:
    """Connect to the engine named by the environment (DOCKER_HOST, ...) and check it answers."""
    url = _engine_url()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        detail = str(exc)
        if "No such file" in detail or "FileNotFoundError" in detail:
            detail = "no engine is listening there"
        elif "Permission denied" in detail:
            detail = "permission denied (add your user to the `docker` group, or run as root)"
        elif "Connection refused" in detail:
            detail = "connection refused"
        raise EngineUnreachableError(url, detail) from None
    return Engine(client)
