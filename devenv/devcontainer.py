""".devcontainer/ for a profile: the editor opens the project inside devenv's own stack.

``devcontainer_files`` computes (in memory, byte for byte the same for the same
profile) ``.devcontainer/devcontainer.json`` and the compose file it names,
``.devcontainer/<compose project>/compose.yaml`` with its ``.env``. How the Dev
Containers CLI ends up attached to devenv's containers instead of starting a
second stack (docs/editor.md):

- ``initializeCommand`` (run on the host before anything else) is
  ``devenv devcontainer PROFILE --service S --up``: ``devenv up`` plus a check that
  the service's container carries the compose project labels
  (``devenv.compose_identity``) the CLI looks for; ``ensure_attachable`` here.
- The CLI derives the compose project name from the compose file's directory
  (docker-compose 1.29) or from the ``.env`` beside it (Compose v2's ``config``
  prints it): both are devenv's project name, so the CLI finds the running
  container and runs no ``compose up`` at all.
- Should it ever run ``compose up`` anyway (say ``COMPOSE_PROJECT_NAME`` is set in
  the editor's environment), every service has ``container_name`` = devenv's
  container name and the external network is devenv's: Compose then fails on the
  name instead of starting a second database on the same volume.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import names
from .compose import compose_document
from .compose_identity import PROJECT, SERVICE, compose_project
from .errors import DevenvError
from .render import Stack

DIRECTORY = ".devcontainer"
CONFIG = "devcontainer.json"
COMPOSE = "compose.yaml"
HEADER = "# Written by `devenv devcontainer` from profile {profile}. Do not edit: run it again (`devenv watch` does).\n"
MARK = "devenv"   # customizations.devenv: which profile and service the files are for


class DevcontainerError(DevenvError):
    """The dev container cannot be made as asked (no such service, no source mount, a file that is not ours)."""


@dataclass(frozen=True)
class Target:
    """What a generated devcontainer.json is for."""

    profile: str
    service: str


def workspace_folder(stack: Stack, service: str) -> str:
    """The container path of the service's source mount: where the editor opens the project."""
    if service not in stack.services:
        raise DevcontainerError(f"profile {stack.name} has no service `{service}`",
                                f"services: {', '.join(stack.order())}")
    mounts = stack.services[service].service.mounts
    if not mounts:
        mounted = [s for s in stack.order() if stack.services[s].service.mounts]
        raise DevcontainerError(
            f"service {service} of profile {stack.name} has no source mount (`mounts:`), so the editor would "
            "not see the working tree",
            f"services with a source mount: {', '.join(mounted)}" if mounted else
            f"add `mounts: {{/srv/app: app}}` (container path: project path) to a service of {stack.name}")
    # the mount nearest the project root is the workspace (the others are inside it or beside it)
    return min(mounts, key=lambda m: (m.source.count("/"), m.source)).target


def forward_ports(stack: Stack) -> list[str]:
    """Every published TCP port as ``service:container-port`` (the devcontainer.json form for compose)."""
    return [f"{s}:{p.container}" for s in stack.order() for p in stack.services[s].service.ports
            if p.protocol == "tcp"]


def compose_dir(stack: Stack) -> str:
    """``.devcontainer/<compose project>``: docker-compose 1.29 takes the project name from the directory."""
    return f"{DIRECTORY}/{compose_project(stack.scope)}"


def compose_for_editor(stack: Stack) -> dict:
    """devenv's rendered compose document, made safe to hand to the Dev Containers CLI.

    No ``build`` (devenv builds, and there are no build contexts here); devenv's
    container names and network, so Compose can never create a second container of
    a service; bind-mount sources relative to the compose file, so the file is the
    same on every machine.
    """
    doc = compose_document(stack)
    here = (stack.project_root or Path.cwd()).resolve() / compose_dir(stack)
    for name, service in doc["services"].items():
        service.pop("build", None)
        service["container_name"] = names.container_name(stack.scope, name)
        for v in service.get("volumes", []):
            if v.get("type") == "bind" and os.path.isabs(v["source"]):
                v["source"] = os.path.relpath(v["source"], here)
    doc["networks"] = {"default": {"name": names.network_name(stack.scope), "external": True}}
    return doc


def devcontainer_config(stack: Stack, service: str) -> dict:
    folder = workspace_folder(stack, service)
    project = compose_project(stack.scope)
    ports = forward_ports(stack)
    urls = {f"{s}:{p.container}": f"http://{p.host_ip}:{p.host}/" for s in stack.order()
            for p in stack.services[s].service.ports if p.protocol == "tcp"}
    config: dict = {
        "name": f"devenv {stack.name}: {service}",
        "dockerComposeFile": [f"{project}/{COMPOSE}"],
        "service": service,
        "runServices": stack.order(),
        "workspaceFolder": folder,
        "shutdownAction": "none",
        "overrideCommand": False,
        # on the host, before the CLI looks for the container: the stack `devenv up` makes
        "initializeCommand": ["devenv", "--project", "${localWorkspaceFolder}", "devcontainer", stack.name,
                              *([] if stack.scope.is_default else ["--name", stack.scope.instance]),
                              "--service", service, "--up"],
    }
    if ports:
        config["forwardPorts"] = ports
        config["portsAttributes"] = {p: {"label": f"{p.split(':')[0]} ({urls[p]})", "onAutoForward": "silent"}
                                     for p in ports}
    config["customizations"] = {MARK: {"profile": stack.name, "service": service, "composeProject": project}}
    return config


def devcontainer_files(stack: Stack, service: str) -> dict[str, bytes]:
    """Project-relative path -> bytes of every file ``devenv devcontainer`` writes."""
    config = devcontainer_config(stack, service)
    header = HEADER.format(profile=stack.name)
    where = compose_dir(stack)
    return {
        f"{DIRECTORY}/{CONFIG}": (json.dumps(config, indent=2) + "\n").encode(),
        f"{where}/{COMPOSE}": (header + yaml.safe_dump(compose_for_editor(stack), sort_keys=False,
                                                       default_flow_style=False)).encode(),
        f"{where}/.env": f"COMPOSE_PROJECT_NAME={compose_project(stack.scope)}\n".encode(),
    }


def generated_target(root: Path) -> Target | None:
    """The profile and service of the project's devcontainer.json, when devenv wrote it."""
    path = root / DIRECTORY / CONFIG
    try:
        data = json.loads(path.read_text())
        mark = data["customizations"][MARK]
        return Target(str(mark["profile"]), str(mark["service"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)     # changed or new
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)     # compose files of another profile, ours


def write_files(root: Path, files: dict[str, bytes]) -> WriteResult:
    """Write ``files`` under ``root`` (each atomically); refuse a devcontainer.json devenv did not write.

    Compose directories an earlier ``devenv devcontainer`` wrote for another profile
    are removed, so ``.devcontainer/`` holds one configuration.
    """
    root = Path(root)
    config = root / DIRECTORY / CONFIG
    if config.exists() and generated_target(root) is None:
        raise DevcontainerError(f"{config} exists and was not written by devenv; it is left as it is",
                                "Move it away (or merge by hand) and run `devenv devcontainer` again.")
    result = WriteResult()
    keep = {Path(rel).parent for rel in files}
    base = root / DIRECTORY
    if base.is_dir():
        for d in sorted(base.iterdir()):
            ours = d / COMPOSE
            if d.is_dir() and d.relative_to(root) not in keep and ours.is_file() \
                    and ours.read_bytes().startswith(HEADER.split("{")[0].encode()):
                for f in (ours, d / ".env"):
                    if f.exists():
                        f.unlink()
                        result.removed.append(str(f.relative_to(root)))
                if not any(d.iterdir()):
                    d.rmdir()
    for rel, data in files.items():
        path = root / rel
        if path.is_file() and path.read_bytes() == data:
            result.unchanged.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.devenv-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        result.written.append(rel)
    return result


def stale_files(root: Path, files: dict[str, bytes]) -> list[str]:
    """The files on disk that differ from what the profile gives now."""
    return [rel for rel, data in files.items()
            if not (root / rel).is_file() or (root / rel).read_bytes() != data]


def refresh(root: Path, stack: Stack) -> WriteResult | None:
    """Rewrite the project's devcontainer files when they were generated for ``stack``'s profile.

    ``devenv watch`` calls it after every render; a profile change that makes the
    service unusable (its mount removed) leaves the files as they are and raises.
    """
    target = generated_target(Path(root))
    if target is None or target.profile != stack.name:
        return None
    return write_files(Path(root), devcontainer_files(stack, target.service))


@dataclass
class AttachResult:
    up: object                                    # devenv.engine.lifecycle.UpResult
    recreated: list[str] = field(default_factory=list)


def ensure_attachable(engine, stack: Stack, service: str, reporter, timeout: float = 300) -> AttachResult:
    """``devenv up``, then make sure the Dev Containers CLI will find ``service``'s container.

    A container made by a devenv from before the compose project labels has none
    (labels are not part of the settings hash, so ``up`` keeps it): it is
    recreated (volumes are kept) so that the CLI attaches to it rather than
    starting a second stack.
    """
    from .engine import lifecycle
    from .engine.plan import containers_of
    workspace_folder(stack, service)       # a bad service fails before anything starts
    result = AttachResult(lifecycle.up(engine, stack, reporter, timeout=timeout))
    wanted = {PROJECT: compose_project(stack.scope), SERVICE: service}
    current = containers_of(engine, stack.scope).get(service)
    labels = (current or {}).get("Labels") or {}
    if current is not None and any(labels.get(k) != v for k, v in wanted.items()):
        with reporter.step(f"recreate {service} (made before devenv labelled containers for editors)"):
            engine.remove_container(current["Id"], volumes=False)
        result.up = lifecycle.up(engine, stack, reporter, timeout=timeout)
        result.recreated.append(service)
    return result


__all__ = ["AttachResult", "DevcontainerError", "Target", "compose_for_editor", "devcontainer_config",
           "devcontainer_files", "ensure_attachable", "forward_ports", "generated_target", "refresh",
           "stale_files", "workspace_folder", "write_files"]
