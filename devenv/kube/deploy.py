"""``devenv up/down/status --target kubernetes``: the rendered manifests on a cluster.

The Kubernetes client is injected (``Clients``: a ``CoreV1Api`` and an ``AppsV1Api``),
so the logic (plan, apply, wait, delete) is tested at that boundary with fakes of
the real classes; ``connect`` makes real ones from the current kubeconfig context.

- ``plan_apply``: for every object, in apply order (Namespace, snapshot source,
  claims, workloads, Services), ``create`` when the cluster does not have it, else
  ``patch`` (a strategic merge patch of the full object). A claim that exists is
  kept as it is: its spec is immutable and it holds data.
- ``wait_ready``: every Deployment and StatefulSet has observed its latest
  generation and all its replicas are updated and ready (readiness probes are the
  healthchecks), within the timeout; otherwise the error names the services still
  waiting and why their pods wait (ImagePullBackOff, CrashLoopBackOff, ...).
- ``down``: deletes the workloads, Services and ConfigMaps devenv made (by label);
  claims and the Namespace only with ``volumes=True``, as ``devenv down`` keeps
  the database volume.
- The owner (Princess): the Namespace ``up`` creates carries the annotation
  ``dev.devenv.owner`` (``names.current_owner()``; an annotation, for ``user@host`` is
  no label value); a later ``up`` patches the Namespace without it, so it keeps its
  first owner. ``down`` (with or without ``volumes``) of a Namespace another owner
  made is refused before anything is deleted, unless ``force``; one without the
  annotation (made before it existed, or by hand) is anyone's. Manifests that
  ``render`` writes carry no owner (same profile, same bytes).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import names
from ..errors import DevenvError, HealthTimeout, NotOwnerError
from ..ui import Reporter
from .naming import APP_LABEL, namespace_of
from .pods import waiting_reasons

MANAGED_SELECTOR = f"{names.MANAGED}=true"


class KubeConfigError(DevenvError):
    """No usable kubeconfig or context."""


class KubeApiError(DevenvError):
    """The cluster refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.exit_code = 1 if status is not None and status >= 500 else 2


@dataclass
class Clients:
    core: Any    # kubernetes.client.CoreV1Api
    apps: Any    # kubernetes.client.AppsV1Api
    context: str = ""


def connect(context: str | None = None, config_file: str | None = None) -> Clients:
    """Clients for the kubeconfig context ``context`` (default: the current one)."""
    try:
        import kubernetes.client
        import kubernetes.config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise KubeConfigError("the Kubernetes target needs the Python package `kubernetes`",
                              "Install it: pip install 'devenv[kubernetes]'.") from None
    # read $KUBECONFIG now: the client reads it once, when it is imported
    config_file = config_file or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    known_contexts, current = _contexts(config_file)
    name = context or current
    try:
        if name and name not in known_contexts:
            raise ConfigException(f"context `{name}` does not exist there")
        api = kubernetes.config.new_client_from_config(config_file=config_file, context=name or None)
    except ConfigException as exc:
        where = f"kubeconfig {config_file}"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "unusable"
        known = ", ".join(known_contexts)
        raise KubeConfigError(f"cannot use {where}: {detail}",
                              ("Contexts there: " + known + "; pick one with `kubectl config use-context NAME`."
                               if known else "Point KUBECONFIG at a kubeconfig file with the cluster's context "
                               "(`kubectl config get-contexts` lists them).")) from None
    except OSError as exc:
        raise KubeConfigError(f"cannot read the kubeconfig: {exc}") from None
    return Clients(kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api), name)


def _contexts(config_file: str) -> tuple[list[str], str]:
    """(context names, current-context) of the kubeconfig files (``:``-separated), for
    the error message; unreadable files count as empty (the client then says why)."""
    import yaml
    names_found: list[str] = []
    current = ""
    for path in config_file.split(os.pathsep):
        try:
            with open(os.path.expanduser(path)) as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        names_found += [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
        current = current or doc.get("current-context") or ""
    return sorted(set(names_found)), current


# -- the API of each kind, by the client's method names -----------------------------------

@dataclass(frozen=True)
class KindApi:
    api: str          # "core" or "apps"
    suffix: str       # method suffix: namespaced_<suffix>, or <suffix> when cluster-scoped
    namespaced: bool = True

    def call(self, clients: Clients, verb: str, obj_name: str | None, namespace: str, body=None, **kw):
        api = getattr(clients, self.api)
        if self.namespaced:
            method = getattr(api, f"{verb}_namespaced_{self.suffix}")
            if verb == "create":
                return method(namespace, body, **kw)
            if verb == "list":
                return method(namespace, **kw)
            return method(obj_name, namespace, body, **kw) if verb == "patch" else method(obj_name, namespace, **kw)
        method = getattr(api, f"{verb}_{self.suffix}")
        if verb == "create":
            return method(body, **kw)
        if verb == "list":
            return method(**kw)
        return method(obj_name, body, **kw) if verb == "patch" else method(obj_name, **kw)


KINDS = {
    "Namespace": KindApi("core", "namespace", namespaced=False),
    "ConfigMap": KindApi("core", "config_map"),
    "PersistentVolumeClaim": KindApi("core", "persistent_volume_claim"),
    "Service": KindApi("core", "service"),
    "Deployment": KindApi("apps", "deployment"),
    "StatefulSet": KindApi("apps", "stateful_set"),
}
WORKLOADS = ("StatefulSet", "Deployment")
# apply order: what others need first; a Service last, once its pods are declared
APPLY_ORDER = ("Namespace", "ConfigMap", "PersistentVolumeClaim", "StatefulSet", "Deployment", "Service")


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status", None)


def _api_error(exc: BaseException, doing: str) -> KubeApiError:
    status = _status(exc)
    if status is None:
        return KubeApiError(f"{doing}: the cluster does not answer ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})", None,
                            "Check the kubeconfig context's server (`kubectl cluster-info`).")
    reason = getattr(exc, "reason", "") or ""
    body = getattr(exc, "body", "") or ""
    message = body
    try:
        import json
        message = json.loads(body).get("message", body)
    except (ValueError, TypeError, AttributeError):
        pass
    return KubeApiError(f"{doing}: the cluster refused ({status} {reason}): {message}".rstrip(": "), status)


def _call(clients: Clients, kind: str, verb: str, name: str | None, namespace: str, body=None, **kw):
    try:
        return KINDS[kind].call(clients, verb, name, namespace, body, **kw)
    except DevenvError:
        raise
    except Exception as exc:
        if _status(exc) == 404 and verb in ("read", "delete"):
            return None
        raise _api_error(exc, f"{verb} {kind} {namespace + '/' if KINDS[kind].namespaced else ''}{name or ''}") from None


# -- plan and apply ---------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    verb: str       # create | patch | keep
    kind: str
    name: str
    namespace: str
    body: dict = field(compare=False, repr=False, default_factory=dict)

    def describe(self) -> str:
        what = f"{self.kind} {self.namespace + '/' if self.kind != 'Namespace' else ''}{self.name}"
        return f"{self.verb} {what}" + (" (exists; a claim is never changed)" if self.verb == "keep" else "")


def _order(objects: list[dict]) -> list[dict]:
    return sorted(objects, key=lambda o: APPLY_ORDER.index(o["kind"]))   # stable: file order within a kind


def plan_apply(clients: Clients, objects: list[dict]) -> list[Action]:
    actions = []
    for obj in _order(objects):
        kind, meta = obj["kind"], obj["metadata"]
        ns = meta.get("namespace", "")
        exists = _call(clients, kind, "read", meta["name"], ns) is not None
        verb = "create" if not exists else ("keep" if kind == "PersistentVolumeClaim" else "patch")
        actions.append(Action(verb, kind, meta["name"], ns, obj))
    return actions


def apply(clients: Clients, actions: list[Action], reporter: Reporter) -> list[Action]:
    """Carry out the plan; returns the actions that changed something."""
    done = []
    with reporter.step(f"apply {len(actions)} objects"):
        for a in actions:
            if a.verb == "keep":
                continue
            reporter.detail(a.describe())
            _call(clients, a.kind, a.verb, a.name, a.namespace, a.body, field_manager="devenv")
            done.append(a)
    return done


# -- readiness ----------------------------------------------------------------------------

def _ready(status_obj) -> tuple[bool, str]:
    spec_replicas = status_obj.spec.replicas if status_obj.spec.replicas is not None else 1
    st = status_obj.status
    generation = status_obj.metadata.generation or 0
    observed = (st.observed_generation or 0) if st else 0
    ready = (st.ready_replicas or 0) if st else 0
    updated = (st.updated_replicas or 0) if st else 0
    ok = observed >= generation and ready >= spec_replicas and updated >= spec_replicas
    return ok, f"{ready}/{spec_replicas} ready"


def _pod_reasons(clients: Clients, namespace: str, service: str) -> list[str]:
    pods = clients.core.list_namespaced_pod(namespace, label_selector=f"{APP_LABEL}={service}")
    return [reason for pod in pods.items or [] for reason in waiting_reasons(pod)]


def wait_ready(clients: Clients, objects: list[dict], reporter: Reporter, timeout: float,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
               poll: float = 2.0) -> None:
    workloads = [(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in _order(objects)
                 if o["kind"] in WORKLOADS]
    deadline = clock() + timeout
    with reporter.step(f"wait for {len(workloads)} services to be ready"):
        while True:
            waiting = {}
            for kind, name, ns in workloads:
                method = "read_namespaced_deployment_status" if kind == "Deployment" else \
                    "read_namespaced_stateful_set_status"
                try:
                    obj = getattr(clients.apps, method)(name, ns)
                except Exception as exc:
                    raise _api_error(exc, f"read {kind} {ns}/{name}") from None
                ok, text = _ready(obj)
                if not ok:
                    waiting[name] = (ns, text)
            if not waiting:
                return
            reporter.detail("waiting for " + ", ".join(f"{n} ({t})" for n, (_, t) in sorted(waiting.items())))
            if clock() >= deadline:
                lines = []
                for name, (ns, text) in sorted(waiting.items()):
                    reasons = _pod_reasons(clients, ns, name)
                    lines.append(f"  {name}: {text}" + (f"; {'; '.join(reasons)}" if reasons else ""))
                raise HealthTimeout(f"not ready after {timeout:.0f}s:\n" + "\n".join(lines),
                                    "`kubectl -n " + workloads[0][2] + " describe pods` shows why; images are "
                                    "looked up by their devenv tags (imagePullPolicy IfNotPresent): load them "
                                    "into the cluster's nodes or registry first (docs/kubernetes.md).")
            sleep(poll)


# -- status and down ------------------------------------------------------------------------

@dataclass(frozen=True)
class KubeStatus:
    service: str
    kind: str
    ready: str
    image: str

    def as_dict(self) -> dict:
        return {"service": self.service, "kind": self.kind, "ready": self.ready, "image": self.image}


def status(clients: Clients, namespace: str) -> list[KubeStatus]:
    if _call(clients, "Namespace", "read", namespace, "") is None:
        return []
    rows = []
    for kind in WORKLOADS:
        listed = _call(clients, kind, "list", None, namespace, label_selector=MANAGED_SELECTOR)
        for obj in listed.items or []:
            _, text = _ready(obj)
            containers = obj.spec.template.spec.containers or []
            rows.append(KubeStatus(obj.metadata.name, kind, text, containers[0].image if containers else ""))
    return sorted(rows, key=lambda r: r.service)


@dataclass
class DownResult:
    deleted: list[str] = field(default_factory=list)
    kept_claims: list[str] = field(default_factory=list)


def owner_of(namespace_obj) -> str:
    """Who made an instance's Namespace ("" when it does not say)."""
    meta = getattr(namespace_obj, "metadata", None)
    return str((getattr(meta, "annotations", None) or {}).get(names.OWNER) or "")


def down(clients: Clients, namespace: str, volumes: bool, reporter: Reporter, force: bool = False,
         instance: str | None = None) -> DownResult:
    """Delete what devenv made in ``namespace`` (see the module's docstring); another owner's
    instance only with ``force``. ``instance`` names it in the refusal (``small-db --name x``)."""
    result = DownResult()
    found = _call(clients, "Namespace", "read", namespace, "")
    if found is None:
        return result
    owner, me = owner_of(found), names.current_owner()
    if owner and owner != me and not force:
        label = instance or namespace
        raise NotOwnerError.refusing(f"{label} (namespace {namespace})", owner, me,
                                     f"devenv down {label} --target kubernetes --force")
    with reporter.step(f"delete {namespace}"):
        for kind in ("Deployment", "StatefulSet", "Service", "ConfigMap"):
            listed = _call(clients, kind, "list", None, namespace, label_selector=MANAGED_SELECTOR)
            for obj in listed.items or []:
                _call(clients, kind, "delete", obj.metadata.name, namespace)
                result.deleted.append(f"{kind} {obj.metadata.name}")
        claims = _call(clients, "PersistentVolumeClaim", "list", None, namespace, label_selector=MANAGED_SELECTOR)
        for obj in claims.items or []:
            if volumes:
                _call(clients, "PersistentVolumeClaim", "delete", obj.metadata.name, namespace)
                result.deleted.append(f"PersistentVolumeClaim {obj.metadata.name}")
            else:
                result.kept_claims.append(obj.metadata.name)
        if volumes:
            _call(clients, "Namespace", "delete", namespace, "")
            result.deleted.append(f"Namespace {namespace}")
    return result


# -- up: plan, apply, wait ------------------------------------------------------------------

@dataclass
class UpResult:
    namespace: str
    actions: list[Action]
    changed: list[Action] = field(default_factory=list)
    forwards: list[str] = field(default_factory=list)   # kubectl port-forward commands for the host ports


def _owned(action: Action) -> Action:
    """A Namespace being created carries its owner; one that exists keeps its own (the patch
    leaves an annotation it does not name as it is)."""
    if action.kind != "Namespace" or action.verb != "create":
        return action
    meta = dict(action.body["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), names.OWNER: names.current_owner()}
    return dataclasses.replace(action, body={**action.body, "metadata": meta})


def up(clients: Clients, stack, reporter: Reporter, timeout: float, dry_run: bool = False) -> UpResult:
    """Apply the stack's manifests (create or patch each), then wait until every service is ready."""
    from .render import all_objects
    objects = all_objects(stack)
    ns = namespace_of(stack)
    result = UpResult(ns, [_owned(a) for a in plan_apply(clients, objects)])
    result.forwards = [f"kubectl -n {ns} port-forward svc/{name} {p.host}:{p.host}  # then http://127.0.0.1:{p.host}/"
                       for name, sp in sorted(stack.services.items()) for p in sp.service.ports]
    if dry_run:
        return result
    result.changed = apply(clients, result.actions, reporter)
    wait_ready(clients, objects, reporter, timeout)
    return result
