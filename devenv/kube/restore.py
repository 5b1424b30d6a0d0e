"""The database's init container on Kubernetes: the catalogue's snapshot into an empty claim.

The init container runs ``devenv/kube-restore:HASH``, a tool image devenv builds
like its service images (the stack's Debian base image, plus python3, zstd and
ca-certificates from the same archive, plus ``restore_snapshot.py``), so it needs no
registry of its own and is tagged by its content. The database image is not
touched: a snapshot is tied to the server image's id, which a script added to it
would change.

Where it restores from is a ConfigMap (``devenv-snapshot-source``) the render
writes with the catalogue left empty: the database then initialises itself. Point
it at a catalogue with a kustomize patch or ``kubectl edit`` (docs/kubernetes.md);
credentials come from the optional Secret ``devenv-catalogue-credentials``
(DEVENV_CATALOGUE_USERNAME / DEVENV_CATALOGUE_PASSWORD).
"""

from __future__ import annotations

from pathlib import Path

from ..profile.model import VolumeMount
from ..render import BaseImage, ContextFile, ImagePlan, ServicePlan, Stack
from .naming import database_service, namespace_of

TOOL = "kube-restore"
SCRIPT = Path(__file__).with_name("restore_snapshot.py")
SCRIPT_IN_IMAGE = "/usr/local/bin/devenv-kube-restore"
SOURCE_CONFIGMAP = "devenv-snapshot-source"
CREDENTIALS_SECRET = "devenv-catalogue-credentials"
INIT_CONTAINER = "restore-snapshot"

DOCKERFILE = """\
# devenv's snapshot restore tool for Kubernetes (devenv/kube/restore.py)
FROM {base}
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eu; apt-get update; \\
    apt-get install -y --no-install-recommends python3 zstd ca-certificates; \\
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY rootfs/ /
ENTRYPOINT ["python3", "{script}"]
"""


def tool_image(base: BaseImage) -> ImagePlan:
    """The restore tool's build context, on the stack's base image."""
    files = (ContextFile("Dockerfile", DOCKERFILE.format(base=base.tag, script=SCRIPT_IN_IMAGE).encode(), 0o644),
             ContextFile("rootfs" + SCRIPT_IN_IMAGE, SCRIPT.read_bytes(), 0o755))
    return ImagePlan(TOOL, TOOL, base, files)


def source_configmap(stack: Stack) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": SOURCE_CONFIGMAP, "namespace": namespace_of(stack),
                         "labels": {"dev.devenv.managed": "true", "dev.devenv.profile": stack.name}},
            # empty catalogue: nothing to restore, the database initialises itself
            "data": {"DEVENV_CATALOGUE": "", "DEVENV_CATALOGUE_ENTRY": stack.name, "DEVENV_CATALOGUE_INSECURE": "0"}}


def init_container(stack: Stack, sp: ServicePlan, volume: VolumeMount) -> dict:
    return {"name": INIT_CONTAINER, "image": tool_image(stack.base).tag, "imagePullPolicy": "IfNotPresent",
            "env": [{"name": "DEVENV_DATADIR", "value": volume.target},
                    {"name": "DEVENV_SERVER_IMAGE", "value": sp.image.tag}],
            "envFrom": [{"configMapRef": {"name": SOURCE_CONFIGMAP, "optional": True}},
                        {"secretRef": {"name": CREDENTIALS_SECRET, "optional": True}}],
            "volumeMounts": [{"name": volume.name, "mountPath": volume.target}]}


def images_of(stack: Stack) -> list[ImagePlan]:
    """Every image the rendered manifests name: the services' and the restore tool's."""
    plans = [sp.image for _, sp in sorted(stack.services.items())]
    db = database_service(stack)
    if db is not None and stack.services[db].service.volumes:
        plans.append(tool_image(stack.base))
    return plans
