"""``devenv logs/exec --target kubernetes``: a service's pod in the instance's Namespace,
its log, a command run in its container, and its testinfra host spec (``verify``).

The client is injected (``deploy.Clients``), and so is the websocket ``stream``
function of exec, so everything here is tested at the client boundary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Sequence
from urllib.parse import urlencode

from ..errors import DevenvError
from .deploy import MANAGED_SELECTOR, WORKLOADS, Clients, KubeApiError, _api_error, _call
from .naming import APP_LABEL
from .pods import choose, container_of, waiting_reasons

ERROR_CHANNEL = 3          # the exec channel that carries the command's final Status
LOG_CHUNK = 64 * 1024


class KubeNotFoundError(DevenvError):
    """The instance, the service or a ready pod of it is not on the cluster."""


class KubeExecError(DevenvError):
    """The command could not be run in the pod; exit code 126/127 as a shell has them."""

    def __init__(self, message: str, exit_code: int, hint: str | None = None):
        super().__init__(message, hint)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Pod:
    """The pod and container a command acts on."""

    name: str
    namespace: str
    container: str
    context: str
    others: tuple[str, ...] = ()   # the service's other ready pods

    @property
    def note(self) -> str:
        """What the CLI says on stderr when the service has several ready pods."""
        if not self.others:
            return ""
        return (f"{len(self.others) + 1} ready pods; using {self.name} (the oldest), not "
                f"{', '.join(self.others)}")

    def host_spec(self) -> str:
        """testinfra's kubectl backend: ``kubectl --context=CTX -n NS -c C exec POD -- /bin/sh -c …``.
        The values are URL-encoded (context names hold ``:`` and ``/`` on EKS); the
        kubeconfig is the one kubectl finds itself ($KUBECONFIG, ~/.kube/config), as
        ``connect`` found it."""
        query = {"container": self.container, "namespace": self.namespace}
        if self.context:
            query["context"] = self.context
        return f"kubectl://{self.name}?{urlencode(query)}"


def _where(clients: Clients, namespace: str) -> str:
    return f"context {clients.context or '(current)'}, namespace {namespace}"


def require_namespace(clients: Clients, namespace: str, instance: str) -> None:
    """``instance`` as the command line names it (``str(Scope)``: PROFILE [--name INSTANCE])."""
    if _call(clients, "Namespace", "read", namespace, "") is None:
        raise KubeNotFoundError(
            f"{_where(clients, namespace)}: the namespace does not exist: instance {instance} is not deployed "
            "in this context",
            f"`devenv up {instance} --target kubernetes` deploys it "
            "(docs/kubernetes.md); `kubectl get namespaces` lists what is there.")


def pods_of(clients: Clients, namespace: str, service: str) -> list[Any]:
    """The pods of the service's Deployment or StatefulSet (the label its Service selects)."""
    try:
        listed = clients.core.list_namespaced_pod(namespace, label_selector=f"{APP_LABEL}={service}")
    except Exception as exc:
        raise _api_error(exc, f"list the pods of {service} in namespace {namespace}") from None
    return list(listed.items or [])


def deployed_services(clients: Clients, namespace: str) -> list[str]:
    """The workloads devenv made in the namespace (for the message of an unknown service)."""
    out = []
    for kind in WORKLOADS:
        listed = _call(clients, kind, "list", None, namespace, label_selector=MANAGED_SELECTOR)
        out += [obj.metadata.name for obj in listed.items or []]
    return sorted(out)


def find_pod(clients: Clients, namespace: str, service: str, instance: str, fallback: str = "none") -> Pod:
    """The pod of ``service`` to act on (a ready one; ``fallback``: see ``pods.choose``),
    or a KubeNotFoundError naming context, namespace and service."""
    require_namespace(clients, namespace, instance)
    pods = pods_of(clients, namespace, service)
    where = _where(clients, namespace)
    if not pods:
        have = ", ".join(deployed_services(clients, namespace)) or "none"
        raise KubeNotFoundError(f"{where}: service `{service}` has no pod",
                                f"Services deployed there: {have} (`devenv status --target kubernetes`).")
    pod, others = choose(pods, fallback)
    if pod is None:
        reasons = "; ".join(r for p in pods for r in waiting_reasons(p)) or "every pod is being deleted"
        state = "running" if fallback == "running" else "ready"
        raise KubeNotFoundError(f"{where}: service `{service}` has no {state} pod ({reasons})",
                                f"`kubectl --context {clients.context} -n {namespace} describe pods -l "
                                f"{APP_LABEL}={service}` shows why; `devenv logs {service} --target kubernetes` "
                                "prints its log.")
    return Pod(pod.metadata.name, namespace, container_of(pod, service), clients.context,
               tuple(p.metadata.name for p in others))


def open_pod(namespace: str, instance: str, service: str, fallback: str = "none",
             context: str | None = None) -> tuple[Clients, Pod]:
    """Connect to the kubeconfig's context and find the service's pod (the CLI's entry)."""
    from .deploy import connect
    clients = connect(context)
    return clients, find_pod(clients, namespace, service, instance, fallback)


# -- logs -------------------------------------------------------------------------------

def stream_logs(clients: Clients, pod: Pod, out: BinaryIO, follow: bool = False, tail: int | None = None) -> None:
    """Copy the container's log to ``out`` as it arrives (``follow``: until the pod ends or Ctrl-C)."""
    kwargs: dict[str, Any] = {"container": pod.container, "follow": follow, "_preload_content": False}
    if tail is not None:
        kwargs["tail_lines"] = tail
    doing = f"read the log of pod {pod.namespace}/{pod.name} ({pod.container})"
    try:
        response = clients.core.read_namespaced_pod_log(pod.name, pod.namespace, **kwargs)
    except Exception as exc:
        raise _api_error(exc, doing) from None
    chunks = response.stream(LOG_CHUNK, decode_content=False)
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except Exception as exc:   # urllib3's ProtocolError, ReadTimeoutError: the cluster dropped the stream
                raise _api_error(exc, doing) from None
            out.write(chunk)
            out.flush()
    finally:
        response.release_conn()


# -- exec -------------------------------------------------------------------------------

def _websocket_stream() -> Callable[..., Any]:
    from kubernetes.stream import stream
    return stream


def exec_in(clients: Clients, pod: Pod, command: Sequence[str], stdout: BinaryIO, stderr: BinaryIO,
            stream: Callable[..., Any] | None = None, poll: float = 1.0) -> int:
    """Run ``command`` in the pod's container, stream its stdout/stderr, return its exit code.

    Like ``devenv exec`` on Docker: no stdin, no TTY. Binary frames, so the output's
    bytes pass unchanged.
    """
    stream = stream or _websocket_stream()
    try:
        ws = stream(clients.core.connect_get_namespaced_pod_exec, pod.name, pod.namespace,
                    container=pod.container, command=list(command), stdin=False, stdout=True, stderr=True,
                    tty=False, binary=True, _preload_content=False)
    except Exception as exc:
        raise _exec_refused(exc, f"exec in pod {pod.namespace}/{pod.name} ({pod.container})") from None
    try:
        while True:
            is_open = ws.is_open()
            if is_open:
                try:
                    ws.update(timeout=poll)
                except Exception as exc:   # websocket-client's: the connection broke mid-command
                    raise KubeExecError(f"exec `{' '.join(command)}` in pod {pod.namespace}/{pod.name}: the "
                                        f"connection broke ({type(exc).__name__}: {exc}); the command's exit "
                                        "status is unknown", 1) from None
            for peek, read, out in ((ws.peek_stdout, ws.read_stdout, stdout), (ws.peek_stderr, ws.read_stderr, stderr)):
                if peek():
                    out.write(read())
                    out.flush()
            if not is_open:
                break
        return exit_status(ws.read_channel(ERROR_CHANNEL), pod, command)
    finally:
        ws.close()


# the client wraps a failed websocket upgrade as ApiException(status=0, reason=websocket-client's
# "Handshake status 403 Forbidden -+-+- {headers} -+-+- b'{the API's Status}'")
_HANDSHAKE = re.compile(r"Handshake status (\d+) (.*?) -\+-\+- .*? -\+-\+- (?:b'|b\")?(.*?)['\"]?$", re.S)


def _exec_refused(exc: BaseException, doing: str) -> KubeApiError:
    if getattr(exc, "status", None) != 0:
        return _api_error(exc, doing)
    reason = str(getattr(exc, "reason", "") or exc)
    m = _HANDSHAKE.search(reason)
    if m is None:   # no HTTP answer at all: refused connection, DNS, TLS
        first = reason.strip().splitlines()[0] if reason.strip() else "no answer"
        return KubeApiError(f"{doing}: the cluster does not answer ({first})", None,
                            "Check the kubeconfig context's server (`kubectl cluster-info`).")
    status, phrase, body = int(m.group(1)), m.group(2).strip(), m.group(3)
    try:
        message = json.loads(body).get("message", body)
    except (ValueError, AttributeError):
        message = body
    return KubeApiError(f"{doing}: the cluster refused ({status} {phrase}): {message}".rstrip(": "), status)


def exit_status(status: bytes | str, pod: Pod, command: Sequence[str]) -> int:
    """The exit code in the exec's final Status (the error channel):
    ``{"status": "Success"}`` is 0; ``NonZeroExitCode`` carries it as the cause
    ``ExitCode``; any other failure means the command did not start (126, or 127 when
    the executable is not there, as Docker and a shell say)."""
    text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
    what = f"exec `{' '.join(command)}` in pod {pod.namespace}/{pod.name} ({pod.container})"
    if not text.strip():
        raise KubeExecError(f"{what}: the connection closed without the command's exit status", 1,
                            "The pod may have been deleted or restarted meanwhile.")
    try:
        doc = json.loads(text)
    except ValueError:
        raise KubeExecError(f"{what}: the cluster's final status is not JSON: {text.strip()[:200]}", 1) from None
    if doc.get("status") == "Success":
        return 0
    if doc.get("reason") == "NonZeroExitCode":
        for cause in (doc.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message"))
    message = doc.get("message") or text.strip()
    not_found = "not found" in message or "no such file" in message.lower()
    raise KubeExecError(f"{what}: {message}", 127 if not_found else 126)
