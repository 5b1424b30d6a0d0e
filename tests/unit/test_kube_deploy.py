"""`devenv up/down/status --target kubernetes` at the client boundary: fakes of the real
``kubernetes.client.CoreV1Api`` / ``AppsV1Api`` (``create_autospec``, so a wrong method
name or argument list fails), and a real kubeconfig file for the context errors."""

from __future__ import annotations

from types import SimpleNamespace as NS
from unittest.mock import create_autospec

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from devenv.cli import main
from devenv.cli.common import Context
from devenv.errors import HealthTimeout
from devenv.kube import deploy
from devenv.kube.render import all_objects, kube_stack
from devenv.ui import SilentReporter
from tests.conftest import REPO


@pytest.fixture(scope="module")
def stack():
    ctx = Context(None, False)
    return kube_stack(ctx.renderer(), ctx.store.load("small-db"))


class Cluster:
    """What the fakes answer: a dict of existing objects by (kind, name)."""

    def __init__(self):
        self.core = create_autospec(kubernetes.client.CoreV1Api, instance=True)
        self.apps = create_autospec(kubernetes.client.AppsV1Api, instance=True)
        self.existing: set[tuple[str, str]] = set()
        for kind, api in deploy.KINDS.items():
            target = getattr(self, api.api)
            read = f"read_namespaced_{api.suffix}" if api.namespaced else f"read_{api.suffix}"
            getattr(target, read).side_effect = self._reader(kind)

    def _reader(self, kind):
        def read(name, *args, **kwargs):
            if (kind, name) not in self.existing:
                raise ApiException(status=404, reason="Not Found")
            return NS(metadata=NS(name=name))
        return read

    def clients(self):
        return deploy.Clients(self.core, self.apps, "test")


def workload(name, ready, replicas=1, generation=2, observed=2, image="img"):
    return NS(metadata=NS(name=name, generation=generation),
              spec=NS(replicas=replicas, template=NS(spec=NS(containers=[NS(image=image)]))),
              status=NS(observed_generation=observed, ready_replicas=ready, updated_replicas=ready))


def test_plan_creates_what_is_missing_patches_what_exists_and_keeps_claims(stack):
    cluster = Cluster()
    cluster.existing |= {("Namespace", "devenv-small-db"), ("Deployment", "web"), ("PersistentVolumeClaim", "media")}
    actions = deploy.plan_apply(cluster.clients(), all_objects(stack))
    verbs = {(a.kind, a.name): a.verb for a in actions}
    assert verbs[("Namespace", "devenv-small-db")] == "patch"
    assert verbs[("Deployment", "web")] == "patch"
    assert verbs[("PersistentVolumeClaim", "media")] == "keep"
    assert verbs[("StatefulSet", "db")] == "create" and verbs[("Service", "db")] == "create"
    kinds = [a.kind for a in actions]
    assert kinds[0] == "Namespace" and kinds.index("PersistentVolumeClaim") < kinds.index("StatefulSet")
    cluster.core.read_namespaced_service.assert_any_call("db", "devenv-small-db")


def test_apply_calls_create_and_patch_with_the_objects(stack):
    cluster = Cluster()
    cluster.existing |= {("Deployment", "web"), ("PersistentVolumeClaim", "media")}
    clients = cluster.clients()
    done = deploy.apply(clients, deploy.plan_apply(clients, all_objects(stack)), SilentReporter())
    assert ("PersistentVolumeClaim", "media") not in {(a.kind, a.name) for a in done}
    cluster.core.create_namespace.assert_called_once()
    assert cluster.core.create_namespace.call_args.args[0]["metadata"]["name"] == "devenv-small-db"
    sts_body = cluster.apps.create_namespaced_stateful_set.call_args.args[1]
    assert cluster.apps.create_namespaced_stateful_set.call_args.args[0] == "devenv-small-db"
    assert sts_body["metadata"]["name"] == "db"
    name, ns, body = cluster.apps.patch_namespaced_deployment.call_args.args
    assert (name, ns, body["kind"]) == ("web", "devenv-small-db", "Deployment")
    assert cluster.apps.patch_namespaced_deployment.call_args.kwargs == {"field_manager": "devenv"}
    assert cluster.core.create_namespaced_service.call_count == 4
    cluster.core.patch_namespaced_persistent_volume_claim.assert_not_called()
    cluster.core.create_namespaced_persistent_volume_claim.assert_not_called()


def test_wait_returns_when_every_workload_is_ready(stack):
    cluster = Cluster()
    answers = {"db": [workload("db", 0), workload("db", 1)]}
    cluster.apps.read_namespaced_stateful_set_status.side_effect = lambda name, ns: answers[name].pop(0)
    cluster.apps.read_namespaced_deployment_status.side_effect = lambda name, ns: workload(name, 1)
    sleeps = []
    deploy.wait_ready(cluster.clients(), all_objects(stack), SilentReporter(), timeout=60,
                      clock=lambda: 0.0, sleep=sleeps.append)
    assert sleeps == [2.0]   # one round waited for db, the second found it ready


def test_an_old_generation_is_not_ready():
    assert deploy._ready(workload("x", 1, generation=3, observed=2))[0] is False
    assert deploy._ready(workload("x", 1))[0] is True


def test_wait_times_out_naming_the_services_and_why_their_pods_wait(stack):
    cluster = Cluster()
    cluster.apps.read_namespaced_stateful_set_status.side_effect = lambda name, ns: workload(name, 0)
    cluster.apps.read_namespaced_deployment_status.side_effect = lambda name, ns: workload(name, 1)
    waiting = NS(state=NS(waiting=NS(reason="ErrImageNeverPull", message="image not present")), name="db")
    cluster.core.list_namespaced_pod.return_value = NS(items=[NS(metadata=NS(name="db-0"), status=NS(
        phase="Pending", init_container_statuses=[], container_statuses=[waiting]))])
    now = iter([0.0, 0.0, 100.0])
    with pytest.raises(HealthTimeout) as exc:
        deploy.wait_ready(cluster.clients(), all_objects(stack), SilentReporter(), timeout=30,
                          clock=lambda: next(now), sleep=lambda s: None)
    text = exc.value.render()
    assert "db: 0/1 ready" in text and "ErrImageNeverPull" in text and "web" not in text.split("\n")[1]
    cluster.core.list_namespaced_pod.assert_called_once_with("devenv-small-db",
                                                             label_selector="app.kubernetes.io/name=db")


def test_down_keeps_claims_and_namespace_unless_volumes(stack):
    for volumes in (False, True):
        cluster = Cluster()
        cluster.existing.add(("Namespace", "devenv-small-db"))
        cluster.apps.list_namespaced_deployment.return_value = NS(items=[NS(metadata=NS(name="web"))])
        cluster.apps.list_namespaced_stateful_set.return_value = NS(items=[NS(metadata=NS(name="db"))])
        cluster.core.list_namespaced_service.return_value = NS(items=[NS(metadata=NS(name="db"))])
        cluster.core.list_namespaced_config_map.return_value = NS(items=[])
        cluster.core.list_namespaced_persistent_volume_claim.return_value = NS(
            items=[NS(metadata=NS(name="db-data-db-0")), NS(metadata=NS(name="media"))])
        result = deploy.down(cluster.clients(), "devenv-small-db", volumes, SilentReporter())
        cluster.apps.delete_namespaced_stateful_set.assert_called_once_with("db", "devenv-small-db")
        cluster.apps.list_namespaced_deployment.assert_called_once_with("devenv-small-db",
                                                                        label_selector="dev.devenv.managed=true")
        if volumes:
            assert cluster.core.delete_namespaced_persistent_volume_claim.call_count == 2
            cluster.core.delete_namespace.assert_called_once_with("devenv-small-db")
            assert result.kept_claims == []
        else:
            cluster.core.delete_namespaced_persistent_volume_claim.assert_not_called()
            cluster.core.delete_namespace.assert_not_called()
            assert result.kept_claims == ["db-data-db-0", "media"]


def test_down_and_status_of_an_absent_namespace_do_nothing():
    cluster = Cluster()
    assert deploy.down(cluster.clients(), "devenv-x", True, SilentReporter()).deleted == []
    assert deploy.status(cluster.clients(), "devenv-x") == []
    cluster.apps.list_namespaced_deployment.assert_not_called()


def test_status_rows(stack):
    cluster = Cluster()
    cluster.existing.add(("Namespace", "devenv-small-db"))
    cluster.apps.list_namespaced_deployment.return_value = NS(items=[workload("web", 1, image="devenv/web:1")])
    cluster.apps.list_namespaced_stateful_set.return_value = NS(items=[workload("db", 0, image="devenv/db:1")])
    rows = deploy.status(cluster.clients(), "devenv-small-db")
    assert [r.as_dict() for r in rows] == [
        {"service": "db", "kind": "StatefulSet", "ready": "0/1 ready", "image": "devenv/db:1"},
        {"service": "web", "kind": "Deployment", "ready": "1/1 ready", "image": "devenv/web:1"}]


def test_a_refusal_of_the_cluster_is_a_typed_error(stack):
    cluster = Cluster()
    cluster.apps.create_namespaced_stateful_set.side_effect = ApiException(status=422, reason="Unprocessable")
    clients = cluster.clients()
    with pytest.raises(deploy.KubeApiError) as exc:
        deploy.apply(clients, deploy.plan_apply(clients, all_objects(stack)), SilentReporter())
    assert exc.value.exit_code == 2 and "create StatefulSet devenv-small-db/db" in exc.value.message


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u1
  user: {token: abc}
contexts:
- name: real
  context: {cluster: c1, user: u1}
current-context: {current}
"""


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize("command", [["up", "small-db"], ["down", "small-db"], ["status", "small-db"]])
def test_a_context_that_does_not_exist_exits_2_in_one_paragraph(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.replace("{current}", "nosuch"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    code, out, err = run_main([*command, "--target", "kubernetes"], capsys)
    assert code == 2, err
    assert err.startswith("devenv: error: ") and "nosuch" in err and "real" in err, err
    assert "Traceback" not in err and "\n\n" not in err.strip() and out == ""


def test_no_kubeconfig_at_all_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run_main(["status", "--target", "kubernetes"], capsys)
    assert code == 2 and "Traceback" not in err and "kubeconfig" in err, err


def test_connect_uses_the_current_context(tmp_path, monkeypatch):
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.replace("{current}", "real"))
    clients = deploy.connect(config_file=str(config))
    assert clients.context == "real"
    assert isinstance(clients.core, kubernetes.client.CoreV1Api)
    assert clients.core.api_client.configuration.host == "https://127.0.0.1:1"
