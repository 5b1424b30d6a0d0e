"""``devenv logs/exec --target kubernetes`` at the client boundary: pods are the client's
own model objects (``V1Pod``), the APIs are ``create_autospec`` fakes of the real
classes' methods (a wrong method name or argument list fails), the log response a fake of
urllib3's ``HTTPResponse`` and the exec channel a fake of the client's ``WSClient``."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from unittest.mock import create_autospec

import kubernetes.client as k
import pytest
import testinfra
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.stream.ws_client import WSClient

from devenv.kube import deploy, session
from devenv.kube.deploy import KubeApiError
from devenv.kube.pods import choose, waiting_reasons
from devenv.kube.session import KubeExecError, KubeNotFoundError, Pod

NS = "devenv-small-db"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def pod(name, ready=True, phase="Running", age=0, deleting=False, container="db", waiting=None, running=None):
    """A V1Pod as the API returns it: ``age`` minutes older than T0 (so a larger age is older)."""
    running = ready if running is None else running
    state = (k.V1ContainerState(running=k.V1ContainerStateRunning(started_at=T0)) if running else
             k.V1ContainerState(waiting=k.V1ContainerStateWaiting(reason=waiting or "ContainerCreating")))
    return k.V1Pod(
        metadata=k.V1ObjectMeta(name=name, namespace=NS, creation_timestamp=T0 - timedelta(minutes=age),
                                deletion_timestamp=T0 if deleting else None),
        spec=k.V1PodSpec(containers=[k.V1Container(name=container)]),
        status=k.V1PodStatus(
            phase=phase,
            conditions=[k.V1PodCondition(type="Ready", status="True" if ready else "False")],
            container_statuses=[k.V1ContainerStatus(name=container, image="devenv/db:1", image_id="", ready=ready,
                                                    restart_count=0, state=state)]))


def narrowed(cls, methods):
    """``cls`` with only ``methods`` (the real functions, so their signatures): autospec of
    the whole CoreV1Api takes seconds, and a method not listed is not there either."""
    return type(cls.__name__, (), {name: getattr(cls, name) for name in methods})


CORE = narrowed(k.CoreV1Api, ["read_namespace", "list_namespaced_pod", "read_namespaced_pod_log",
                              "connect_get_namespaced_pod_exec"])
APPS = narrowed(k.AppsV1Api, ["list_namespaced_deployment", "list_namespaced_stateful_set"])


class Cluster:
    def __init__(self, pods=(), namespace=True, workloads=("db", "web"), context="kind-dev"):
        self.core = create_autospec(CORE, instance=True)
        self.apps = create_autospec(APPS, instance=True)
        self.context = context

        def read_namespace(name, **kw):
            if not namespace:
                raise ApiException(status=404, reason="Not Found")
            return k.V1Namespace(metadata=k.V1ObjectMeta(name=name))
        self.core.read_namespace.side_effect = read_namespace
        self.core.list_namespaced_pod.return_value = k.V1PodList(items=list(pods))
        # only their names are read (the models' validation would want whole specs)
        self.apps.list_namespaced_deployment.return_value = SimpleNamespace(
            items=[SimpleNamespace(metadata=k.V1ObjectMeta(name=w)) for w in workloads if w != "db"])
        self.apps.list_namespaced_stateful_set.return_value = SimpleNamespace(
            items=[SimpleNamespace(metadata=k.V1ObjectMeta(name=w)) for w in workloads if w == "db"])

    def clients(self):
        return deploy.Clients(self.core, self.apps, self.context)


# -- which pod ------------------------------------------------------------------------------

def test_the_ready_pod_is_chosen_over_one_that_is_not():
    found = session.find_pod(Cluster([pod("db-1", ready=False, age=9), pod("db-0")]).clients(), NS, "db",
                             "small-db")
    assert found == Pod("db-0", NS, "db", "kind-dev")


def test_the_pods_are_listed_by_the_label_the_service_selects():
    cluster = Cluster([pod("web-a")])
    session.find_pod(cluster.clients(), NS, "web", "small-db")
    cluster.core.list_namespaced_pod.assert_called_once_with(NS, label_selector="app.kubernetes.io/name=web")


def test_of_several_ready_replicas_the_oldest_and_the_others_are_named():
    pods = [pod("web-b", age=1), pod("web-c", age=5), pod("web-a", age=1), pod("web-old", age=60, deleting=True)]
    found = session.find_pod(Cluster(pods).clients(), NS, "web", "small-db")
    assert found.name == "web-c" and found.others == ("web-a", "web-b")   # same age: by name
    assert "3 ready pods; using web-c" in found.note and "web-old" not in found.note
    assert Pod("x", NS, "db", "c").note == ""


def test_a_pod_being_deleted_is_not_ready():
    assert choose([pod("db-0", deleting=True)], fallback="any") == (None, [])


def test_no_ready_pod_is_an_error_naming_context_namespace_service_and_why():
    cluster = Cluster([pod("db-0", ready=False, waiting="CrashLoopBackOff")])
    with pytest.raises(KubeNotFoundError) as exc:
        session.find_pod(cluster.clients(), NS, "db", "small-db")
    text = exc.value.render()
    assert exc.value.exit_code == 2
    assert "context kind-dev, namespace devenv-small-db: service `db` has no ready pod" in text
    assert "db-0 db: CrashLoopBackOff" in text and "kubectl --context kind-dev -n devenv-small-db describe pods" in text


def test_exec_falls_back_to_a_running_pod_that_is_not_ready_and_logs_to_any():
    not_ready = pod("db-0", ready=False, running=True)
    assert session.find_pod(Cluster([not_ready]).clients(), NS, "db", "x", fallback="running").name == "db-0"
    crashing = [pod("db-0", ready=False, phase="Pending", age=5), pod("db-1", ready=False, phase="Pending")]
    with pytest.raises(KubeNotFoundError, match="has no running pod"):
        session.find_pod(Cluster(crashing).clients(), NS, "db", "x", fallback="running")
    assert session.find_pod(Cluster(crashing).clients(), NS, "db", "x", fallback="any").name == "db-1"  # the newest
    with pytest.raises(ValueError):
        choose([], fallback="ready")


def test_a_service_without_pods_names_the_services_that_are_deployed():
    with pytest.raises(KubeNotFoundError) as exc:
        session.find_pod(Cluster([]).clients(), NS, "nosuch", "small-db")
    assert "context kind-dev, namespace devenv-small-db: service `nosuch` has no pod" in exc.value.message
    assert "Services deployed there: db, web" in exc.value.hint


def test_an_instance_that_is_not_deployed_is_an_error_before_pods_are_listed():
    cluster = Cluster([pod("db-0")], namespace=False)
    with pytest.raises(KubeNotFoundError) as exc:
        session.find_pod(cluster.clients(), NS, "db", "small-db --name two")
    assert "context kind-dev, namespace devenv-small-db: the namespace does not exist" in exc.value.message
    assert "instance small-db --name two is not deployed" in exc.value.message
    assert "`devenv up small-db --name two --target kubernetes`" in exc.value.hint
    cluster.core.list_namespaced_pod.assert_not_called()


def test_waiting_reasons_of_a_running_pod_that_is_not_ready():
    assert waiting_reasons(pod("web-a", ready=False, running=True)) == ["web-a: Running, not ready"]


def test_the_container_is_the_one_named_like_the_service_else_the_first():
    p = pod("x-0", container="main")
    p.spec.containers.append(k.V1Container(name="web"))
    assert session.find_pod(Cluster([p]).clients(), NS, "web", "x").container == "web"
    assert session.find_pod(Cluster([pod("x-0", container="main")]).clients(), NS, "web", "x").container == "main"


# -- logs -----------------------------------------------------------------------------------

def log_response(chunks, error=None):
    response = create_autospec(urllib3.HTTPResponse, instance=True)

    def stream(amt, decode_content=None):
        yield from chunks
        if error is not None:
            raise error
    response.stream.side_effect = stream
    return response


@pytest.mark.parametrize("follow,tail,expected", [
    (False, None, {"container": "db", "follow": False, "_preload_content": False}),
    (True, 5, {"container": "db", "follow": True, "_preload_content": False, "tail_lines": 5}),
    (False, 0, {"container": "db", "follow": False, "_preload_content": False, "tail_lines": 0}),
])
def test_logs_ask_for_the_pods_container_log_and_copy_it_unchanged(follow, tail, expected):
    cluster = Cluster()
    response = log_response([b"line 1\n", b"\xff binary \n"])
    cluster.core.read_namespaced_pod_log.return_value = response
    out = io.BytesIO()
    session.stream_logs(cluster.clients(), Pod("db-0", NS, "db", "kind-dev"), out, follow=follow, tail=tail)
    assert out.getvalue() == b"line 1\n\xff binary \n"
    cluster.core.read_namespaced_pod_log.assert_called_once_with("db-0", NS, **expected)
    response.release_conn.assert_called_once_with()


def test_a_log_stream_the_cluster_drops_is_a_typed_error_and_the_connection_is_released():
    cluster = Cluster()
    response = log_response([b"a\n"], urllib3.exceptions.ProtocolError("Connection broken"))
    cluster.core.read_namespaced_pod_log.return_value = response
    out = io.BytesIO()
    with pytest.raises(KubeApiError) as exc:
        session.stream_logs(cluster.clients(), Pod("db-0", NS, "db", "c"), out, follow=True)
    assert out.getvalue() == b"a\n" and "read the log of pod devenv-small-db/db-0 (db)" in exc.value.message
    response.release_conn.assert_called_once_with()


def test_a_log_the_cluster_refuses_is_a_typed_error():
    cluster = Cluster()
    cluster.core.read_namespaced_pod_log.side_effect = ApiException(status=400, reason="Bad Request")
    with pytest.raises(KubeApiError) as exc:
        session.stream_logs(cluster.clients(), Pod("db-0", NS, "db", "c"), io.BytesIO())
    assert exc.value.exit_code == 2 and "refused (400 Bad Request)" in exc.value.message


# -- exec -----------------------------------------------------------------------------------

class ExecChannel:
    """A fake WSClient: ``frames`` arrive one per update; then it closes with ``status``."""

    def __init__(self, frames, status: bytes):
        self.ws = create_autospec(WSClient, instance=True)
        self.buffers = {1: b"", 2: b"", 3: b""}
        self.frames = list(frames)
        self.status = status
        self.open = True
        self.ws.is_open.side_effect = lambda: self.open
        self.ws.update.side_effect = self._update
        self.ws.peek_stdout.side_effect = lambda timeout=0: bool(self.buffers[1])
        self.ws.peek_stderr.side_effect = lambda timeout=0: bool(self.buffers[2])
        self.ws.read_stdout.side_effect = lambda timeout=None: self._take(1)
        self.ws.read_stderr.side_effect = lambda timeout=None: self._take(2)
        self.ws.read_channel.side_effect = lambda channel, timeout=0: self._take(channel)
        self.calls = []

    def _update(self, timeout=0):
        if self.frames:
            channel, data = self.frames.pop(0)
            self.buffers[channel] += data
        else:
            self.buffers[3] = self.status
            self.open = False

    def _take(self, channel):
        data, self.buffers[channel] = self.buffers[channel], b""
        return data

    def stream(self, api_method, *args, **kwargs):
        self.calls.append((api_method, args, kwargs))
        return self.ws


def run_exec(frames, status, command=("mariadb", "-e", "SELECT 1")):
    cluster = Cluster()
    channel = ExecChannel(frames, status)
    out, err = io.BytesIO(), io.BytesIO()
    code = session.exec_in(cluster.clients(), Pod("db-0", NS, "db", "c"), list(command), out, err,
                           stream=channel.stream, poll=0)
    return code, out.getvalue(), err.getvalue(), channel, cluster


def test_exec_calls_the_pod_exec_api_with_the_command_and_streams_both_outputs():
    code, out, err, channel, cluster = run_exec([(1, b"1\n"), (2, b"warn\n"), (1, b"\x00\xff")],
                                                b'{"metadata":{},"status":"Success"}')
    assert (code, out, err) == (0, b"1\n\x00\xff", b"warn\n")
    [(method, args, kwargs)] = channel.calls
    assert method is cluster.core.connect_get_namespaced_pod_exec and args == ("db-0", NS)
    assert kwargs == {"container": "db", "command": ["mariadb", "-e", "SELECT 1"], "stdin": False, "stdout": True,
                      "stderr": True, "tty": False, "binary": True, "_preload_content": False}
    channel.ws.close.assert_called_once_with()


NONZERO = (b'{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error '
           b'executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":'
           b'[{"reason":"ExitCode","message":"3"}]}}')


def test_exec_passes_the_commands_exit_code_through():
    code, out, _, channel, _ = run_exec([(1, b"partial")], NONZERO, ("sh", "-c", "exit 3"))
    assert code == 3 and out == b"partial"
    channel.ws.close.assert_called_once_with()


@pytest.mark.parametrize("message,code", [
    ('exec: \\"nosuch\\": executable file not found in $PATH: unknown', 127),
    ("exec: permission denied: unknown", 126),
])
def test_a_command_that_does_not_start_is_126_or_127_as_on_docker(message, code):
    status = ('{"status":"Failure","message":"OCI runtime exec failed: ' + message + '","reason":"InternalError"}')
    with pytest.raises(KubeExecError) as exc:
        run_exec([], status.encode(), ("nosuch",))
    assert exc.value.exit_code == code and "exec `nosuch` in pod devenv-small-db/db-0 (db)" in exc.value.message


def test_a_channel_that_closes_without_a_status_is_an_error_not_exit_0():
    with pytest.raises(KubeExecError) as exc:
        run_exec([(1, b"x")], b"")
    assert exc.value.exit_code == 1 and "without the command's exit status" in exc.value.message


def test_a_connection_that_breaks_mid_command_is_an_error_not_a_traceback():
    from websocket import WebSocketConnectionClosedException
    cluster = Cluster()
    channel = ExecChannel([(1, b"half")], b"")
    channel.ws.update.side_effect = [None, WebSocketConnectionClosedException("socket is already closed.")]
    channel.buffers[1] = b"half"
    out = io.BytesIO()
    with pytest.raises(KubeExecError) as exc:
        session.exec_in(cluster.clients(), Pod("db-0", NS, "db", "c"), ["sleep", "60"], out, io.BytesIO(),
                        stream=channel.stream, poll=0)
    assert exc.value.exit_code == 1 and "the connection broke (WebSocketConnectionClosedException" in exc.value.message
    assert out.getvalue() == b"half"
    channel.ws.close.assert_called_once_with()


def test_an_exec_the_cluster_refuses_is_a_typed_error():
    cluster = Cluster()

    def refuse(*args, **kwargs):
        raise ApiException(status=403, reason="Forbidden")
    with pytest.raises(KubeApiError) as exc:
        session.exec_in(cluster.clients(), Pod("db-0", NS, "db", "c"), ["true"], io.BytesIO(), io.BytesIO(),
                        stream=refuse)
    assert exc.value.exit_code == 2 and "exec in pod devenv-small-db/db-0 (db)" in exc.value.message


# -- the testinfra host ---------------------------------------------------------------------

def test_the_host_spec_is_testinfras_kubectl_backend_with_pod_container_namespace_and_context():
    spec = Pod("db-0", NS, "db", "kind-dev").host_spec()
    assert spec == "kubectl://db-0?container=db&namespace=devenv-small-db&context=kind-dev"
    backend = testinfra.get_host(spec).backend
    assert (backend.NAME, backend.name, backend.container, backend.namespace, backend.context) == \
        ("kubectl", "db-0", "db", NS, "kind-dev")
    assert backend.get_pytest_id() == "kubectl://db-0"   # what devenv's user-test results are matched by


def test_a_context_name_with_colons_and_slashes_survives_the_host_spec():
    eks = "arn:aws:eks:eu-west-1:123456789012:cluster/team&co"
    backend = testinfra.get_host(Pod("web-7d4-x", NS, "web", eks).host_spec()).backend
    assert backend.context == eks and backend.name == "web-7d4-x"


def test_without_a_context_name_kubectl_uses_its_current_context():
    assert "context" not in Pod("db-0", NS, "db", "").host_spec()
