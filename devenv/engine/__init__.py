"""Everything that talks to a Docker Engine: the client adapter, images, lifecycle, health."""

from .client import Engine, connect

__all__ = ["Engine", "connect"]
