"""Names on the Kubernetes target: the instance's Namespace, the label the Services
select by, and which service is the database. Shared by ``render``, ``restore`` and
``deploy``."""

from __future__ import annotations

from .. import names
from ..render import Stack

APP_LABEL = "app.kubernetes.io/name"


def namespace_of(stack: "Stack | names.Scope") -> str:
    """One Namespace per instance: PROJECT-PROFILE[--INSTANCE], the scope's key."""
    scope = stack.scope if isinstance(stack, Stack) else stack
    return names.project(scope)


def database_service(stack: Stack) -> str | None:
    ds = stack.profile.dataset
    return ds.service if ds is not None and ds.service in stack.services else None
