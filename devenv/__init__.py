"""devenv: production-identical development environments on the local Docker Engine."""

__version__ = "0.1.0"
