"""The rendered Kubernetes manifests of the small-db stack run: `podman kube play` on
this machine, and the site answers on 127.0.0.1 with rows from the database.

No Kubernetes cluster runs here; podman plays what it supports and
``podman_kube.for_podman`` turns the rest into what it can play (each
transformation is listed there and in docs/kubernetes.md). The images are the ones
the manifests name, built on the Docker Engine by devenv and handed over with
``docker save | podman load``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.integration.podman_kube import for_podman

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOST_PORT = 18480
POD = "devenv-kube-test"
PROFILE = """\
extends: small-db
description: small-db as one podman pod
vars:
  # one pod: the services share localhost. nginx resolves its upstream with its own
  # resolver (Docker's 127.0.0.11 by default), not /etc/hosts, so the pod names php by address
  php_upstream: "127.0.0.1:9000"
"""


def _podman(*args, check=True, env=None, timeout=600, **kw):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def podman_env(tmp_path):
    assert shutil.which("podman"), "needs podman (scripts/test installs podman and catatonit)"
    conf = tmp_path / "containers.conf"
    # this machine refuses podman's default rlimits
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        return 0, str(exc)


def test_rendered_small_db_runs_in_podman_and_serves_rows(tmp_path, engine, podman_env):
    from devenv.cli.common import Context
    from devenv.engine import connect
    from devenv.engine.images import ensure_images
    from devenv.kube.render import all_objects, kube_stack
    from devenv.kube.restore import images_of
    from devenv.ui import PlainReporter

    project = tmp_path / "shop"
    subprocess.run([sys.executable, "-m", "devenv", "init", str(project), "--template", "lamp"], check=True,
                   capture_output=True)
    (project / "profiles" / "pod.yaml").write_text(PROFILE)
    out = tmp_path / "manifests"
    r = subprocess.run([sys.executable, "-m", "devenv", "--project", str(project), "render", "pod",
                        "--target", "kubernetes", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    # the images the manifests name, built by devenv on the Docker Engine, handed to podman
    stack = kube_stack(Context(None, False, str(project)).renderer(),
                       Context(None, False, str(project)).store.load("pod"))
    ensure_images(connect(), images_of(stack), stack.base, PlainReporter())
    rendered = [d for f in sorted(out.glob("*.yaml")) if f.name != "kustomization.yaml"
                for d in yaml.safe_load_all(f.read_text()) if d]
    assert sorted(map(str, rendered)) == sorted(map(str, all_objects(stack)))   # the files are the stack's objects
    for plan in images_of(stack):
        save = subprocess.Popen(["docker", "save", plan.tag], stdout=subprocess.PIPE)
        _podman("load", "-q", stdin=save.stdout, env=podman_env)
        assert save.wait() == 0

    play, configmaps = for_podman(rendered, POD, {"web": (80, HOST_PORT)})
    play_file, cm_file = tmp_path / "play.yaml", tmp_path / "configmaps.yaml"
    play_file.write_text(yaml.safe_dump_all(play, sort_keys=False))
    cm_file.write_text(yaml.safe_dump_all(configmaps, sort_keys=False))
    claims = [o["metadata"]["name"] for o in play if o["kind"] == "PersistentVolumeClaim"]
    _cleanup(podman_env, claims)
    try:
        _podman("kube", "play", "--configmap", str(cm_file), str(play_file), env=podman_env)
        deadline, status, body = time.monotonic() + 180, 0, ""
        while time.monotonic() < deadline:
            status, body = _get(f"http://127.0.0.1:{HOST_PORT}/")
            if status == 200 and "<li" in body:
                break
            time.sleep(1)
        logs = _podman("logs", f"{POD}-restore-snapshot", check=False, env=podman_env)
        assert status == 200, f"site did not answer 200 (last: {status}): {body[:500]}"
        # the home page lists the newest active listings: rows from the database, through php
        titles = _podman("exec", f"{POD}-db", "mariadb", "-uroot", "-N", "-B", "--default-character-set=utf8mb4",
                         "-e", "SELECT title FROM shop.listings WHERE state = 'active' "
                               "ORDER BY created_at DESC, id DESC LIMIT 3", env=podman_env).stdout.splitlines()
        assert len(titles) == 3, titles
        for title in titles:
            assert f'<td class="title">{_php_escape(title)}</td>' in body, (title, body[:1000])
        # the init container ran, found an empty claim and no catalogue: the database seeded itself
        assert "no catalogue configured" in logs.stdout + logs.stderr
    finally:
        _cleanup(podman_env, claims)


def _php_escape(text: str) -> str:
    """PHP's htmlspecialchars (ENT_QUOTES | ENT_HTML5), as the page's h() writes text."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def _cleanup(env, claims):
    _podman("pod", "rm", "-f", "-t", "2", POD, check=False, env=env)
    for claim in claims:
        _podman("volume", "rm", "-f", claim, check=False, env=env)
