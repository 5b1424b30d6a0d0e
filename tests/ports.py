"""A free TCP port on the loopback interface, for the tests and benchmarks that publish
a container port or start a server (the kernel picks it; the caller binds it soon
after, so another process taking it first is possible but unlikely)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
