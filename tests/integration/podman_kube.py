"""What podman 4.3 (Debian 12) cannot play of devenv's Kubernetes manifests, turned into
what it can: used by test_kube_podman.py, documented in docs/kubernetes.md.

podman kube play 4.3 plays Pods, Deployments (as one pod each), PersistentVolumeClaims
(as named volumes) and ConfigMaps; it has no StatefulSet, no Service, no Namespace
and no cluster DNS. So, and only so:

1. Namespace, Service: dropped (podman has neither; the Services' job, names that
   resolve, is done by 4.).
2. Every workload (the StatefulSet and the Deployments) becomes one container group of
   a single Pod ``devenv-<profile>``: its containers and init containers are moved
   over unchanged (image, env, probes, mounts).
3. ``volumeClaimTemplates``: each template becomes a PersistentVolumeClaim of its
   own (named as Kubernetes names it, ``<claim>-<statefulset>-0``) and the pod
   mounts it by ``persistentVolumeClaim``.
4. ``hostAliases``: the service names resolve to 127.0.0.1, where the pod's
   containers listen (one network namespace), as the Services' cluster DNS names
   resolve on a cluster.
5. The web port gets a ``hostPort`` on 127.0.0.1 (podman 4.3 has no ``--publish``
   for kube play), where a cluster would use ``kubectl port-forward``.
6. ConfigMaps are written to their own file and passed with ``--configmap`` (4.3
   only reads them that way).
7. ``restartPolicy: OnFailure`` (with ``Always`` podman 4.3 restarts the finished init
   container in a loop) and the pod annotation
   ``io.podman.annotations.init.container.type: always`` (podman removes "once" init
   containers after they ran; kept, their logs can be read).
"""

from __future__ import annotations

import copy

PODMAN_WORKLOADS = ("StatefulSet", "Deployment")


def for_podman(objects: list[dict], pod_name: str, publish: dict[str, tuple[int, int]]) -> tuple[list[dict], list[dict]]:
    """(objects to play, ConfigMaps for --configmap). ``publish``: service -> (container port, host port)."""
    claims, configmaps, containers, init_containers, volumes, aliases = [], [], [], [], [], []
    for obj in copy.deepcopy(objects):
        kind = obj["kind"]
        if kind in ("Namespace", "Service"):
            continue
        if kind == "ConfigMap":
            obj["metadata"].pop("namespace", None)
            configmaps.append(obj)
            continue
        if kind == "PersistentVolumeClaim":
            obj["metadata"].pop("namespace", None)
            claims.append(obj)
            continue
        assert kind in PODMAN_WORKLOADS, kind
        name = obj["metadata"]["name"]
        spec = obj["spec"]["template"]["spec"]
        aliases.append(name)
        for tpl in obj["spec"].get("volumeClaimTemplates", []):
            claim = f"{tpl['metadata']['name']}-{name}-0"
            claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": claim, "labels": tpl["metadata"].get("labels", {})},
                           "spec": tpl["spec"]})
            volumes.append({"name": tpl["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
        volumes += spec.get("volumes", [])
        for c in spec["containers"]:
            if name in publish:
                port, host = publish[name]
                for p in c.get("ports", []):
                    if p["containerPort"] == port:
                        p["hostPort"], p["hostIP"] = host, "127.0.0.1"
            containers.append(c)
        init_containers += spec.get("initContainers", [])
    pod_spec = {"hostAliases": [{"ip": "127.0.0.1", "hostnames": sorted(aliases)}],
                "initContainers": init_containers, "containers": containers, "volumes": volumes,
                "restartPolicy": "OnFailure"}
    # "always" init containers are kept after they ran (podman's default, "once", removes
    # them), so the test can read what the restore init container said
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": pod_name, "annotations": {"io.podman.annotations.init.container.type": "always"}},
           "spec": pod_spec}
    return claims + [pod], configmaps
