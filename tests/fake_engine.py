"""A fake Docker Engine at the SDK boundary: an autospec of ``docker.APIClient`` (so
every call is checked against the real signature) backed by a little in-memory state.
Unit tests of devenv.engine hand ``FakeEngine().engine`` to the code under test."""

from __future__ import annotations

import itertools
from unittest import mock

import docker
import docker.errors

from devenv.engine.client import Engine


class FakeEngine:
    def __init__(self):
        self.api = mock.create_autospec(docker.APIClient, instance=True)
        self.images: dict[str, str] = {}          # tag -> id
        self.containers: dict[str, dict] = {}     # id -> summary (+ "Config")
        self.volumes: dict[str, dict] = {}
        self.networks: dict[str, dict] = {}
        self._ids = (f"c{i:063d}" for i in itertools.count(1))
        a = self.api
        a.inspect_image.side_effect = self._inspect_image
        a.containers.side_effect = self._containers
        a.volumes.side_effect = lambda filters=None: {"Volumes": [v for v in self.volumes.values()
                                                                  if _match(v.get("Labels", {}), filters)]}
        a.networks.side_effect = lambda names=None, filters=None: [
            n for n in self.networks.values() if (not names or n["Name"] in names) and _match(n["Labels"], filters)]
        a.create_network.side_effect = lambda name, driver=None, labels=None, check_duplicate=None: \
            self.networks.setdefault(name, {"Id": name, "Name": name, "Labels": labels or {}})
        a.create_volume.side_effect = lambda name, labels=None: \
            self.volumes.setdefault(name, {"Name": name, "Labels": labels or {}})
        a.remove_volume.side_effect = lambda name: self.volumes.pop(name)
        a.create_host_config.side_effect = lambda **kw: kw
        a.create_networking_config.side_effect = lambda cfg: cfg
        a.create_endpoint_config.side_effect = lambda **kw: kw
        a.create_container.side_effect = self._create
        a.start.side_effect = lambda c: self._get(c).update(State="running")
        a.stop.side_effect = lambda c, timeout=None: self._get(c).update(State="exited")
        a.remove_container.side_effect = self._remove
        a.remove_network.side_effect = lambda nid: self.networks.pop(nid)
        a.inspect_container.side_effect = self._inspect_container
        self.engine = Engine(mock.Mock(api=a))

    # -- state helpers for tests
    def add_container(self, name, labels, state="running", image="img", ports=()):
        cid = next(self._ids)
        self.containers[cid] = {"Id": cid, "Names": [f"/{name}"], "Labels": dict(labels), "State": state,
                                "Image": image, "Ports": list(ports), "Config": {}}
        return cid

    def by_name(self, name):
        return next((c for c in self.containers.values() if c["Names"][0] == f"/{name}"), None)

    # -- SDK behaviour
    def _get(self, ref):
        for c in self.containers.values():
            if ref in (c["Id"], c["Names"][0].lstrip("/")):
                return c
        raise docker.errors.NotFound(f"no container {ref}")

    def _inspect_image(self, tag):
        if tag not in self.images:
            raise docker.errors.ImageNotFound(f"no image {tag}")
        return {"Id": self.images[tag]}

    def _inspect_container(self, ref):
        c = self._get(ref)
        running = c["State"] == "running"
        return {"Id": c["Id"], "Image": c["Image"], "Config": {"Image": c["Image"], **c.get("Config", {})},
                "State": {"Status": c["State"], "Running": running, "ExitCode": 0,
                          "StartedAt": "2000-01-01T00:00:00.000000000Z",
                          **({"Health": {"Status": "healthy", "Log": []}} if running and c.get("Healthcheck") else {})}}

    def _containers(self, all=False, filters=None):
        return [c for c in self.containers.values()
                if (all or c["State"] == "running") and _match(c["Labels"], filters)]

    def _create(self, image=None, name=None, labels=None, healthcheck=None, **kw):
        cid = self.add_container(name or f"anon{len(self.containers)}", labels or {}, state="created", image=image)
        self.containers[cid]["Healthcheck"] = healthcheck
        self.containers[cid]["create_kwargs"] = kw
        return {"Id": cid}

    def _remove(self, ref, force=False, v=False):
        c = self._get(ref)
        del self.containers[c["Id"]]


def _match(labels: dict, filters) -> bool:
    if not filters:
        return True
    wanted = filters.get("label", [])
    wanted = [wanted] if isinstance(wanted, str) else wanted
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True
