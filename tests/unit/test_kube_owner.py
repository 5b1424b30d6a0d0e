"""The owner rule on the Kubernetes target (Princess), at the client boundary: the REAL
``kubernetes`` client, through devenv's CLI entry point, against an HTTP server on 127.0.0.1
that keeps the objects it is sent and answers as the API server does (create, read, list by
label, strategic-merge patch of metadata, delete; workload status reads say ready).

`up` creates the instance's Namespace with the owner annotation (``$DEVENV_OWNER``); another
owner's `up` patches it without taking it over; another owner's `down` (with or without
--volumes) is refused, exit 2, before a single DELETE; `down --force` deletes; the owner needs
no --force; a Namespace without the annotation is anyone's. No cluster runs here."""

from __future__ import annotations

import http.server
import json
import threading
from urllib.parse import parse_qs, urlsplit

import click
import pytest
from click.testing import CliRunner

from devenv.cli import main
from tests.conftest import REPO

NS = "devenv-small-db--hxowner"
OWNER = "dev.devenv.owner"


class ObjectServer:
    """Objects by path; ``requests``: (method, path) of every request."""

    def __init__(self):
        self.objects: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, code, doc):
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n)) if n else None

            def _missing(self, path):
                self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                 "reason": "NotFound", "message": f"{path} not found"})

            def handle_any(self):
                url = urlsplit(self.path)
                path = url.path.rstrip("/")
                server.requests.append((self.command, path))
                body = self._body() if self.command in ("POST", "PATCH") else None
                if self.command == "POST":
                    obj = dict(body)
                    obj["metadata"] = {**obj["metadata"], "generation": 1}
                    server.objects[f"{path}/{obj['metadata']['name']}"] = obj
                    return self._json(201, obj)
                if self.command == "PATCH":
                    if path not in server.objects:
                        return self._missing(path)
                    old = server.objects[path]
                    meta = dict(old["metadata"])
                    for key in ("labels", "annotations"):     # strategic merge: maps merge key by key
                        meta[key] = {**(meta.get(key) or {}), **(body["metadata"].get(key) or {})}
                    server.objects[path] = {**old, **{k: v for k, v in body.items() if k != "metadata"},
                                            "metadata": meta}
                    return self._json(200, server.objects[path])
                if self.command == "DELETE":
                    gone = server.objects.pop(path, None)
                    if gone is None:
                        return self._missing(path)
                    for p in [p for p in server.objects if p.startswith(path + "/")]:
                        del server.objects[p]
                    if "/services/" in path or "/persistentvolumeclaims/" in path:   # answered with the object
                        return self._json(200, {**gone, "status": {}})
                    return self._json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
                if path.endswith("/status") and path[:-len("/status")] in server.objects:
                    obj = server.objects[path[:-len("/status")]]
                    n = obj["spec"].get("replicas", 1)
                    return self._json(200, {**obj, "status": {"observedGeneration": 1, "replicas": n,
                                                              "readyReplicas": n, "updatedReplicas": n}})
                if path in server.objects:
                    return self._json(200, server.objects[path])
                under = [o for p, o in sorted(server.objects.items())
                         if p.rsplit("/", 1)[0] == path and _selected(o, parse_qs(url.query))]
                if path.split("/")[-1] in ("configmaps", "services", "persistentvolumeclaims", "deployments",
                                           "statefulsets", "pods"):
                    return self._json(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": under})
                self._missing(path)

            do_GET = do_POST = do_PATCH = do_DELETE = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def deletes(self) -> list[str]:
        return [p for m, p in self.requests if m == "DELETE"]

    def namespace(self) -> dict | None:
        return self.objects.get(f"/api/v1/namespaces/{NS}")


def _selected(obj: dict, query: dict) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for selector in query.get("labelSelector", []):
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
    return True


@click.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def entry(args):
    main(list(args))


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    server = ObjectServer()
    config = tmp_path / "kubeconfig"
    config.write_text(f"""\
apiVersion: v1
kind: Config
clusters: [{{name: team, cluster: {{server: "{server.url}"}}}}]
users: [{{name: u, user: {{token: abc}}}}]
contexts: [{{name: team, context: {{cluster: team, user: u}}}}]
current-context: team
""")
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.chdir(REPO)
    yield server
    server.close()


def devenv(*args, owner: str):
    return CliRunner(env={"DEVENV_OWNER": owner}).invoke(entry, list(args))


def test_down_of_another_owners_namespace_is_refused_until_forced(cluster):
    up = devenv("up", "small-db", "--name", "hxowner", "--target", "kubernetes", owner="ann@team")
    assert up.exit_code == 0, up.output
    assert cluster.namespace()["metadata"]["annotations"][OWNER] == "ann@team"
    assert OWNER not in (cluster.namespace()["metadata"].get("labels") or {})   # `user@host` is no label value

    again = devenv("up", "small-db", "--name", "hxowner", "--target", "kubernetes", owner="bob@laptop")
    assert again.exit_code == 0, again.output
    assert ("PATCH", f"/api/v1/namespaces/{NS}") in cluster.requests
    assert cluster.namespace()["metadata"]["annotations"][OWNER] == "ann@team"      # not taken over

    objects = len(cluster.objects)
    for extra in ((), ("--volumes",)):
        r = devenv("down", "small-db", "--name", "hxowner", "--target", "kubernetes", *extra, owner="bob@laptop")
        assert r.exit_code == 2, r.output
        err = r.stderr
        assert err.startswith("devenv: error: ") and "Traceback" not in err
        assert f"small-db --name hxowner (namespace {NS}) belongs to ann@team, not to bob@laptop" in err
        assert "devenv down small-db --name hxowner --target kubernetes --force" in err
    assert cluster.deletes() == [] and len(cluster.objects) == objects              # nothing was touched

    r = devenv("down", "small-db", "--name", "hxowner", "--target", "kubernetes", "--volumes", "--force",
               owner="bob@laptop")
    assert r.exit_code == 0, r.output
    assert f"/api/v1/namespaces/{NS}" in cluster.deletes() and cluster.namespace() is None


def test_the_owner_needs_no_force_and_an_unannotated_namespace_is_anyones(cluster):
    assert devenv("up", "small-db", "--name", "hxowner", "--target", "kubernetes", owner="ann@team").exit_code == 0
    r = devenv("down", "small-db", "--name", "hxowner", "--target", "kubernetes", owner="ann@team")
    assert r.exit_code == 0, r.output
    assert cluster.deletes() and cluster.namespace() is not None        # workloads gone, Namespace kept
    del cluster.namespace()["metadata"]["annotations"][OWNER]            # as one made before the rule
    r = devenv("down", "small-db", "--name", "hxowner", "--target", "kubernetes", "--volumes", owner="bob@laptop")
    assert r.exit_code == 0, r.output
    assert cluster.namespace() is None


def test_render_writes_no_owner(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    outs = []
    for owner in ("ann@team", "bob@laptop"):
        out = tmp_path / owner
        r = CliRunner(env={"DEVENV_OWNER": owner}).invoke(entry, ["render", "small-db", "--target", "kubernetes",
                                                                  "-o", str(out)])
        assert r.exit_code == 0, r.output
        outs.append({p.name: p.read_bytes() for p in sorted(out.rglob("*.yaml"))})
    assert outs[0] == outs[1] and not any(b"owner" in data for data in outs[0].values())
