"""Kubernetes manifests for a rendered stack (``devenv render --target kubernetes``).

What a service runs with is read from ``devenv.settings.SETTINGS``, the same
declarations the settings hash, the container spec and the compose file read:
``CONTAINER_FIELDS`` below maps every setting's name to the container fields it
sets here, and a unit test fails when a setting has no entry (so a new runtime
setting cannot be forgotten on this target). The pod-level objects (claims,
Services) come from the same Service fields, read only in this module.

Choices, and why (docs/kubernetes.md has the long form):

- The stack is rendered without the profile's source mounts (``kube_stack``): a
  cluster cannot see the working tree, so the images carry the code as
  production's do (``copy:``), and their tags are those content hashes.
- One Namespace per instance, named by the scope (``devenv.names.project(scope)``: PROJECT-PROFILE[--INSTANCE]); objects
  inside carry the service's own name, so cluster DNS resolves ``db``, ``php``,
  ``cache`` as the rendered config files expect.
- The database service (``data.dataset.service``) is a StatefulSet whose claim
  comes from ``volumeClaimTemplates``; its init container restores the catalogue's
  snapshot into an empty claim (``devenv.kube.restore``). Other services are
  Deployments; their named volumes are PersistentVolumeClaims.
- A healthcheck becomes an exec readinessProbe (same command; period, timeout,
  failures from interval, timeout, retries) plus a startupProbe that allows
  start_period: Docker counts no failures during start_period, which is what a
  startupProbe does, while an initialDelaySeconds of start_period (300 s for the
  database) would hold readiness back that long even when the server is up. The
  startupProbe checks every start_interval (default: interval), as Docker 25 does.
- Service ports: every port the image EXPOSEs (from its rendered Dockerfile) and
  every host port of the profile (port = host port, targetPort = container port).

Same stack, same bytes: every list is in a fixed order and nothing depends on time.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from pathlib import Path
from typing import Any, Callable

import yaml

from .. import names
from ..errors import DevenvError
from ..profile.model import Healthcheck, Profile
from ..render import Renderer, ServicePlan, Stack
from ..settings import SETTINGS
from . import restore
from .naming import APP_LABEL, database_service, namespace_of

KUSTOMIZATION = "kustomization.yaml"
NAMESPACE_FILE = "namespace.yaml"
SNAPSHOT_SOURCE_FILE = "snapshot-source.yaml"
SNAPSHOT_SOURCE = "devenv-snapshot-source"     # ConfigMap: where the init container restores from
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
DATABASE_CLAIM_SIZE = {"small": "2Gi", "large": "20Gi"}
DEFAULT_CLAIM_SIZE = "1Gi"
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class KubeRenderError(DevenvError):
    """The stack cannot be expressed as Kubernetes objects (a name, a user)."""


def kube_stack(renderer: Renderer, profile: Profile, instance: str | None = None) -> Stack:
    """The stack the Kubernetes target runs: the profile without its source mounts."""
    services = {n: dataclasses.replace(s, mounts=()) for n, s in profile.services.items()}
    profile = dataclasses.replace(profile, services=services)
    return renderer.render(profile, instance) if instance else renderer.render(profile)


def kube_literal(value: str) -> str:
    """Kubernetes expands ``$(VAR)`` in env values and args, and ``$$`` to ``$``: doubling
    every dollar keeps the value as written."""
    return value.replace("$", "$$")


# -- container fields, one entry per setting of devenv.settings.SETTINGS ------------------

def _image(sp: ServicePlan) -> dict:
    return {"image": sp.image.tag, "imagePullPolicy": "IfNotPresent"}


def _command(sp: ServicePlan) -> dict:
    # compose's `command` replaces the image's CMD and keeps its ENTRYPOINT: `args` here
    cmd = sp.service.command
    if cmd is None:
        return {}
    return {"args": [kube_literal(a) for a in (shlex.split(cmd) if isinstance(cmd, str) else cmd)]}


def _user(sp: ServicePlan) -> dict:
    user = sp.service.user
    if not user:
        return {}
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise KubeRenderError(f"service {sp.service.name}: user `{user}` is a name; Kubernetes runs containers "
                              "as numeric ids (runAsUser)",
                              "Write the user as UID or UID:GID in the profile.")
    ctx: dict[str, Any] = {"runAsUser": int(uid)}
    if gid:
        ctx["runAsGroup"] = int(gid)
    return {"securityContext": ctx}


def _environment(sp: ServicePlan) -> dict:
    env = sp.service.environment
    return {"env": [{"name": k, "value": kube_literal(v)} for k, v in env]} if env else {}


def _ports(sp: ServicePlan) -> dict:
    ports = container_ports(sp)
    return {"ports": [{"name": _port_name("c", p, proto), "containerPort": p, "protocol": proto.upper()}
                      for p, proto in ports]} if ports else {}


def _volumes(sp: ServicePlan) -> dict:
    vols = sp.service.volumes
    return {"volumeMounts": [{"name": v.name, "mountPath": v.target} for v in vols]} if vols else {}


def _healthcheck(sp: ServicePlan) -> dict:
    return probes(sp.service.healthcheck)


CONTAINER_FIELDS: dict[str, Callable[[ServicePlan], dict] | None] = {
    "image": _image,
    "command": _command,
    "user": _user,
    "environment": _environment,
    "ports": _ports,
    "volumes": _volumes,
    "healthcheck": _healthcheck,
    # development source mounts: dropped on this target (kube_stack), the images carry the code
    "mounts": None,
    # which dataset the database holds: the snapshot source names it (init container)
    "dataset": None,
}


def container(sp: ServicePlan) -> dict:
    missing = [s.name for s in SETTINGS if s.name not in CONTAINER_FIELDS]
    if missing:   # a setting added to devenv.settings without saying what it is here
        raise KubeRenderError(f"internal: settings without a Kubernetes form: {', '.join(missing)}")
    out: dict[str, Any] = {"name": sp.service.name}
    for s in SETTINGS:
        fn = CONTAINER_FIELDS[s.name]
        if fn is not None:
            out.update(fn(sp))
    return out


def probes(hc: Healthcheck | None) -> dict:
    """Docker's healthcheck as a readinessProbe plus a startupProbe for its start period."""
    if hc is None or not hc.test or hc.test[0] == "NONE":
        return {}
    kind, *rest = hc.test
    command = ["/bin/sh", "-c", rest[0]] if kind == "CMD-SHELL" else list(rest)
    period = max(1, math.ceil(hc.interval))
    timeout = max(1, math.ceil(hc.timeout))
    readiness = {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": timeout,
                 "failureThreshold": max(1, hc.retries)}
    out = {"readinessProbe": readiness}
    if hc.start_period > 0:
        every = max(1, math.ceil(hc.starting_every))
        out["startupProbe"] = readiness | {"periodSeconds": every,
                                           "failureThreshold": math.ceil(hc.start_period / every) + max(1, hc.retries)}
    return out


# -- ports ------------------------------------------------------------------------------

_EXPOSE = re.compile(r"^\s*EXPOSE\s+(.+)$", re.MULTILINE | re.IGNORECASE)


def exposed_ports(sp: ServicePlan) -> list[tuple[int, str]]:
    """The ports the image EXPOSEs, read from its rendered Dockerfile."""
    dockerfile = next((f.data.decode() for f in sp.image.files if f.path == "Dockerfile"), "")
    out = []
    for line in _EXPOSE.findall(dockerfile):
        for item in line.split():
            port, _, proto = item.partition("/")
            if port.isdigit():
                out.append((int(port), proto or "tcp"))
    return out


def container_ports(sp: ServicePlan) -> list[tuple[int, str]]:
    found = set(exposed_ports(sp)) | {(p.container, p.protocol) for p in sp.service.ports}
    return sorted(found)


def _port_name(prefix: str, port: int, proto: str) -> str:
    return f"{prefix}{port}" + ("" if proto == "tcp" else f"-{proto}")   # at most 15 characters


def service_ports(sp: ServicePlan) -> list[dict]:
    ports = {(p, proto): {"name": _port_name("c", p, proto), "port": p, "targetPort": p, "protocol": proto.upper()}
             for p, proto in container_ports(sp)}
    for hp in sp.service.ports:
        if (hp.host, hp.protocol) not in ports:
            ports[(hp.host, hp.protocol)] = {"name": _port_name("h", hp.host, hp.protocol), "port": hp.host,
                                             "targetPort": hp.container, "protocol": hp.protocol.upper()}
    return [ports[k] for k in sorted(ports)]


# -- objects ----------------------------------------------------------------------------

def _check_name(what: str, name: str) -> None:
    if not _DNS_LABEL.match(name):
        raise KubeRenderError(f"{what} `{name}` cannot be a Kubernetes name (lower-case letters, digits and -, "
                              "starting with a letter, at most 63 characters)",
                              "Rename it in the profile to render for Kubernetes.")


def _labels(stack: Stack, sp: ServicePlan) -> dict:
    return {APP_LABEL: sp.service.name, PART_OF: stack.name, MANAGED_BY: "devenv",
            names.MANAGED: "true", names.PROJECT: stack.scope.project, names.PROFILE: stack.name,
            names.INSTANCE: stack.scope.instance, names.SERVICE: sp.service.name}


def _selector(sp: ServicePlan) -> dict:
    return {APP_LABEL: sp.service.name}


def _meta(name: str, namespace: str, labels: dict) -> dict:
    return {"name": name, "namespace": namespace, "labels": labels}


def _claim(name: str, namespace: str | None, labels: dict, size: str) -> dict:
    meta = {"name": name, "labels": labels} if namespace is None else _meta(name, namespace, labels)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


def service_objects(stack: Stack, name: str) -> list[dict]:
    """A service's objects: claims, its workload, its Service."""
    sp = stack.services[name]
    _check_name("service", name)
    ns = namespace_of(stack)
    labels = _labels(stack, sp)
    is_db = name == database_service(stack)
    pod_meta = {"labels": labels, "annotations": {names.CONFIG_HASH: sp.config_hash}}
    pod_spec: dict[str, Any] = {"containers": [container(sp)]}
    objects: list[dict] = []
    claims = [v.name for v in sp.service.volumes]
    for claim in claims:
        _check_name(f"volume of service {name}", claim)
    if is_db:
        data_claim = claims[0] if claims else None
        db_volume = next((v for v in sp.service.volumes if v.name == data_claim), None)
        if db_volume is not None:
            pod_spec["initContainers"] = [restore.init_container(stack, sp, db_volume)]
        size = DATABASE_CLAIM_SIZE.get(stack.profile.dataset.size, DATABASE_CLAIM_SIZE["large"])
        templates = [_claim(c, None, labels, size if c == data_claim else DEFAULT_CLAIM_SIZE) for c in claims]
        workload = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name, ns, labels),
                    "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": _selector(sp)},
                             "template": {"metadata": pod_meta, "spec": pod_spec}}}
        if templates:
            workload["spec"]["volumeClaimTemplates"] = templates
    else:
        objects += [_claim(c, ns, labels, DEFAULT_CLAIM_SIZE) for c in claims]
        if claims:
            pod_spec["volumes"] = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
        workload = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, labels),
                    "spec": {"replicas": 1, "selector": {"matchLabels": _selector(sp)},
                             # a ReadWriteOnce claim is held by one pod: the old one goes first
                             "strategy": {"type": "Recreate"} if claims else {"type": "RollingUpdate"},
                             "template": {"metadata": pod_meta, "spec": pod_spec}}}
    objects.append(workload)
    ports = service_ports(sp)
    if ports:
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, labels),
                        "spec": {"selector": _selector(sp), "ports": ports}})
    return objects


def namespace_object(stack: Stack) -> dict:
    ns = namespace_of(stack)
    _check_name("namespace (from the project and profile names)", ns)
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {names.MANAGED: "true", names.PROFILE: stack.name,
                                                MANAGED_BY: "devenv"}}}


def manifests(stack: Stack) -> dict[str, list[dict]]:
    """File name -> its objects, in the order they are applied."""
    out: dict[str, list[dict]] = {NAMESPACE_FILE: [namespace_object(stack)]}
    if database_service(stack) is not None:
        out[SNAPSHOT_SOURCE_FILE] = [restore.source_configmap(stack)]
    for name in stack.order():
        out[f"{name}.yaml"] = service_objects(stack, name)
    return out


def kustomization(stack: Stack, files: list[str]) -> dict:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": namespace_of(stack), "resources": files}


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases: shared label dicts are written out where they are used."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(value) -> str:
    return yaml.dump(value, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


def _dump(objects: list[dict]) -> str:
    return "".join("---\n" + dump_yaml(o) for o in objects)


def write_manifests(stack: Stack, out: Path) -> list[str]:
    """Write one file per service (plus the Namespace, the snapshot source and
    kustomization.yaml) under ``out``; returns the file names written.

    Refuses a non-empty directory that holds no earlier Kubernetes render."""
    out = Path(out)
    header = f"# Rendered by devenv from profile {stack.name}. Do not edit: re-render, or patch with kustomize.\n"
    docs = manifests(stack)   # before touching the directory: a render error writes nothing
    try:
        if out.exists() and any(out.iterdir()) and not (out / KUSTOMIZATION).exists():
            raise DevenvError(f"output directory {out} is not empty and holds no devenv Kubernetes render",
                              "Choose an empty or new directory; devenv will not overwrite other files.")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.yaml"):
            old.unlink()    # a service removed from the profile leaves no stale file behind
        for file, objects in docs.items():
            (out / file).write_text(header + _dump(objects))
        (out / KUSTOMIZATION).write_text(
            header + dump_yaml(kustomization(stack, list(docs))))
    except OSError as exc:
        raise DevenvError(f"cannot write the manifests to {out}: {exc.strerror or exc} ({exc.filename or out})",
                          "Choose a directory you can write to (-o DIR).") from None
    return [*docs, KUSTOMIZATION]


def all_objects(stack: Stack) -> list[dict]:
    """Every object, in apply order (the Namespace first)."""
    return [o for objects in manifests(stack).values() for o in objects]
