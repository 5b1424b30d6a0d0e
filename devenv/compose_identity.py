"""The Compose project a devenv stack belongs to, as labels on its service containers.

The Dev Containers CLI (and so VS Code, Codespaces, JetBrains) finds the container
of a ``dockerComposeFile`` configuration by two labels only,
``com.docker.compose.project`` and ``com.docker.compose.service``; when it finds one
running it attaches to it and runs no ``docker compose up``. devenv puts those two
labels on every service container it creates, so the editor attaches to the very
container ``devenv up`` made and ``devenv status`` shows, instead of starting a
second stack with clashing ports (docs/editor.md).

Deliberately not set: ``com.docker.compose.oneoff`` and Compose's own
``config-hash``. Compose itself (v1 and v2) lists its containers with
``oneoff=False``, so it never adopts, recreates or removes devenv's containers.
"""

from __future__ import annotations

from . import names

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"


def compose_project(stack_name: "names.Scope | str") -> str:
    """The Compose project name of a stack: the one its rendered ``.env`` names too."""
    return names.project(stack_name)


def identity_labels(stack_name: "names.Scope | str", service: str) -> dict[str, str]:
    return {PROJECT: compose_project(stack_name), SERVICE: service}


__all__ = ["PROJECT", "SERVICE", "compose_project", "identity_labels"]
