"""The Compose Specification document for a rendered stack.

Users can run the rendered stack with ``docker compose`` as is: images carry the
devenv tags and build contexts, volumes carry the same names devenv gives them (so
the database volume is shared with ``devenv up``), and ports bind to the same
addresses. Containers and networks get compose's own names, under the project
name that ``.env`` (``COMPOSE_PROJECT_NAME``) beside the file gives. It runs with
Compose v2 and with docker-compose 1.29 (Debian's), which an integration test
checks. The service keys come
from ``devenv.settings`` (the same declarations the settings hash and the
container spec read).
"""

from __future__ import annotations

from . import names
from .profile.model import HEALTHY, STARTED
from .render import Stack
from .settings import compose_fields


def compose_document(stack: Stack) -> dict:
    profile = stack.profile
    naming = stack.naming()
    services: dict = {}
    volumes: dict = {}
    for name in stack.order():
        sp = stack.services[name]
        s = sp.service
        doc: dict = {
            "image": sp.image.tag,
            "build": {"context": f"images/{name}", "dockerfile": "Dockerfile"},
            "labels": _portable(names.service_labels(stack.scope, name, sp.config_hash, extra=False)),
        }
        doc.update(compose_fields(sp, naming))
        for v in s.volumes:
            volumes[v.name] = {"name": naming.volume(v.name),
                               "labels": _portable(names.volume_labels(stack.scope, v.name, extra=False))}
        if s.depends_on:
            doc["depends_on"] = {
                d.service: {"condition": HEALTHY if d.needs_healthy and profile.services[d.service].healthcheck
                            else STARTED}
                for d in s.depends_on
            }
        services[name] = doc
    # no top-level `name` (docker-compose 1.29 refuses it): the project name is
    # in the .env file written beside compose.yaml (COMPOSE_PROJECT_NAME)
    out: dict = {"services": services}
    if volumes:
        out["volumes"] = dict(sorted(volumes.items()))
    return out


def _portable(labels: dict[str, str]) -> dict[str, str]:
    """Labels without the project's root directory: the file is the same in every checkout."""
    return {k: v for k, v in labels.items() if k != names.PROJECT_ROOT}


def project_env(stack: Stack) -> str:
    """The ``.env`` beside compose.yaml: Compose reads the project name from it."""
    return f"COMPOSE_PROJECT_NAME={names.project(stack.scope)}\n"
