"""`devenv render --target kubernetes`: what the manifests hold, that they are
deterministic, and that every one validates against Kubernetes' own OpenAPI schemas."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from devenv.cli import main
from devenv.cli.common import Context
from devenv.kube import render as kube
from devenv.kube.restore import INIT_CONTAINER, images_of
from devenv.profile.model import Healthcheck
from devenv.settings import SETTINGS
from tests.conftest import REPO

# the newest Kubernetes release kubernetes-validate ships schemas for (1.37 with 1.37.0)
K8S_VERSION = kubernetes_validate.utils.latest_version()
PROFILES = ("base", "small-db", "large-db", "large-images")


@pytest.fixture(scope="module")
def stacks():
    ctx = Context(None, False)
    return {name: kube.kube_stack(ctx.renderer(), ctx.store.load(name)) for name in PROFILES}


def objects_by(stack, kind):
    return {o["metadata"]["name"]: o for o in kube.all_objects(stack) if o["kind"] == kind}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_manifest_validates_against_the_kubernetes_schemas(stacks, profile, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    main(["render", profile, "--target", "kubernetes", "-o", str(tmp_path / "out")])
    capsys.readouterr()
    files = sorted((tmp_path / "out").glob("*.yaml"))
    docs = [d for f in files if f.name != kube.KUSTOMIZATION for d in yaml.safe_load_all(f.read_text()) if d]
    assert {d["kind"] for d in docs} == {"Namespace", "ConfigMap", "PersistentVolumeClaim", "StatefulSet",
                                         "Deployment", "Service"}
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)   # raises on any schema error
    kust = yaml.safe_load((tmp_path / "out" / kube.KUSTOMIZATION).read_text())
    assert sorted(kust["resources"]) == sorted(f.name for f in files if f.name != kube.KUSTOMIZATION)
    assert kust["namespace"] == f"devenv-{profile}"


def test_the_validator_does_reject_a_bad_manifest(stacks):
    bad = objects_by(stacks["small-db"], "Deployment")["web"]
    bad = {**bad, "spec": {**bad["spec"], "replicas": "one"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_same_profile_same_bytes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    for d in ("a", "b"):
        main(["render", "small-db", "--target", "kubernetes", "-o", str(tmp_path / d)])
    capsys.readouterr()
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and len(a) == 7
    assert b"&id0" not in b"".join(a.values())   # no YAML anchors: each object reads on its own


def test_database_is_a_statefulset_with_a_claim_and_the_restore_init_container(stacks):
    stack = stacks["small-db"]
    sts = objects_by(stack, "StatefulSet")
    assert list(sts) == ["db"]
    db = sts["db"]
    assert db["metadata"]["namespace"] == "devenv-small-db"
    assert [t["metadata"]["name"] for t in db["spec"]["volumeClaimTemplates"]] == ["db-data"]
    pod = db["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    assert init["name"] == INIT_CONTAINER
    assert init["volumeMounts"] == [{"name": "db-data", "mountPath": "/var/lib/mysql"}]
    assert {"name": "DEVENV_SERVER_IMAGE", "value": stack.services["db"].image.tag} in init["env"]
    assert pod["containers"][0]["image"] == stack.services["db"].image.tag
    assert set(objects_by(stack, "Deployment")) == {"cache", "php", "web"}
    assert set(objects_by(stack, "PersistentVolumeClaim")) == {"media"}   # the web's named volume


def test_services_carry_the_names_the_configs_use_and_the_host_ports(stacks):
    services = objects_by(stacks["small-db"], "Service")
    ports = {n: sorted((p["port"], p["targetPort"]) for p in s["spec"]["ports"]) for n, s in services.items()}
    assert ports == {"db": [(3306, 3306)], "php": [(9000, 9000)], "cache": [(11211, 11211)],
                     "web": [(80, 80), (8080, 80)]}


def test_images_by_their_devenv_tags_without_source_mounts(stacks):
    stack = stacks["small-db"]
    for name, dep in objects_by(stack, "Deployment").items():
        c = dep["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == stack.services[name].image.tag and c["imagePullPolicy"] == "IfNotPresent"
        assert "volumes" not in dep["spec"]["template"]["spec"] or name == "web"
    # small-db mounts app/ into php on the Docker Engine; on a cluster the image carries it
    assert any(f.path.startswith("rootfs/srv/app/") for f in stack.services["php"].image.files)
    assert not stack.services["php"].service.mounts
    assert [p.service for p in images_of(stack)] == ["cache", "db", "php", "web", "kube-restore"]


def test_healthcheck_becomes_readiness_and_startup_probes():
    hc = Healthcheck(("CMD", "bash", "-c", "true"), interval=2.0, timeout=5.0, retries=3, start_period=300.0)
    probes = kube.probes(hc)
    assert probes["readinessProbe"] == {"exec": {"command": ["bash", "-c", "true"]}, "periodSeconds": 2,
                                        "timeoutSeconds": 5, "failureThreshold": 3}
    assert probes["startupProbe"]["failureThreshold"] == 150 + 3
    assert kube.probes(Healthcheck(("CMD-SHELL", "x && y"), start_period=0))["readinessProbe"]["exec"] == \
        {"command": ["/bin/sh", "-c", "x && y"]}
    assert "startupProbe" not in kube.probes(Healthcheck(("CMD", "true")))
    assert kube.probes(Healthcheck(("NONE",))) == {} and kube.probes(None) == {}


def test_every_runtime_setting_has_a_kubernetes_form():
    assert set(kube.CONTAINER_FIELDS) == {s.name for s in SETTINGS}


def test_env_values_are_literal(stacks):
    assert kube.kube_literal("a$(HOME)$$b") == "a$$(HOME)$$$$b"


def test_a_name_kubernetes_cannot_hold_is_an_error(tmp_path, capsys):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "Bad_Name.yaml").write_text(
        "description: x\nos: {distribution: debian, release: bookworm}\nvars: {memcached_memory_mb: 64}\n"
        "services:\n  cache:\n    recipe: memcached\n    files: {/etc/memcached.conf: memcached/memcached.conf.j2}\n")
    (tmp_path / "images").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["--profiles-dir", str(profiles), "render", "Bad_Name", "--target", "kubernetes",
              "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "-Bad_Name` cannot be a Kubernetes" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_render_refuses_a_directory_of_other_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exited:
        main(["render", "small-db", "--target", "kubernetes", "-o", str(tmp_path)])
    assert exited.value.code == 2 and "not empty" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
