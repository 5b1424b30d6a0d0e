"""Service images through the Engine: push and pull with the registry-qualified name.

Push: tag ``devenv/SERVICE:HASH`` as ``HOST/NAMESPACE/devenv-SERVICE:HASH``, push, read
the manifest digest from the push's result, drop the extra tag. Pull: pull
``HOST/NAMESPACE/devenv-SERVICE@DIGEST`` (the Engine checks the manifest against the
digest and every layer against its digest), check the image id (the config digest,
which snapshots are tied to) against the entry, tag it ``devenv/SERVICE:HASH`` and drop
the registry-qualified reference, so ``devenv up`` finds the image and builds nothing.

The Engine talks to the registry itself: it treats 127.0.0.0/8 as insecure (plain
HTTP) by default; any other plain-HTTP registry must be in the Engine's
``insecure-registries``.
"""

from __future__ import annotations

from ..engine.client import Engine
from ..errors import EngineError
from .errors import DigestMismatchError, RegistryError
from .progress import Transfer


class _LayerProgress:
    """Bytes of all layers of one push or pull, from the Engine's JSON stream."""

    def __init__(self, transfer: Transfer | None):
        self.transfer = transfer
        self.layers: dict[str, int] = {}

    def event(self, ev: dict) -> None:
        if not self.transfer:
            return
        detail = ev.get("progressDetail") or {}
        layer = ev.get("id")
        if layer and ev.get("status") in ("Downloading", "Pushing") and "current" in detail:
            before = self.layers.get(layer, 0)
            now = int(detail["current"])
            if now > before:
                self.layers[layer] = now
                self.transfer.add(now - before)


def _stream_errors(events, what: str, registry: str, progress: _LayerProgress) -> list[dict]:
    out = []
    for ev in events:
        if "error" in ev or "errorDetail" in ev:
            msg = ev.get("error") or (ev.get("errorDetail") or {}).get("message", "unknown error")
            raise RegistryError(f"{what} failed: {msg.strip()}",
                                _engine_hint(msg, registry))
        progress.event(ev)
        out.append(ev)
    return out


def _engine_hint(msg: str, repository: str) -> str | None:
    registry = repository.split("/", 1)[0]
    low = msg.lower()
    if "http response to https client" in low or "server gave http response" in low:
        return (f"The Docker Engine talks HTTPS to {registry}: add it to \"insecure-registries\" in "
                "/etc/docker/daemon.json (loopback registries need nothing) and restart dockerd.")
    if "unauthorized" in low or "denied" in low or "authentication required" in low:
        return f"Log in with `docker login {registry}`."
    if "connection refused" in low or "no such host" in low:
        return "Check that the registry runs and that --registry is right."
    return None


def push_image(engine: Engine, local_tag: str, engine_repo: str, tag: str, auth: dict | None,
               transfer: Transfer | None = None) -> str:
    """Push ``local_tag`` as ``engine_repo:tag``; returns the manifest digest."""
    engine.tag_image(local_tag, engine_repo, tag)
    progress = _LayerProgress(transfer)
    try:
        try:
            events = _stream_errors(engine.push_image(engine_repo, tag, auth),
                                    f"pushing {local_tag} to {engine_repo}:{tag}", engine_repo, progress)
        except EngineError as exc:
            raise RegistryError(f"pushing {local_tag} to {engine_repo}:{tag} failed: {exc.explanation}",
                                _engine_hint(exc.explanation, engine_repo)) from None
    finally:
        drop_staged(engine, f"{engine_repo}:{tag}")
    digest = next((ev["aux"]["Digest"] for ev in reversed(events)
                   if isinstance(ev.get("aux"), dict) and ev["aux"].get("Digest")), None)
    if not digest:
        raise RegistryError(f"pushing {local_tag} to {engine_repo}:{tag}: the Engine reported no manifest digest")
    return digest


def local_image_id(engine: Engine, tag: str) -> str | None:
    image = engine.image(tag)
    return image.id if image else None


def stage_image(engine: Engine, engine_repo: str, digest: str, local_tag: str, image_id: str,
                auth: dict | None, transfer: Transfer | None = None) -> str:
    """Pull ``engine_repo@digest`` and check its image id; returns that reference.

    The image is in the Engine only under its registry-qualified digest reference
    (not a name `devenv up` looks for): ``install_image`` tags it, ``drop_staged``
    removes it. A later pull of the same image finds its layers and is quick.
    """
    ref = f"{engine_repo}@{digest}"
    progress = _LayerProgress(transfer)
    try:
        _stream_errors(engine.pull_image(engine_repo, digest, auth), f"pulling {ref}", engine_repo, progress)
    except EngineError as exc:
        raise RegistryError(f"pulling {ref} failed: {exc.explanation}", _engine_hint(exc.explanation, engine_repo)) from None
    got = local_image_id(engine, ref)
    if got != image_id:
        drop_staged(engine, ref)
        raise DigestMismatchError(f"image {local_tag} with id", image_id, got, ref)
    return ref


def install_image(engine: Engine, staged_ref: str, local_tag: str) -> None:
    """Tag a staged image ``devenv/SERVICE:HASH`` and drop its registry reference."""
    repo, tag = local_tag.rsplit(":", 1)
    engine.tag_image(staged_ref, repo, tag)
    drop_staged(engine, staged_ref)


def drop_staged(engine: Engine, staged_ref: str) -> None:
    try:
        engine.remove_image(staged_ref)
    except EngineError:
        pass   # a reference left behind is harmless: the next pull or push replaces it


def images_present(engine: Engine, wanted: dict[str, str]) -> dict[str, bool]:
    """local tag -> present with the expected image id."""
    return {tag: local_image_id(engine, tag) == image_id for tag, image_id in wanted.items()}
