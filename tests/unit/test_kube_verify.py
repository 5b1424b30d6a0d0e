"""``devenv verify --target kubernetes`` at the client boundary: running/healthy from the
pods (the client's ``V1Pod`` models), the generated checks and the user's testinfra
files handed testinfra's ``kubectl://`` host of the chosen pod."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import devenv.parity.verify as parity_verify
from devenv.cli.common import Context
from devenv.kube import verify
from devenv.kube.render import kube_stack
from devenv.kube.session import KubeNotFoundError
from devenv.parity.check_result import CheckResult
from devenv.parity.verify import expectations
from tests.unit.test_kube_session import NS, Cluster, pod


@pytest.fixture
def kubectl(monkeypatch):
    """verify_deployed looks for kubectl first; these tests do not run it."""
    monkeypatch.setattr(verify.shutil, "which", lambda name: f"/usr/bin/{name}")


@pytest.fixture(scope="module")
def stack():
    ctx = Context(None, False)
    return kube_stack(ctx.renderer(), ctx.store.load("small-db"))


def checks(results):
    return [(r.check, r.ok, r.actual) for r in results]


def test_a_ready_pod_is_running_and_healthy():
    chosen, results = verify.pod_state("db", NS, [pod("db-0")])
    assert chosen.metadata.name == "db-0"
    assert checks(results) == [("running", True, "pod db-0 running"),
                               ("healthy", True, "ready (its readiness probe passed)")]


def test_a_running_pod_that_is_not_ready_fails_healthy_and_is_still_checked():
    chosen, results = verify.pod_state("db", NS, [pod("db-0", ready=False, running=True)])
    assert chosen is not None
    assert checks(results) == [("running", True, "pod db-0 running"),
                               ("healthy", False, "not ready (db-0: Running, not ready)")]


def test_a_pod_whose_container_waits_fails_running():
    chosen, results = verify.pod_state("db", NS, [pod("db-0", ready=False, phase="Pending", waiting="ErrImageNeverPull")])
    assert chosen is None
    assert checks(results) == [("running", False,
                                "pod db-0: container db is not running (db-0 db: ErrImageNeverPull)")]


def test_a_service_without_pods_fails_running():
    chosen, results = verify.pod_state("db", NS, [])
    assert chosen is None and not results[0].ok and "no pod in namespace devenv-small-db" in results[0].actual


def test_the_generated_checks_run_on_the_kubectl_host_of_the_chosen_pod(stack, monkeypatch):
    seen = []

    def on_host(sv, exps, spec):
        seen.append((sv.service, [e.check for e in exps], spec))
        sv.results.append(CheckResult(sv.service, "os release", True, "debian bookworm", "debian bookworm"))
        return sv
    monkeypatch.setattr(verify, "check_on_host", on_host)
    cluster = Cluster([pod("db-1", age=1), pod("db-0", age=2)])
    sv = verify.verify_pod(cluster.clients(), stack, NS, "db")
    [(service, exps, spec)] = seen
    assert service == "db" and exps == [e.check for e in expectations(stack, "db")]
    assert spec == "kubectl://db-0?container=db&namespace=devenv-small-db&context=kind-dev"
    assert (sv.container, sv.host, sv.running) == ("db-0", spec, True)
    assert [r.check for r in sv.results] == ["running", "healthy", "os release"]


def test_a_service_that_does_not_run_skips_its_generated_checks(stack, monkeypatch):
    monkeypatch.setattr(verify, "check_on_host", lambda *a: pytest.fail("no host to check"))
    sv = verify.verify_pod(Cluster([]).clients(), stack, NS, "web")
    assert not sv.running and sv.skipped == len(expectations(stack, "web")) and sv.host == ""


def test_verify_deployed_binds_the_users_testinfra_files_to_the_pods(stack, monkeypatch, tmp_path, kubectl):
    """Each service's pod is found by its label; user tests get the kubectl:// specs."""
    by_label = {s: pod(f"{s}-0", container=s) for s in stack.services}
    cluster = Cluster()
    cluster.core.list_namespaced_pod.side_effect = lambda ns, label_selector: SimpleNamespace(
        items=[by_label[label_selector.split("=")[1]]])
    monkeypatch.setattr(verify, "check_on_host", lambda sv, exps, spec: sv)
    test_file = tmp_path / "checks.py"
    test_file.write_text("def test_x(host):\n    pass\n")
    monkeypatch.setattr(parity_verify, "collect", lambda st, project_dir: {"web": [test_file], "db": [test_file]})
    bound = {}

    def user_tests(files, hosts, project_dir):
        bound.update(hosts)
        return {"web": [CheckResult("web", "test checks.py::test_x", False, "pass", "failed: boom")]}
    monkeypatch.setattr(parity_verify, "run_user_tests", user_tests)
    report = verify.verify_deployed(cluster.clients(), stack, project_dir=tmp_path)
    assert bound["web"] == "kubectl://web-0?container=web&namespace=devenv-small-db&context=kind-dev"
    assert bound["db"].startswith("kubectl://db-0?") and set(bound) == set(stack.services)
    assert not report.ok and [r.check for r in report.failures] == ["test checks.py::test_x"]
    assert {s.service: s.container for s in report.services} == {s: f"{s}-0" for s in stack.services}


def test_verify_of_an_instance_that_is_not_deployed_is_an_error(stack, kubectl):
    with pytest.raises(KubeNotFoundError) as exc:
        verify.verify_deployed(Cluster(namespace=False).clients(), stack)
    assert "context kind-dev, namespace devenv-small-db: the namespace does not exist" in exc.value.message


def test_verify_without_kubectl_on_the_path_is_an_error_saying_so(stack, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(verify.KubeToolError) as exc:
        verify.verify_deployed(Cluster().clients(), stack)
    assert exc.value.exit_code == 2 and "no kubectl on the PATH" in exc.value.message
