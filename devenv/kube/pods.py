"""Reading pods of the Kubernetes client (``V1Pod``): ready or not, why they wait, and
which pod of a service the commands act on. Pure functions over the client's objects,
shared by ``deploy`` (the timeout message) and ``session`` (logs, exec, verify)."""

from __future__ import annotations

from typing import Any, Sequence


def is_ready(pod: Any) -> bool:
    """The pod runs and its Ready condition is True: every container's readiness probe
    (the service's healthcheck) passed. A pod being deleted is not ready."""
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def container_of(pod: Any, service: str) -> str:
    """The service's container in the pod: the one named like the service (as devenv
    renders it), else the pod's only (first) container."""
    names = [c.name for c in pod.spec.containers or []]
    return service if service in names else (names[0] if names else service)


def container_running(pod: Any, container: str) -> bool:
    for cs in pod.status.container_statuses or []:
        if cs.name == container:
            return cs.state is not None and cs.state.running is not None
    return False


def waiting_reasons(pod: Any) -> list[str]:
    """Why the pod's containers wait (ImagePullBackOff, CrashLoopBackOff, ...), else its phase."""
    statuses = list(pod.status.init_container_statuses or []) + list(pod.status.container_statuses or [])
    out = []
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason:
            out.append(f"{pod.metadata.name} {cs.name}: {waiting.reason}"
                       + (f" ({waiting.message})" if waiting.message else ""))
    if not out and pod.status.phase:
        not_ready = pod.status.phase == "Running" and not is_ready(pod)
        out.append(f"{pod.metadata.name}: {pod.status.phase}" + (", not ready" if not_ready else ""))
    return out


def _created(pod: Any) -> str:
    ts = pod.metadata.creation_timestamp
    return ts.isoformat() if ts is not None else ""


FALLBACKS = ("none", "running", "any")


def choose(pods: Sequence[Any], fallback: str = "none") -> tuple[Any | None, list[Any]]:
    """(the pod to act on, the service's other ready pods).

    Of several ready replicas the oldest (then by name), so that commands run one
    after another reach the same pod. When none is ready, ``fallback`` says what
    else will do: ``running`` a running pod that is not ready (exec: as on Docker, a
    running container need not be healthy), ``any`` any pod (logs of a crashing
    service); of those the newest, the one a rollout or restart made last. A pod
    being deleted is never chosen.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback {fallback!r}: one of {FALLBACKS}")
    alive = [p for p in pods if p.metadata.deletion_timestamp is None]
    ready = sorted((p for p in alive if is_ready(p)), key=lambda p: (_created(p), p.metadata.name))
    if ready:
        return ready[0], ready[1:]
    acceptable = {"none": [], "running": [p for p in alive if p.status.phase == "Running"], "any": alive}[fallback]
    if not acceptable:
        return None, []
    return max(acceptable, key=lambda p: (_created(p), p.metadata.name)), []
