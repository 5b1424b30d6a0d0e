"""Ctrl-C that never lands inside the HTTP connection pool's lock.

CPython raises ``KeyboardInterrupt`` between any two bytecodes of the main thread,
including the instant after ``with lock:`` acquired a lock and before the block that
releases it is entered. urllib3's pool keeps its idle connections in a
``queue.LifoQueue``; an interrupt landing there leaves the queue's mutex held, and the
request's ``finally`` (which puts the connection back) then waits on it forever: a
``devenv up`` hung for 26 minutes in CI after one Ctrl-C.

The pool's queue is replaced by one whose ``get``/``put`` (the only code that holds its
mutex) are shielded: a SIGINT that arrives while the main thread is inside one is
remembered and raised as ``KeyboardInterrupt`` the moment it returns, microseconds
later. Pools never block on their queue here (urllib3's and the Docker SDK's pools take
``block=False``), so nothing can wait long behind the shield. Everywhere else Ctrl-C
behaves as before.

``devenv.engine.client`` shields the pool when it is imported (harmless on its own);
``take_sigint()`` is called by the CLI, which owns the process's signals. Library
callers that never call it keep Python's default behaviour.
"""

from __future__ import annotations

import functools
import queue
import signal
import threading

_state = threading.local()
_pending = False
_installed = False


def _depth() -> int:
    return getattr(_state, "depth", 0)


def _on_sigint(signum, frame) -> None:
    global _pending
    # signal handlers run in the main thread; only its own sections matter here
    if _depth() > 0:
        _pending = True
        return
    raise KeyboardInterrupt


def _shield(method):
    @functools.wraps(method)
    def shielded(*args, **kwargs):
        global _pending
        if threading.current_thread() is not threading.main_thread():
            return method(*args, **kwargs)
        _state.depth = _depth() + 1
        try:
            return method(*args, **kwargs)
        finally:
            _state.depth -= 1
            if _state.depth == 0 and _pending:
                _pending = False
                raise KeyboardInterrupt
    return shielded


class ShieldedLifoQueue(queue.LifoQueue):
    """A LifoQueue whose lock-holding methods a Ctrl-C cannot interrupt (see above)."""

    put = _shield(queue.LifoQueue.put)
    get = _shield(queue.LifoQueue.get)


def shield_pool(pool_class) -> None:
    """Give ``pool_class`` (and its subclasses: the SDK's unix, ssh and npipe pools) the
    shielded queue for its idle connections (idempotent)."""
    pool_class.QueueCls = ShieldedLifoQueue


def take_sigint() -> None:
    """Route SIGINT through the shield, unless someone else already owns it."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    _installed = True
