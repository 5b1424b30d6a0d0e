"""``devenv verify --target kubernetes``: the checks of ``devenv verify`` on the cluster.

The same generated checks and the profile's testinfra files as on Docker
(``devenv.parity.verify``), run through testinfra's ``kubectl://`` backend on each
service's pod. Only where the state comes from differs: running and healthy are
the pod's phase, its container's state and its Ready condition (the readiness
probe is the healthcheck) instead of the Engine API. A service without a pod,
or whose pod is not running, fails its checks, as a stopped container does on
Docker; a namespace that is not there is an error (the instance is not deployed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import DevenvError
from ..parity.check_result import CheckResult
from ..parity.verify import ServiceVerify, VerifyReport, check_on_host, expectations, verify_environment
from ..render import Stack
from ..ui import Reporter
from .deploy import Clients
from .naming import namespace_of
from .pods import choose, container_of, container_running, is_ready, waiting_reasons
from .session import Pod, pods_of, require_namespace

HEALTHY = "healthy (or no healthcheck)"


class KubeToolError(DevenvError):
    """A program the Kubernetes target runs is not installed."""


def pod_state(service: str, namespace: str, pods: list) -> tuple[Any, list[CheckResult]]:
    """(the pod to check, the running/healthy checks of the service from its pods' state)."""
    pod, _ = choose(pods, fallback="any")
    if pod is None:
        return None, [CheckResult(service, "running", False, "running",
                                  f"no pod in namespace {namespace} (is it up? `devenv up --target kubernetes`)")]
    container = container_of(pod, service)
    why = "; ".join(waiting_reasons(pod))
    if not container_running(pod, container):
        return None, [CheckResult(service, "running", False, "running",
                                  f"pod {pod.metadata.name}: container {container} is not running ({why})")]
    running = CheckResult(service, "running", True, "running", f"pod {pod.metadata.name} running")
    ready = is_ready(pod)
    healthy = CheckResult(service, "healthy", ready, HEALTHY,
                          "ready (its readiness probe passed)" if ready else f"not ready ({why})")
    return pod, [running, healthy]


def verify_pod(clients: Clients, stack: Stack, namespace: str, service: str) -> ServiceVerify:
    exps = expectations(stack, service)
    pod, results = pod_state(service, namespace, pods_of(clients, namespace, service))
    if pod is None:
        return ServiceVerify(service, "", results, skipped=len(exps), running=False)
    ref = Pod(pod.metadata.name, namespace, container_of(pod, service), clients.context)
    sv = ServiceVerify(service, ref.name, results, host=ref.host_spec())
    return check_on_host(sv, exps, sv.host)


def verify_deployed(clients: Clients, stack: Stack, *, project_dir: Path | None = None, user_tests: bool = True,
                    reporter: Reporter | None = None) -> VerifyReport:
    """Check the instance deployed from ``stack`` (``render.kube_stack``) on the cluster."""
    if shutil.which("kubectl") is None:   # testinfra's kubectl backend runs it for every command
        raise KubeToolError("verify --target kubernetes runs its checks through `kubectl exec`, and there is no "
                            "kubectl on the PATH",
                            "Install it (Debian: apt-get install kubernetes-client; or the upstream binary, "
                            "https://kubernetes.io/docs/tasks/tools/).")
    namespace = namespace_of(stack)
    require_namespace(clients, namespace, str(stack.scope))
    return verify_environment(None, stack, project_dir=project_dir, user_tests=user_tests, reporter=reporter,
                              verify_one=lambda s: verify_pod(clients, stack, namespace, s))
