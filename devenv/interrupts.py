"""Ctrl-C that never lands inside the HTTP connection pool's lock.

CPython raises ``KeyboardInterrupt`` between any two bytecodes of the main thread,
including the instant after ``with lock:`` acquired a lock and before the block that
releases it is entered. urllib3's pool keeps its idle connections in a
``queue.LifoQueue``; an interrupt landing there leaves the queue's mutex held, and the
request's ``finally`` (which puts the connection back) then waits on it forever: a
``devenv up`` hung for 26 minutes in CI after one Ctrl-C.

The pool's two critical sections (taking a connection, giving one back) are shielded:
a SIGINT that arrives while the main thread is inside one is remembered and raised as
``KeyboardInterrupt`` the moment the section ends, a few microseconds later. Everywhere
else Ctrl-C behaves as before; nothing waits on a flag.

``devenv.engine.client`` shields the pool when it is imported (harmless on its own);
``take_sigint()`` is called by the CLI, which owns the process's signals. Library
callers that never call it keep Python's default behaviour.
"""

from __future__ import annotations

import functools
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
    shielded.__devenv_shielded__ = True
    return shielded


def shield_pool(pool_class) -> None:
    """Shield ``pool_class``'s ``_get_conn``/``_put_conn`` (idempotent)."""
    for name in ("_get_conn", "_put_conn"):
        method = getattr(pool_class, name)
        if not getattr(method, "__devenv_shielded__", False):
            setattr(pool_class, name, _shield(method))


def take_sigint() -> None:
    """Route SIGINT through the shield, unless someone else already owns it."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    _installed = True
