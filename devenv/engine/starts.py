"""The Engine start calls of one ``up``, overlapped where a dependent only needs a name.

An Engine start does two things in turn: it joins the container to its networks (from
then on its name resolves there: the embedded DNS has the record) and then runs it
(containerd's shim, runc, libnetwork's prestart hook, the process). On two cores the
second part is about 0.3-0.4 s of every start. A ``service_started`` dependent needs
the first part only (nginx resolves ``php`` when it starts; nothing can rely on more,
since a started service may still be booting), so ``begin`` returns as soon as the
container is on the stack's network, or when the call has ended, whichever is first;
the call goes on in its own thread. ``finish`` waits for calls and raises the first
error, in the order they were begun: before any health wait and at the end of ``up``,
so a start that fails late still fails the ``up``, naming its container.

Measured (tests/integration/test_overlapped_starts.py checks the order): the name of
a container resolves about 0.1 s after its start call begins, 0.3-0.4 s before the call
returns.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from .client import Engine

JOIN_POLL = 0.02


class Starts:
    def __init__(self, engine: Engine, network: str):
        self.engine = engine
        self.network = network
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="devenv-start")
        self.calls: dict[str, Future] = {}     # container -> its start call, in the order begun
        self.lock = threading.Lock()

    def begin(self, container: str, call: Callable[[], None]) -> None:
        """Run ``call`` (the start of ``container``); return once the container is on the
        network or the call has ended (its error is raised then)."""
        fut = self.pool.submit(call)
        with self.lock:
            self.calls[container] = fut
        while not fut.done():
            if self._joined(container):
                return
            time.sleep(JOIN_POLL)
        fut.result()

    def _joined(self, container: str) -> bool:
        try:
            attached = self.engine.api.inspect_network(self.network).get("Containers") or {}
        except Exception:   # noqa: BLE001 - the network's view is only a shortcut: the call decides
            return False
        return any(c.get("Name") == container for c in attached.values())

    def finish(self, containers=None) -> None:
        """Wait for the start calls of ``containers`` (all: None); the first error is raised."""
        with self.lock:
            calls = [(c, f) for c, f in self.calls.items() if containers is None or c in containers]
        for _container, fut in calls:
            fut.exception()      # waits; errors are raised in order below, once all have ended
        for _container, fut in calls:
            fut.result()

    def close(self) -> None:
        """Wait for every call still running (errors are the caller's to have seen)."""
        self.pool.shutdown(wait=True)
