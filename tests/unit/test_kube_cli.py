"""``devenv logs/exec/verify --target kubernetes`` through the CLI's entry point (``main``,
which maps errors to exit codes) under click's CliRunner; the cluster is the fake
of ``test_kube_session`` (``deploy.connect`` replaced), or a real kubeconfig file for
the context errors."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from devenv.cli import main
from devenv.kube import deploy, session
from tests.conftest import REPO
from tests.unit.test_kube_deploy import KUBECONFIG
from tests.unit.test_kube_session import NONZERO, Cluster, ExecChannel, log_response, pod


@click.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def entry(args):
    main(list(args))


def invoke(*args):
    return CliRunner().invoke(entry, list(args))


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.chdir(REPO)
    fake = Cluster([pod("db-0", container="db")])
    seen = []
    monkeypatch.setattr(deploy, "connect", lambda context=None, config_file=None: seen.append(context) or fake.clients())
    return fake


def one_paragraph_error(result, code=2):
    assert result.exit_code == code, (result.exit_code, result.output)
    err = result.stderr
    assert err.startswith("devenv: error: ") and "Traceback" not in err and "\n\n" not in err.strip(), err
    assert result.stdout == ""
    return err


# -- the commands -----------------------------------------------------------------------

def test_logs_print_the_pods_log(cluster):
    cluster.core.read_namespaced_pod_log.return_value = log_response([b"ready for connections\n"])
    result = invoke("logs", "db", "--target", "kubernetes", "--tail", "2", "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"ready for connections\n"
    cluster.core.read_namespaced_pod_log.assert_called_once_with(
        "db-0", "devenv-small-db", container="db", follow=True, tail_lines=2, _preload_content=False)


def test_an_instance_name_is_its_own_namespace(cluster):
    cluster.core.read_namespaced_pod_log.return_value = log_response([])
    assert invoke("logs", "db", "-p", "small-db", "--name", "two", "--target", "kubernetes").exit_code == 0
    cluster.core.read_namespace.assert_called_once_with("devenv-small-db--two")
    assert cluster.core.read_namespaced_pod_log.call_args.args == ("db-0", "devenv-small-db--two")


def test_exec_passes_the_exit_code_and_output_through(cluster, monkeypatch):
    channel = ExecChannel([(1, b"3\n")], NONZERO)
    monkeypatch.setattr(session, "_websocket_stream", lambda: channel.stream)
    result = invoke("exec", "db", "--target", "kubernetes", "--", "sh", "-c", "echo 3; exit 3")
    assert result.exit_code == 3 and result.stdout_bytes == b"3\n", result.output
    assert channel.calls[0][2]["command"] == ["sh", "-c", "echo 3; exit 3"]


def test_several_ready_replicas_are_said_on_stderr(cluster, monkeypatch):
    cluster.core.list_namespaced_pod.return_value.items = [pod("web-b", container="web", age=1),
                                                           pod("web-a", container="web", age=3)]
    channel = ExecChannel([], b'{"status":"Success"}')
    monkeypatch.setattr(session, "_websocket_stream", lambda: channel.stream)
    result = invoke("exec", "web", "--target", "kubernetes", "--", "true")
    assert result.exit_code == 0, result.output
    assert result.stderr == "devenv: note: web: 2 ready pods; using web-a (the oldest), not web-b\n"
    assert channel.calls[0][1] == ("web-a", "devenv-small-db")


# -- bad input: exit 2, one paragraph naming context, namespace and service -----------------

@pytest.mark.parametrize("command", [["logs", "db"], ["exec", "db", "--", "true"], ["verify", "small-db"]])
def test_an_instance_that_is_not_deployed(command, cluster, monkeypatch):
    monkeypatch.setattr("devenv.kube.verify.shutil.which", lambda name: f"/usr/bin/{name}")
    cluster.core.read_namespace.side_effect = deploy_404
    err = one_paragraph_error(invoke(*command, "--target", "kubernetes"))
    assert "context kind-dev, namespace devenv-small-db: the namespace does not exist" in err
    assert "`devenv up small-db --target kubernetes`" in err


def deploy_404(name, **kw):
    from kubernetes.client.exceptions import ApiException
    raise ApiException(status=404, reason="Not Found")


@pytest.mark.parametrize("command", [["logs", "db"], ["exec", "db", "--", "true"]])
def test_a_service_with_no_pod(command, cluster):
    cluster.core.list_namespaced_pod.return_value.items = []
    err = one_paragraph_error(invoke(*command, "--target", "kubernetes"))
    assert "context kind-dev, namespace devenv-small-db: service `db` has no pod" in err


def test_exec_in_a_service_with_no_running_pod(cluster):
    cluster.core.list_namespaced_pod.return_value.items = [pod("db-0", ready=False, phase="Pending",
                                                               waiting="ImagePullBackOff")]
    err = one_paragraph_error(invoke("exec", "db", "--target", "kubernetes", "--", "true"))
    assert "context kind-dev, namespace devenv-small-db: service `db` has no running pod" in err
    assert "db-0 db: ImagePullBackOff" in err


def test_exec_of_a_command_that_is_not_there_is_127(cluster, monkeypatch):
    channel = ExecChannel([], b'{"status":"Failure","message":"exec: \\"nosuch\\": executable file not found '
                              b'in $PATH","reason":"InternalError"}')
    monkeypatch.setattr(session, "_websocket_stream", lambda: channel.stream)
    err = one_paragraph_error(invoke("exec", "db", "--target", "kubernetes", "--", "nosuch"), code=127)
    assert "exec `nosuch` in pod devenv-small-db/db-0 (db)" in err


@pytest.mark.parametrize("command", [["logs", "db"], ["exec", "db", "--", "true"], ["verify", "small-db"]])
def test_a_context_that_does_not_exist(command, tmp_path, monkeypatch):
    """The real ``deploy.connect`` on a real kubeconfig file whose current context is missing."""
    monkeypatch.chdir(REPO)
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.replace("{current}", "nosuch"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    err = one_paragraph_error(invoke(*command, "--target", "kubernetes"))
    assert "nosuch" in err and "Contexts there: real" in err and str(config) in err


def test_verify_without_kubectl(cluster, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    err = one_paragraph_error(invoke("verify", "small-db", "--target", "kubernetes"))
    assert "no kubectl on the PATH" in err and "kubernetes-client" in err


# -- verify with testinfra's real kubectl backend, no cluster behind it ---------------------

@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary")
def test_verify_runs_the_fact_script_through_kubectl_and_reports_that_it_cannot_reach_the_cluster(
        cluster, tmp_path, monkeypatch):
    """Not a pass: kubectl finds nothing at the context's server, so every service's facts
    check fails with kubectl's own message, exit 1 (checks failed), not 2 or 70."""
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.replace("{current}", "real"))   # server https://127.0.0.1:1
    monkeypatch.setenv("KUBECONFIG", str(config))
    cluster.context = "real"
    cluster.core.list_namespaced_pod.side_effect = lambda ns, label_selector: SimpleNamespace(
        items=[pod(label_selector.split("=")[1] + "-0", container=label_selector.split("=")[1])])
    result = invoke("verify", "small-db", "--target", "kubernetes", "--no-user-tests")
    assert result.exit_code == 1, result.output
    out = result.stdout
    for service in ("cache", "db", "php", "web"):
        assert f"FAIL {service}: facts: expected the fact script runs, actual kubectl://{service}-0?" in out, out
    assert "kubectl://db-0?container=db&namespace=devenv-small-db&context=real: the fact script failed" in out
    assert "127.0.0.1:1" in out   # kubectl's own complaint names the server it could not reach


def test_up_with_a_name_deploys_into_that_instances_namespace(monkeypatch):
    """logs/exec/verify --name look in devenv-PROFILE--NAME; up --name must deploy there."""
    from tests.unit.test_kube_deploy import Cluster as DeployCluster
    monkeypatch.chdir(REPO)
    fake = DeployCluster()
    monkeypatch.setattr(deploy, "connect", lambda context=None, config_file=None: fake.clients())
    result = invoke("up", "small-db", "--name", "two", "--target", "kubernetes", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "  create Namespace devenv-small-db--two\n" in result.stdout
    assert "create StatefulSet devenv-small-db--two/db" in result.stdout
