"""Writing a rendered stack to a directory: compose.yaml, plan.json, build contexts.

The writer of ``devenv render -o DIR``; it reads the stack (``devenv.render``) and
its compose document (``devenv.compose``), which therefore need not know each other.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from .compose import compose_document, project_env
from .errors import DevenvError
from .render import Stack

PLAN_FILE = "plan.json"
COMPOSE_FILE = "compose.yaml"


def write_stack(stack: Stack, out: Path) -> None:
    """Write compose.yaml, plan.json and one build context per image under ``out``.

    Refuses a non-empty directory that holds no earlier render, and an output path
    that cannot be written (named in the error), so nothing of the user's is overwritten.
    """
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise DevenvError(f"output path {out} exists and is not a directory", "Choose a new or empty directory.")
        if out.exists() and any(out.iterdir()) and not (out / PLAN_FILE).exists():
            raise DevenvError(f"output directory {out} is not empty and holds no devenv render",
                              "Choose an empty or new directory; devenv will not overwrite other files.")
        images = out / "images"
        if images.exists():
            shutil.rmtree(images)
        for name, sp in sorted(stack.services.items()):
            root = images / name
            (root / "rootfs").mkdir(parents=True, exist_ok=True)  # recipes `COPY rootfs/ /`
            for f in sp.image.files:
                dest = root / f.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                for d in dest.relative_to(root).parents:  # dir modes reach the image via COPY
                    os.chmod(root / d, 0o755)
                dest.write_bytes(f.data)
                os.chmod(dest, f.mode)
        (out / COMPOSE_FILE).write_text(
            "# Rendered by devenv from profile " + stack.profile.name + ". Do not edit: re-render instead.\n"
            + yaml.safe_dump(compose_document(stack), sort_keys=False, default_flow_style=False))
        (out / ".env").write_text(project_env(stack))
        (out / PLAN_FILE).write_text(json.dumps(stack.plan(), indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise DevenvError(f"cannot write the render to {out}: {exc.strerror or exc} ({exc.filename or out})",
                          "Choose a directory you can write to (-o DIR).") from None
