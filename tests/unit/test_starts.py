"""devenv.engine.starts: ``begin`` returns once the container is on the network (the call goes
on), or when the call ends first; ``finish`` raises a late error; nothing is left running."""

import threading
import time

import pytest

from devenv.engine.starts import Starts
from devenv.errors import DevenvError


class Api:
    def __init__(self, joins_after: float | None):
        self.t0 = time.monotonic()
        self.joins_after = joins_after

    def inspect_network(self, network):
        on = self.joins_after is not None and time.monotonic() - self.t0 >= self.joins_after
        return {"Containers": {"id1": {"Name": "c1"}} if on else {}}


class Engine:
    def __init__(self, joins_after):
        self.api = Api(joins_after)


def test_begin_returns_at_the_join_and_finish_waits_for_the_call():
    release = threading.Event()
    ended = []
    starts = Starts(Engine(joins_after=0.05), "net")
    t = time.monotonic()
    starts.begin("c1", lambda: (release.wait(5), ended.append(True)))
    assert time.monotonic() - t < 2 and not ended     # on the network; the call still runs
    threading.Timer(0.1, release.set).start()
    starts.finish()
    assert ended == [True]
    starts.close()


def test_a_call_that_ends_before_any_join_raises_in_begin():
    def fail():
        raise DevenvError("service c1: starting container c1 failed: no such program")
    starts = Starts(Engine(joins_after=None), "net")
    with pytest.raises(DevenvError, match="no such program"):
        starts.begin("c1", fail)
    starts.close()


def test_a_late_error_is_raised_by_finish_of_its_container_only():
    release = threading.Event()

    def fail_late():
        release.wait(5)
        raise DevenvError("service c1: starting container c1 failed: late")
    starts = Starts(Engine(joins_after=0.0), "net")
    starts.begin("c1", fail_late)
    starts.finish({"other"})          # not c1's: returns at once
    release.set()
    with pytest.raises(DevenvError, match="late"):
        starts.finish({"c1"})
    starts.close()


def test_a_network_view_that_fails_only_means_waiting_for_the_call():
    class Broken:
        class api:
            @staticmethod
            def inspect_network(network):
                raise OSError("gone")
    starts = Starts(Broken(), "net")
    ran = []
    starts.begin("c1", lambda: (time.sleep(0.05), ran.append(1)))
    assert ran == [1]
    starts.close()
