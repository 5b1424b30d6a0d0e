"""Ctrl-C is deferred out of the HTTP pool's critical sections (devenv/interrupts.py)."""

import queue
import signal
import threading

import pytest
from urllib3.connectionpool import HTTPConnectionPool

from devenv import interrupts


def _signalling(base):
    class SignallingQueue(base):
        """Delivers SIGINT while the queue's mutex is held, like the CI hang."""

        def __init__(self, maxsize):
            super().__init__(maxsize)
            self.arm = False
            self.locked_at_signal = None

        def _put(self, item):
            if self.arm:
                self.arm = False
                signal.raise_signal(signal.SIGINT)   # the handler runs right here
                self.locked_at_signal = self.mutex.locked()
            super()._put(item)
    return SignallingQueue


@pytest.fixture
def handler():
    previous = signal.signal(signal.SIGINT, interrupts._on_sigint)
    yield
    signal.signal(signal.SIGINT, previous)
    interrupts._pending = False


def _pool(shielded: bool):
    """A urllib3 pool whose idle-connection queue is the shielded one, or the plain one."""
    cls = type("Pool", (HTTPConnectionPool,), {})
    cls.QueueCls = _signalling(interrupts.ShieldedLifoQueue if shielded else queue.LifoQueue)
    return cls("127.0.0.1", 9, maxsize=1)


def _signal_inside_put_conn(shielded: bool):
    """Return the pool after a SIGINT landed inside ``_put_conn``'s queue lock."""
    pool = _pool(shielded)
    conn = pool._get_conn()
    pool.pool.arm = True
    with pytest.raises(KeyboardInterrupt):
        pool._put_conn(conn)
    return pool


def test_sigint_inside_put_conn_is_raised_after_the_connection_is_back(handler):
    pool = _signal_inside_put_conn(shielded=True)
    assert pool.pool.locked_at_signal is True      # it did land inside the lock
    assert not pool.pool.mutex.locked()
    assert pool.pool.qsize() == 1                  # the connection went back
    assert interrupts._pending is False


def test_without_the_shield_the_same_signal_interrupts_inside_the_lock(handler):
    # the defect the shield exists for: the interrupt lands in the queue's critical section
    pool = _signal_inside_put_conn(shielded=False)
    assert pool.pool.locked_at_signal is None      # raised before the line after the signal
    assert pool.pool.qsize() == 0                  # and the connection was lost


def test_sigint_outside_a_section_raises_at_once(handler):
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert interrupts._pending is False


def test_a_worker_threads_section_does_not_defer_the_main_threads_interrupt(handler):
    inside, release = threading.Event(), threading.Event()

    class Waiting(interrupts.ShieldedLifoQueue):
        def _get(self):
            inside.set()
            release.wait(5)
            return super()._get()

    q = Waiting(1)
    q.put("x")

    def section():
        q.get()

    worker = threading.Thread(target=section)
    worker.start()
    inside.wait(5)
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        release.set()
        worker.join()


def test_engine_client_shields_urllib3s_pools_and_the_sdks():
    import devenv.engine.client  # noqa: F401
    from docker.transport.unixconn import UnixHTTPConnectionPool
    assert HTTPConnectionPool.QueueCls is interrupts.ShieldedLifoQueue
    pool = UnixHTTPConnectionPool("http+docker://localhost", "/nonexistent.sock")
    assert isinstance(pool.pool, interrupts.ShieldedLifoQueue)


def test_take_sigint_leaves_someone_elses_handler(monkeypatch):
    def mine(signum, frame):
        pass
    previous = signal.signal(signal.SIGINT, mine)
    monkeypatch.setattr(interrupts, "_installed", False)
    try:
        interrupts.take_sigint()
        assert signal.getsignal(signal.SIGINT) is mine
        signal.signal(signal.SIGINT, signal.default_int_handler)
        monkeypatch.setattr(interrupts, "_installed", False)
        interrupts.take_sigint()
        assert signal.getsignal(signal.SIGINT) is interrupts._on_sigint
    finally:
        signal.signal(signal.SIGINT, previous)
