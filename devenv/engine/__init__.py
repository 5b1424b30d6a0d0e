"""Everything that talks to a Docker Engine: the client adapter, images, lifecycle, health."""

from .lazy_ssh import defer as _defer_paramiko

_defer_paramiko()   # before the Docker SDK is first imported (see lazy_ssh)

from .client import Engine, connect  # noqa: E402

__all__ = ["Engine", "connect"]
