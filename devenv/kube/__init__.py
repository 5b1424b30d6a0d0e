"""The Kubernetes target: manifests for a stack (``render``), the snapshot restore
init container (``restore``) and applying them with the Kubernetes client (``deploy``)."""
