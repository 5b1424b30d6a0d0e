"""A free TCP port on the loopback interface, for the tests and benchmarks that publish
a container port or start a server.

Chosen at random below the kernel's ephemeral range (``ip_local_port_range``, 32768-60999
by default) and checked by a bind: a port the kernel hands out for ``bind(0)`` is in that
range, where the client side of any connection on the machine (the other xdist worker's,
the Engine's) may take it again between this check and the caller's bind.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    high = min(HIGH, _ephemeral_low() - 1)
    for _ in range(200):
        port = random.randint(LOW, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:   # all taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
