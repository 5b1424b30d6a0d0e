"""The server identity of a database image (``devenv.db.ServerIdentity``): what a
snapshot is tied to. One throwaway container of the image answers (the engine's
``identity_script``); the answer is cached per image id, since an image never changes."""

from __future__ import annotations

import json

import docker.errors

from ..db import DatabaseEngine, ServerIdentity
from ..paths import cache_dir
from .client import Engine
from .helpers import HelperError, helper_labels, remove_helper


def server_identity(engine: Engine, db: DatabaseEngine, image: str, scope) -> ServerIdentity:
    info = engine.api.inspect_image(image)
    image_id, arch = info["Id"], info.get("Architecture") or "unknown"
    cached = cache_dir() / "server-identity" / f"{db.name}-{image_id.split(':')[-1]}.json"
    try:
        return ServerIdentity.from_json(json.loads(cached.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cid = None
    try:
        cid = engine.api.create_container(image=image, command=["sh", "-c", db.identity_script()], entrypoint=[],
                                          user="0", labels=helper_labels(scope, "probe"),
                                          host_config=engine.api.create_host_config(network_mode="none"))["Id"]
        engine.api.start(cid)
        code = engine.api.wait(cid, timeout=120)["StatusCode"]
        out = engine.api.logs(cid, stdout=True, stderr=False).decode(errors="replace")
    except docker.errors.APIError as exc:
        raise HelperError(f"cannot ask image {image} for its {db.name} version: {exc.explanation or exc}") from None
    finally:
        if cid:
            remove_helper(engine, cid)
    if code != 0:
        raise HelperError(f"asking image {image} for its {db.name} version failed (exit {code})")
    identity = db.parse_identity(out, arch)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(identity.to_json()))
    tmp.rename(cached)
    return identity
