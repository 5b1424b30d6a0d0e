"""Throwaway helper containers that work on a stack's volumes (probe, restore, switch, wipe).

Every helper carries the labels of the stack it works for (managed, profile, kind,
plus $DEVENV_LABELS), so a helper left behind by a killed devenv is found and
removed by ``remove_stale_helpers`` from ``up``/``down`` of that stack, and never
keeps a volume in use.
"""

from __future__ import annotations

import docker.errors

from .. import names
from ..names import Scope, as_scope
from ..errors import DevenvError
from .client import Engine

# The volume is mounted here in helpers: a neutral path that no image uses, so the
# helper never sees the volume through the image's own files at the datadir path.
VOLUME_MOUNT = "/vol"


# The kinds of helper containers. Service containers carry ``KIND=service`` too (an
# image label they inherit), so helpers are told apart by these values, never by the key.
HELPER_KINDS = frozenset({"probe", "restore", "switch", "clean", "wipe", "seal", "clone", "seed"})


class HelperError(DevenvError):
    """A helper container could not do its job (the engine refused, or its script failed)."""

    exit_code = 1


def helper_labels(profile: Scope | str, kind: str) -> dict[str, str]:
    assert kind in HELPER_KINDS, kind
    return names.helper_labels(profile, kind)


def create_helper(engine: Engine, image: str, volume: str, profile: Scope | str, kind: str, *,
                  command: list[str] | None = None, read_only: bool = False) -> str:
    """A created (not started) helper of ``image`` with ``volume`` at ``VOLUME_MOUNT``; its id."""
    try:
        return engine.api.create_container(
            image=image, command=command or ["true"], entrypoint=[], user="0",
            labels=helper_labels(profile, kind),
            host_config=engine.api.create_host_config(
                binds={volume: {"bind": VOLUME_MOUNT, "mode": "ro" if read_only else "rw"}}))["Id"]
    except docker.errors.APIError as exc:
        raise HelperError(f"cannot create a {kind} helper for volume {volume}: {exc.explanation or exc}") from None


def remove_helper(engine: Engine, cid: str) -> None:
    try:
        engine.api.remove_container(cid, force=True)
    except docker.errors.NotFound:
        pass


def run_in_volume(engine: Engine, image: str, volume: str, profile: Scope | str, kind: str, script: str, *,
                  read_only: bool = False, timeout: float = 600) -> str:
    """Run ``sh -c script`` in a helper with ``volume`` at ``VOLUME_MOUNT``; its stdout.

    A non-zero exit raises ``HelperError`` with the script's stderr.
    """
    cid = create_helper(engine, image, volume, profile, kind, command=["sh", "-c", script], read_only=read_only)
    try:
        engine.api.start(cid)
        code = engine.api.wait(cid, timeout=timeout)["StatusCode"]
        out = engine.api.logs(cid, stdout=True, stderr=False).decode(errors="replace")
        if code != 0:
            err = engine.api.logs(cid, stdout=False, stderr=True).decode(errors="replace").strip()
            raise HelperError(f"the {kind} helper on volume {volume} failed (exit {code}): {err[-500:]}")
        return out
    except docker.errors.APIError as exc:
        raise HelperError(f"the {kind} helper on volume {volume} failed: {exc.explanation or exc}") from None
    finally:
        remove_helper(engine, cid)


def remove_stale_helpers(engine: Engine, profile: Scope | str) -> list[str]:
    """Remove every helper container of ``profile`` (running or not); their names.

    Called by ``up`` and ``down`` of the profile before they touch its volumes: a
    helper of a killed devenv would otherwise keep a volume in use, or (a switch
    still running) race with the next one.
    """
    try:
        found = engine.api.containers(all=True, filters={"label": [*as_scope(profile).filters(), names.KIND]})
    except docker.errors.APIError as exc:
        raise HelperError(f"cannot list the helper containers of {profile}: {exc.explanation or exc}") from None
    removed, removed_ids = [], []
    for c in found:
        labels = c.get("Labels") or {}
        # helpers inherit the image's labels (dev.devenv.service too); only service
        # containers carry a config hash
        if labels.get(names.KIND) not in HELPER_KINDS or names.CONFIG_HASH in labels:
            continue
        try:
            remove_helper(engine, c["Id"])
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise HelperError(f"cannot remove helper container {c['Id'][:12]} of {profile}: "
                                  f"{exc.explanation or exc}") from None
        removed.append((c.get("Names") or [c["Id"][:12]])[0].lstrip("/"))
        removed_ids.append(c["Id"])
    _wait_gone(engine, removed_ids)
    return removed


def _wait_gone(engine: Engine, ids: list[str], seconds: float = 20) -> None:
    """The engine may still be removing a helper (one busy with an archive upload) when
    ``remove`` returns; until it is gone, its volume is in use."""
    import time
    deadline = time.monotonic() + seconds
    for cid in ids:
        while time.monotonic() < deadline:
            try:
                engine.api.inspect_container(cid)
            except docker.errors.NotFound:
                break
            time.sleep(0.1)
